#!/bin/sh
# Threads on a busy machine: one bounded busy loop holds one core while the
# LSTM and GRU training steps and the sine demo run at 1 and at 2 threads;
# prints each 2-thread time over its 1-thread time under that load (target:
# at most 1.3), and the same ratio on the quiet machine for comparison.
# No environment variable is set for the library.
#   bench/busy_machine.sh [build-dir]   (a release build: meson setup build-rel --buildtype=release)
set -eu
build=${1:-build}
cores=$(nproc)
busy_core=$((cores - 1))
div() { awk -v a="$1" -v b="$2" 'BEGIN { print a / b }'; }
train_ms() { "$build/bench/lstm" "$@" | sed 's/.*"train_ms": *\([0-9.]*\).*/\1/'; }
sine_s() {
    start=$(date +%s.%N)
    OMP_NUM_THREADS=$1 "$build/examples/sine" >/dev/null 2>&1 || true
    awk -v a="$(date +%s.%N)" -v b="$start" 'BEGIN { print a - b }'
}
run_all() {
    for mode in lstm gru; do
        one=$(train_ms --mode "$mode" --batch 64 --seq 50 --input 256 --hidden 256 --threads 1 --reps 9)
        two=$(train_ms --mode "$mode" --batch 64 --seq 50 --input 256 --hidden 256 --threads 2 --reps 9)
        printf '%-8s %-6s B=64 T=50 I=H=256 %10.1f ms %10.1f ms %8.2f\n' "$1" "$mode" "$one" "$two" \
            "$(div "$two" "$one")"
    done
    one=$(sine_s 1)
    two=$(sine_s 2)
    printf '%-8s %-23s %10.2f s  %10.2f s  %8.2f\n' "$1" "sine demo" "$one" "$two" "$(div "$two" "$one")"
}
lscpu | sed -n 's/^Model name: *//p'
uptime
printf '%-8s %-23s %13s %13s %8s\n' load workload 1-thread 2-thread 2T/1T
run_all quiet
# The busy loop stops by itself after 10 minutes at the latest.
timeout 600 taskset -c "$busy_core" sh -c 'while :; do :; done' &
busy=$!
trap 'kill $busy 2>/dev/null || true' EXIT
sleep 0.5
run_all busy
kill $busy 2>/dev/null || true
echo "2T/1T: the 2-thread time over the 1-thread time in the same load (target under load: <= 1.3)"
