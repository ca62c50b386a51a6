#!/bin/sh
# Our LSTM (and GRU) training step against PyTorch's nn.LSTM (nn.GRU) on the
# same shapes, both measured in this run (medians of --reps runs each).
# Needs python3-torch.
#   bench/lstm_vs_torch.sh [build-dir]
set -eu
build=${1:-build}
here=$(dirname "$0")
py=/usr/bin/python3
printf '%-33s %7s %12s %12s %8s %12s %12s %8s\n' shape threads ours_fwd torch_fwd ratio ours_train torch_train ratio
for shape in "lstm 64 50 256 256 1" "lstm 32 100 128 128 1" "lstm 64 50 256 256 2" "lstm 1 200 64 64 1" \
             "lstm 128 35 512 512 1" "gru 64 50 256 256 1"; do
    set -- $shape
    mode=$1
    shift
    for threads in 1 2; do
        args="--mode $mode --batch $1 --seq $2 --input $3 --hidden $4 --layers $5 --threads $threads --reps 15"
        ours=$("$build/bench/lstm" $args)
        torch=$(OMP_NUM_THREADS=$threads "$py" "$here/lstm_torch.py" $args)
        "$py" - "$ours" "$torch" "$*" "$threads" "$mode" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
b, s, i, h, l = sys.argv[3].split()
name = f"{sys.argv[5].upper()} B={b} T={s} I={i} H={h} L={l}"
print(f"{name:<33} {sys.argv[4]:>7} {o['forward_ms']:12.2f} {t['forward_ms']:12.2f} "
      f"{t['forward_ms'] / o['forward_ms']:7.2f}x {o['train_ms']:12.2f} {t['train_ms']:12.2f} "
      f"{t['train_ms'] / o['train_ms']:7.2f}x")
PY
    done
done
echo "ratio = PyTorch time / our time (above 1: we are faster)"
