#!/usr/bin/env bash
# Runs the test suites and prints one closing line "total: N passed, N failed, N skipped".
# Usage: tests/run.sh [c|fuzz|sql|python]...   (default: all).  Run from the repository root.
# Each C test binary ends with a line "<name>: N passed, N failed, N skipped"; the SQL and Python
# runners (tests/sql/run.sh, pytest) are summed the same way.
set -u
BUILD=${BUILD:-build}
EXT_SO=${EXT_SO:-legrad0.so}
export LEGRAD_TEST_EXT="$PWD/${EXT_SO%.so}"
suites=${*:-c fuzz sql python}
pass=0; fail=0; skip=0; broken=""
if [ "${SANITIZE:-0}" = 1 ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export OPENBLAS_NUM_THREADS=1
fi
tally() {  # tally NAME OUTPUT_FILE RC
  local line p f s
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1)
  if [ -z "$line" ] || [ "$3" != 0 ]; then
    broken="$broken $1"; tail -n 40 "$2"
  fi
  p=$(sed -nE 's/(^|.*[^0-9])([0-9]+) passed.*/\2/p' <<<"$line"); f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
  s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line")
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0})); skip=$((skip + ${s:-0}))
  echo "  ${line:-$1: no summary line (exit $3)}"
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for suite in $suites; do
  case $suite in
  c)
    # The engine's include direction (docs/architecture.md) is part of the C suite.
    scripts/check_layers.sh >"$tmp/layers.log" 2>&1; rc=$?
    echo "check_layers: $((rc == 0)) passed, $((rc != 0)) failed, 0 skipped" >>"$tmp/layers.log"
    tally check_layers "$tmp/layers.log" $rc
    for t in "$BUILD"/tests/test_*; do
      [ -x "$t" ] || continue
      n=$(basename "$t"); "$t" >"$tmp/$n.log" 2>&1; tally "$n" "$tmp/$n.log" $?
    done ;;
  fuzz)
    # Replay every committed fuzz corpus through its target (built as $BUILD/replay/fuzz_NAME).
    for t in "$BUILD"/replay/fuzz_*; do
      [ -x "$t" ] || continue
      n=$(basename "$t"); corpus=fuzz/corpus/${n#fuzz_}
      [ -d "$corpus" ] || { echo "  $n: no corpus at $corpus"; broken="$broken $n"; continue; }
      "$t" "$corpus" >"$tmp/$n.log" 2>&1; tally "$n" "$tmp/$n.log" $?
    done ;;
  sql)
    if [ -x tests/sql/run.sh ]; then tests/sql/run.sh >"$tmp/sql.log" 2>&1; tally sql "$tmp/sql.log" $?; fi ;;
  python)
    if ls tests/python/test_*.py >/dev/null 2>&1; then
      pre=""
      [ "${SANITIZE:-0}" = 1 ] && pre="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
      LD_PRELOAD="$pre" ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python \
        >"$tmp/py.log" 2>&1
      rc=$?
      # pytest's summary says "N passed" and only sometimes "N failed"/"N skipped": normalise it.
      line=$(tail -n 1 "$tmp/py.log")
      p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+'); f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
      s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+'); e=$(grep -oE '[0-9]+ error' <<<"$line" | grep -oE '[0-9]+')
      echo "python: ${p:-0} passed, $(( ${f:-0} + ${e:-0} )) failed, ${s:-0} skipped" >>"$tmp/py.log"
      tally python "$tmp/py.log" $rc
    fi ;;
  *) echo "tests/run.sh: unknown suite '$suite' (expected c, fuzz, sql or python)"; exit 2 ;;
  esac
done
echo "total: $pass passed, $fail failed, $skip skipped"
[ -z "$broken" ] && [ "$fail" = 0 ] || { echo "failing suites:$broken"; exit 1; }
