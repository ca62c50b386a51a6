"""Golden fixtures for tests/test_elementwise.c: forward values and input
gradients of every elementwise op, in float32 and float64, from PyTorch.

For an op `name` the file holds its inputs (name_x, or name_a, name_b, ...),
the upstream gradient name_gy, and per dtype the output name_y_f32 /
name_y_f64 and each input's gradient name_dx_f32 (name_da_f64, ...). Inputs
are drawn in float32 so both dtypes start from the same values.
"""
import math

import torch
import torch.nn.functional as F

from golden import Fixtures, uniform

fx = Fixtures("elementwise.txt")
torch.manual_seed(0)
record = fx.record

# name: (function, low, high) -- the same table is in test_elementwise.c
UNARY = {
    "neg": (torch.neg, -2, 2),
    "abs": (torch.abs, -2, 2),
    "exp": (torch.exp, -2, 2),
    "log": (torch.log, 0.1, 3),
    "log1p": (torch.log1p, -0.9, 3),
    "sqrt": (torch.sqrt, 0.1, 3),
    "rsqrt": (torch.rsqrt, 0.1, 3),
    "square": (torch.square, -2, 2),
    "pow_2_5": (lambda x: x ** 2.5, 0.1, 3),
    "pow_3": (lambda x: x ** 3, -2, 2),
    "pow_m1_5": (lambda x: x ** -1.5, 0.1, 3),
    "sin": (torch.sin, -4, 4),
    "cos": (torch.cos, -4, 4),
    "tanh": (torch.tanh, -4, 4),
    "sigmoid": (torch.sigmoid, -6, 6),
    "relu": (F.relu, -2, 2),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), -2, 2),
    "elu": (lambda x: F.elu(x, 1.5), -3, 3),
    "gelu": (F.gelu, -4, 4),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), -4, 4),
    "softplus": (F.softplus, -4, 4),
    "softplus_b2": (lambda x: F.softplus(x, beta=2, threshold=5), -4, 4),
    "hardtanh": (F.hardtanh, -2, 2),
    "hardtanh_wide": (lambda x: F.hardtanh(x, -0.5, 2), -3, 3),
    "hardsigmoid": (F.hardsigmoid, -5, 5),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), -2, 2),
    "clamp_min": (lambda x: x.clamp(min=-0.5), -2, 2),
    "clamp_max": (lambda x: x.clamp(max=0.7), -2, 2),
    "add_scalar": (lambda x: x + 1.5, -2, 2),
    "mul_scalar": (lambda x: x * -2.5, -2, 2),
    "rsub_scalar": (lambda x: 1 - x, -2, 2),
    "sub_scalar": (lambda x: x - 0.75, -2, 2),
    "div_scalar": (lambda x: x / 3.0, -2, 2),
}
nan, inf = math.nan, math.inf
EDGE = torch.tensor([nan, inf, -inf, 0.0, -0.0, 1, -1, 100, -100, 1e4, -1e4, 0.5, -0.5, 0.7, 2, 3, -3,
                     20, 2.5, 88, -88, 1e-30])
for name, (fn, lo, hi) in UNARY.items():
    record(name, lambda x, fn=fn: fn(x), {"x": uniform((3, 4), lo, hi)})
    record(name + "_edge", lambda x, fn=fn: fn(x), {"x": EDGE}, gy=torch.ones(len(EDGE)))

# A dense sweep for the float32 accuracy of sigmoid and tanh (compared with
# relative tolerance only, so tiny tails count).
SWEEP = torch.linspace(-30, 30, 601, dtype=torch.float32).double()
record("sigmoid_sweep", lambda x: torch.sigmoid(x), {"x": SWEEP}, gy=torch.ones(601))
record("tanh_sweep", lambda x: torch.tanh(x), {"x": SWEEP}, gy=torch.ones(601))

BINARY = {
    "add": (torch.add, (-2, 2), (-2, 2)),
    "sub": (torch.sub, (-2, 2), (-2, 2)),
    "mul": (torch.mul, (-2, 2), (-2, 2)),
    "div": (torch.div, (-2, 2), (0.5, 2)),
    "pow": (torch.pow, (0.5, 2), (-2, 2)),
    "maximum": (torch.maximum, (-2, 2), (-2, 2)),
    "minimum": (torch.minimum, (-2, 2), (-2, 2)),
}
SHAPES = {"same": ((3, 4), (3, 4)), "bc": ((3, 1), (1, 4)), "bv": ((2, 3, 4), (4,))}
for name, (fn, ra, rb) in BINARY.items():
    for sname, (sa, sb) in SHAPES.items():
        record(f"{name}_{sname}", lambda a, b, fn=fn: fn(a, b),
               {"a": uniform(sa, *ra), "b": uniform(sb, *rb)})

record("maximum_edge", lambda a, b: torch.maximum(a, b), {"a": torch.tensor([nan, 1, 2, 3, nan, -inf, 1]),
                                        "b": torch.tensor([1, nan, 2, 1, nan, -inf, inf])}, gy=torch.ones(7))
record("minimum_edge", lambda a, b: torch.minimum(a, b), {"a": torch.tensor([nan, 1, 2, 3, nan, -inf, 1]),
                                        "b": torch.tensor([1, nan, 2, 1, nan, -inf, inf])}, gy=torch.ones(7))
record("pow_edge", lambda a, b: torch.pow(a, b), {"a": torch.tensor([0.0, 0, -2, -2, 2, 0, -0.0, inf, 1, 0, -8, 4]),
                               "b": torch.tensor([0.0, -1, 2, 0.5, 0, 0.5, -1, -1, nan, 2, 1 / 3, -0.5])},
       gy=torch.ones(12))
record("mul_edge", lambda a, b: torch.mul(a, b), {"a": torch.tensor([0.0, inf, -0.0, nan, 1e200]),
                               "b": torch.tensor([inf, 0.0, -inf, 1, 1e200])}, gy=torch.ones(5))
record("div_edge", lambda a, b: torch.div(a, b), {"a": torch.tensor([1.0, 0, -1, 1, inf, 0]),
                               "b": torch.tensor([0.0, 0, 0, inf, inf, -0.0])}, gy=torch.ones(6))
# pow with a scalar exponent at 0 and for negative bases
# (torch takes x^0.5 and x^-0.5 as sqrt and rsqrt: -0 and NaN at -0 and -inf)
for p, tag in ((0.0, "0"), (-1.0, "m1"), (0.5, "0_5"), (-0.5, "m0_5"), (2.0, "2"), (3.0, "3")):
    record(f"pow_scalar_edge_{tag}", lambda x, p=p: x ** p, {"x": torch.tensor([0.0, -2, 2, -0.0, inf, -inf])},
           gy=torch.ones(6))

# Fused and selection ops with broadcasting.
record("lerp", lambda a, b, w: torch.lerp(a, b, w), {"a": uniform((3, 4), -2, 2), "b": uniform((4,), -2, 2), "w": uniform((3, 1), -0.5, 1.5)})
record("addcmul", lambda t, a, b: torch.addcmul(t, a, b, value=0.7),
       {"t": uniform((3, 4), -2, 2), "a": uniform((3, 1), -2, 2), "b": uniform((4,), -2, 2)})
mask = (torch.rand(3, 4) > 0.5).double()
record("where", lambda m, a, b: torch.where(m != 0, a, b),
       {"m": mask, "a": uniform((3, 1), -2, 2), "b": uniform((4,), -2, 2)}, grads=["a", "b"])
record("masked_fill", lambda x, m: x.masked_fill(m != 0, 2.5),
       {"x": uniform((3, 4), -2, 2), "m": torch.tensor([[1.0, 0, 0, 1]])}, grads=["x"])
ia, ib = torch.randint(0, 3, (3, 4)).double(), torch.randint(0, 3, (4,)).double()
for name in ("eq", "ne", "lt", "le", "gt", "ge"):
    record(f"cmp_{name}", lambda a, b, name=name: getattr(torch, name)(a, b).to(a.dtype),
           {"a": ia, "b": ib}, grads=[])

# Added after the rest, so that the draws above stay as they were: clamp
# with lo > hi (hi wins everywhere, as min(max(x, lo), hi)).
record("clamp_crossed", lambda x: x.clamp(0.5, -0.5), {"x": uniform((3, 4), -2, 2)})
record("clamp_crossed_edge", lambda x: x.clamp(0.5, -0.5), {"x": EDGE}, gy=torch.ones(len(EDGE)))

# lerp with weights below -0.5 (torch 1.13 computes them from the start, as
# every weight below 0.5) and infinite ends
record("lerp_edge", lambda a, b, w: torch.lerp(a, b, w),
       {"a": torch.tensor([0.139, 1.0, -2.0, 0.3, 1.0, 2.0, 0.5]),
        "b": torch.tensor([inf, 2.0, 3.0, -inf, 5.0, inf, -1.0]),
        "w": torch.tensor([-0.906, -0.7, -0.5, 0.25, 1.5, 0.75, -3.0])}, gy=torch.ones(7))

# Scalar arguments that float32 cannot hold (0.7, 0.1, 0.3): torch rounds
# them to the tensor's dtype first, which decides the float32 gradient at a
# bound (x = 0.7f) and softplus's branch at beta x = threshold.
NEAR = torch.tensor([0.7, 0.69, 0.71, -1.0, 3.0, 0.5, 7.0, -0.7])
record("clamp_lo_0_7", lambda x: x.clamp(0.7, None), {"x": NEAR}, gy=torch.ones(8))
record("hardtanh_hi_0_7", lambda x: F.hardtanh(x, -0.7, 0.7), {"x": NEAR}, gy=torch.ones(8))
record("softplus_b0_1_t0_3", lambda x: F.softplus(x, 0.1, 0.3), {"x": NEAR}, gy=torch.ones(8))
record("leaky_relu_0_1", lambda x: F.leaky_relu(x, 0.1), {"x": NEAR}, gy=torch.ones(8))
record("div_scalar_0_1", lambda x: x / 0.1, {"x": NEAR}, gy=torch.ones(8))

fx.save()
