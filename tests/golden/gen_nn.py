"""Golden fixtures for tests/test_nn.c: softmax, log_softmax, layer_norm
and the deterministic cases of dropout, forward and backward, in float32
and float64. Run with /usr/bin/python3 (Debian's python3-torch)."""
import torch
import torch.nn.functional as F

from golden import Fixtures, f32r

torch.manual_seed(0)
fx = Fixtures("nn.txt")


for fname, f in (("softmax", F.softmax), ("log_softmax", F.log_softmax)):
    fx.case(f"{fname}_d1", lambda x: f(x, 1), [f32r((3, 5))], [True])
    fx.case(f"{fname}_d0", lambda x: f(x, 0), [f32r((3, 5))], [True])
    fx.case(f"{fname}_3d", lambda x: f(x, 1), [f32r((2, 3, 4))], [True])
    fx.case(f"{fname}_big", lambda x: f(x, -1), [f32r((3, 5), 1e4)], [True])
    fx.case(f"{fname}_0d", lambda x: f(x, 0), [f32r(())], [True])

fx.case("layer_norm_1", lambda x, w, b: F.layer_norm(x, (5,), w, b, 1e-5), [f32r((3, 4, 5)), f32r(5), f32r(5)],
     [True] * 3)
fx.case("layer_norm_2", lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-5), [f32r((2, 3, 4)), f32r((3, 4)),
     f32r((3, 4))], [True] * 3)
fx.case("layer_norm_plain", lambda x: F.layer_norm(x, (6,), None, None, 1e-5), [f32r((4, 6))], [True])
fx.case("layer_norm_weight", lambda x, w: F.layer_norm(x, (5,), w, None, 1e-3), [f32r((3, 5)), f32r(5)], [True] * 2)
fx.case("layer_norm_all", lambda x, b: F.layer_norm(x, (2, 3), None, b, 1e-5), [f32r((2, 3)), f32r((2, 3))],
     [True] * 2)

fx.case("dropout_eval", lambda x: F.dropout(x, 0.5, training=False), [f32r((3, 4))], [True])
fx.case("dropout_p0", lambda x: F.dropout(x, 0.0, training=True), [f32r((3, 4))], [True])
fx.case("dropout_p1", lambda x: F.dropout(x, 1.0, training=True), [f32r((3, 4))], [True])
fx.save()
