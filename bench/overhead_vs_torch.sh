#!/bin/sh
# Per-op overhead against PyTorch, both measured in this run: a chain of
# 1,000 elementwise ops on a 4-element tensor, forward and backward, median
# nanoseconds per op (target: at most 150 ns per op forward). Needs
# python3-torch.
#   bench/overhead_vs_torch.sh [build-dir]
set -eu
build=${1:-build}
here=$(dirname "$0")
ours=$("$build/bench/overhead")
torch=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 "$here/overhead_torch.py")
/usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{'per op, 1,000 ops of 4 floats':<30} {'tapegrad':>10} {'PyTorch':>10} {'ratio':>8}")
for k, name in [("forward_ns", "forward (ns)"), ("backward_ns", "backward (ns)")]:
    print(f"{name:<30} {o[k]:10.1f} {t[k]:10.1f} {t[k] / o[k]:7.1f}x")
print(f"forward target: at most 150 ns per op: {'met' if o['forward_ns'] <= 150 else 'NOT met'}")
PY
