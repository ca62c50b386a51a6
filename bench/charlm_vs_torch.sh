#!/bin/sh
# examples/charlm against its PyTorch twin (bench/charlm_torch.py): the same
# corpus, split, model and optimizer, each trained for the same number of
# seconds (training only; held-out evaluations are not counted) with the same
# thread count. Prints time per epoch and held-out bits per character.
# Needs python3-torch and the fortunes corpus.
#   bench/charlm_vs_torch.sh [build-dir] [seconds] [threads] [extra flags for both...]
set -eu
build=${1:-build}
seconds=${2:-300}
threads=${3:-2}
shift $(($# < 3 ? $# : 3))
here=$(dirname "$0")
ours=$(OMP_NUM_THREADS=$threads "$build/examples/charlm" --time "$seconds" --epochs 1000 --sample 0 --quiet "$@" | tail -n 1)
torch=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 "$here/charlm_torch.py" --time "$seconds" --epochs 1000 --threads "$threads" "$@" | tail -n 1)
# "held-out B bits per character after S s of training (E s per epoch)"
field() { echo "$1" | sed -n "s/^held-out \([0-9.]*\) bits per character after \([0-9]*\) s of training (\([0-9.]*\) s per epoch)$/\\$2/p"; }
printf '%-10s %8s %14s %24s\n' "" threads "s per epoch" "bits/char after ${seconds} s"
printf '%-10s %8s %14s %24s\n' tapegrad "$threads" "$(field "$ours" 3)" "$(field "$ours" 1)"
printf '%-10s %8s %14s %24s\n' PyTorch "$threads" "$(field "$torch" 3)" "$(field "$torch" 1)"
