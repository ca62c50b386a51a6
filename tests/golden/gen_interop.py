"""safetensors fixtures written by PyTorch, for tests/test_interop.c and
tests/test_safetensors.c:

    lstm_linear.safetensors      state_dict of LSTM(3, 8, batch_first) + Linear(8, 2)
                                 (names lstm.* and head.*) after 5 Adam steps
    lstm_linear_io.safetensors   an input x (4, 5, 3) and what the model gives:
                                 y = head(output), output, h_n, c_n
    gru_bi2.safetensors          state_dict of GRU(4, 6, num_layers=2, bidirectional)
                                 after 5 Adam steps
    gru_bi2_io.safetensors       x (5, 3, 4) time-major, h0 (4, 3, 6), output, h_n
    dtypes.safetensors           F16 and BF16 values (zeros, subnormals, the
                                 largest, infinities, NaN) with their float32
                                 values as PyTorch converts them, F64 and I64
                                 extremes, a 0-dim and an empty tensor, metadata

All in float32 except where named. The files are written with json and
struct (safetensors_py.py), an independent writer of the format.

Run with Debian's python3-torch: /usr/bin/python3 tests/golden/gen_interop.py
"""
import os

import torch

import safetensors_py

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 5


class LstmLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(3, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x):
        output, (h_n, c_n) = self.lstm(x)
        return self.head(output), output, h_n, c_n


def train(model, run, x, target):
    """A few Adam steps so that the weights are not the initial ones."""
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(STEPS):
        opt.zero_grad()
        torch.nn.functional.mse_loss(run(x), target).backward()
        opt.step()


def write(name, tensors, metadata=None):
    path = os.path.join(HERE, name)
    safetensors_py.save(path, tensors, metadata)
    print(f"wrote {len(tensors)} tensors to {os.path.relpath(path)} ({os.path.getsize(path)} bytes)")


def lstm_linear():
    torch.manual_seed(1)
    model = LstmLinear()
    train(model, lambda x: model(x)[0], torch.randn(4, 5, 3), torch.randn(4, 5, 2))
    x = torch.randn(4, 5, 3)
    with torch.no_grad():
        y, output, h_n, c_n = model(x)
    write("lstm_linear.safetensors", model.state_dict(),
          {"format": "pt", "model": "LSTM(3, 8, batch_first=True) + Linear(8, 2)"})
    write("lstm_linear_io.safetensors", {"x": x, "y": y, "output": output, "h_n": h_n, "c_n": c_n})


def gru_bi2():
    torch.manual_seed(2)
    gru = torch.nn.GRU(4, 6, num_layers=2, bidirectional=True)
    train(gru, lambda x: gru(x)[0], torch.randn(5, 3, 4), torch.randn(5, 3, 12))
    x, h0 = torch.randn(5, 3, 4), torch.randn(4, 3, 6)
    with torch.no_grad():
        output, h_n = gru(x, h0)
    write("gru_bi2.safetensors", gru.state_dict(), {"format": "pt", "model": "GRU(4, 6, num_layers=2, bidirectional=True)"})
    write("gru_bi2_io.safetensors", {"x": x, "h0": h0, "output": output, "h_n": h_n})


def dtypes():
    inf, nan = float("inf"), float("nan")
    half = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08, -1e-6, inf, -inf, nan],
                        dtype=torch.float16)
    bfloat = torch.tensor([0.0, -0.0, 1.0, -2.5, 3.3895313892515355e38, 1.1754943508222875e-38, 9.183549615799121e-41,
                           -1e-39, inf, -inf, nan], dtype=torch.bfloat16)
    half_nans = torch.tensor([0x7c01, 0xfd04 - 0x10000, 0x7e00, 0x7dff], dtype=torch.int16).view(torch.float16)
    bfloat_nans = torch.tensor([0x7f81, 0xffa0 - 0x10000, 0x7fc0, 0x7fbf], dtype=torch.int16).view(torch.bfloat16)
    write("dtypes.safetensors", {
        "half": half.reshape(11, 1), "half_as_f32": half.float().reshape(11, 1),
        "bfloat": bfloat, "bfloat_as_f32": bfloat.float(),
        # signalling and quiet NaNs with payloads, both signs: PyTorch's float32 quiets F16's
        "half_nans": half_nans, "half_nans_as_f32": half_nans.float(),
        "bfloat_nans": bfloat_nans, "bfloat_nans_as_f32": bfloat_nans.float(),
        "f64": torch.tensor([[0.1, -1e300], [5e-324, 1.0]], dtype=torch.float64),
        "i64": torch.tensor([-2 ** 63, -1, 0, 2 ** 63 - 1], dtype=torch.int64),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
    }, {"format": "pt", "note": "written by tests/golden/gen_interop.py"})


if __name__ == "__main__":
    lstm_linear()
    gru_bi2()
    dtypes()
