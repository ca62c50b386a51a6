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
echo "1 passed, 0 failed"
