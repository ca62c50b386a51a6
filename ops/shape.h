/* Shape and indexing ops that build new tensors (views are in tensor.h):
 * concatenation and stacking, flipping, tiling, padding, and index-based
 * selection, gathering and scattering. Every op takes inputs of any strides
 * and returns a new contiguous tensor; all work on F32 and F64 (the pure data
 * movers on I64 too) and are differentiable in every float input. Index
 * tensors are I64, carry no gradient, and are checked before any element is
 * read: an index outside its dimension is an error naming the function, the
 * index and the valid range. The backward of an index op adds into the
 * input's gradient buffer in place, so it costs O(size of the gradient). */
#ifndef TG_SHAPE_H
#define TG_SHAPE_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Join n tensors along an existing dim; all have one dtype and equal sizes
 * except along dim: (a, k0, b), (a, k1, b), ... -> (a, k0 + k1 + ..., b).
 * As in torch.cat, 1-D tensors of size 0 are left out whatever the others'
 * shapes (dim counts the dims of the first other tensor; with none, the
 * result has shape (0)). */
tg_tensor *tg_cat(int n, tg_tensor *const *tensors, int dim);
/* Join n tensors of one shape along a new dim (0 <= dim <= ndim, or
 * negative): n x (a, b) with dim 1 -> (a, n, b). */
tg_tensor *tg_stack(int n, tg_tensor *const *tensors, int dim);

/* Reverse the order of elements along each of the ndims dims listed (each
 * at most once, negative counts from the end): y has x's shape. */
tg_tensor *tg_flip(tg_tensor *x, int ndims, const int *dims);

/* torch.Tensor.repeat: tile x repeats[d] times along dim d. ndim (the length
 * of repeats) must be >= x->ndim; x is treated as having leading size-1 dims
 * when it is larger: x (3) with repeats {2, 2} -> (2, 6). Repeats >= 0. */
tg_tensor *tg_repeat(tg_tensor *x, int ndim, const int64_t *repeats);

/* Constant padding with torch.nn.functional.pad's order: pad holds npad
 * (even, npad/2 <= x->ndim) amounts for the last dims first, as (left,
 * right) of the last dim, then (top, bottom) of the one before, ...
 * A negative amount crops. x (2, 3) with pad {1, 2} -> (2, 6); the new
 * elements hold value. Each padded size must stay >= 0. */
tg_tensor *tg_pad(tg_tensor *x, int npad, const int64_t *pad, double value);

/* Entries index[0..k-1] of x along dim: x (a, n, b), index (k) I64 with
 * values in [0, n) -> (a, k, b). Repeated indices sum their gradients. A
 * 0-dim x takes dim 0 or -1 and an index of one entry, 0, and gives a 0-dim
 * result, as torch. */
tg_tensor *tg_index_select(tg_tensor *x, int dim, tg_tensor *index);

/* torch.gather: y[p] = x[p with p[dim] replaced by index[p]]. index is I64
 * with x's ndim, index.shape[d] <= x.shape[d] for d != dim, values in
 * [0, x.shape[dim]); y has index's shape. As in torch, an empty index
 * (and the same in scatter_add) is not checked against the shapes. */
tg_tensor *tg_gather(tg_tensor *x, int dim, tg_tensor *index);

/* torch.scatter_add: y = x, then y[p with p[dim] replaced by index[p]] +=
 * src[p] for every position p of index. index is I64 with x's ndim,
 * index.shape[d] <= src.shape[d] for all d and <= x.shape[d] for d != dim,
 * values in [0, x.shape[dim]); y has x's shape. Differentiable in x
 * (dx = g) and src (dsrc[p] = g[p with p[dim] = index[p]], 0 where index
 * does not reach). */
tg_tensor *tg_scatter_add(tg_tensor *x, int dim, tg_tensor *index, tg_tensor *src);

/* torch.nn.functional.embedding: rows of weight (num, dim) picked by
 * indices, I64 of any shape (...) with values in [0, num): result
 * (..., dim). padding_idx is -1 for none, otherwise a row in [0, num) that
 * receives no gradient (its value is still looked up as stored). */
tg_tensor *tg_embedding(tg_tensor *weight, tg_tensor *indices, int64_t padding_idx);

#ifdef __cplusplus
}
#endif

#endif
