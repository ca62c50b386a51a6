#!/bin/sh
# The Fashion-MNIST example reads untrusted IDX files: each malformed file
# must be refused with a message naming the file and the byte offset, never
# trusted. Builds small gzip'd files by hand; needs no data set.
set -eu
exe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0

# be32 N: four big-endian bytes as printf escapes
be32() { printf "\\%03o\\%03o\\%03o\\%03o" $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
images() { { printf "$(be32 2051)$(be32 $1)$(be32 28)$(be32 28)"; head -c "$2" /dev/zero; } | gzip > "$dir/train-images-idx3-ubyte.gz"; }
labels() { { printf "$(be32 2049)$(be32 $1)"; printf "$2"; } | gzip > "$dir/train-labels-idx1-ubyte.gz"; }

expect() { # expect WHAT PATTERN: the example fails and says PATTERN
    if out=$("$exe" --dir "$dir" --epochs 1 2>&1); then
        echo "FAIL $1: accepted"; failed=$((failed + 1))
    elif printf '%s' "$out" | grep -q "$2"; then
        passed=$((passed + 1))
    else
        echo "FAIL $1: message was: $out"; failed=$((failed + 1))
    fi
}

images 2 1568; labels 2 '\001\002'
printf 'not gzip' > "$dir/t10k-images-idx3-ubyte.gz"
expect "test split not gzip" "t10k-images-idx3-ubyte.gz is not a readable gzip file"

# 3 MB of data for 2 images: the reading stops after the first 1 MB, not at the end
images 2 3000000; labels 2 '\001\002'
expect "more data than the header promises" "more than 1048560 data bytes after offset 16, the header promises 1568"

images 2 1000; labels 2 '\001\002'
expect "truncated images" "1000 data bytes after offset 16, the header promises 1568"

printf "$(be32 2049)" | gzip > "$dir/train-images-idx3-ubyte.gz"
expect "short header" "4 bytes, shorter than its 16-byte header"

{ printf "$(be32 2049)$(be32 2)$(be32 28)$(be32 28)"; head -c 1568 /dev/zero; } | gzip > "$dir/train-images-idx3-ubyte.gz"
expect "wrong magic" "magic number 0x00000801 at offset 0, expected 0x00000803"

{ printf "$(be32 2051)$(be32 2)$(be32 27)$(be32 28)"; head -c 1512 /dev/zero; } | gzip > "$dir/train-images-idx3-ubyte.gz"
expect "wrong row count" "dim 1 is 27 at offset 8, expected 28"

images 0 0; labels 2 '\001\002'
expect "no images" "dim 0 is 0 at offset 4, expected at least 1"

images 2 1568; labels 3 '\001\002\003'
expect "count mismatch" "has 2 images but .* has 3 labels"

images 2 1568; labels 2 '\001\014'
expect "bad label" "label 12 at offset 9 is not a class 0..9"

rm "$dir/train-labels-idx1-ubyte.gz"
expect "missing file" "cannot open .*train-labels-idx1-ubyte.gz"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
