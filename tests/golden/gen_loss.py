"""Golden fixtures for tests/test_loss.c: the regression losses, binary
cross entropy with logits, cross entropy and nll loss, forward and
backward, in float32 and float64. Run with /usr/bin/python3 (Debian's
python3-torch)."""
import warnings

import torch
import torch.nn.functional as F

from golden import Fixtures, f32r

warnings.simplefilter("ignore")  # broadcast targets are intended
torch.manual_seed(0)
fx = Fixtures("loss.txt")


def with_tie(x, t):
    """t with its first element equal to x's, to pin the gradient at d == 0."""
    t = t.clone()
    t.view(-1)[0] = x.view(-1)[0]
    return t


REDUCTIONS = ("mean", "sum", "none")
for r in REDUCTIONS:
    x = f32r((3, 4))
    fx.case(f"mse_{r}", lambda a, b: F.mse_loss(a, b, reduction=r), [x, f32r((3, 4))], [True, True])
    x = f32r((3, 4))
    fx.case(f"l1_{r}", lambda a, b: F.l1_loss(a, b, reduction=r), [x, with_tie(x, f32r((3, 4)))], [True, True])
    x = f32r((3, 4))
    fx.case(f"smooth_l1_{r}", lambda a, b: F.smooth_l1_loss(a, b, reduction=r, beta=0.5), [x, f32r((3, 4))],
         [True, True])
    x = f32r((3, 4))
    fx.case(f"huber_{r}", lambda a, b: F.huber_loss(a, b, reduction=r, delta=0.7), [x, f32r((3, 4))], [True, True])
x = f32r((3, 4))
fx.case("smooth_l1_beta0", lambda a, b: F.smooth_l1_loss(a, b, beta=0.0), [x, with_tie(x, f32r((3, 4)))],
     [True, True])
fx.case("mse_broadcast", lambda a, b: F.mse_loss(a, b), [f32r((3, 4)), f32r(4)], [True, True])
fx.case("huber_broadcast", lambda a, b: F.huber_loss(a, b, reduction="none", delta=0.7), [f32r((3, 1)), f32r((3, 4))],
     [True, True])

logits = f32r((4, 3), 3.0)
logits[0, 0], logits[1, 1] = 60.0, -60.0
probs = torch.rand(4, 3, dtype=torch.float32).to(torch.float64)
fx.case("bce_mean", lambda x, t: F.binary_cross_entropy_with_logits(x, t), [logits, probs], [True, True])
fx.case("bce_weights_sum", lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, w, reduction="sum",
     pos_weight=pw), [logits, probs, torch.rand(3, dtype=torch.float32).double(),
     torch.rand(3, dtype=torch.float32).double() * 3], [True, True, False, False])
fx.case("bce_pos_weight_none", lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, reduction="none",
     pos_weight=pw), [logits, probs, torch.tensor([0.5, 2.0, 1.0])], [True, True, False])
fx.case("bce_row_weight_mean", lambda x, t, w: F.binary_cross_entropy_with_logits(x, t, w), [logits, probs,
     torch.rand(4, 1, dtype=torch.float32).double()], [True, True, False])


def ce(**kw):
    return lambda x, t: F.cross_entropy(x, t, **kw)


def ce_w(**kw):
    return lambda x, t, w: F.cross_entropy(x, t, weight=w, **kw)


target = torch.tensor([1, 0, 3, 3, 2])
ignored = torch.tensor([1, -100, 3, -100, 2])
weight = torch.rand(4, dtype=torch.float32).double() + 0.5
for r in REDUCTIONS:
    fx.case(f"ce_{r}", ce(reduction=r), [f32r((5, 4)), target], [True, False])
    fx.case(f"ce_weight_ignore_{r}", ce_w(reduction=r), [f32r((5, 4)), ignored, weight], [True, False, False])
    fx.case(f"ce_smooth_{r}", ce(reduction=r, label_smoothing=0.1), [f32r((5, 4)), ignored], [True, False])
    fx.case(f"ce_smooth_weight_{r}", ce_w(reduction=r, label_smoothing=0.2), [f32r((5, 4)), ignored, weight],
         [True, False, False])
fx.case("ce_ignore_index_1", ce(ignore_index=1), [f32r((5, 4)), target], [True, False])
fx.case("ce_3d", ce_w(), [f32r((2, 4, 3)), torch.tensor([[0, 3, 1], [2, 2, -100]]), weight], [True, False, False])
fx.case("ce_3d_smooth_none", ce(reduction="none", label_smoothing=0.3), [f32r((2, 4, 3)),
     torch.tensor([[0, 3, 1], [2, 2, 0]])], [True, False])
fx.case("ce_1d", ce(), [f32r(4), torch.tensor(2)], [True, False])
fx.case("ce_big", ce(label_smoothing=0.1), [f32r((5, 4), 1e4), target], [True, False])
fx.case("ce_all_ignored", ce(), [f32r((3, 4)), torch.tensor([-100, -100, -100])], [True, False])
fx.case("ce_all_ignored_smooth", ce(label_smoothing=0.1), [f32r((3, 4)), torch.tensor([-100, -100, -100])],
     [True, False])

fx.case("nll_mean", lambda x, t: F.nll_loss(x, t), [f32r((5, 4)), target], [True, False])
fx.case("nll_weight_ignore", lambda x, t, w: F.nll_loss(x, t, weight=w), [f32r((5, 4)), ignored, weight],
     [True, False, False])
fx.case("nll_3d_none", lambda x, t: F.nll_loss(x, t, reduction="none"), [f32r((2, 4, 3)),
     torch.tensor([[0, 3, 1], [2, -100, 0]])], [True, False])
fx.case("nll_sum", lambda x, t: F.nll_loss(x, t, reduction="sum"), [f32r((5, 4)), ignored], [True, False])
# infinite logits: the target's gradient is -+inf, not NaN, with and without pos_weight
inf_logits = torch.tensor([-float("inf"), float("inf"), 1.5, -float("inf")])
inf_probs = torch.tensor([0.25, 0.5, 0.75, 1.0])
fx.case("bce_inf_none", lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
     [inf_logits, inf_probs], [False, True])
fx.case("bce_inf_pos_weight_none", lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, reduction="none",
     pos_weight=pw), [inf_logits, inf_probs, torch.tensor([0.5, 2.0, 3.0, 1.5])], [False, True, False])
# infinite targets without pos_weight: -+inf loss and input gradient, not NaN
fx.case("bce_inf_target_none", lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction="none"),
     [torch.tensor([1.5, -2.0, float("inf"), 0.5]), torch.tensor([float("inf"), -float("inf"), float("inf"), 0.5])],
     [True, True])

fx.save()
