#!/bin/sh
# Per-op overhead against PyTorch, both measured in this run: a chain of
# 1,000 elementwise ops on a 4-element tensor, forward and backward, median
# nanoseconds per op (target: at most 150 ns per op forward). Needs
# python3-torch.
#   bench/overhead_vs_torch.sh [build-dir] [rounds]
# Each side takes `rounds` (default 3) turns in alternation and reports the
# median of its turns: one turn lasts a second, and a busy second of the
# shared machine once put ours at 182 ns against 106.
set -eu
build=${1:-build}
rounds=${2:-3}
here=$(dirname "$0")
ours=""
torch=""
for round in $(seq "$rounds"); do
    ours="$ours $("$build/bench/overhead")"
    torch="$torch $(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$here/overhead_torch.py")"
done
/usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, statistics, sys
def turns(text):
    runs = [json.loads(line) for line in text.replace("} {", "}\n{").split("\n") if line.strip()]
    return {k: statistics.median(r[k] for r in runs) for k in ("forward_ns", "backward_ns")}
o, t = turns(sys.argv[1]), turns(sys.argv[2])
print(f"{'per op, 1,000 ops of 4 floats':<30} {'tapegrad':>10} {'PyTorch':>10} {'ratio':>8}")
for k, name in [("forward_ns", "forward (ns)"), ("backward_ns", "backward (ns)")]:
    print(f"{name:<30} {o[k]:10.1f} {t[k]:10.1f} {t[k] / o[k]:7.1f}x")
print(f"forward target: at most 150 ns per op: {'met' if o['forward_ns'] <= 150 else 'NOT met'}")
PY
