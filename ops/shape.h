/* Shape and indexing ops that build new tensors (views are in tensor.h):
 * concatenation and stacking, and index-based gathering. Differentiable in
 * every float input; index tensors are I64 and carry no gradient. */
#ifndef TG_SHAPE_H
#define TG_SHAPE_H

#include "tensor.h"

/* Join n tensors along an existing dim; all have one dtype and equal sizes
 * except along dim. */
tg_tensor *tg_cat(tg_tensor *const *tensors, int n, int dim);
/* Join n tensors of one shape along a new dim (0 <= dim <= ndim, or negative). */
tg_tensor *tg_stack(tg_tensor *const *tensors, int n, int dim);

#endif
