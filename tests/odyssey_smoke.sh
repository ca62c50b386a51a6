#!/bin/sh
# The odyssey example end to end on a tiny synthetic data set (no download):
# it trains two cells with two seeds, prints its table, and writes an SVG
# chart that parses as XML and has its axis labels and legend.
set -eu
exe=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

be32() { printf "\\%03o\\%03o\\%03o\\%03o" $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
# split NAME N: N random images of 28 x 28 bytes and labels cycling through 0..9
split() {
    { printf "$(be32 2051)$(be32 $2)$(be32 28)$(be32 28)"; head -c $(($2 * 784)) /dev/urandom; } | gzip > "$dir/$1-images-idx3-ubyte.gz"
    { printf "$(be32 2049)$(be32 $2)"; i=0; while [ $i -lt $2 ]; do printf "\\$(printf %03o $((i % 10)))"; i=$((i + 1)); done; } |
        gzip > "$dir/$1-labels-idx1-ubyte.gz"
}
split train 96
split t10k 40

out=$("$exe" --dir "$dir" --train 96 --test 40 --epochs 1 --seeds 2 --hidden 8 --cells NP,GRU --svg "$dir/chart.svg" 2>/dev/null)
fail() { echo "FAIL: $1"; printf '%s\n' "$out"; exit 1; }
printf '%s' "$out" | grep -q "on a subset: the first 96 training and 40 test images" || fail "no subset line"
printf '%s' "$out" | grep -q "^NP  " || fail "no NP row"
printf '%s' "$out" | grep -q "^GRU " || fail "no GRU row"
printf '%s' "$out" | grep -q "over 2 seeds" || fail "no spread line"
for text in "test accuracy (%)" "final training loss" "one seed" "standard deviation" ">NP<" ">GRU<"; do
    grep -qF "$text" "$dir/chart.svg" || fail "chart without '$text'"
done
python3 -c "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])" "$dir/chart.svg" || fail "chart is not XML"
echo "odyssey: table and chart ok"
