#!/bin/sh
# Install into a staging directory, then build and run a program outside the
# tree with nothing but the pkg-config flags of the installed library.
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
flags=$(pkg-config --define-variable=prefix="$stage$prefix" --cflags --libs tapegrad)
${CC:-cc} -o "$stage/prog" "$src/install_prog.c" $flags
libdir=$(pkg-config --define-variable=prefix="$stage$prefix" --variable=libdir tapegrad)
out=$(LD_LIBRARY_PATH="$libdir" "$stage/prog")
[ "$out" = "dy/dx = 6.0000" ] || { echo "unexpected output: $out"; exit 1; }
echo "1 passed, 0 failed"
