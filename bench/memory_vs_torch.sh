#!/bin/sh
# Memory of a training step per time step, against PyTorch in the same run:
# peak RSS of the LSTM and GRU step (B=64, I=H=256, 1 thread) at T=100 and
# T=400; the difference over 300 steps is what each time step costs, free of
# what the process holds before it starts (PyTorch's import alone is ~240 MB).
# Target: ours at most PyTorch's. Needs python3-torch.
#   bench/memory_vs_torch.sh [build-dir]
set -eu
build=${1:-build}
here=$(dirname "$0")
checks=$(mktemp)
rss() { sed 's/.*"max_rss_mb": *\([0-9.]*\).*/\1/'; }
printf '%-6s %14s %14s %14s %14s %12s %12s %8s\n' mode ours_T100_MB ours_T400_MB torch_T100_MB torch_T400_MB \
    ours_MB/step torch_MB/step ratio
for mode in lstm gru; do
    args="--mode $mode --batch 64 --input 256 --hidden 256 --threads 1 --reps 2"
    o1=$("$build/bench/lstm" $args --seq 100 | rss)
    o4=$("$build/bench/lstm" $args --seq 400 | rss)
    t1=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$here/lstm_torch.py" $args --seq 100 | rss)
    t4=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$here/lstm_torch.py" $args --seq 400 | rss)
    awk -v checks="$checks" -v m="$mode" -v o1="$o1" -v o4="$o4" -v t1="$t1" -v t4="$t4" 'BEGIN {
        os = (o4 - o1) / 300; ts = (t4 - t1) / 300
        printf "%-6s %14.0f %14.0f %14.0f %14.0f %12.2f %12.2f %7.2fx\n", m, o1, o4, t1, t4, os, ts, os / ts
        printf "%s, memory per time step against PyTorch: %.2fx (target at most 1): %s\n", m, os / ts,
               (os <= ts ? "met" : "not met") >>checks }'
done
echo "ratio = our memory per time step / PyTorch's (target: at most 1)"
cat "$checks"
rm -f "$checks"
