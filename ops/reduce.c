/* Reductions. */
#include <math.h>
#include <string.h>

#include "elementwise.h"
#include "internal.h"
#include "reduce.h"

/* Which dims of x are reduced; -1 with a message on a bad or repeated dim. */
int tg__reduce_mask(const char *fn, const tg_tensor *x, int ndims, const int *dims, bool *mask)
{
    for (int d = 0; d < TG_MAX_DIMS; d++) mask[d] = ndims == 0;
    for (int i = 0; i < ndims; i++) {
        int d = tg__dim(fn, dims[i], x->ndim);
        if (d < 0) return -1;
        if (mask[d] && x->ndim > 0) {
            tg_error("%s: dim %d appears multiple times in the list of dims", fn, dims[i]);
            return -1;
        }
        mask[d] = true;
    }
    return 0;
}

/* Shape of the result with keepdim (reduced dims set to 1). */
void tg__keepdim_shape(const tg_tensor *x, const bool *mask, int64_t *shape)
{
    for (int d = 0; d < x->ndim; d++) shape[d] = mask[d] ? 1 : x->shape[d];
}

static void accumulate_row(int64_t n, char **p, const int64_t *s, void *ctx)
{
    tg_dtype dtype = *(const tg_dtype *)ctx;
    double *acc = (double *)p[0];
    if (s[0] == 0) { /* the whole row reduces into one sum */
        double total = 0;
        if (dtype == TG_F32) for (int64_t i = 0; i < n; i++) total += *(const float *)(p[1] + i * s[1]);
        else for (int64_t i = 0; i < n; i++) total += *(const double *)(p[1] + i * s[1]);
        *acc += total;
    } else if (dtype == TG_F32) {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) += *(const float *)(p[1] + i * s[1]);
    } else {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) += *(const double *)(p[1] + i * s[1]);
    }
}

/* out (keepdim shape, x's dtype) = sum of x over the masked dims, scaled. */
static tg_tensor *sum_kernel(const tg_tensor *x, const bool *mask, double scale)
{
    int64_t kshape[TG_MAX_DIMS];
    tg__keepdim_shape(x, mask, kshape);
    tg_tensor *acc = tg__new(TG_F64, x->ndim, kshape);
    tg_tensor *out = tg__new(x->dtype, x->ndim, kshape);
    if (!acc || !out) return NULL;
    memset(tg_data(acc), 0, (size_t)tg_numel(acc) * sizeof(double));
    /* acc has stride 0 along reduced dims: walking x in order adds each
     * element into its output's accumulator, in a fixed order. */
    tg_tensor acc_view = *acc;
    for (int d = 0; d < x->ndim; d++) {
        acc_view.shape[d] = x->shape[d];
        if (mask[d]) acc_view.stride[d] = 0;
    }
    const tg_tensor *ops[2] = {&acc_view, x};
    tg__foreach(2, ops, x->ndim, x->shape, accumulate_row, (void *)&x->dtype, false);
    double *a = tg_data(acc);
    char *o = tg_data(out);
    for (int64_t i = 0; i < tg_numel(out); i++) tg__store(o + i * (int64_t)tg_dtype_size(out->dtype), out->dtype, a[i] * scale);
    return out;
}

/* Drop the reduced dims from a fresh keepdim-shaped result unless keepdim.
 * The header is edited in place rather than viewed, so a reduction records
 * one node, not two. */
tg_tensor *tg__finish_reduce(tg_tensor *out, const tg_tensor *x, const bool *mask, bool keepdim)
{
    if (!out || keepdim) return out;
    int n = 0;
    for (int d = 0; d < x->ndim; d++)
        if (!mask[d]) out->shape[n++] = x->shape[d];
    out->ndim = n;
    int64_t stride = 1;
    for (int d = n - 1; d >= 0; d--) {
        out->stride[d] = stride;
        stride *= out->shape[d];
    }
    return out;
}

/* y = sum x over dims;  dx = g broadcast back over the reduced dims (times
 * farg[0], which is 1/count for the mean) */
static void sum_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0];
    int64_t kshape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) kshape[d] = n->iarg[d];
    tg_tensor *gk = tg_view(g, x->ndim, kshape);
    if (n->farg[0] != 1.0) gk = tg_mul_scalar(gk, n->farg[0]);
    tg_accum_grad(x, tg_expand(gk, x->ndim, x->shape));
}

static tg_tensor *sum_or_mean(const char *fn, tg_tensor *x, int ndims, const int *dims, bool keepdim, bool mean)
{
    if (!tg__check_float(fn, x)) return NULL;
    bool mask[TG_MAX_DIMS];
    if (tg__reduce_mask(fn, x, ndims, dims, mask) < 0) return NULL;
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask[d]) count *= x->shape[d];
    double scale = mean ? (count ? 1.0 / (double)count : NAN) : 1.0;
    tg_tensor *out = sum_kernel(x, mask, scale);
    tg_node *n = out ? tg_record(fn + 3, sum_backward, out, 1, &x) : NULL;
    if (n) {
        tg__keepdim_shape(x, mask, n->iarg);
        n->farg[0] = scale;
    }
    return tg__finish_reduce(out, x, mask, keepdim);
}

tg_tensor *tg_sum(tg_tensor *x, int ndims, const int *dims, bool keepdim)
{
    return sum_or_mean("tg_sum", x, ndims, dims, keepdim, false);
}

tg_tensor *tg_mean(tg_tensor *x, int ndims, const int *dims, bool keepdim)
{
    return sum_or_mean("tg_mean", x, ndims, dims, keepdim, true);
}

tg_tensor *tg_sum_to(tg_tensor *x, int ndim, const int64_t *shape)
{
    if (!tg__check_float("tg_sum_to", x)) return NULL;
    int lead = x->ndim - ndim;
    bool ok = lead >= 0;
    int dims[TG_MAX_DIMS], nd = 0;
    for (int d = 0; ok && d < x->ndim; d++) {
        if (d < lead) dims[nd++] = d;
        else if (shape[d - lead] == 1 && x->shape[d] != 1) dims[nd++] = d;
        else ok = shape[d - lead] == x->shape[d];
    }
    if (!ok) {
        char s[128];
        return tg_error("tg_sum_to: shape %s cannot be summed to a shape of %d dims it does not broadcast from",
                        tg_shape_str(x, s, sizeof s), ndim);
    }
    if (nd == 0) return x;
    return tg_view(tg_sum(x, nd, dims, true), ndim, shape);
}
