#!/bin/sh
# The data-parallel training step of examples/dist_train (bench/dist_step.c)
# as 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread, with the
# share of each step spent in the gradient reduction; then the forward +
# backward time at per-rank batches 128 .. 2 and the step-time model of
# docs/distributed.md for 2 to 64 nodes (bench/dist_model.py).
#   bench/dist_scaling.sh [build-dir] [repetitions]
# Every configuration runs `repetitions` times (3) and each run prints the
# medians of 20 timed steps; the tables show medians over the runs. The
# model takes CPU times of one thread, which a shared machine inflates less
# than wall times.
set -eu
build=${1:-build-rel}
repeats=${2:-3}
here=$(dirname "$0")
step=$build/bench/dist_step
[ -x "$step" ] || { echo "no $step: configure $build with MPI (libopenmpi-dev) and build it"; exit 1; }
# Open MPI binds each of two ranks to a core; one rank runs without mpirun
# (an MPI singleton), unbound, so that its two threads get both cores.
mpirun="mpirun --allow-run-as-root --oversubscribe --bind-to core -x OMP_NUM_THREADS=1"
runs=$(mktemp)
sweep=$(mktemp)
trap 'rm -f "$runs" "$sweep"' EXIT
for _ in $(seq "$repeats"); do
    OMP_NUM_THREADS=1 "$step" --threads 1 >>"$runs"
    OMP_NUM_THREADS=2 "$step" --threads 2 >>"$runs"
    $mpirun -np 2 "$step" --threads 1 >>"$runs"
done
for _ in $(seq "$repeats"); do
    for batch in 128 64 32 16 8 4 2; do
        OMP_NUM_THREADS=1 "$step" --threads 1 --batch "$batch" >>"$sweep"
    done
done
python3 "$here/dist_model.py" "$runs" "$sweep"
