"""Shared writer for golden fixtures.

Each fixture file holds one tensor per line:
    name ndim d0 d1 ... v0 v1 ...
with values in row-major order printed with 17 significant digits (nan,
inf and -inf as such). tests/support.c reads them. Run the generator
scripts beside this file with Debian's python3-torch (/usr/bin/python3);
the fixtures they write are committed so the tests need no PyTorch.
"""
import os

import torch

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))


class Fixtures:
    def __init__(self, filename):
        self.path = os.path.join(HERE, filename)
        self.lines = []
        self.names = set()

    def add(self, name, tensor):
        """Record tensor (anything torch.as_tensor accepts) as name."""
        if name in self.names or " " in name:
            raise ValueError(f"bad or duplicate fixture name {name!r}")
        self.names.add(name)
        t = torch.as_tensor(tensor).detach().to(torch.float64).contiguous()
        dims = " ".join(str(d) for d in t.shape)
        values = " ".join(repr(float(v)) if v != v or abs(v) == float("inf") else f"{v:.17g}"
                          for v in t.reshape(-1).tolist())
        self.lines.append(f"{name} {t.dim()} {dims} {values}".replace("  ", " ").rstrip())

    def save(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")
        print(f"wrote {len(self.lines)} tensors to {os.path.relpath(self.path)}")
