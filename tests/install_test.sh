#!/bin/sh
# Install into a staging directory, then build and run a program outside the
# tree with nothing but the pkg-config flags of the installed library, as C11
# and as C++, and check what pkg-config hands out.
set -eu
build=$1
src=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
meson install -C "$build" --destdir "$stage" --quiet >/dev/null
pc=$(find "$stage" -name tapegrad.pc | head -n 1)
[ -n "$pc" ] || { echo "tapegrad.pc was not installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
export PKG_CONFIG_PATH="$(dirname "$pc")"
pc() { pkg-config --define-variable=prefix="$stage$prefix" "$@" tapegrad; }
cflags=$(pc --cflags)
case " $cflags " in *"/include/tapegrad "*) echo "pkg-config puts include/tapegrad on the path: $cflags"; exit 1 ;; esac
n=$(pc --static --libs | tr ' ' '\n' | grep -c -- '-fopenmp' || true)
[ "$n" -le 1 ] || { echo "-fopenmp appears $n times in the .pc file"; exit 1; }
[ "$(pc --modversion)" = "$(sed -n 's/^#define TG_VERSION_STRING "\(.*\)"/\1/p' "$src/../core/version.h")" ] ||
    { echo "pkg-config version $(pc --modversion) differs from TG_VERSION_STRING"; exit 1; }
libdir=$(pc --variable=libdir)
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$stage/prog_c" -x c "$src/install_prog.c" $(pc --cflags --libs)
passed=1
if command -v ${CXX:-c++} >/dev/null 2>&1; then
    ${CXX:-c++} -Wall -Wextra -Werror -o "$stage/prog_cxx" -x c++ "$src/install_prog.c" $(pc --cflags --libs)
    passed=2
else
    echo "SKIP: no C++ compiler, the C++ consumer was not built"
fi
for prog in "$stage"/prog_*; do
    out=$(LD_LIBRARY_PATH="$libdir" "$prog")
    [ "$out" = "dy/dx = 6.0000" ] || { echo "$prog: unexpected output: $out"; exit 1; }
done
echo "$passed passed, 0 failed"
