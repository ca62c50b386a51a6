"""tapegrad to PyTorch: run tests/interop_write (given as the argument),
which trains a tapegrad LSTM and writes its state and an input/output pair,
then load that state into torch.nn.LSTM with load_state_dict(strict=True)
and check that PyTorch gives tapegrad's outputs (rel 1e-5 in float32).

Exits 77 (meson's SKIP) when PyTorch is not installed.

    /usr/bin/python3 tests/golden/check_torch_load.py build/tests/interop_write
"""
import os
import subprocess
import sys
import tempfile

try:
    import torch
except ImportError:
    print("SKIP: PyTorch is not installed (apt-get install python3-torch)")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_py  # noqa: E402 (needs torch, imported above)


def main(writer):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([writer, tmp], check=True)
        state, config = safetensors_py.load(os.path.join(tmp, "lstm.safetensors"))
        io, _ = safetensors_py.load(os.path.join(tmp, "lstm_io.safetensors"))
    lstm = torch.nn.LSTM(int(config["input_size"]), int(config["hidden_size"]), num_layers=int(config["num_layers"]),
                         bidirectional=config["bidirectional"] == "true", proj_size=int(config["proj_size"]),
                         batch_first=config["batch_first"] == "true")
    lstm.load_state_dict(state, strict=True)  # raises on any missing, unexpected or misshapen name
    print(f"loaded {len(state)} tensors into {lstm} by name: {', '.join(state)}")
    with torch.no_grad():
        output, (h_n, c_n) = lstm(io["x"])
    for name, got in (("output", output), ("h_n", h_n), ("c_n", c_n)):
        want = io[name]
        if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-5, atol=1e-7):
            print(f"FAIL: {name}: PyTorch gives {got.shape}, tapegrad wrote {want.shape}, "
                  f"max difference {(got - want).abs().max().item() if got.shape == want.shape else 'n/a'}")
            return 1
        print(f"{name} {list(got.shape)}: PyTorch matches tapegrad (max difference {(got - want).abs().max().item():.3g})")
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} INTEROP_WRITE")
    sys.exit(main(sys.argv[1]))
