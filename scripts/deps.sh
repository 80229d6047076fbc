#!/usr/bin/env bash
# Checks that the Debian packages the build and the tests need are installed.
# As root it installs what is missing with apt-get; otherwise it prints the exact command and fails.
# Usage: scripts/deps.sh build|test|fuzz|import   (import: scripts/import_dataset.py only)
set -u
build_pkgs="gcc make pkg-config libsqlite3-dev sqlite3 libstb-dev libjpeg62-turbo-dev libwebp-dev libopenblas-dev zlib1g-dev libcjson-dev libutf8proc-dev"
test_pkgs="python3 python3-pytest python3-numpy python3-pil python3-regex python3-h5py"
import_pkgs="python3 python3-numpy python3-pil python3-h5py"
fuzz_pkgs="clang libclang-rt-14-dev"
want="$build_pkgs"
[ "${1:-build}" = test ] && want="$build_pkgs $test_pkgs"
[ "${1:-build}" = fuzz ] && want="$build_pkgs $fuzz_pkgs"
[ "${1:-build}" = import ] && want="$import_pkgs"
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: missing Debian packages:$missing" >&2
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "deps: installing them with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends $missing >&2 && exit 0
  echo "deps: apt-get failed" >&2
  exit 1
fi
echo "deps: run as root:  apt-get update && apt-get install -y$missing" >&2
exit 1
