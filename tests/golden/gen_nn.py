"""Golden fixtures for tests/test_nn.c: softmax, log_softmax, layer_norm
and the deterministic cases of dropout, forward and backward, in float32
and float64. Run with /usr/bin/python3 (Debian's python3-torch)."""
import torch
import torch.nn.functional as F

from golden import Fixtures

torch.manual_seed(0)
fx = Fixtures("nn.txt")


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


for fname, f in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
    case(f"{fname}_d1", lambda x: f(x, 1), [f32r((3, 5))], [True])
    case(f"{fname}_d0", lambda x: f(x, 0), [f32r((3, 5))], [True])
    case(f"{fname}_3d", lambda x: f(x, 1), [f32r((2, 3, 4))], [True])
    case(f"{fname}_big", lambda x: f(x, -1), [f32r((3, 5), 1e4)], [True])
    case(f"{fname}_0d", lambda x: f(x, 0), [f32r(())], [True])

case("layer_norm_1", lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-5), [f32r((3, 4, 5)), f32r(5), f32r(5)],
     [True] * 3)
case("layer_norm_2", lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-5), [f32r((2, 3, 4)), f32r((3, 4)),
     f32r((3, 4))], [True] * 3)
case("layer_norm_plain", lambda x: F.layer_norm(x, (6,), None, None, 1e-5), [f32r((4, 6))], [True])
case("layer_norm_weight", lambda x, w: F.layer_norm(x, (5,), w, None, 1e-3), [f32r((3, 5)), f32r(5)], [True] * 2)
case("layer_norm_all", lambda x, b: F.layer_norm(x, (2, 3), None, b, 1e-5), [f32r((2, 3)), f32r((2, 3))],
     [True] * 2)

case("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), [f32r((3, 4))], [True])
case("dropout_p0", lambda x: F.dropout(x, 0.0, training=True), [f32r((3, 4))], [True])
case("dropout_p1", lambda x: F.dropout(x, 1.0, training=True), [f32r((3, 4))], [True])
fx.save()
