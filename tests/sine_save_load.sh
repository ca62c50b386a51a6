#!/bin/sh
# The sine demo saves its trained model and, loading it, predicts the same
# test error without training.
set -eu
sine=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$sine" --epochs 1 --save "$dir/sine.safetensors" > "$dir/trained" || true
"$sine" --load "$dir/sine.safetensors" > "$dir/loaded" || true
grep -q '^saved the model to' "$dir/trained" || { cat "$dir/trained"; exit 1; }
grep -q '^loaded ' "$dir/loaded" || { cat "$dir/loaded"; exit 1; }
if grep -q '^epoch' "$dir/loaded"; then echo "--load trained the model"; exit 1; fi
trained=$(grep '^test mse' "$dir/trained")
loaded=$(grep '^test mse' "$dir/loaded")
[ -n "$trained" ] && [ "$trained" = "$loaded" ] || { echo "trained: $trained, loaded: $loaded"; exit 1; }
echo "$loaded after loading, as after training"
# A model whose last value (head.bias, the last 4 bytes) is NaN predicts
# NaN: it has not learned the wave, and says so.
cp "$dir/sine.safetensors" "$dir/nan.safetensors"
size=$(wc -c < "$dir/nan.safetensors")
printf '\000\000\300\177' | dd of="$dir/nan.safetensors" bs=1 seek=$((size - 4)) conv=notrunc 2> /dev/null
if "$sine" --load "$dir/nan.safetensors" > "$dir/nan"; then echo "a NaN model passed"; exit 1; fi
grep -q '^the test MSE nan is not below' "$dir/nan" || { cat "$dir/nan"; exit 1; }
echo "2 passed, 0 failed"
