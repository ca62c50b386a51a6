#!/bin/sh
# examples/charlm against its PyTorch twin (bench/charlm_torch.py): the same
# corpus, split, model and optimizer, each trained for the same number of
# seconds (training only; held-out evaluations are not counted) with the same
# thread count. Prints time per epoch and held-out bits per character, the
# ratio of the times, and our epoch's GEMM flops as a share of the FMA peak.
# Needs python3-torch and the fortunes corpus.
#   bench/charlm_vs_torch.sh [build-dir] [seconds] [threads] [extra flags for both...]
set -eu
build=${1:-build}
seconds=${2:-300}
threads=${3:-2}
shift $(($# < 3 ? $# : 3))
here=$(dirname "$0")
# This core's f32 FMA peak (bench/peak) before and after the two runs; the
# share of it is counted against the higher.
peak() { "$build/bench/peak" | sed -n 's/.*"best_f32": *\([0-9.]*\).*/\1/p'; }
peak_before=$(peak)
ours=$(OMP_NUM_THREADS=$threads "$build/examples/charlm" --time "$seconds" --epochs 1000 --sample 0 --quiet "$@" | tail -n 1)
torch=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 "$here/charlm_torch.py" --time "$seconds" --epochs 1000 --threads "$threads" "$@" | tail -n 1)
peak_after=$(peak)
# "held-out B bits per character after S s of training (E s per epoch)"
field() { echo "$1" | sed -n "s/^held-out \([0-9.]*\) bits per character after \([0-9]*\) s of training (\([0-9.]*\) s per epoch)$/\\$2/p"; }
printf '%-10s %8s %14s %24s\n' "" threads "s per epoch" "bits/char after ${seconds} s"
printf '%-10s %8s %14s %24s\n' tapegrad "$threads" "$(field "$ours" 3)" "$(field "$ours" 1)"
printf '%-10s %8s %14s %24s\n' PyTorch "$threads" "$(field "$torch" 3)" "$(field "$torch" 1)"
# The GEMM flops of an epoch's training, from the model the example
# describes (its first lines, with no training: --epochs 0), per chunk of T
# steps of B streams, G gate blocks of H units and L layers, I_k the input
# width of layer k (the embedding's E, then H), V the vocabulary: per
# layer 2 B G H times T I_k forward and 2 T I_k backward (the weight's and
# the input's gradients: the embedding needs one too), T H forward and
# again for the state weight's gradient, and (T - 1) H for the state's
# (the carried state is detached, so the first step's needs none); the
# head 3 times 2 T B H V. A count of every product's flops in the library
# over an epoch and its held-out evaluation agrees with it to the flop.
header=$("$build/examples/charlm" --epochs 0 --sample 0 "$@")
# With --cpu-clock the times are CPU seconds, every thread's: one core's worth.
cores=$threads
case " $* " in *" --cpu-clock "*) cores=1 ;; esac
echo "$header" | awk -v ours="$(field "$ours" 3)" -v torch="$(field "$torch" 3)" -v n_threads="$cores" \
    -v p1="$peak_before" -v p2="$peak_after" '
    /^Embedding\(/ {
        split($0, f, /[(), ]+/)  # Embedding V E -> cell E H L layers ... Linear H V
        V = f[2]; E = f[3]; cell = f[5]; H = f[7]; L = f[8]
        G = cell == "lstm" ? 4 : cell == "gru" ? 3 : 1
    }
    / streams, chunks of / { B = $1; T = $5; chunks = substr($7, 2) }
    END {
        if (!chunks || !G || ours <= 0) { print "no epoch time or model description: share of the peak not computed"; exit 0 }
        per_chunk = 3 * 2 * T * B * H * V
        for (k = 0; k < L; k++) {
            I = k == 0 ? E : H
            per_chunk += 2 * B * G * H * (3 * T * I + 2 * T * H + (T - 1) * H)
        }
        flops = per_chunk * chunks
        peak = (p1 > p2 ? p1 : p2) * 1e9
        printf "PyTorch time / ours per epoch: %.2fx\n", torch / ours
        printf "GEMM flops of an epoch: %.1f G; share of the f32 FMA peak (%.1f GFLOP/s a core, the higher of %.1f before the runs and %.1f after) over %d core%s: %.1f%%\n",
               flops / 1e9, peak / 1e9, p1, p2, n_threads, n_threads == 1 ? "" : "s", 100 * flops / (ours * n_threads * peak) }'
