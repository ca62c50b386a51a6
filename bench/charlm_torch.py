"""PyTorch twin of examples/charlm.c: the same corpus, split, vocabulary,
batching, model, optimizer, clipping and time budget, so that the two can be
compared on time per epoch and on held-out bits per character after the
same training time (bench/charlm_vs_torch.sh runs both).

    /usr/bin/python3 bench/charlm_torch.py [--time SECONDS] [--epochs N] [--threads T] ...

Corpus: every plain file (no '.' in its name, not a link) of the directory
in name order, or one file; each file ends with a line "%"; fortunes are
split at lines holding only "%" and every 20th (k % 20 == 19) is held out.
Model: Embedding(V, E) -> LSTM(E, H, L) -> Linear(H, V); B parallel streams
read in chunks of T bytes with the state carried across chunks detached,
the training fortunes in a new order every epoch and each stream read
round its stretch of the text from an offset that moves every epoch;
Adam (betas --beta1 and --beta2) with the learning rate decayed from --lr to
--lr-min along half a cosine over the run (its fraction done: of the time
budget or of the epochs, whichever is further along), clip_grad_norm_.
The LSTM is layer-normalised as tapegrad's (layers/rnn.h: each gate block
of x W_ih^T and of h W_hh^T normalised over its H units, times a gain, plus
the bias), written out here as a loop over time steps since torch.nn has
no such layer; --no-layer-norm uses torch.nn.LSTM. The time budget counts
training only, not the held-out evaluations (after every epoch, and every
--eval-every seconds of training), as in the C program; --cpu-clock counts
CPU seconds instead of wall seconds. The defaults are the C program's."""
import argparse
import math
import os
import time

import torch
from torch import nn

HELD_OUT_EVERY = 20
LR, LR_MIN = 0.006, 0.0002  # examples/charlm.c's defaults
EVAL_STREAMS = 32


def read_sources(path):
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if "." not in n)
        files = [os.path.join(path, n) for n in names
                 if os.path.isfile(os.path.join(path, n)) and not os.path.islink(os.path.join(path, n))]
    else:
        files = [path]
    src = bytearray()
    for name in files:
        with open(name, "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            data += b"\n"
        src += data + b"%\n"
    return bytes(src)


def split(src):
    train, held, record, k = bytearray(), bytearray(), bytearray(), 0
    for line in src.split(b"\n")[:-1]:
        if line == b"%":
            if record:
                (held if k % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else train).extend(record + b"%\n")
                k += 1
                record = bytearray()
        else:
            record += line + b"\n"
    return bytes(train), bytes(held)


def fortune_starts(train):
    """Where each training fortune starts: the text's start and after every line "%"."""
    starts, i = [0], train.find(b"\n%\n")
    while i >= 0:
        if i + 3 < len(train):
            starts.append(i + 3)
        i = train.find(b"\n%\n", i + 1)
    return starts


def shuffled(train, starts, seed, epoch):
    """The training fortunes in an order drawn from (seed, epoch), as
    examples/charlm.c: Fisher-Yates with a 64-bit LCG."""
    n, order, r = len(starts), list(range(len(starts))), (seed * 1000003 + epoch) % 2**64
    for i in range(n - 1, 0, -1):
        r = (r * 6364136223846793005 + 1442695040888963407) % 2**64
        j = (r >> 33) % (i + 1)
        order[i], order[j] = order[j], order[i]
    ends = starts[1:] + [len(train)]
    return b"".join(train[starts[k]:ends[k]] for k in order)


class LayerNormLSTM(nn.Module):
    """tapegrad's LSTM with layer_norm: same parameters, names and formulas."""

    def __init__(self, input_size, hidden, layers, dropout):
        super().__init__()
        self.hidden, self.layers, self.dropout = hidden, layers, dropout
        bound = hidden ** -0.5
        for k in range(layers):
            fan_in = input_size if k == 0 else hidden
            for name, shape in [(f"weight_ih_l{k}", (4 * hidden, fan_in)), (f"weight_hh_l{k}", (4 * hidden, hidden)),
                                (f"bias_ih_l{k}", (4 * hidden,)), (f"bias_hh_l{k}", (4 * hidden,))]:
                self.register_parameter(name, nn.Parameter(torch.empty(shape).uniform_(-bound, bound)))
            for name in [f"ln_weight_ih_l{k}", f"ln_weight_hh_l{k}"]:
                self.register_parameter(name, nn.Parameter(torch.ones(4 * hidden)))

    def project(self, x, weight, gain, bias):
        p = x @ weight.t()
        p = nn.functional.layer_norm(p.reshape(*p.shape[:-1], 4, self.hidden), (self.hidden,), eps=1e-5)
        return p.reshape(*p.shape[:-2], 4 * self.hidden) * gain + bias

    def forward(self, x, state):
        seq, batch = x.shape[0], x.shape[1]
        if state is None:
            zeros = x.new_zeros(self.layers, batch, self.hidden)
            state = (zeros, zeros)
        h_n, c_n = [], []
        for k in range(self.layers):
            p = lambda name: getattr(self, f"{name}_l{k}")  # noqa: E731
            xproj = self.project(x, p("weight_ih"), p("ln_weight_ih"), p("bias_ih"))  # all steps at once
            h, c, outputs = state[0][k], state[1][k], []
            for t in range(seq):
                gates = xproj[t] + self.project(h, p("weight_hh"), p("ln_weight_hh"), p("bias_hh"))
                i, f, g, o = gates.chunk(4, -1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outputs.append(h)
            x = torch.stack(outputs)
            if k + 1 < self.layers:  # between layers, as torch.nn.LSTM's dropout
                x = nn.functional.dropout(x, self.dropout, self.training)
            h_n.append(h)
            c_n.append(c)
        return x, (torch.stack(h_n), torch.stack(c_n))


class CharLM(nn.Module):
    def __init__(self, cell, vocab, embed, hidden, layers, layer_norm, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        if layer_norm and cell == "lstm":
            self.rnn = LayerNormLSTM(embed, hidden, layers, dropout)
        else:
            self.rnn = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](embed, hidden, layers, dropout=dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out), state


def detach(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


def chunk(data, first, n, streams, seq, k, shift=0):
    """Inputs (T, B) and targets (T*B) of chunk k, as examples/charlm.c:
    stream b reads its stretch of the text round from an offset that
    `shift` (the epoch less one) moves."""
    stream_len = (n - 1) // streams
    b = torch.arange(streams)
    offset = shift * (b + 1) * 2654435761 % stream_len
    at = (offset[None, :] + k * seq + torch.arange(seq)[:, None]) % stream_len
    at = first + b[None, :] * stream_len + at
    return data[at], data[at + 1].reshape(-1)


def held_out_bits(model, data, first, n, seq, vocab):
    chunks = (n - 1) // EVAL_STREAMS // seq
    state, nats = None, 0.0
    model.eval()
    with torch.no_grad():
        for k in range(chunks):
            x, y = chunk(data, first, n, EVAL_STREAMS, seq, k)
            logits, state = model(x, state)
            nats += nn.functional.cross_entropy(logits.reshape(-1, vocab), y).item()
    model.train()
    return nats / chunks / math.log(2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="/usr/share/games/fortunes")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru", "rnn"])
    for name, default in [("embed", 64), ("hidden", 192), ("layers", 2), ("seq", 25), ("batch", 64),
                          ("epochs", 10), ("threads", 2), ("seed", 1)]:
        p.add_argument("--" + name, type=int, default=default)
    for name, default in [("lr", LR), ("lr-min", LR_MIN), ("clip", 1.0), ("time", 560.0), ("eval-every", 120.0),
                          ("dropout", 0.0), ("weight-decay", 0.0), ("beta1", 0.8), ("beta2", 0.99)]:
        p.add_argument("--" + name, type=float, default=default)
    p.add_argument("--no-layer-norm", action="store_true")
    p.add_argument("--cpu-clock", action="store_true")
    a = p.parse_args()
    clock = time.process_time if a.cpu_clock else time.perf_counter
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if not os.path.exists(a.data):
        raise SystemExit(f"charlm_torch: no corpus at {a.data} (sudo apt-get install fortunes, or pass --data)")
    train, held = split(read_sources(a.data))
    vocab_bytes = sorted(set(train + held))
    index_of = {b: i for i, b in enumerate(vocab_bytes)}
    vocab = len(vocab_bytes)
    data = torch.tensor([index_of[b] for b in train + held], dtype=torch.long)
    chunks = (len(train) - 1) // a.batch // a.seq
    if a.cell != "lstm" and not a.no_layer_norm:
        raise SystemExit("charlm_torch: layer norm is written here for the LSTM only; add --no-layer-norm")
    model = CharLM(a.cell, vocab, a.embed, a.hidden, a.layers, not a.no_layer_norm, a.dropout)
    # AdamW: the matrices decay by --weight-decay, biases and gains never
    # (weight decay 0 is Adam).
    matrices = [p for p in model.parameters() if p.dim() == 2]
    others = [p for p in model.parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": matrices, "weight_decay": a.weight_decay},
                             {"params": others, "weight_decay": 0.0}], lr=a.lr, betas=(a.beta1, a.beta2))
    print(f"{len(train)} training and {len(held)} held-out bytes, {vocab} distinct; "
          f"{sum(p.numel() for p in model.parameters())} parameters, {chunks} chunks per epoch", flush=True)
    trained, done, bits, next_eval = 0.0, 0, float("nan"), a.eval_every
    starts = fortune_starts(train)
    for epoch in range(1, a.epochs + 1):
        order = shuffled(train, starts, a.seed, epoch)
        data[:len(train)] = torch.tensor([index_of[b] for b in order], dtype=torch.long)
        state, start, k = None, clock(), 0
        for k in range(chunks):
            fraction = done / (chunks * a.epochs)
            if a.time > 0:
                fraction = max(fraction, (trained + clock() - start) / a.time)
            for group in opt.param_groups:
                group["lr"] = a.lr_min + (a.lr - a.lr_min) * 0.5 * (1 + math.cos(math.pi * min(fraction, 1.0)))
            x, y = chunk(data, 0, len(train), a.batch, a.seq, k, epoch - 1)
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            state = detach(state)
            done += 1
            elapsed = trained + clock() - start
            if a.time > 0 and elapsed > a.time:
                break
            if a.eval_every > 0 and elapsed >= next_eval and k + 1 < chunks:
                eval_start = clock()
                between = held_out_bits(model, data, len(train), len(held), a.seq, vocab)
                start += clock() - eval_start
                print(f"  {elapsed:.0f} s: held-out {between:.3f} bits/char", flush=True)
                while next_eval <= elapsed:
                    next_eval += a.eval_every
        seconds = clock() - start
        trained += seconds
        bits = held_out_bits(model, data, len(train), len(held), a.seq, vocab)
        print(f"epoch {epoch}/{a.epochs}  {(k + 1) * a.batch * a.seq / seconds:.0f} char/s  {seconds:.1f} s  "
              f"held-out {bits:.3f} bits/char", flush=True)
        if a.time > 0 and trained > a.time:
            break
    if done:
        print(f"held-out {bits:.3f} bits per character after {trained:.0f} s of training "
              f"({trained / done * chunks:.1f} s per epoch)", flush=True)


if __name__ == "__main__":
    main()
