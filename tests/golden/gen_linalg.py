"""Golden fixtures for tests/test_linalg.c: values and input gradients of
matmul (every rank combination of torch.matmul), bmm, linear and outer, in
float32 and float64, from PyTorch.

Each case `name` stores its inputs name_a, name_b (linear: name_x, name_w,
name_b), the upstream gradient name_gy, and per dtype name_y_f32 /
name_y_f64 and each input's gradient name_da_f32, ... Inputs are drawn in
float32 so both dtypes start from the same values.
"""
import torch
import torch.nn.functional as F

from golden import Fixtures

fx = Fixtures("linalg.txt")
torch.manual_seed(0)
SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def uniform(shape, lo=-1, hi=1):
    return (torch.rand(shape, dtype=torch.float32) * (hi - lo) + lo).double()


def record(name, fn, inputs):
    for k, v in inputs.items():
        fx.add(f"{name}_{k}", v)
    gy = None
    for dtype in (torch.float32, torch.float64):
        xs = {k: v.to(dtype).clone().requires_grad_() for k, v in inputs.items()}
        y = fn(**xs)
        if gy is None:
            gy = uniform(y.shape)
            fx.add(f"{name}_gy", gy)
        fx.add(f"{name}_y_{SUFFIX[dtype]}", y)
        y.backward(gy.to(dtype))
        for k in inputs:
            fx.add(f"{name}_d{k}_{SUFFIX[dtype]}", xs[k].grad)


# name: (shape of a, shape of b) -- the same list is in test_linalg.c
MATMUL = {
    "mm_1_1": ((4,), (4,)),
    "mm_1_2": ((4,), (4, 3)),
    "mm_2_1": ((3, 4), (4,)),
    "mm_2_2": ((3, 4), (4, 5)),
    "mm_3_1": ((2, 3, 4), (4,)),
    "mm_1_3": ((4,), (2, 4, 3)),
    "mm_3_2": ((2, 3, 4), (4, 5)),
    "mm_2_3": ((3, 4), (2, 4, 5)),
    "mm_bcast": ((2, 1, 3, 4), (5, 4, 2)),
    "mm_3_3": ((2, 3, 4), (2, 4, 5)),
}
for name, (sa, sb) in MATMUL.items():
    record(name, lambda a, b: torch.matmul(a, b), {"a": uniform(sa), "b": uniform(sb)})

record("bmm", lambda a, b: torch.bmm(a, b), {"a": uniform((2, 3, 4)), "b": uniform((2, 4, 5))})
record("outer", lambda a, b: torch.outer(a, b), {"a": uniform((3,)), "b": uniform((4,))})
for nd, shape in ((1, (4,)), (2, (3, 4)), (3, (2, 3, 4))):
    record(f"linear_{nd}d", lambda x, w, b: F.linear(x, w, b),
           {"x": uniform(shape), "w": uniform((5, 4)), "b": uniform((5,))})
    record(f"linear_{nd}d_nobias", lambda x, w: F.linear(x, w), {"x": uniform(shape), "w": uniform((5, 4))})

fx.save()
