/* Reductions. dims lists the dims to reduce (negative counts from the end);
 * ndims == 0 (dims may be NULL) reduces over every dim. keepdim keeps the
 * reduced dims with size 1, as PyTorch. Sums accumulate in double and in a
 * fixed order, so results do not depend on the thread count. */
#ifndef TG_REDUCE_H
#define TG_REDUCE_H

#include "tensor.h"

/* Sum of x over dims. */
tg_tensor *tg_sum(tg_tensor *x, int ndims, const int *dims, bool keepdim);
/* Mean of x over dims (NaN for an empty reduction, as PyTorch). */
tg_tensor *tg_mean(tg_tensor *x, int ndims, const int *dims, bool keepdim);
/* Sum x down to `shape`, the inverse of broadcasting shape to x's shape
 * (PyTorch's sum_to_size): used for the gradients of broadcast inputs. */
tg_tensor *tg_sum_to(tg_tensor *x, int ndim, const int64_t *shape);

#endif
