#!/bin/sh
# The LSTM training step (forward, sum loss, backward) four ways, in one
# run: the built-in LSTM (tg_cell_lstm), the same LSTM written as a user's
# cell description and run by the same driver (bench/lstm.c --mode user:
# its gate math one fused expression, as the built-in's; --mode user-ops:
# op by op), and PyTorch's nn.LSTM. The four are run in turn, ROUNDS times, each run
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
printf '%-28s %11s %11s %11s %11s %13s %13s %13s %13s\n' shape builtin_ms user_ms user_ops_ms torch_ms \
    user/builtin ops/builtin torch/builtin best:user/bi
for shape in "64 50 256 256" "1 200 64 64"; do
    set -- $shape
    args="--batch $1 --seq $2 --input $3 --hidden $4 --layers 1 --threads $threads --reps 15"
    runs=""
    r=0
    while [ "$r" -lt "$rounds" ]; do
        builtin=$("$build/bench/lstm" --mode lstm $args)
        user=$("$build/bench/lstm" --mode user $args)
        ops=$("$build/bench/lstm" --mode user-ops $args)
        torch=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$py" "$here/lstm_torch.py" --mode lstm $args)
        runs="$runs$builtin|$user|$ops|$torch;"
        r=$((r + 1))
    done
    "$py" - "$runs" "$*" <<'PY'
import json, statistics, sys
rounds = [r.split("|") for r in sys.argv[1].split(";") if r]
med = [statistics.median(json.loads(r[k])["train_ms"] for r in rounds) for k in range(4)]
best = [min(json.loads(r[k])["train_ms"] for r in rounds) for k in range(4)]
b, s, i, h = sys.argv[2].split()
name = f"LSTM B={b} T={s} I={i} H={h}"
print(f"{name:<28} {med[0]:11.3f} {med[1]:11.3f} {med[2]:11.3f} {med[3]:11.3f} {med[1] / med[0]:12.3f}x "
      f"{med[2] / med[0]:12.3f}x {med[3] / med[0]:12.2f}x {best[1] / best[0]:12.3f}x")
PY
done
echo "times: median over the rounds of each run's median training step (forward + sum + backward)"
echo "user/builtin: the user's fused cell description against the built-in LSTM (1.00x: as fast);"
echo "ops/builtin: the same description with its gate math op by op; best: of the best rounds"
