"""Golden fixtures for tests/test_shape.c: cat, stack, flip, repeat, pad,
index_select, gather, scatter_add and embedding, forward and backward, in
float32 and float64. Run with /usr/bin/python3 (Debian's python3-torch)."""
import torch
import torch.nn.functional as F

from golden import Fixtures

torch.manual_seed(0)
fx = Fixtures("shape.txt")


def f32r(shape):
    """Normal values drawn in float32 (not the stream of golden.f32r), stored as float64."""
    return torch.randn(shape, dtype=torch.float32).to(torch.float64)


def case(name, fn, inputs, grads):
    fx.case(name, fn, inputs, grads, random=f32r)


case("cat", lambda a, b, c: torch.cat([a, b, c], 1), [f32r((2, 3)), f32r((2, 1)), f32r((2, 2))], [True] * 3)
case("stack", lambda a, b, c: torch.stack([a, b, c], 1), [f32r((2, 3)), f32r((2, 3)), f32r((2, 3))], [True] * 3)
case("flip", lambda x: torch.flip(x, [0, 2]), [f32r((2, 3, 4))], [True])
case("flip_last", lambda x: torch.flip(x, [-1]), [f32r((3, 5))], [True])
case("repeat", lambda x: x.repeat(2, 1, 3), [f32r((2, 3))], [True])
case("repeat_same", lambda x: x.repeat(3, 2), [f32r((2, 3))], [True])
case("pad", lambda x: F.pad(x, (1, 2, -1, 1), value=0.5), [f32r((2, 3, 4))], [True])
case("pad_3d", lambda x: F.pad(x, (0, 0, 2, 0, 1, 1)), [f32r((2, 3, 4))], [True])
case("pad_crop", lambda x: F.pad(x, (-1, -2)), [f32r((3, 5))], [True])
case("index_select0", lambda x, i: torch.index_select(x, 0, i), [f32r((4, 3)), torch.tensor([3, 0, 3, 1])],
     [True, False])
case("index_select1", lambda x, i: torch.index_select(x, 1, i), [f32r((2, 4, 3)), torch.tensor([2, 2, 0])],
     [True, False])
case("gather1", lambda x, i: torch.gather(x, 1, i), [f32r((3, 4)), torch.tensor([[0, 3], [1, 1], [2, 0]])],
     [True, False])
case("gather0", lambda x, i: torch.gather(x, 0, i), [f32r((3, 4)), torch.randint(0, 3, (2, 4))], [True, False])
case("scatter_add1", lambda x, i, s: torch.scatter_add(x, 1, i, s),
     [f32r((3, 5)), torch.tensor([[0, 4, 0], [1, 1, 2], [3, 0, 4]]), f32r((3, 3))], [True, False, True])
case("scatter_add0", lambda x, i, s: torch.scatter_add(x, 0, i, s),
     [f32r((3, 4)), torch.randint(0, 3, (5, 4)), f32r((5, 4))], [True, False, True])
case("embedding", lambda w, i: F.embedding(i, w), [f32r((6, 3)), torch.tensor([[1, 5, 1, 0], [2, 2, 4, 1]])],
     [True, False])
case("embedding_pad", lambda w, i: F.embedding(i, w, padding_idx=2),
     [f32r((6, 3)), torch.tensor([[1, 5, 2, 0], [2, 2, 4, 1]])], [True, False])
case("embedding_1d", lambda w, i: F.embedding(i, w), [f32r((4, 5)), torch.tensor([3, 3, 0])], [True, False])
fx.save()
