"""PyTorch's side of bench/lstm_vs_torch.sh: the same LSTM (or GRU) step as
bench/lstm.c (forward, sum loss, backward), median times in ms as JSON."""
import argparse
import json
import resource
import statistics
import time

import torch

p = argparse.ArgumentParser()
for name, default in [("batch", 64), ("seq", 50), ("input", 256), ("hidden", 256), ("layers", 1),
                      ("threads", 1), ("reps", 20)]:
    p.add_argument("--" + name, type=int, default=default)
p.add_argument("--dtype", default="f32")
p.add_argument("--mode", default="lstm", choices=["lstm", "gru"])
a = p.parse_args()
torch.set_num_threads(a.threads)
dtype = torch.float32 if a.dtype == "f32" else torch.float64
torch.manual_seed(0)
layer = torch.nn.GRU if a.mode == "gru" else torch.nn.LSTM
lstm = layer(a.input, a.hidden, a.layers).to(dtype)
x = torch.rand(a.seq, a.batch, a.input, dtype=dtype) * 2 - 1
forward, total = [], []
for r in range(-2, a.reps):
    lstm.zero_grad()
    t0 = time.perf_counter()
    out, _ = lstm(x)
    loss = out.sum()
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    if r >= 0:
        forward.append((t1 - t0) * 1e3)
        total.append((t2 - t0) * 1e3)
print(json.dumps({"forward_ms": statistics.median(forward), "train_ms": statistics.median(total),
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": torch.__version__}))
