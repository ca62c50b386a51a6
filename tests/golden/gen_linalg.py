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

from golden import Fixtures, uniform

fx = Fixtures("linalg.txt")
torch.manual_seed(0)
record = fx.record

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
