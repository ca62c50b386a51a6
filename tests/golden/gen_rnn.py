"""Golden fixtures for tests/test_rnn.c: torch.nn.RNN, LSTM and GRU.

For every configuration (mode x 1/2 layers x uni/bidirectional x equal or
variable lengths, at I=7, H=5, B=3, T=4, proj_size=3) this writes the
weights, the input, h0 and c0, the outputs, h_n and c_n, and the gradients of
every parameter, of the input and of h0/c0 for the loss
    sum(output * w_out) + sum(h_n * w_h) + sum(c_n * w_c)
with fixed random weights w_*, all in time-major layout (the C test runs the
batch_first layout on the transposed input). Variable lengths go through
pack_padded_sequence with enforce_sorted=False, as the C layer's lengths.

Run with Debian's python3-torch: /usr/bin/python3 tests/golden/gen_rnn.py
"""
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from golden import Fixtures

I, H, B, T, P = 7, 5, 3, 4, 3
LENGTHS = [3, 1, 2]  # unsorted, and none reaches T
MODES = {
    "rnn_tanh": (torch.nn.RNN, dict(nonlinearity="tanh")),
    "rnn_relu": (torch.nn.RNN, dict(nonlinearity="relu")),
    "lstm": (torch.nn.LSTM, {}),
    "lstm_proj": (torch.nn.LSTM, dict(proj_size=P)),
    "gru": (torch.nn.GRU, {}),
}


def run(layer, x, h0, c0, lengths, batch_first):
    state = (h0, c0) if c0 is not None else h0
    if lengths is None:
        out, hn = layer(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out, hn = layer(packed, state)
        out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    return (out, hn[0], hn[1]) if c0 is not None else (out, hn, None)


def case(fx, name, cls, kwargs, layers, bidirectional, lengths, seed):
    torch.manual_seed(seed)
    layer = cls(I, H, num_layers=layers, bidirectional=bidirectional, **kwargs)
    d = 2 if bidirectional else 1
    h_out = kwargs.get("proj_size", 0) or H
    x = torch.randn(T, B, I, requires_grad=True)
    h0 = torch.randn(d * layers, B, h_out, requires_grad=True)
    c0 = torch.randn(d * layers, B, H, requires_grad=True) if cls is torch.nn.LSTM else None
    out, hn, cn = run(layer, x, h0, c0, lengths, False)
    w_out, w_h = torch.randn_like(out), torch.randn_like(hn)
    loss = (out * w_out).sum() + (hn * w_h).sum()
    if cn is not None:
        w_c = torch.randn_like(cn)
        loss = loss + (cn * w_c).sum()
    loss.backward()

    # batch_first gives the same numbers, transposed
    layer_bf = cls(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=True, **kwargs)
    layer_bf.load_state_dict(layer.state_dict())
    with torch.no_grad():
        out_bf, hn_bf, _ = run(layer_bf, x.transpose(0, 1), h0, c0, lengths, True)
    assert torch.allclose(out_bf.transpose(0, 1), out, atol=1e-12) and torch.allclose(hn_bf, hn, atol=1e-12)

    fx.add(f"{name}.count", torch.tensor(float(sum(p.numel() for p in layer.parameters()))))
    for pname, p in layer.named_parameters():
        fx.add(f"{name}.{pname}", p)
        fx.add(f"{name}.grad.{pname}", p.grad)
    fx.add(f"{name}.x", x)
    fx.add(f"{name}.h0", h0)
    fx.add(f"{name}.output", out)
    fx.add(f"{name}.h_n", hn)
    fx.add(f"{name}.w_out", w_out)
    fx.add(f"{name}.w_h", w_h)
    fx.add(f"{name}.grad.x", x.grad)
    fx.add(f"{name}.grad.h0", h0.grad)
    if cn is not None:
        fx.add(f"{name}.c0", c0)
        fx.add(f"{name}.c_n", cn)
        fx.add(f"{name}.w_c", w_c)
        fx.add(f"{name}.grad.c0", c0.grad)


def main():
    fx = Fixtures("rnn.txt")
    fx.add("lengths", torch.tensor([float(v) for v in LENGTHS]))
    seed = 0
    for mode, (cls, kwargs) in MODES.items():
        for layers in (1, 2):
            for bidirectional in (False, True):
                for lengths in (None, LENGTHS):
                    name = f"{mode}_l{layers}_{'bi' if bidirectional else 'uni'}_{'var' if lengths else 'eq'}"
                    case(fx, name, cls, kwargs, layers, bidirectional, lengths, seed)
                    seed += 1
    fx.save()


if __name__ == "__main__":
    main()
