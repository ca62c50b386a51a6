/* Reductions. dims lists the dims to reduce (negative counts from the end);
 * ndims == 0 (dims may be NULL) reduces over every dim. keepdim keeps the
 * reduced dims with size 1, as PyTorch; otherwise they are removed, so x of
 * shape (2,3,4) reduced over dims {1} gives (2,4), or (2,1,4) with keepdim.
 * Every reduction works on F32 and F64 of any strides and returns x's dtype.
 * Accumulation is in double, single-threaded and in a fixed order, so
 * results do not depend on the thread count. Values, gradients and edge
 * cases (ties, NaN, empty reductions) follow torch 1.13. */
#ifndef TG_REDUCE_H
#define TG_REDUCE_H

#include <tapegrad/tensor.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sum of x over dims (0 for an empty reduction). */
tg_tensor *tg_sum(tg_tensor *x, int ndims, const int *dims, bool keepdim);
/* Mean of x over dims (NaN for an empty reduction, as PyTorch). */
tg_tensor *tg_mean(tg_tensor *x, int ndims, const int *dims, bool keepdim);
/* Sum x down to `shape`, the inverse of broadcasting shape to x's shape
 * (PyTorch's sum_to_size): used for the gradients of broadcast inputs.
 * With nothing to sum, a new header over x's storage (never x itself). */
tg_tensor *tg_sum_to(tg_tensor *x, int ndim, const int64_t *shape);

/* Variance over dims: sum (x - mean)^2 / (N - 1) when unbiased (Bessel's
 * correction, torch.var's default), / N otherwise, where N counts the
 * reduced elements. NaN when N - 1 <= 0 with unbiased, and for N == 0. */
tg_tensor *tg_var(tg_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim);
/* sqrt(tg_var); its gradient is 0 where the result is 0 (constant slices),
 * as torch.std. */
tg_tensor *tg_std(tg_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim);

/* Largest (smallest) element along ONE dim: x of shape (2,3,4) with dim 1
 * gives values (2,4), or (2,1,4) with keepdim. If indices is not NULL it
 * receives an I64 tensor of the values' shape holding each value's position
 * along dim: the first occurrence among ties, the first NaN if there is one
 * (NaN propagates). The gradient flows to the selected elements only.
 * The reduced dim must not be empty. */
tg_tensor *tg_max_dim(tg_tensor *x, int dim, bool keepdim, tg_tensor **indices);
tg_tensor *tg_min_dim(tg_tensor *x, int dim, bool keepdim, tg_tensor **indices);

/* Largest (smallest) of all elements, a 0-dim tensor; NaN if any element is
 * NaN. The gradient is shared evenly among the elements equal to the result
 * (among the NaNs when it is NaN), as torch.max(x). x must not be empty. */
tg_tensor *tg_max(tg_tensor *x);
tg_tensor *tg_min(tg_tensor *x);

/* Positions of tg_max_dim / tg_min_dim as an I64 tensor (no gradient). For
 * the position in the whole tensor, flatten x first:
 * tg_argmax(tg_reshape(x, 1, (int64_t[]){-1}), 0, false). */
tg_tensor *tg_argmax(tg_tensor *x, int dim, bool keepdim);
tg_tensor *tg_argmin(tg_tensor *x, int dim, bool keepdim);

/* log(sum(exp(x))) over dims, computed as m + log(sum(exp(x - m))) with m
 * the max (so large inputs do not overflow); -inf for an empty reduction.
 * Gradient exp(x - result). */
tg_tensor *tg_logsumexp(tg_tensor *x, int ndims, const int *dims, bool keepdim);

/* Vector p-norm over dims, torch.linalg.vector_norm: (sum |x|^p)^(1/p) for
 * p > 0 (p = 1 and 2 are the common cases), max |x| for p = INFINITY. The
 * gradient is 0 where the norm is 0; for p = INFINITY it is shared evenly
 * among the elements of largest magnitude. Other p (0, negative, NaN) are
 * an error, and so is p = INFINITY over an empty reduction. */
tg_tensor *tg_norm(tg_tensor *x, double p, int ndims, const int *dims, bool keepdim);

#ifdef __cplusplus
}
#endif

#endif
