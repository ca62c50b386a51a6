"""Fixtures for tests/test_optim.c (optim.txt: optimizer trajectories and
gradient clipping) and tests/test_sched.c (sched.txt: learning-rate
schedules), from torch.optim.

Trajectory problem: an LSTM cell (input 3, hidden 5) written with the same
ops as the C test (so both sides round the same way), unrolled over 3 steps
of fixed data (3,4,3), then a Linear(5,2) and an MSE loss against fixed
targets (4,2). Biases are in group 1, weights in group 0, so per-group
hyper-parameters are exercised. For each optimizer configuration and dtype
the script records the 50 losses (before each step) and the parameters
after steps 1, 10 and 50.

Run with Debian's python3-torch: /usr/bin/python3 tests/golden/gen_optim.py
"""
import math

import torch
import torch.nn.functional as F

from golden import Fixtures

STEPS = 50
NAMES = ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "fc.weight", "fc.bias"]

# name, optimizer class, group-0 options, group-1 overrides (biases).
CONFIGS = [
    ("sgd", torch.optim.SGD, dict(lr=0.1), {}),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.05, momentum=0.9), dict(lr=0.02)),
    ("sgd_dampening_wd", torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.5, weight_decay=0.01),
     dict(weight_decay=0.0)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01), {}),
    ("adam", torch.optim.Adam, dict(lr=0.01), {}),
    ("adam_amsgrad_wd", torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, amsgrad=True),
     dict(weight_decay=0.0, lr=0.005)),
    ("adamw", torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1), dict(weight_decay=0.0)),
    ("adamw_amsgrad", torch.optim.AdamW, dict(lr=0.02, betas=(0.85, 0.95), eps=1e-6, amsgrad=True), {}),
    ("rmsprop", torch.optim.RMSprop, dict(lr=0.01), {}),
    ("rmsprop_centered_momentum", torch.optim.RMSprop,
     dict(lr=0.005, alpha=0.9, momentum=0.5, centered=True, weight_decay=0.01), dict(weight_decay=0.0)),
    ("rmsprop_centered", torch.optim.RMSprop, dict(lr=0.002, centered=True), {}),
    ("adagrad", torch.optim.Adagrad, dict(lr=0.1), {}),
    ("adagrad_decay", torch.optim.Adagrad,
     dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=0.01), dict(lr=0.05)),
]


def lstm_model(params, x, y):
    """LSTM cell unrolled over x (T,B,I) from zero state, Linear, MSE."""
    w_ih, w_hh, b_ih, b_hh, fc_w, fc_b = params
    batch, hidden = x.shape[1], w_hh.shape[1]
    h = torch.zeros(batch, hidden, dtype=x.dtype)
    c = torch.zeros(batch, hidden, dtype=x.dtype)
    for t in range(x.shape[0]):
        gates = F.linear(x[t], w_ih, b_ih) + F.linear(h, w_hh, b_hh)
        i, f, g, o = gates.chunk(4, 1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
    out = F.linear(h, fc_w, fc_b)
    diff = out - y
    return (diff * diff).mean()


def trajectories(fx):
    torch.manual_seed(0)
    k = 1 / math.sqrt(5)
    init = [torch.empty(20, 3).uniform_(-k, k), torch.empty(20, 5).uniform_(-k, k),
            torch.empty(20).uniform_(-k, k), torch.empty(20).uniform_(-k, k),
            torch.empty(2, 5).uniform_(-k, k), torch.empty(2).uniform_(-k, k)]
    x = torch.randn(3, 4, 3)
    y = torch.randn(4, 2)
    for name, t in zip(NAMES, init):
        fx.add("init." + name, t)
    fx.add("x", x)
    fx.add("y", y)
    for dtype, tag in ((torch.float64, "f64"), (torch.float32, "f32")):
        xd, yd = x.to(dtype), y.to(dtype)
        for cname, cls, opts, bias_opts in CONFIGS:
            params = [t.to(dtype).clone().requires_grad_(True) for t in init]
            groups = [{"params": [params[0], params[1], params[4]]},
                      dict({"params": [params[2], params[3], params[5]]}, **bias_opts)]
            opt = cls(groups, foreach=False, **opts)
            losses = []
            for step in range(1, STEPS + 1):
                opt.zero_grad()
                loss = lstm_model(params, xd, yd)
                loss.backward()
                losses.append(loss.item())
                opt.step()
                if step in (1, 10, STEPS):
                    for pname, p in zip(NAMES, params):
                        fx.add(f"{cname}.{tag}.step{step}.{pname}", p)
            fx.add(f"{cname}.{tag}.losses", losses)


def clipping(fx):
    """clip_grad_norm_ over three gradients for several norm types."""
    torch.manual_seed(1)
    grads = [torch.randn(3, 4), torch.randn(5), torch.randn(2, 2, 2)]
    for i, g in enumerate(grads):
        fx.add(f"clip.grad{i}", g)
    for tag, norm_type, max_norm in (("l2", 2.0, 1.0), ("l1", 1.0, 2.5), ("inf", math.inf, 0.5),
                                     ("l3", 3.0, 1.5), ("l0", 0.0, 2.0), ("l2big", 2.0, 100.0)):
        params = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)
        fx.add(f"clip.{tag}.total", total)
        for i, p in enumerate(params):
            fx.add(f"clip.{tag}.grad{i}", p.grad)


def clipping_rounded(fx):
    """clip_grad_norm_'s coefficient rounded as torch rounds it: two gradients
    whose 2-norm is exact (13), max_norm = n/37 for n in CLIP_ROUNDED, in
    float32 and float64."""
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        for n in CLIP_ROUNDED:
            params = [torch.zeros(2, dtype=dtype, requires_grad=True) for _ in range(2)]
            params[0].grad = torch.tensor([3.0, 4.0], dtype=dtype)
            params[1].grad = torch.tensor([0.0, 12.0], dtype=dtype)
            torch.nn.utils.clip_grad_norm_(params, n / 37, 2.0)
            fx.add(f"clip_rounded.{tag}.{n}", torch.cat([p.grad for p in params]))


# Numerators whose coefficient rounded once would differ from torch's in
# float32 (all five) and float64 (7, 14 and 28).
CLIP_ROUNDED = (1, 4, 7, 14, 28)


def lr_trace(make_schedules, groups_lr, epochs=30, metrics=None):
    """Learning rates of every group at epochs 0..epochs-1."""
    params = [torch.zeros(1, requires_grad=True) for _ in groups_lr]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, groups_lr)], lr=groups_lr[0])
    scheds = make_schedules(opt)
    trace = []
    for epoch in range(epochs):
        trace.append([g["lr"] for g in opt.param_groups])
        opt.step()
        for s in scheds:
            if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                s.step(metrics[epoch])
            else:
                s.step()
    return trace


def schedules(fx):
    sch = torch.optim.lr_scheduler
    lrs = [0.1, 0.02]
    metrics = [1.0, 0.9, 0.85, 0.86, 0.84, 0.84, 0.845, 0.83, 0.83, 0.83, 0.83, 0.83, 0.7, 0.71, 0.72,
               0.73, 0.74, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.69, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    fx.add("sched.metrics", metrics)
    cases = {
        "step": lambda o: [sch.StepLR(o, step_size=7, gamma=0.5)],
        "multistep": lambda o: [sch.MultiStepLR(o, milestones=[5, 12, 12, 20], gamma=0.3)],
        "exponential": lambda o: [sch.ExponentialLR(o, gamma=0.9)],
        "cosine": lambda o: [sch.CosineAnnealingLR(o, T_max=10, eta_min=0.001)],
        "lambda": lambda o: [sch.LambdaLR(o, lr_lambda=lambda e: 1.0 / (1.0 + 0.5 * e))],
        "linear": lambda o: [sch.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=5)],
        "warmup_cosine": lambda o: [sch.LinearLR(o, start_factor=0.25, total_iters=4),
                                    sch.CosineAnnealingLR(o, T_max=25)],
        "plateau_min_rel": lambda o: [sch.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2,
                                                            threshold=0.01, threshold_mode="rel")],
        "plateau_max_abs": lambda o: [sch.ReduceLROnPlateau(o, mode="max", factor=0.3, patience=1,
                                                            threshold=0.005, threshold_mode="abs",
                                                            cooldown=2, min_lr=[0.005, 0.001])],
    }
    for name, make in cases.items():
        # Mode max sees a rising metric as an improvement.
        metric_seq = [1 - m for m in metrics] if name == "plateau_max_abs" else metrics
        fx.add(f"sched.{name}", lr_trace(make, lrs, metrics=metric_seq))


if __name__ == "__main__":
    fx = Fixtures("optim.txt")
    trajectories(fx)
    clipping(fx)
    clipping_rounded(fx)
    fx.save()
    fx = Fixtures("sched.txt")
    schedules(fx)
    fx.save()
