#!/bin/sh
# Runs each example briefly (tiny sizes through its flags, data made here)
# with stdout going to a file, as in CI or a pipe, and checks that:
#  - its first progress line is in the file while it is still running
#    (flushed as it goes, not at exit), and it exits 0;
#  - --help prints the usage and exits 0, and --quiet leaves out the
#    per-epoch lines;
#  - --plot writes a whole SVG file;
#  - a missing data set is reported with how to install it;
#  - every example, the others too, answers --help and refuses an unknown
#    flag or a bad or missing numeric value (exit 2, a message naming the
#    flag); those without progress lines leave out their narration with
#    --quiet; a --save that cannot write is an error (a non-zero exit).
#   examples_run.sh SINE FASHION_MNIST GRADIENT_FLOW CHARLM LSTM_BACKWARD ODYSSEY SHAPES CUSTOM_OP
#                   ADD_A_CELL ADD_AN_OP INSPECT [DIST_TRAIN]
set -eu
sine=$1 fashion=$2 flow=$3 charlm=$4 lstm_backward=$5 odyssey=$6 shapes=$7 custom_op=$8 add_a_cell=$9
shift 9
add_an_op=$1 inspect=$2 dist_train=${3:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0
failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

# flushed NAME PATTERN CMD...: run CMD in the background with stdout to a
# file; PATTERN (the first progress line) must appear before it exits.
flushed() {
    name=$1 pattern=$2
    shift 2
    out="$dir/$name.out"
    : > "$out"
    "$@" > "$out" 2> "$dir/$name.err" &
    pid=$!
    seen_running=no
    while kill -0 "$pid" 2> /dev/null; do
        if grep -q "$pattern" "$out"; then
            kill -0 "$pid" 2> /dev/null && seen_running=yes
            break
        fi
        sleep 0.02
    done
    if wait "$pid"; then status=0; else status=$?; fi
    if [ "$status" != 0 ]; then
        fail "$name: exit status $status: $(cat "$dir/$name.err")"
    elif [ "$seen_running" != yes ]; then
        fail "$name: '$pattern' was not in its piped output while it ran (not flushed?)"; cat "$out"
    else
        passed=$((passed + 1))
    fi
}

# usage NAME EXE: --help prints the usage on stdout and exits 0.
usage() {
    if "$2" --help > "$dir/help" 2>&1 && grep -q "^usage: " "$dir/help"; then
        passed=$((passed + 1))
    else
        fail "$1 --help: $(cat "$dir/help")"
    fi
}

# svg NAME FILE: a whole SVG document with axis labels and a legend entry.
svg() {
    if grep -q "^<svg " "$2" && grep -q "^</svg>" "$2" && [ "$(grep -c "<text" "$2")" -ge 5 ]; then
        passed=$((passed + 1))
    else
        fail "$1: $2 is not a whole chart"
    fi
}

# quiet NAME PATTERN CMD...: with --quiet, no line matches PATTERN.
quiet() {
    name=$1 pattern=$2
    shift 2
    if "$@" --quiet > "$dir/quiet" 2>&1 && ! grep -q "$pattern" "$dir/quiet"; then
        passed=$((passed + 1))
    else
        fail "$name --quiet: $(head -5 "$dir/quiet")"
    fi
}

# refused FLAG CMD...: CMD exits with status 2 and its message names FLAG.
refused() {
    flag=$1
    shift
    if "$@" > "$dir/refused.out" 2> "$dir/refused.err"; then status=0; else status=$?; fi
    if [ "$status" = 2 ] && grep -qF -e "$flag" "$dir/refused.err"; then
        passed=$((passed + 1))
    else
        fail "$* (exit status $status): $(cat "$dir/refused.err")"
    fi
}

# failed_save NAME CMD...: CMD, told to --save where it cannot write, says so and exits non-zero.
failed_save() {
    name=$1
    shift
    if "$@" > "$dir/save.out" 2>&1; then
        fail "$name: a failed --save exited 0"
    elif grep -q "cannot write" "$dir/save.out"; then
        passed=$((passed + 1))
    else
        fail "$name --save: $(cat "$dir/save.out")"
    fi
}

# answers NAME EXE: --help prints the usage; an unknown flag is refused by
# name, with the usage on stderr.
answers() {
    usage "$1" "$2"
    refused "'--no-such-flag'" "$2" --no-such-flag
    grep -q "^usage: " "$dir/refused.err" || fail "$1 --no-such-flag: no usage on stderr"
}
answers sine "$sine"
answers fashion_mnist "$fashion"
answers gradient_flow "$flow"
answers charlm "$charlm"
answers lstm_backward "$lstm_backward"
answers odyssey "$odyssey"
answers shapes "$shapes"
answers custom_op "$custom_op"
answers add_a_cell "$add_a_cell"
answers add_an_op "$add_an_op"
answers tapegrad-inspect "$inspect"
[ -z "$dist_train" ] || answers dist_train "$dist_train"

# Bad numeric values and missing values are refused before any work.
refused --epochs "$sine" --epochs abc
refused --epochs "$sine" --epochs -3
refused --epochs "$sine" --epochs
refused --seed "$sine" --seed -1
refused --lr "$fashion" --lr inf
refused --lr "$fashion" --lr " 0.1" --dir "$dir/none"
refused --clip "$charlm" --clip " 1" --data "$dir/none"
refused --batch "$fashion" --batch 99999999999
refused --train "$fashion" --train -5
refused --steps "$flow" --steps 1.5
refused --explode-scale "$flow" --explode-scale nan
refused --lengths "$flow" --lengths 50,x
refused --temperature "$charlm" --temperature inf
refused --time "$charlm" --time nan
refused --epochs "$charlm" --epochs 99999999999
refused --seeds "$odyssey" --seeds 0
refused --lr "$odyssey" --lr
refused "'bogus'" "$odyssey" --cells NP,bogus --dir "$dir/none"
refused --seed "$add_a_cell" --seed abc
refused --dot "$lstm_backward" --dot
[ -z "$dist_train" ] || refused --batch "$dist_train" --batch 0

# The examples without progress lines leave out their narration.
quiet shapes "." "$shapes"
quiet lstm_backward "^backward\|dL/dpre" "$lstm_backward"
quiet custom_op "^loss = \|^gradcheck" "$custom_op"
quiet add_an_op "gradcheck ok" "$add_an_op"

# Each run below goes on for a second or more of work after its first
# progress line, so that the check does not depend on how the machine
# schedules the two processes.
# sine: its defaults take about half a second; 60 epochs three times that.
flushed sine "^epoch 1/60 " "$sine" --epochs 60 --plot "$dir/sine.svg"
svg sine "$dir/sine.svg"
quiet sine "^epoch" "$sine" --epochs 5

# Fashion-MNIST: 2048 training and 100 test images of noise, all of class 3, in IDX files.
be32() { printf "\\%03o\\%03o\\%03o\\%03o" $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }
idx() { # idx PREFIX COUNT
    { printf "$(be32 2051)$(be32 $2)$(be32 28)$(be32 28)"; head -c $(($2 * 784)) /dev/urandom; } | gzip > "$dir/$1-images-idx3-ubyte.gz"
    { printf "$(be32 2049)$(be32 $2)"; head -c "$2" /dev/zero | tr '\000' '\003'; } | gzip > "$dir/$1-labels-idx1-ubyte.gz"
}
idx train 2048
idx t10k 100
for cell in gru rnn; do
    flushed "fashion_mnist-$cell" "^epoch 1/6 " "$fashion" --dir "$dir" --cell $cell --hidden 16 --epochs 6 --plot "$dir/fm.svg"
done
svg fashion_mnist "$dir/fm.svg"
quiet fashion_mnist "^epoch" "$fashion" --dir "$dir" --hidden 8 --epochs 1
# --save keeps the best epoch's model: a safetensors file under PyTorch's names.
if "$fashion" --dir "$dir" --hidden 8 --epochs 2 --quiet --save "$dir/best.safetensors" > "$dir/save.out" 2>&1 &&
    grep -q "^saved the model of the best epoch" "$dir/save.out" && grep -q "gru.weight_hh_l0" "$dir/best.safetensors"; then
    passed=$((passed + 1))
else
    fail "fashion_mnist --save: $(cat "$dir/save.out")"
fi
failed_save fashion_mnist "$fashion" --dir "$dir" --hidden 8 --epochs 1 --train 256 --test 20 --quiet --save "$dir/none/x"
quiet odyssey "seed 1:" "$odyssey" --dir "$dir" --train 64 --test 20 --epochs 1 --seeds 2 --hidden 4 --cells NP,GRU \
    --svg "$dir/odyssey.svg"
[ -z "$dist_train" ] || quiet dist_train "^GRU\|^epoch 1 " "$dist_train" --dir "$dir" --train 256 --batch 64 --epochs 2

# gradient_flow: tiny lengths and sizes; the plot needs --plot-t among the lengths.
flushed gradient_flow "^run 1/6 " "$flow" --hidden 8 --steps 40 --batch 8 --lengths 8,12 --plot-t 12 --plot "$dir/flow.svg"
svg gradient_flow "$dir/flow.svg"
grep -q "baseline" "$dir/gradient_flow.out" && passed=$((passed + 1)) || fail "gradient_flow: no MSE table"

# charlm: a corpus of 400 made-up fortunes.
i=0
while [ $i -lt 400 ]; do
    echo "Q: What is $i times two?"; echo "A: $((i * 2)), as always."; echo "%"; i=$((i + 1))
done > "$dir/fortunes"
flushed charlm "^epoch 1/6 " "$charlm" --data "$dir/fortunes" --embed 8 --hidden 16 --seq 20 --batch 8 --epochs 6 \
    --sample 40 --plot "$dir/charlm.svg"
svg charlm "$dir/charlm.svg"
grep -q "^Q: " "$dir/charlm.out" && passed=$((passed + 1)) || fail "charlm: no sample after the prompt"
quiet charlm "^epoch" "$charlm" --data "$dir/fortunes" --embed 4 --hidden 4 --seq 10 --batch 2 --epochs 1 --sample 0
# --save, then --load with no training: the same model samples the same text
# (same seed), and a model of other sizes is refused by name.
small="--data $dir/fortunes --embed 4 --hidden 8 --seq 10 --batch 2 --quiet"
if "$charlm" $small --epochs 1 --sample 30 --save "$dir/lm.safetensors" > "$dir/lm1.out" 2>&1 &&
    "$charlm" $small --epochs 0 --sample 30 --load "$dir/lm.safetensors" > "$dir/lm2.out" 2>&1 &&
    [ "$(tail -n 1 "$dir/lm1.out")" = "$(tail -n 1 "$dir/lm2.out")" ] &&
    ! "$charlm" $small --hidden 16 --epochs 0 --load "$dir/lm.safetensors" > "$dir/lm3.out" 2>&1 &&
    grep -q "size mismatch for rnn.weight_hh_l0" "$dir/lm3.out"; then
    passed=$((passed + 1))
else
    fail "charlm --save/--load: $(cat "$dir/lm1.out" "$dir/lm2.out" "$dir/lm3.out")"
fi
failed_save charlm "$charlm" $small --epochs 0 --sample 0 --save "$dir/none/lm.safetensors"
failed_save sine "$sine" --epochs 1 --quiet --save "$dir/none/sine.safetensors"
# A --plot or --dot that cannot be written is named with the example and the flag.
for cmd in "$sine --epochs 1 --quiet --plot" "$lstm_backward --quiet --dot"; do
    if $cmd "" > "$dir/plot.out" 2>&1; then
        fail "$cmd '': exited 0"
    elif grep -q "^[a-z_]*: cannot write --[a-z]* '': " "$dir/plot.out"; then
        passed=$((passed + 1))
    else
        fail "$cmd '' said: $(cat "$dir/plot.out")"
    fi
done
if "$charlm" --data "$dir/none" > "$dir/missing" 2>&1; then
    fail "charlm: ran without a corpus"
elif grep -q "apt-get install fortunes" "$dir/missing"; then
    passed=$((passed + 1))
else
    fail "charlm without a corpus said: $(cat "$dir/missing")"
fi
# A device as the corpus is refused (/dev/zero was read for ever; /dev/null
# here, which ends, so that a regression cannot fill the memory).
if "$charlm" --data /dev/null > "$dir/device" 2>&1; then
    fail "charlm: trained on /dev/null"
elif grep -q "^charlm: --data /dev/null is neither a file nor a directory" "$dir/device"; then
    passed=$((passed + 1))
else
    fail "charlm --data /dev/null said: $(cat "$dir/device")"
fi

# Out-of-range values of the newer flags are refused with exit 2 and a message.
for bad in "$charlm --dropout 1" "$charlm --lr-min 1" "$charlm --weight-decay -1" "$charlm --beta1 -0.1" "$charlm --beta2 1" "$fashion --batch 0"; do
    if $bad > "$dir/bad.out" 2>&1; then
        fail "accepted: $bad"
    elif [ $? -eq 2 ] && grep -q "must be" "$dir/bad.out"; then
        passed=$((passed + 1))
    else
        fail "$bad said: $(cat "$dir/bad.out")"
    fi
done

# lstm_backward: short; prints every gradient and a DOT graph.
if "$lstm_backward" --dot "$dir/g.dot" > "$dir/lstm.out" && [ "$(grep -c "dL/d" "$dir/lstm.out")" -ge 18 ] &&
    grep -q "digraph tapegrad" "$dir/g.dot"; then
    passed=$((passed + 1))
else
    fail "lstm_backward: $(cat "$dir/lstm.out")"
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
