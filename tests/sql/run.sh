#!/usr/bin/env bash
# Runs every tests/sql/*.sql script with the sqlite3 shell and compares its output (stdout and
# stderr) with tests/sql/<name>.expected.  Prints "sql: N passed, N failed, N skipped" last.
#
#   tests/sql/run.sh             # from the repository root; tests/run.sh calls it
#   tests/sql/run.sh --update    # rewrites the .expected files (review the diff before committing)
#
# Each script runs in a fresh :memory: database, from the repository root, with the extension
# already loaded (.load $LEGRAD_TEST_EXT, default ./legrad0) and OPENBLAS_NUM_THREADS=1.
# A script whose first lines contain "-- requires: PATH" is skipped (with the reason) when PATH does
# not exist, e.g. "-- requires: samples/model".
# Under the sanitizer pass (SANITIZE=1) the shell runs with libasan/libubsan preloaded, since the
# extension is built with them and /usr/bin/sqlite3 is not.
set -u
cd "$(dirname "$0")/../.."
ext=${LEGRAD_TEST_EXT:-$PWD/legrad0}
update=0
[ "${1:-}" = --update ] && update=1
export OPENBLAS_NUM_THREADS=1
unset LEGRAD_MODEL
pre=""
if [ "${SANITIZE:-0}" = 1 ]; then
  pre="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
fi
pass=0; fail=0; skip=0
out=$(mktemp); trap 'rm -f "$out"' EXIT
for f in tests/sql/*.sql; do
  [ -e "$f" ] || continue
  name=$(basename "$f" .sql)
  missing=""
  for r in $(sed -n 's/^-- requires: *//p' "$f" | head -n 5); do
    [ -e "$r" ] || missing="$missing $r"
  done
  if [ -n "$missing" ]; then
    echo "SKIP $name: missing$missing"; skip=$((skip + 1)); continue
  fi
  LD_PRELOAD="$pre" sqlite3 -batch -cmd ".load $ext" :memory: <"$f" >"$out" 2>&1
  if [ "$update" = 1 ]; then cp "$out" "tests/sql/$name.expected"; fi
  if [ -f "tests/sql/$name.expected" ] && diff -u "tests/sql/$name.expected" "$out"; then
    echo "PASS $name"; pass=$((pass + 1))
  else
    echo "FAIL $name"; fail=$((fail + 1))
  fi
done
echo "sql: $pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
