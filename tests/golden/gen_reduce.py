"""Golden fixtures for tests/test_reduce.c: values and input gradients of
every reduction, in float32 and float64, from PyTorch.

Each case `name` stores its input name_x, the upstream gradient name_gy and
per dtype the output name_y_f32 / name_y_f64 and the gradient name_dx_f32 /
name_dx_f64 (for max_dim and min_dim also name_i, the indices). Inputs are
drawn in float32 so both dtypes start from the same values.
"""
import math

import torch

from golden import Fixtures, uniform

fx = Fixtures("reduce.txt")
torch.manual_seed(0)
nan, inf = math.nan, math.inf


def record(name, fn, x, indices=False):
    fx.record(name, lambda x: fn(x), {"x": x}, indices=indices)


x = uniform((3, 4, 5), -2, 2)
# dims cases shared with test_reduce.c: (name, dims, keepdim)
DIMS = [("d1", (1,), False), ("d02k", (0, 2), True), ("dm1", (-1,), False), ("all", None, False)]


def over(f, dims, keepdim, **kw):
    if dims is None:
        return lambda t: f(t, dim=tuple(range(t.dim())), keepdim=keepdim, **kw)
    return lambda t: f(t, dim=dims, keepdim=keepdim, **kw)


for tag, dims, keep in DIMS:
    record(f"sum_{tag}", over(torch.sum, dims, keep), x)
    record(f"mean_{tag}", over(torch.mean, dims, keep), x)
    record(f"var_{tag}", over(torch.var, dims, keep, unbiased=True), x)
    record(f"varb_{tag}", over(torch.var, dims, keep, unbiased=False), x)
    record(f"std_{tag}", over(torch.std, dims, keep, unbiased=True), x)
    record(f"stdb_{tag}", over(torch.std, dims, keep, unbiased=False), x)
    record(f"lse_{tag}", over(torch.logsumexp, dims, keep), x)
    for p, ptag in ((1, "1"), (2, "2"), (inf, "inf"), (3, "3"), (0.5, "0_5")):
        record(f"norm{ptag}_{tag}", over(torch.linalg.vector_norm, dims, keep, ord=p), x)

# sum_to: the reduction behind the gradients of broadcast inputs
record("sum_to", lambda t: t.sum_to_size(4, 1), x)
record("sum_to_lead1", lambda t: t.sum_to_size(1, 4, 5), x)

# logsumexp of large values stays finite; all -inf gives -inf, +inf gives +inf
record("lse_big", lambda t: torch.logsumexp(t, dim=1), x * 400)
record("lse_inf", lambda t: torch.logsumexp(t, dim=1),
       torch.tensor([[-inf, -inf], [inf, 1.0], [-inf, 2.0]]))

# max / min along one dim, on small integers so that there are many ties
xi = torch.randint(0, 3, (3, 4, 5)).double()
for dim in (0, 1, 2, -1):
    for keep in (False, True):
        tag = f"{'m' if dim < 0 else ''}{abs(dim)}{'k' if keep else ''}"
        record(f"maxdim_{tag}", lambda t, d=dim, k=keep: torch.max(t, dim=d, keepdim=k), xi, indices=True)
        record(f"mindim_{tag}", lambda t, d=dim, k=keep: torch.min(t, dim=d, keepdim=k), xi, indices=True)
        fx.add(f"argmax_{tag}", torch.argmax(xi, dim=dim, keepdim=keep))
        fx.add(f"argmin_{tag}", torch.argmin(xi, dim=dim, keepdim=keep))
record("maxdim_rand", lambda t: torch.max(t, dim=1), x, indices=True)
xn = torch.tensor([[1.0, nan, 3.0, nan], [2.0, 5.0, 5.0, 1.0], [nan, 0.0, -1.0, 7.0]])
record("maxdim_nan", lambda t: torch.max(t, dim=1), xn, indices=True)
record("mindim_nan", lambda t: torch.min(t, dim=1), xn, indices=True)

# max / min of everything: the gradient is shared among ties (and NaNs)
record("max_all_ties", torch.max, xi)
record("min_all_ties", torch.min, xi)
record("max_all_rand", torch.max, x)
record("max_all_nan", torch.max, xn)
record("min_all_nan", torch.min, xn)

# Degenerate cases
record("var_one", lambda t: torch.var(t, dim=0), torch.tensor([[2.0, 3.0]]))
record("varb_one", lambda t: torch.var(t, dim=0, unbiased=False), torch.tensor([[2.0, 3.0]]))
record("std_const", lambda t: torch.std(t, dim=1), torch.tensor([[2.0, 2.0, 2.0], [1.0, 2.0, 3.0]]))
# equal values whose sum rounds (3 x 0.1 is 0.30000000000000004): variance 0, gradient 0
const_rows = torch.tensor([[0.1, 0.1, 0.1], [0.7, 0.7, 0.7], [1e-3, 1e-3, 1e-3]])
record("std_const_rounded", lambda t: torch.std(t, dim=1), const_rows)
record("var_const_rounded", lambda t: torch.var(t, dim=1), const_rows)
record("norm2_zero", lambda t: torch.linalg.vector_norm(t, dim=1), torch.tensor([[0.0, 0.0], [3.0, -4.0]]))
record("norminf_ties", lambda t: torch.linalg.vector_norm(t, ord=inf, dim=1),
       torch.tensor([[3.0, -3.0, 1.0], [0.0, 0.0, 0.0], [nan, 1.0, -2.0]]))
record("norm1_zero", lambda t: torch.linalg.vector_norm(t, ord=1, dim=1), torch.tensor([[0.0, 1.0, -2.0]]))
record("norm0_5_zero", lambda t: torch.linalg.vector_norm(t, ord=0.5, dim=1),
       torch.tensor([[0.0, 1.0, -2.0], [0.0, 0.0, 0.0]]))

fx.save()
