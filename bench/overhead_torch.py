"""PyTorch's side of bench/overhead_vs_torch.sh: the same chain of tiny
elementwise ops as bench/overhead.c, median nanoseconds per op as JSON."""
import argparse
import json
import statistics
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--ops", type=int, default=1000)
p.add_argument("--size", type=int, default=4)
p.add_argument("--reps", type=int, default=50)
a = p.parse_args()
torch.set_num_threads(1)
x = (torch.rand(a.size) * 2 - 1).requires_grad_()
fwd, bwd = [], []
for r in range(-3, a.reps):
    t0 = time.perf_counter_ns()
    y = x
    for i in range(0, a.ops, 4):
        y = torch.sigmoid((torch.tanh(y) + x) * 0.5)
    loss = y.sum()
    t1 = time.perf_counter_ns()
    loss.backward()
    t2 = time.perf_counter_ns()
    x.grad = None
    if r >= 0:
        fwd.append((t1 - t0) / a.ops)
        bwd.append((t2 - t1) / a.ops)
print(json.dumps({"ops": a.ops, "size": a.size, "forward_ns": round(statistics.median(fwd), 1),
                  "backward_ns": round(statistics.median(bwd), 1)}))
