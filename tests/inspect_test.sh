#!/bin/sh
# tapegrad-inspect on a file written by PyTorch prints every tensor, the
# parameter count and the metadata (with --quiet, the tensors alone); a bad
# file exits 1 with the reason, a usage error 2. --config names the
# library's version, the SIMD level chosen here and the thread count.
set -eu
inspect=$1
golden=$2
out=$("$inspect" "$golden/lstm_linear.safetensors")
expected='name               dtype    shape
lstm.weight_ih_l0  F32      [32, 3]
lstm.weight_hh_l0  F32      [32, 8]
lstm.bias_ih_l0    F32      [32]
lstm.bias_hh_l0    F32      [32]
head.weight        F32      [2, 8]
head.bias          F32      [2]

6 tensors, 434 parameters, 1,736 bytes of data

metadata:
  format: pt
  model: LSTM(3, 8, batch_first=True) + Linear(8, 2)'
[ "$out" = "$expected" ] || { printf 'unexpected output:\n%s\n' "$out"; exit 1; }
quiet=$("$inspect" --quiet "$golden/lstm_linear.safetensors")
[ "$quiet" = "$(printf '%s\n' "$expected" | sed -n 2,7p)" ] || { printf 'unexpected --quiet output:\n%s\n' "$quiet"; exit 1; }
status=0
err=$("$inspect" "$golden/gen_interop.py" 2>&1) || status=$?
[ "$status" = 1 ] || { echo "a bad file gave exit status $status"; exit 1; }
case $err in *"header length"*"larger than the cap"*) ;; *) echo "unexpected error: $err"; exit 1 ;; esac
# A C1 control (U+009B, which a terminal may take as ESC [) in a name or in
# the metadata is printed escaped, not passed to the terminal.
c1=$(mktemp)
trap 'rm -f "$c1"' EXIT
header='{"__metadata__":{"k":"a\302\2332Jb"},"w\302\233x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
len=$(printf "$header" | wc -c)
{ printf "\\$(printf %03o "$len")\000\000\000\000\000\000\000$header"; printf '\000'; } > "$c1"
out=$("$inspect" "$c1")
expected='name      dtype    shape
w\u009bx  U8       [1]

1 tensors, 1 parameters, 1 bytes of data

metadata:
  k: a\u009b2Jb'
[ "$out" = "$expected" ] || { printf 'unexpected output for C1 controls:\n%s\n' "$out"; exit 1; }
status=0
"$inspect" >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || { echo "no argument gave exit status $status"; exit 1; }
config=$(TG_SIMD=scalar OMP_NUM_THREADS=1 "$inspect" --config)
case $config in "tapegrad "[0-9]*"."[0-9]*"."[0-9]*"
simd: scalar
threads: 1") ;; *) printf 'unexpected --config output:\n%s\n' "$config"; exit 1 ;; esac
level=$("$inspect" --config | sed -n 's/^simd: //p')
case $level in avx512 | avx512vl | avx2 | scalar) ;; *) echo "unknown SIMD level '$level'"; exit 1 ;; esac
status=0
"$inspect" --config "$golden/lstm_linear.safetensors" >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || { echo "--config with a file gave exit status $status"; exit 1; }
echo "2 passed, 0 failed"
