#!/bin/sh
# One epoch of the Fashion-MNIST row classifier (LSTM(28, 128) over the 28
# rows, Linear(128, 10), Adam, batch 64; the evaluation on 1000 test images
# counted in both) against PyTorch's same model (bench/fashion_torch.py), in
# the same run, each at 1 and 2 threads. Prints seconds per epoch, ours over
# PyTorch's 1-thread time (target: at most 0.6) and our 2-thread speed-up
# (target: at least 1.6), and our epoch's GEMM flops over its time as a
# share of the FMA peak (bench/peak, measured in the same run; on 2
# threads, of twice it). Needs python3-torch and dataset-fashion-mnist.
#   bench/fashion_vs_torch.sh [build-dir] [cell] [rounds]
# Each of the four timings is the median of `rounds` (default 3) turns,
# taken in alternation (ours, ours on 2 threads, PyTorch, PyTorch on 2),
# so that a drift of the shared machine's speed is not one side's alone.
set -eu
build=${1:-build}
cell=${2:-lstm}
rounds=${3:-3}
here=$(dirname "$0")
hidden=128 train=60000 test=1000
args="--cell $cell --hidden $hidden --batch 64 --epochs 1 --test $test"
ours() { OMP_NUM_THREADS=$1 "$build/examples/fashion_mnist" $args | sed -n 's/^epoch 1\/1 .*  \([0-9.]*\) s  test.*/\1/p'; }
torch() { OMP_NUM_THREADS=$1 OPENBLAS_NUM_THREADS=$1 /usr/bin/python3 "$here/fashion_torch.py" $args --threads "$1" | sed -n 's/^epoch 1\/1  \([0-9.]*\) s.*/\1/p'; }
median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# A cache line's round trip between the two cores (bench/roundtrip), just
# before each of our 2-thread turns: about 60 ns while they share an L3,
# several times that while the host has put them on different ones, which
# slows a 2-thread epoch by half.
roundtrip() { "$build/bench/roundtrip" --trips 50000 | sed -n 's/.*"round_trip_ns": *\([0-9.]*\).*/\1/p'; }
peak() { "$build/bench/peak" | sed -n 's/.*"best_f32": *\([0-9.]*\).*/\1/p'; }
peak_before=$(peak)
o1s=""; o2s=""; t1s=""; t2s=""; rts=""
for round in $(seq "$rounds"); do
    o1s="$o1s $(ours 1)"
    rts="$rts $(roundtrip)"
    o2s="$o2s $(ours 2)"
    t1s="$t1s $(torch 1)"
    t2s="$t2s $(torch 2)"
done
o1=$(echo "$o1s" | median)
o2=$(echo "$o2s" | median)
t1=$(echo "$t1s" | median)
t2=$(echo "$t2s" | median)
echo "turns (seconds): ours 1 thread:$o1s; ours 2 threads:$o2s; PyTorch 1 thread:$t1s; PyTorch 2 threads:$t2s"
echo "core-to-core round trip before each of our 2-thread turns (ns):$rts"
peak_after=$(peak)
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $cell, seconds per epoch"
printf '%-10s %10s %10s\n' "" "1 thread" "2 threads"
printf '%-10s %10s %10s\n' tapegrad "$o1" "$o2"
printf '%-10s %10s %10s\n' PyTorch "$t1" "$t2"
awk -v o1="$o1" -v o2="$o2" -v t1="$t1" 'BEGIN {
    printf "ours / PyTorch 1-thread: %.2f (ours 1 thread), %.2f (ours 2 threads); target at most 0.6: %s\n", o1 / t1,
           o2 / t1, (o1 <= 0.6 * t1 ? "met" : "not met")
    printf "our 2-thread speed-up: %.2fx; target at least 1.6x: %s\n", o1 / o2, (o1 >= 1.6 * o2 ? "met" : "not met") }'
# The epoch's GEMM flops, counted as bench/lstm.c (step_gemm_flops) counts a
# training step's (the first step's zero state and x's gradient left out),
# for every training image (the last batch is smaller), then the head
# (Linear(H, 10): forward, weight and input gradients) and the forward of
# the test images; G gates of H units, T = 28 rows of I = 28 pixels. For
# the LSTM a count of every product's flops in the library (738.15 G)
# agrees with it to the flop.
awk -v cell="$cell" -v H="$hidden" -v n="$train" -v m="$test" -v o1="$o1" -v o2="$o2" \
    -v p1="$peak_before" -v p2="$peak_after" 'BEGIN {
    G = cell == "lstm" ? 4 : cell == "gru" ? 3 : 1; T = 28; I = 28
    flops = 2 * n * G * H * (2 * T * I + 3 * (T - 1) * H) + 3 * 2 * n * H * 10 \
          + 2 * m * G * H * (T * I + (T - 1) * H) + 2 * m * H * 10
    peak = (p1 > p2 ? p1 : p2) * 1e9
    printf "GEMM flops of the epoch: %.1f G; share of the f32 FMA peak (%.1f GFLOP/s a core, the higher of %.1f before the turns and %.1f after): %.1f%% (1 thread), %.1f%% (2 threads)\n",
           flops / 1e9, peak / 1e9, p1, p2, 100 * flops / (o1 * peak), 100 * flops / (o2 * 2 * peak) }'
