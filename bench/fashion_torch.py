"""PyTorch twin of examples/fashion_mnist.c for timing: the same data (each
image read as 28 rows of 28 pixels scaled to [0, 1]), model (torch.nn.LSTM,
GRU or RNN over the rows, the last hidden state into a Linear head),
cross-entropy, Adam and batch size, trained for whole epochs in a shuffled
order; prints the seconds of each epoch (training and the evaluation on the
test images, as the C program's epoch line does) and the test accuracy.

    /usr/bin/python3 bench/fashion_torch.py [--cell lstm] [--hidden 128] [--batch 64]
        [--epochs 1] [--threads 1] [--test N] [--dir /usr/share/datasets/fashion-mnist]
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class Model(nn.Module):
    def __init__(self, cell, hidden):
        super().__init__()
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = kind(28, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 10)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.003)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--test", type=int, default=0)
    ap.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)

    def load(split, limit):
        x = read_idx(os.path.join(a.dir, f"{split}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
        y = read_idx(os.path.join(a.dir, f"{split}-labels-idx1-ubyte.gz")).astype(np.int64)
        if limit:
            x, y = x[:limit], y[:limit]
        return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())

    train_x, train_y = load("train", 0)
    test_x, test_y = load("t10k", a.test)
    model = Model(a.cell, a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(1, a.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(train_x.shape[0])
        for i in range(0, train_x.shape[0], a.batch):
            rows = order[i:i + a.batch]
            loss = loss_fn(model(train_x[rows]), train_y[rows])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            correct = 0
            for i in range(0, test_x.shape[0], 1000):
                correct += (model(test_x[i:i + 1000]).argmax(1) == test_y[i:i + 1000]).sum().item()
        seconds = time.perf_counter() - start
        print(f"epoch {epoch}/{a.epochs}  {seconds:.2f} s  test accuracy {correct / test_x.shape[0]:.4f}", flush=True)


if __name__ == "__main__":
    main()
