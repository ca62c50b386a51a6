"""Golden fixture for tests/test_core.c: PyTorch's repr of float32, float64
and int64 tensors (formats, widths, 80-column lines, summaries of long
tensors, empty ones). Each case is built the same way in test_core.c's
repr_case. Run with /usr/bin/python3 (Debian's python3-torch)."""
import os

import torch

nan, inf = float("nan"), float("inf")
cases = {
    "ratio_small": torch.tensor([0.0002, 0.5]),
    "int_big_ratio": torch.tensor([1.0, 1999.0]),
    "int_arange2000": torch.arange(2000.0),
    "int_1e9": torch.tensor([1e9, 3.0]),
    "long_row": torch.arange(30.0) / 7,
    "long_row_int": torch.arange(40.0),
    "mat": torch.arange(60.0).reshape(3, 20) / 3,
    "f64": torch.tensor([1.5, 2.25], dtype=torch.float64),
    "neg": torch.tensor([-1.5, 2.25, -1e-5]),
    "long_i64": torch.arange(50),
    "big2d": torch.arange(4000.0).reshape(2000, 2),
    "big3d": torch.arange(2000.0).reshape(10, 20, 10) / 7,
    "scalar": torch.tensor(1.5),
    "naninf": torch.tensor([nan, inf, -inf, 1.5]),
    "inf_int": torch.tensor([-inf, 1.0]),
    "zeros": torch.zeros(3),
    "nanonly": torch.tensor([nan, 0.0]),
    "negzero": torch.tensor([-0.0, 2.5]),
    "tiny": torch.tensor([1e-5, 2e-5, 3e-5], dtype=torch.float64),
    "big4d": torch.arange(1296.0).reshape(6, 6, 6, 6) / 3,
    "big4d_summary": torch.arange(2401.0).reshape(7, 7, 7, 7),
    "i64neg": torch.tensor([-5, 123456789012, 7]),
    "wide_sci": torch.tensor([1e-6, -2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, -1e9]).reshape(2, 9),
    "column": torch.arange(5.0).reshape(5, 1),
    "empty": torch.zeros(0),
    "empty2": torch.zeros(0, 3),
    # No element shows the int64 dtype, so the suffix names it.
    "empty_i64": torch.zeros(0, dtype=torch.int64),
    "empty2_i64": torch.zeros(2, 0, dtype=torch.int64),
    "long_summary_row": torch.arange(3000.0) / 3,
    # Suffixes that do not fit on the last line go on a line of their own.
    "f64_wrap": torch.tensor([1e10, -2.0, nan, inf], dtype=torch.float64),
    "f64_grad_wrap": (torch.arange(7.0, dtype=torch.float64) * 1.2345).requires_grad_(),
    "f64_grad_fit": (torch.arange(4.0, dtype=torch.float64) * 1.2345).requires_grad_(),
    "grad_wrap": (torch.arange(11.0) * 1.2345).requires_grad_(),
    "f64_2d_grad_wrap": (torch.arange(10.0, dtype=torch.float64) * 1e5).reshape(2, 5).requires_grad_(),
    "empty_f64_grad_wrap": torch.zeros(0, 3, 4, 5, 6, 7, 8, 9999999, dtype=torch.float64, requires_grad=True),
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "repr.txt"), "w") as f:
    for name, t in cases.items():
        f.write(f"== {name}\n{t!r}\n")
