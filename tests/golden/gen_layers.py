"""Golden fixtures for tests/test_layers.c: Linear, Embedding, LayerNorm
and the RNN, LSTM and GRU cells of torch.nn.

Each case stores the module's parameters, its inputs, its outputs and the
gradients of every parameter and input for the loss sum(out * w) with fixed
random weights w (and sum(c' * w_c) for the LSTM cell).

Run with Debian's python3-torch: /usr/bin/python3 tests/golden/gen_layers.py
"""
import torch

from golden import Fixtures


def weighted_loss(fx, name, outputs):
    loss = 0
    for key, out in outputs.items():
        w = torch.randn_like(out)
        fx.add(f"{name}.w_{key}", w)
        fx.add(f"{name}.{key}", out)
        loss = loss + (out * w).sum()
    loss.backward()


def add_params(fx, name, module):
    for pname, p in module.named_parameters():
        fx.add(f"{name}.{pname}", p)


def add_grads(fx, name, module, inputs):
    for pname, p in module.named_parameters():
        fx.add(f"{name}.grad.{pname}", p.grad)
    for iname, t in inputs.items():
        if t is not None and t.requires_grad:
            fx.add(f"{name}.grad.{iname}", t.grad)


def main():
    fx = Fixtures("layers.txt")
    torch.manual_seed(0)

    linear = torch.nn.Linear(6, 4)
    x = torch.randn(2, 3, 6, requires_grad=True)
    add_params(fx, "linear", linear)
    fx.add("linear.x", x)
    weighted_loss(fx, "linear", {"y": linear(x)})
    add_grads(fx, "linear", linear, {"x": x})

    emb = torch.nn.Embedding(10, 4, padding_idx=0)
    idx = torch.tensor([[1, 0, 3], [3, 9, 0]])
    add_params(fx, "embedding", emb)
    fx.add("embedding.indices", idx)
    weighted_loss(fx, "embedding", {"y": emb(idx)})
    add_grads(fx, "embedding", emb, {})

    norm = torch.nn.LayerNorm((3, 4))
    with torch.no_grad():  # away from the ones/zeros start, to test the affine part
        norm.weight.normal_()
        norm.bias.normal_()
    x = torch.randn(2, 3, 4, requires_grad=True)
    add_params(fx, "layernorm", norm)
    fx.add("layernorm.x", x)
    weighted_loss(fx, "layernorm", {"y": norm(x)})
    add_grads(fx, "layernorm", norm, {"x": x})

    cells = {
        "rnn_tanh_cell": torch.nn.RNNCell(7, 5, nonlinearity="tanh"),
        "rnn_relu_cell": torch.nn.RNNCell(7, 5, nonlinearity="relu"),
        "lstm_cell": torch.nn.LSTMCell(7, 5),
        "gru_cell": torch.nn.GRUCell(7, 5),
    }
    for name, cell in cells.items():
        x = torch.randn(3, 7, requires_grad=True)
        h = torch.randn(3, 5, requires_grad=True)
        add_params(fx, name, cell)
        fx.add(f"{name}.x", x)
        fx.add(f"{name}.h", h)
        if isinstance(cell, torch.nn.LSTMCell):
            c = torch.randn(3, 5, requires_grad=True)
            fx.add(f"{name}.c", c)
            h1, c1 = cell(x, (h, c))
            weighted_loss(fx, name, {"h1": h1, "c1": c1})
            add_grads(fx, name, cell, {"x": x, "h": h, "c": c})
        else:
            weighted_loss(fx, name, {"h1": cell(x, h)})
            add_grads(fx, name, cell, {"x": x, "h": h})

    # parameter counts of the shapes in the issue
    for name, module in {
        "count_lstm_10_20_l2": torch.nn.LSTM(10, 20, num_layers=2, batch_first=True),
        "count_lstm_10_20_bi": torch.nn.LSTM(10, 20, bidirectional=True),
        "count_gru_10_20_l3_bi_nobias": torch.nn.GRU(10, 20, num_layers=3, bidirectional=True, bias=False),
        "count_lstm_10_20_proj7_l2_bi": torch.nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=7),
        "count_rnn_10_20_l2": torch.nn.RNN(10, 20, num_layers=2),
    }.items():
        fx.add(name, torch.tensor(float(sum(p.numel() for p in module.parameters()))))
    fx.save()


if __name__ == "__main__":
    main()
