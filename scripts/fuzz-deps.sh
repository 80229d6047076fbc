#!/usr/bin/env bash
# Builds the third-party image decoders from their Debian source packages with the fuzzing
# sanitizers, so the libFuzzer targets see bugs inside them (the shared libraries the plain build
# links are uninstrumented: an out-of-bounds write in libjpeg-turbo, libwebp or stb_image would go
# unnoticed).  Used by `make fuzz` only; `make` and `make test` never run it.
#
#   scripts/fuzz-deps.sh [OUT]        (OUT defaults to build/thirdparty)
#
# Result:  OUT/lib/libjpeg.a  OUT/lib/libwebp.a (with its sharpyuv objects)  OUT/lib/libwebpdemux.a
#          OUT/include/        (jpeglib.h, jconfig.h, jmorecfg.h, jerror.h, webp/*.h)
#          OUT/stamp           (the source versions built; a rebuild happens when they change)
# stb_image needs no step here: Debian's libstb is stb_image.h compiled with every optional macro
# unset (README.Debian of libstb0), so the fuzz build compiles fuzz/thirdparty/stb.c, which
# does exactly that, with the sanitizers.
#
# Sources: `apt-get source` of the versions installed as -dev packages (libjpeg62-turbo-dev,
# libwebp-dev), so the headers the engine was written against and the code fuzzed are the same.
# apt-get source needs deb-src entries: when none exist this script adds
# /etc/apt/sources.list.d/legrad-fuzz-src.sources (the bookworm deb-src lines) and says so.
# Flags: -fsanitize=address,undefined,fuzzer-no-link, static.  libjpeg-turbo without its SIMD code
# (assembly, which the sanitizers cannot see); libwebp keeps its SSE2/SSE4.1 intrinsics (C, instrumented).
set -eu
OUT=${1:-build/thirdparty}
SAN="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null; }
jpeg_ver=$(pkg_version libjpeg62-turbo-dev)
webp_ver=$(pkg_version libwebp-dev)
[ -n "$jpeg_ver" ] && [ -n "$webp_ver" ] || { echo "fuzz-deps: libjpeg62-turbo-dev and libwebp-dev must be installed (scripts/deps.sh fuzz)" >&2; exit 1; }
want="libjpeg-turbo=$jpeg_ver libwebp=$webp_ver (webp webpdemux) flags=$SAN"
if [ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$want" ]; then touch "$OUT/stamp"; exit 0; fi

# deb-src entries, added once (apt-get source refuses without them).
if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  [ "$(id -u)" = 0 ] || { echo "fuzz-deps: no deb-src entries; as root this script adds them" >&2; exit 1; }
  echo "fuzz-deps: adding /etc/apt/sources.list.d/legrad-fuzz-src.sources (deb-src for apt-get source)" >&2
  cat >/etc/apt/sources.list.d/legrad-fuzz-src.sources <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  apt-get update -qq >&2
fi

src="$OUT/src"
rm -rf "$src" "$OUT/lib" "$OUT/include" "$OUT/stamp"
mkdir -p "$src" "$OUT/lib" "$OUT/include"
OUT=$(cd "$OUT" && pwd)
( cd "$src" && apt-get source -qq "libjpeg-turbo=$jpeg_ver" "libwebp=$webp_ver" >&2 ) || {
  echo "fuzz-deps: apt-get source failed (network, or the version is gone from the mirror)" >&2; exit 1; }
jpeg_dir=$(find "$src" -maxdepth 1 -type d -name 'libjpeg-turbo-*' | head -n 1)
webp_dir=$(find "$src" -maxdepth 1 -type d -name 'libwebp-*' | head -n 1)

build() {  # build SOURCE_DIR BUILD_DIR "TARGETS" CMAKE_ARGS...: configures, builds the library targets
  local s=$1 b=$2 target=$3; shift 3
  CC=clang CFLAGS="$SAN" cmake -S "$s" -B "$b" -DCMAKE_BUILD_TYPE=None "$@" >"$b.log" 2>&1 &&
    cmake --build "$b" -j 2 --target $target >>"$b.log" 2>&1 || { tail -n 30 "$b.log" >&2; exit 1; }
}
echo "fuzz-deps: building libjpeg-turbo $jpeg_ver with the sanitizers" >&2
build "$jpeg_dir" "$src/jpeg-build" jpeg-static -DENABLE_SHARED=OFF -DENABLE_STATIC=ON -DWITH_SIMD=OFF \
  -DWITH_TURBOJPEG=OFF
cp "$src/jpeg-build/libjpeg.a" "$OUT/lib/"
cp "$src/jpeg-build/jconfig.h" "$jpeg_dir/jpeglib.h" "$jpeg_dir/jmorecfg.h" "$jpeg_dir/jerror.h" "$OUT/include/"
echo "fuzz-deps: building libwebp $webp_ver with the sanitizers" >&2
build "$webp_dir" "$src/webp-build" "webp webpdemux" -DBUILD_SHARED_LIBS=OFF -DWEBP_BUILD_ANIM_UTILS=OFF -DWEBP_BUILD_CWEBP=OFF \
  -DWEBP_BUILD_DWEBP=OFF -DWEBP_BUILD_GIF2WEBP=OFF -DWEBP_BUILD_IMG2WEBP=OFF -DWEBP_BUILD_VWEBP=OFF \
  -DWEBP_BUILD_WEBPINFO=OFF -DWEBP_BUILD_WEBPMUX=OFF -DWEBP_BUILD_EXTRAS=OFF -DWEBP_USE_THREAD=OFF
find "$src/webp-build" -maxdepth 1 -name 'lib*.a' -exec cp {} "$OUT/lib/" \;
mkdir -p "$OUT/include/webp"
cp "$webp_dir"/src/webp/*.h "$OUT/include/webp/"
[ -f "$OUT/lib/libjpeg.a" ] && [ -f "$OUT/lib/libwebp.a" ] && [ -f "$OUT/lib/libwebpdemux.a" ] || { echo "fuzz-deps: static libraries missing after the build" >&2; exit 1; }
echo "$want" >"$OUT/stamp"
