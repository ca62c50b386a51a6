#!/bin/sh
# The LSTM training step (forward, sum loss, backward) three ways, in one
# run: the built-in LSTM (tg_cell_lstm), the same LSTM written as a user's
# cell description and run by the same driver (bench/lstm.c --mode user),
# and PyTorch's nn.LSTM. The three are run in turn, ROUNDS times, each run
# taking the median of 15 repetitions; the table shows the median over the
# rounds, so that a busy machine slows all three alike, and the ratio of
# the best rounds too (contention only ever adds time). Needs python3-torch.
#   bench/user_cell.sh [build-dir] [rounds] [threads]
set -eu
build=${1:-build}
rounds=${2:-5}
threads=${3:-1}
here=$(dirname "$0")
py=/usr/bin/python3
printf '%-28s %11s %11s %11s %13s %13s %13s\n' shape builtin_ms user_ms torch_ms user/builtin torch/builtin \
    best:user/bi
for shape in "64 50 256 256" "1 200 64 64"; do
    set -- $shape
    args="--batch $1 --seq $2 --input $3 --hidden $4 --layers 1 --threads $threads --reps 15"
    runs=""
    r=0
    while [ "$r" -lt "$rounds" ]; do
        builtin=$("$build/bench/lstm" --mode lstm $args)
        user=$("$build/bench/lstm" --mode user $args)
        torch=$(OMP_NUM_THREADS=$threads "$py" "$here/lstm_torch.py" --mode lstm $args)
        runs="$runs$builtin|$user|$torch;"
        r=$((r + 1))
    done
    "$py" - "$runs" "$*" <<'PY'
import json, statistics, sys
rounds = [r.split("|") for r in sys.argv[1].split(";") if r]
med = [statistics.median(json.loads(r[k])["train_ms"] for r in rounds) for k in range(3)]
best = [min(json.loads(r[k])["train_ms"] for r in rounds) for k in range(3)]
b, s, i, h = sys.argv[2].split()
name = f"LSTM B={b} T={s} I={i} H={h}"
print(f"{name:<28} {med[0]:11.3f} {med[1]:11.3f} {med[2]:11.3f} {med[1] / med[0]:12.3f}x {med[2] / med[0]:12.2f}x "
      f"{best[1] / best[0]:12.3f}x")
PY
done
echo "times: median over the rounds of each run's median training step (forward + sum + backward)"
echo "user/builtin: the user's cell description against the built-in LSTM (1.00x: as fast); best: of the best rounds"
