/* Shape and indexing ops. */
#include <string.h>

#include "internal.h"
#include "shape.h"

/* --- cat, stack -------------------------------------------------------------
 * y = [x0, x1, ...] along dim;  dx_i = the slice of g that x_i filled */
static void cat_backward(tg_node *n, tg_tensor *g)
{
    int dim = (int)n->iarg[0];
    int64_t start = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        tg_tensor *x = n->inputs[i];
        int64_t len = x->shape[dim];
        if (tg_needs_grad(x)) tg_accum_grad(x, tg_narrow(g, dim, start, len));
        start += len;
    }
}

static bool same_dtype_all(const char *fn, tg_tensor *const *ts, int n)
{
    if (!ts || n < 1) {
        tg_error("%s: expected a non-empty list of Tensors", fn);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!tg__check(fn, ts[i])) return false;
        if (ts[i]->dtype != ts[0]->dtype) {
            tg_error("%s: expected all tensors to have dtype %s, but tensor %d has %s", fn,
                     tg_dtype_name(ts[0]->dtype), i, tg_dtype_name(ts[i]->dtype));
            return false;
        }
    }
    return true;
}

tg_tensor *tg_cat(tg_tensor *const *ts, int n, int dim)
{
    const char *fn = "tg_cat";
    if (!same_dtype_all(fn, ts, n)) return NULL;
    const tg_tensor *first = ts[0];
    if (first->ndim == 0) return tg_error("%s: zero-dimensional tensor (at position 0) cannot be concatenated", fn);
    int d = tg__dim(fn, dim, first->ndim);
    if (d < 0) return NULL;
    int64_t shape[TG_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    shape[d] = 0;
    for (int i = 0; i < n; i++) {
        bool ok = ts[i]->ndim == first->ndim;
        for (int k = 0; ok && k < first->ndim; k++) ok = k == d || ts[i]->shape[k] == first->shape[k];
        if (!ok) {
            char s1[128], s2[128];
            return tg_error("%s: Sizes of tensors must match except in dimension %d (tensor 0 is %s, tensor %d is %s)",
                            fn, d, tg_shape_str(first, s1, sizeof s1), i, tg_shape_str(ts[i], s2, sizeof s2));
        }
        shape[d] += ts[i]->shape[d];
    }
    tg_tensor *y = tg__new(first->dtype, first->ndim, shape);
    if (!y) return NULL;
    bool was = tg_set_grad_enabled(false);
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        tg_copy_(tg_narrow(y, d, start, ts[i]->shape[d]), ts[i]);
        start += ts[i]->shape[d];
    }
    tg_set_grad_enabled(was);
    tg_node *node = tg_record("cat", cat_backward, y, n, ts);
    if (node) node->iarg[0] = d;
    return y;
}

/* y[..., i, ...] = x_i;  dx_i = g[..., i, ...] */
static void stack_backward(tg_node *n, tg_tensor *g)
{
    for (int i = 0; i < n->n_inputs; i++)
        if (tg_needs_grad(n->inputs[i])) tg_accum_grad(n->inputs[i], tg_select(g, (int)n->iarg[0], i));
}

tg_tensor *tg_stack(tg_tensor *const *ts, int n, int dim)
{
    const char *fn = "tg_stack";
    if (!same_dtype_all(fn, ts, n)) return NULL;
    const tg_tensor *first = ts[0];
    if (first->ndim >= TG_MAX_DIMS) return tg_error("%s: inputs already have %d dims", fn, TG_MAX_DIMS);
    int d = tg__dim(fn, dim, first->ndim + 1);
    if (d < 0) return NULL;
    for (int i = 1; i < n; i++)
        if (!tg_same_shape(ts[i], first)) {
            char s1[128], s2[128];
            return tg_error("%s: stack expects each tensor to be equal size, but got %s at entry 0 and %s at entry %d",
                            fn, tg_shape_str(first, s1, sizeof s1), tg_shape_str(ts[i], s2, sizeof s2), i);
        }
    int64_t shape[TG_MAX_DIMS];
    for (int k = 0, j = 0; k <= first->ndim; k++) shape[k] = k == d ? n : first->shape[j++];
    tg_tensor *y = tg__new(first->dtype, first->ndim + 1, shape);
    if (!y) return NULL;
    bool was = tg_set_grad_enabled(false);
    for (int i = 0; i < n; i++) tg_copy_(tg_select(y, d, i), ts[i]);
    tg_set_grad_enabled(was);
    tg_node *node = tg_record("stack", stack_backward, y, n, ts);
    if (node) node->iarg[0] = d;
    return y;
}
