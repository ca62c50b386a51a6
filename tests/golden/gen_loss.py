"""Golden fixtures for tests/test_loss.c: the regression losses, binary
cross entropy with logits, cross entropy and nll loss, forward and
backward, in float32 and float64. Run with /usr/bin/python3 (Debian's
python3-torch)."""
import warnings

import torch
import torch.nn.functional as F

from golden import Fixtures

warnings.simplefilter("ignore")  # broadcast targets are intended
torch.manual_seed(0)
fx = Fixtures("loss.txt")


def f32r(shape, scale=1.0):
    """Normal values times scale that float32 represents exactly, as float64."""
    return (torch.randn(shape, dtype=torch.float64) * scale).to(torch.float32).to(torch.float64)


def case(name, fn, inputs, grads):
    """Store the inputs as name.in<k>, an upstream gradient name.gout, and
    for each dtype the output name.out.<dt> and the gradients
    name.grad<k>.<dt> of the inputs flagged in grads."""
    for k, x in enumerate(inputs):
        fx.add(f"{name}.in{k}", x)
    gout = None
    for dtype, tag in ((torch.float32, "f32"), (torch.float64, "f64")):
        ts = [x.detach().to(dtype).clone().requires_grad_(g) if x.is_floating_point() else x
              for x, g in zip(inputs, grads)]
        out = fn(*ts)
        if gout is None:
            gout = f32r(out.shape)
            fx.add(f"{name}.gout", gout)
        fx.add(f"{name}.out.{tag}", out)
        if any(grads):
            out.backward(gout.to(dtype))
            for k, (t, g) in enumerate(zip(ts, grads)):
                if g:
                    fx.add(f"{name}.grad{k}.{tag}", t.grad)


def with_tie(x, t):
    """t with its first element equal to x's, to pin the gradient at d == 0."""
    t = t.clone()
    t.view(-1)[0] = x.view(-1)[0]
    return t


REDUCTIONS = ("mean", "sum", "none")
for r in REDUCTIONS:
    x = f32r((3, 4))
    case(f"mse_{r}", lambda a, b: F.mse_loss(a, b, reduction=r), [x, f32r((3, 4))], [True, True])
    x = f32r((3, 4))
    case(f"l1_{r}", lambda a, b: F.l1_loss(a, b, reduction=r), [x, with_tie(x, f32r((3, 4)))], [True, True])
    x = f32r((3, 4))
    case(f"smooth_l1_{r}", lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.5), [x, f32r((3, 4))],
         [True, True])
    x = f32r((3, 4))
    case(f"huber_{r}", lambda a, b: F.huber_loss(a, b, reduction=r, delta=0.7), [x, f32r((3, 4))], [True, True])
x = f32r((3, 4))
case("smooth_l1_beta0", lambda a, b: F.smooth_l1_loss(a, b, beta=0.0), [x, with_tie(x, f32r((3, 4)))],
     [True, True])
case("mse_broadcast", lambda a, b: F.mse_loss(a, b), [f32r((3, 4)), f32r(4)], [True, True])
case("huber_broadcast", lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.7), [f32r((3, 1)), f32r((3, 4))],
     [True, True])

logits = f32r((4, 3), 3.0)
logits[0, 0], logits[1, 1] = 60.0, -60.0
probs = torch.rand(4, 3, dtype=torch.float32).to(torch.float64)
case("bce_mean", lambda x, t: F.binary_cross_entropy_with_logits(x, t), [logits, probs], [True, True])
case("bce_weights_sum", lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, reduction="sum",
     pos_weight=pw), [logits, probs, torch.rand(3, dtype=torch.float32).double(),
     torch.rand(3, dtype=torch.float32).double() * 3], [True, True, False, False])
case("bce_pos_weight_none", lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, reduction="none",
     pos_weight=pw), [logits, probs, torch.tensor([0.5, 2.0, 1.0])], [True, True, False])
case("bce_row_weight_mean", lambda x, t, w: F.binary_cross_entropy_with_logits(x, t, w), [logits, probs,
     torch.rand(4, 1, dtype=torch.float32).double()], [True, True, False])


def ce(**kw):
    return lambda x, t: F.cross_entropy(x, t, **kw)


def ce_w(**kw):
    return lambda x, t, w: F.cross_entropy(x, t, weight=w, **kw)


target = torch.tensor([1, 0, 3, 3, 2])
ignored = torch.tensor([1, -100, 3, -100, 2])
weight = torch.rand(4, dtype=torch.float32).double() + 0.5
for r in REDUCTIONS:
    case(f"ce_{r}", ce(reduction=r), [f32r((5, 4)), target], [True, False])
    case(f"ce_weight_ignore_{r}", ce_w(reduction=r), [f32r((5, 4)), ignored, weight], [True, False, False])
    case(f"ce_smooth_{r}", ce(reduction=r, label_smoothing=0.1), [f32r((5, 4)), ignored], [True, False])
    case(f"ce_smooth_weight_{r}", ce_w(reduction=r, label_smoothing=0.2), [f32r((5, 4)), ignored, weight],
         [True, False, False])
case("ce_ignore_index_1", ce(ignore_index=1), [f32r((5, 4)), target], [True, False])
case("ce_3d", ce_w(), [f32r((2, 4, 3)), torch.tensor([[0, 3, 1], [2, 2, -100]]), weight], [True, False, False])
case("ce_3d_smooth_none", ce(reduction="none", label_smoothing=0.3), [f32r((2, 4, 3)),
     torch.tensor([[0, 3, 1], [2, 2, 0]])], [True, False])
case("ce_1d", ce(), [f32r(4), torch.tensor(2)], [True, False])
case("ce_big", ce(label_smoothing=0.1), [f32r((5, 4), 1e4), target], [True, False])
case("ce_all_ignored", ce(), [f32r((3, 4)), torch.tensor([-100, -100, -100])], [True, False])
case("ce_all_ignored_smooth", ce(label_smoothing=0.1), [f32r((3, 4)), torch.tensor([-100, -100, -100])],
     [True, False])

case("nll_mean", lambda x, t: F.nll_loss(x, t), [f32r((5, 4)), target], [True, False])
case("nll_weight_ignore", lambda x, t, w: F.nll_loss(x, t, weight=w), [f32r((5, 4)), ignored, weight],
     [True, False, False])
case("nll_3d_none", lambda x, t: F.nll_loss(x, t, reduction="none"), [f32r((2, 4, 3)),
     torch.tensor([[0, 3, 1], [2, -100, 0]])], [True, False])
case("nll_sum", lambda x, t: F.nll_loss(x, t, reduction="sum"), [f32r((5, 4)), ignored], [True, False])
fx.save()
