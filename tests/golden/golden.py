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
DTYPES = ((torch.float32, "f32"), (torch.float64, "f64"))


def f32r(shape, scale=1.0):
    """Normal values times scale that float32 represents exactly, as float64."""
    return (torch.randn(shape, dtype=torch.float64) * scale).to(torch.float32).to(torch.float64)


def uniform(shape, lo=-1, hi=1):
    """Values uniform in [lo, hi) drawn in float32, as float64, so both dtypes start from the same values."""
    return (torch.rand(shape, dtype=torch.float32) * (hi - lo) + lo).double()


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

    def case(self, name, fn, inputs, grads, random=f32r):
        """Store the inputs as name.in<k>, an upstream gradient name.gout
        (drawn with random), and for each dtype the output name.out.<dt> and
        the gradients name.grad<k>.<dt> of the inputs flagged in grads."""
        for k, x in enumerate(inputs):
            self.add(f"{name}.in{k}", x)
        gout = None
        for dtype, tag in DTYPES:
            ts = [x.detach().to(dtype).clone().requires_grad_(g) if x.is_floating_point() else x
                  for x, g in zip(inputs, grads)]
            out = fn(*ts)
            if gout is None:
                gout = random(out.shape)
                self.add(f"{name}.gout", gout)
            self.add(f"{name}.out.{tag}", out)
            if any(grads):
                out.backward(gout.to(dtype))
                for k, (t, g) in enumerate(zip(ts, grads)):
                    if g:
                        self.add(f"{name}.grad{k}.{tag}", t.grad)

    def record(self, name, fn, inputs, grads=None, gy=None, indices=False):
        """Store the inputs ({letter: tensor}, passed to fn by keyword) as
        name_<letter>, an upstream gradient name_gy (uniform in [-1, 1)
        unless given), and for each dtype the output name_y_<dt> and the
        gradients name_d<letter>_<dt> of the letters in grads (default: all).
        With indices, fn returns (values, indices) and the indices go to
        name_i."""
        grads = list(inputs) if grads is None else grads
        for k, v in inputs.items():
            self.add(f"{name}_{k}", v)
        first = True
        for dtype, tag in DTYPES:
            xs = {k: v.to(dtype).clone().requires_grad_(k in grads) for k, v in inputs.items()}
            out = fn(**xs)
            y = out[0] if indices else out
            if first:
                if gy is None:
                    gy = uniform(y.shape)
                self.add(f"{name}_gy", gy)
                if indices:
                    self.add(f"{name}_i", out[1])
                first = False
            self.add(f"{name}_y_{tag}", y)
            if grads:
                y.backward(gy.to(dtype))
                for k in grads:
                    self.add(f"{name}_d{k}_{tag}", xs[k].grad)
