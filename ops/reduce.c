/* Reductions. Each one folds x into a double accumulator of the keepdim
 * shape with tg__foreach (single-threaded, so the order of the additions is
 * fixed), then converts to x's dtype. Backward functions are written with
 * the ops; they view the gradient in the keepdim shape (saved in iarg) so
 * that it broadcasts back over x. */
#include <math.h>
#include <string.h>

#include <tapegrad/elementwise.h>
#include "map.h"
#include <tapegrad/reduce.h>

/* Which dims of x are reduced; -1 with a message on a bad or repeated dim. */
static int reduce_mask(const char *fn, const tg_tensor *x, int ndims, const int *dims, bool *mask)
{
    if (ndims < 0 || (ndims > 0 && !dims))
        return tg_fail("%s: expected a list of dims (got %d dims at %p)", fn, ndims, (const void *)dims);
    for (int d = 0; d < TG_MAX_DIMS; d++) mask[d] = ndims == 0;
    for (int i = 0; i < ndims; i++) {
        int d = tg__dim(fn, dims[i], x->ndim);
        if (d < 0) return -1;
        if (mask[d])
            return tg_fail("%s: dim %d appears multiple times in the list of dims", fn, dims[i]);
        mask[d] = true;
    }
    return 0;
}

/* Shape of the result with keepdim (reduced dims set to 1). */
static void keepdim_shape(const tg_tensor *x, const bool *mask, int64_t *shape)
{
    for (int d = 0; d < x->ndim; d++) shape[d] = mask[d] ? 1 : x->shape[d];
}

/* Drop the reduced dims from a fresh keepdim-shaped result unless keepdim.
 * The header is edited in place rather than viewed, so a reduction records
 * one node, not two. */
static tg_tensor *finish_reduce(tg_tensor *out, const tg_tensor *x, const bool *mask, bool keepdim)
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

/* A node's output (or its gradient) in the keepdim shape saved in iarg, so
 * that it broadcasts against the input. */
static tg_tensor *keepdim_view(const tg_node *n, tg_tensor *t)
{
    return tg_view(t, n->inputs[0]->ndim, n->iarg);
}

static int64_t reduced_count(const tg_tensor *x, const bool *mask)
{
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask[d]) count *= x->shape[d];
    return count;
}

/* --- the fold ---------------------------------------------------------------
 * acc = combine(acc, term(x, centre)) for every element of x, where acc and
 * centre (the mean for the variance, the max for logsumexp) are F64 tensors
 * of the keepdim shape viewed with stride 0 along the reduced dims. */
typedef enum {
    FOLD_SUM,     /* acc += x */
    FOLD_SCALED,  /* acc += x / centre */
    FOLD_ABS,     /* acc += |x| */
    FOLD_SQUARE,  /* acc += x^2 */
    FOLD_POW_ABS, /* acc += |x|^p */
    FOLD_DEV,     /* acc += x - centre */
    FOLD_SQ_DEV,  /* acc += (x - centre)^2 */
    FOLD_EXP_DEV, /* acc += exp(x - centre) */
    FOLD_MAX,     /* acc = max(acc, x) */
    FOLD_MIN,     /* acc = min(acc, x) */
    FOLD_ABS_MAX, /* acc = max(acc, |x|) */
} fold_kind;
typedef struct {
    fold_kind kind;
    tg_dtype dtype;
    double p;
} fold_ctx;

/* NaN wins, as in torch's max and min. */
static double nan_max(double acc, double v) { return (acc >= v || isnan(acc)) ? acc : v; }
static double nan_min(double acc, double v) { return (acc <= v || isnan(acc)) ? acc : v; }

static void sum_row(int64_t n, char **p, const int64_t *s, tg_dtype dtype)
{
    if (s[0] == 0) { /* the whole row reduces into one sum */
        double total = 0;
        int64_t i = 0;
        if (dtype == TG_F32 && s[1] == 4) {
            /* Eight partial sums in a fixed order: one chain of dependent
             * additions would take four cycles an element. */
            const float *x = (const float *)p[1];
            double part[8] = {0};
            for (; i + 8 <= n; i += 8)
                for (int k = 0; k < 8; k++) part[k] += x[i + k];
            total = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
        }
        if (dtype == TG_F32) for (; i < n; i++) total += *(const float *)(p[1] + i * s[1]);
        else for (; i < n; i++) total += *(const double *)(p[1] + i * s[1]);
        *(double *)p[0] += total;
    } else if (dtype == TG_F32) {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) += *(const float *)(p[1] + i * s[1]);
    } else {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) += *(const double *)(p[1] + i * s[1]);
    }
}

static void fold_row(int64_t n, char **p, const int64_t *s, void *ctx)
{
    const fold_ctx *c = ctx;
    if (c->kind == FOLD_SUM) {
        sum_row(n, p, s, c->dtype);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double *acc = (double *)(p[0] + i * s[0]);
        double v = c->dtype == TG_F32 ? *(const float *)(p[1] + i * s[1]) : *(const double *)(p[1] + i * s[1]);
        double centre = *(const double *)(p[2] + i * s[2]);
        switch (c->kind) {
        case FOLD_SCALED: *acc += v / centre; break;
        case FOLD_ABS: *acc += fabs(v); break;
        case FOLD_SQUARE: *acc += v * v; break;
        case FOLD_POW_ABS: *acc += pow(fabs(v), c->p); break;
        case FOLD_DEV: *acc += v - centre; break;
        case FOLD_SQ_DEV: *acc += (v - centre) * (v - centre); break;
        case FOLD_EXP_DEV: *acc += exp(v - centre); break;
        case FOLD_MAX: *acc = nan_max(*acc, v); break;
        case FOLD_MIN: *acc = nan_min(*acc, v); break;
        case FOLD_ABS_MAX: *acc = nan_max(*acc, fabs(v)); break;
        default: break;
        }
    }
}

/* Elements per block of a parallel full reduction. The blocks, and the
 * order their partial results are combined in, depend only on the size, so
 * the result is the same for any number of threads. */
#define FOLD_BLOCK 32768

/* A contiguous x folded into one value: blocks folded in parallel, then
 * combined in block order. */
static bool fold_blocks(const tg_tensor *x, fold_ctx *ctx, double init, const tg_tensor *centre, double *result)
{
    int64_t n = tg_numel(x), blocks = (n + FOLD_BLOCK - 1) / FOLD_BLOCK;
    int64_t es = (int64_t)tg_dtype_size(x->dtype);
    double *partial = tg__arena_alloc(sizeof(double) * (size_t)blocks);
    if (!partial) return false;
    char *base = tg_data(x);
    double centre_value = centre ? *(const double *)tg_data(centre) : 0.0;
    bool extremum = ctx->kind == FOLD_MAX || ctx->kind == FOLD_MIN || ctx->kind == FOLD_ABS_MAX;
    tg__parallel region = tg__parallel_begin(tg_get_num_threads());
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; b++) {
            partial[b] = extremum ? init : 0.0;
            int64_t len = n - b * FOLD_BLOCK < FOLD_BLOCK ? n - b * FOLD_BLOCK : FOLD_BLOCK;
            char *ptrs[3] = {(char *)&partial[b], base + b * FOLD_BLOCK * es, (char *)&centre_value};
            int64_t steps[3] = {0, es, 0};
            fold_row(len, ptrs, steps, ctx);
        }
    }
    tg__parallel_end(&region);
    double total = init;
    for (int64_t b = 0; b < blocks; b++) {
        switch (ctx->kind) {
        case FOLD_MAX: case FOLD_ABS_MAX: total = nan_max(total, partial[b]); break;
        case FOLD_MIN: total = nan_min(total, partial[b]); break;
        default: total += partial[b]; break;
        }
    }
    *result = total;
    return true;
}

/* The fold of x over the masked dims into a new contiguous F64 tensor of
 * the keepdim shape, every accumulator starting at init. */
static tg_tensor *fold(const char *fn, const tg_tensor *x, const bool *mask, fold_kind kind, double p, double init,
                       const tg_tensor *centre)
{
    int64_t kshape[TG_MAX_DIMS];
    keepdim_shape(x, mask, kshape);
    tg_tensor *acc = tg__new(fn, TG_F64, x->ndim, kshape);
    if (!acc) return NULL;
    double *a = tg_data(acc);
    if (tg_numel(acc) == 1 && tg_numel(x) >= 2 * FOLD_BLOCK && tg_is_contiguous(x)) {
        if (fold_blocks(x, &(fold_ctx){kind, x->dtype, p}, init, centre, a)) return acc;
        tg_free(acc);
        return NULL;
    }
    for (int64_t i = 0; i < tg_numel(acc); i++) a[i] = init;
    /* acc and centre have x's dims, size 1 where mask is set: spread them over x. */
    tg_tensor acc_view = tg__spread(acc, x->ndim, x->shape);
    tg_tensor centre_view = tg__spread(centre ? centre : acc, x->ndim, x->shape);
    fold_ctx ctx = {kind, x->dtype, p};
    const tg_tensor *ops[3] = {&acc_view, x, &centre_view};
    tg__foreach(3, ops, x->ndim, x->shape, fold_row, &ctx, false);
    return acc;
}

/* acc's values in dtype: acc itself for F64, else a rounded copy. */
static tg_tensor *in_dtype(const char *fn, tg_tensor *acc, tg_dtype dtype)
{
    if (!acc || dtype == TG_F64) return acc;
    tg_tensor *out = tg__new(fn, dtype, acc->ndim, acc->shape);
    if (!out) return NULL;
    const double *a = tg_data(acc);
    float *o = tg_data(out);
    for (int64_t i = 0; i < tg_numel(acc); i++) o[i] = (float)a[i];
    return out;
}

/* --- sum and mean ------------------------------------------------------------ */

/* y = sum x over dims;  dx = g broadcast back over the reduced dims (times
 * farg[0], which is 1/count for the mean) */
static void sum_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0];
    tg_tensor *gk = keepdim_view(n, g);
    if (n->farg[0] != 1.0) gk = tg_mul_scalar(gk, n->farg[0]);
    tg_accum_grad(x, tg_expand(gk, x->ndim, x->shape));
}

static tg_tensor *sum_or_mean(const char *fn, const char *op, tg_tensor *x, int ndims, const int *dims, bool keepdim, bool mean)
{
    if (!tg__check_float(fn, x)) return NULL;
    bool mask[TG_MAX_DIMS];
    if (reduce_mask(fn, x, ndims, dims, mask) < 0) return NULL;
    int64_t count = reduced_count(x, mask);
    double scale = mean ? (count ? 1.0 / (double)count : NAN) : 1.0;
    tg_tensor *acc = fold(fn, x, mask, FOLD_SUM, 0, 0, NULL);
    if (!acc) return NULL;
    double *a = tg_data(acc);
    if (scale != 1.0)
        for (int64_t i = 0; i < tg_numel(acc); i++) a[i] *= scale;
    tg_tensor *out = in_dtype(fn, acc, x->dtype);
    /* The backward reads shapes only; torch's mean over listed dims still
     * saves x, and refuses it changed in place, so that one is kept. */
    tg_node *n = tg__unread(tg_record(op, sum_backward, out, 1, &x), !mean || ndims == 0, true);
    if (n) {
        keepdim_shape(x, mask, n->iarg);
        n->farg[0] = scale;
    }
    return finish_reduce(out, x, mask, keepdim);
}

tg_tensor *tg_sum(tg_tensor *x, int ndims, const int *dims, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, sum_or_mean("tg_sum", "sum", x, ndims, dims, keepdim, false));
}

tg_tensor *tg_mean(tg_tensor *x, int ndims, const int *dims, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, sum_or_mean("tg_mean", "mean", x, ndims, dims, keepdim, true));
}

/* The dims of x to sum for tg_sum_to(x, ndim, shape), into dims: their
 * count (0: nothing to sum), or -1 with a message. */
static int sum_to_dims(tg_tensor *x, int ndim, const int64_t *shape, int *dims)
{
    if (!tg__check_float("tg_sum_to", x)) return -1;
    if (ndim < 0 || ndim > TG_MAX_DIMS || (ndim > 0 && !shape))
        return tg_fail("tg_sum_to: expected a shape of 0 to %d dims, got %d dims at %p", TG_MAX_DIMS, ndim,
                       (const void *)shape);
    int lead = x->ndim - ndim;
    bool ok = lead >= 0;
    int nd = 0;
    for (int d = 0; ok && d < x->ndim; d++) {
        if (d < lead) dims[nd++] = d;
        else if (shape[d - lead] == 1 && x->shape[d] != 1) dims[nd++] = d;
        else ok = shape[d - lead] == x->shape[d];
    }
    if (!ok) {
        char s[128], t[128];
        tg_tensor target = {.ndim = ndim};
        memcpy(target.shape, shape, sizeof *shape * (size_t)ndim);
        return tg_fail("tg_sum_to: shape %s cannot be summed to shape %s, which does not broadcast to it",
                       tg_shape_str(x, s, sizeof s), tg_shape_str(&target, t, sizeof t));
    }
    return nd;
}

/* --- variance and standard deviation ------------------------------------------
 * y = sum (x - mean)^2 / D with D = N - 1 (unbiased) or N;
 *     dvar/dx = (2 / D) g (x - mean)
 * std = sqrt(var);  dstd/dx = (g / (2 std), 0 where std == 0) * dvar/dx */
static void var_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0], *mean = n->saved[0];
    tg_accum_grad(x, tg_mul(tg_mul_scalar(keepdim_view(n, g), n->farg[0]), tg_sub(x, mean)));
}

KERNEL2(std_grad_scale, g, std, std == 0 ? 0 : g / (2 * std))
static void std_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0], *mean = n->saved[0];
    tg_tensor *gvar = tg__map("tg_std", KERNELS(std_grad_scale), 2, (tg_tensor *[]){g, n->out}, NULL);
    tg_accum_grad(x, tg_mul(tg_mul_scalar(keepdim_view(n, gvar), n->farg[0]), tg_sub(x, mean)));
}

static tg_tensor *variance(const char *fn, const char *op, tg_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim,
                           bool take_sqrt)
{
    if (!tg__check_float(fn, x)) return NULL;
    bool mask[TG_MAX_DIMS];
    if (reduce_mask(fn, x, ndims, dims, mask) < 0) return NULL;
    int64_t count = reduced_count(x, mask);
    /* Passes in double: the mean, its correction by the mean of the
     * deviations from it, then the squared deviations. The sum's rounding
     * can leave the mean of equal values an ulp away from them (three
     * times 0.1 sum to 0.30000000000000004): their deviations were then
     * not zero, nor the variance, and a std's gradient was of order one
     * where it is zero. The correction makes it exact there. */
    tg_tensor *mean = fold(fn, x, mask, FOLD_SUM, 0, 0, NULL);
    if (!mean) return NULL;
    double *m = tg_data(mean);
    bool overflow = false;
    for (int64_t i = 0; i < tg_numel(mean); i++) {
        m[i] /= (double)count;
        overflow |= isinf(m[i]);
    }
    /* Finite float64 values near DBL_MAX can sum past it while their mean
     * cannot: with the largest magnitude s, the mean is s * mean(x / s), so
     * that equal values keep variance 0 (as torch's running mean), not inf.
     * Where the deviations' sum overflows in turn, the mean goes uncorrected
     * rather than infinite. */
    if (overflow) {
        tg_tensor *scale = fold(fn, x, mask, FOLD_ABS_MAX, 0, 0, NULL);
        tg_tensor *scaled = scale ? fold(fn, x, mask, FOLD_SCALED, 0, 0, scale) : NULL;
        if (!scaled) return NULL;
        const double *sc = tg_data(scale), *q = tg_data(scaled);
        for (int64_t i = 0; i < tg_numel(mean); i++)
            if (isinf(m[i]) && isfinite(sc[i])) m[i] = q[i] / (double)count * sc[i];
    }
    tg_tensor *dev = fold(fn, x, mask, FOLD_DEV, 0, 0, mean);
    if (!dev) return NULL;
    const double *e = tg_data(dev);
    for (int64_t i = 0; i < tg_numel(mean); i++)
        if (isfinite(m[i]) && isfinite(e[i])) m[i] += e[i] / (double)count;
    tg_tensor *acc = fold(fn, x, mask, FOLD_SQ_DEV, 0, 0, mean);
    if (!acc) return NULL;
    double divisor = fmax((double)count - (unbiased ? 1 : 0), 0);
    double *a = tg_data(acc);
    for (int64_t i = 0; i < tg_numel(acc); i++) a[i] = take_sqrt ? sqrt(a[i] / divisor) : a[i] / divisor;
    tg_tensor *out = in_dtype(fn, acc, x->dtype), *saved_mean = out ? in_dtype(fn, mean, x->dtype) : NULL;
    if (!saved_mean) return NULL;
    tg_node *n = tg_record(op, take_sqrt ? std_backward : var_backward, out, 1, &x);
    if (n) {
        keepdim_shape(x, mask, n->iarg);
        tg_save_for_backward(n, 0, saved_mean);
        n->farg[0] = 2 / divisor;
    }
    return finish_reduce(out, x, mask, keepdim);
}

tg_tensor *tg_var(tg_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, variance("tg_var", "var", x, ndims, dims, unbiased, keepdim, false));
}

tg_tensor *tg_std(tg_tensor *x, int ndims, const int *dims, bool unbiased, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, variance("tg_std", "std", x, ndims, dims, unbiased, keepdim, true));
}

/* --- max and min along one dim --------------------------------------------------
 * y = x at position idx along dim;  dx = g at those positions, 0 elsewhere */

/* Offset (in elements, from t's storage start) of the element of t whose
 * index is `o` unravelled over t's shape with dim left out, at position pos
 * along dim. */
static int64_t offset_along(const tg_tensor *t, int dim, int64_t o, int64_t pos)
{
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (d == dim) continue;
        off += (o % t->shape[d]) * t->stride[d];
        o /= t->shape[d];
    }
    return off + (t->ndim ? pos * t->stride[dim] : 0);
}

/* values (x's dtype) and indices (I64), both contiguous of the keepdim
 * shape: the first largest (smallest) element along dim, NaN first of all. */
static void select_extreme(const tg_tensor *x, int dim, bool largest, tg_tensor *values, tg_tensor *indices)
{
    int64_t len = x->ndim ? x->shape[dim] : 1;
    size_t es = tg_dtype_size(x->dtype);
    const char *data = x->storage->data;
    char *vals = tg_data(values);
    int64_t *idx = tg_data(indices);
    for (int64_t o = 0; o < tg_numel(values); o++) {
        int64_t best_pos = 0;
        double best = tg__load(data + offset_along(x, dim, o, 0) * (int64_t)es, x->dtype);
        for (int64_t pos = 1; pos < len && !isnan(best); pos++) {
            double v = tg__load(data + offset_along(x, dim, o, pos) * (int64_t)es, x->dtype);
            if (isnan(v) || (largest ? v > best : v < best)) {
                best = v;
                best_pos = pos;
            }
        }
        tg__store(vals + o * (int64_t)es, x->dtype, best);
        idx[o] = best_pos;
    }
}

static void select_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0], *indices = n->saved[0];
    int dim = (int)n->iarg[0];
    tg_tensor *slot = tg_grad_slot(x);
    if (!slot) return;
    const int64_t *idx = tg_data(indices);
    size_t es = tg_dtype_size(x->dtype);
    char *dst = slot->storage->data;
    const char *src = tg_data(g);
    for (int64_t o = 0; o < tg_numel(g); o++) {
        char *p = dst + offset_along(slot, dim, o, idx[o]) * (int64_t)es;
        tg__store(p, x->dtype, tg__load(p, x->dtype) + tg__load(src + o * (int64_t)es, x->dtype));
    }
}

/* Checks for the one-dim forms; the normalised dim, or -1. */
static int extreme_dim(const char *fn, const tg_tensor *x, int dim)
{
    if (!tg__check_float(fn, x)) return -1;
    int d = tg__dim(fn, dim, x->ndim);
    if (d >= 0 && x->ndim > 0 && x->shape[d] == 0)
        return tg_fail("%s: Expected reduction dim %d to have non-zero size.", fn, dim);
    return d;
}

static tg_tensor *extreme_along(const char *fn, const char *op, tg_tensor *x, int dim, bool keepdim, tg_tensor **indices,
                                bool largest, bool want_values)
{
    if (indices) *indices = NULL;
    int d = extreme_dim(fn, x, dim);
    if (d < 0) return NULL;
    bool mask[TG_MAX_DIMS] = {false};
    mask[d] = true;
    int64_t kshape[TG_MAX_DIMS];
    keepdim_shape(x, mask, kshape);
    tg_tensor *values = tg__new(fn, x->dtype, x->ndim, kshape);
    tg_tensor *idx = values ? tg__new(fn, TG_I64, x->ndim, kshape) : NULL;
    if (!idx) {
        tg_free(values);
        return NULL;
    }
    select_extreme(x, d, largest, values, idx);
    if (!want_values) return finish_reduce(idx, x, mask, keepdim);
    tg_node *n = tg__unread(tg_record(op, select_backward, values, 1, &x), 1, true); /* reads the indices */
    if (n) {
        tg_save_for_backward(n, 0, idx);
        n->iarg[0] = d;
    }
    if (indices) *indices = finish_reduce(idx, x, mask, keepdim);
    return finish_reduce(values, x, mask, keepdim);
}

tg_tensor *tg_max_dim(tg_tensor *x, int dim, bool keepdim, tg_tensor **indices)
{
    tg_scope *s = tg__autoscope(1, &x);
    tg_tensor *values = extreme_along("tg_max_dim", "max_dim", x, dim, keepdim, indices, true, true);
    return tg__autoscope_keep2(s, values, indices);
}

tg_tensor *tg_min_dim(tg_tensor *x, int dim, bool keepdim, tg_tensor **indices)
{
    tg_scope *s = tg__autoscope(1, &x);
    tg_tensor *values = extreme_along("tg_min_dim", "min_dim", x, dim, keepdim, indices, false, true);
    return tg__autoscope_keep2(s, values, indices);
}

tg_tensor *tg_argmax(tg_tensor *x, int dim, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, extreme_along("tg_argmax", "argmax", x, dim, keepdim, NULL, true, false));
}

tg_tensor *tg_argmin(tg_tensor *x, int dim, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, extreme_along("tg_argmin", "argmin", x, dim, keepdim, NULL, false, false));
}

/* --- max and min of all elements ---------------------------------------------------
 * y = max x;  dx = g / k at the k elements equal to y (the NaNs when y is NaN),
 * and exactly 0 elsewhere even when g is NaN or infinite, as torch (a select,
 * not a product with the mask) */
KERNEL2(tie_mask, x, y, (x == y || (isnan(x) && isnan(y))) ? 1 : 0)
static void extreme_all_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0];
    tg_tensor *ties = tg__map("tg_max", KERNELS(tie_mask), 2, (tg_tensor *[]){x, n->out}, NULL);
    tg_tensor *share = tg_div(g, tg_sum(ties, 0, NULL, false));
    tg_accum_grad(x, tg_where(ties, share, tg_zeros_like(share)));
}

static tg_tensor *extreme_all(const char *fn, const char *op, tg_tensor *x, bool largest)
{
    if (!tg__check_float(fn, x)) return NULL;
    if (tg_numel(x) == 0)
        return tg_error("%s: Expected reduction dim to be specified for input.numel() == 0. "
                        "Specify the reduction dim with the 'dim' argument.", fn);
    bool mask[TG_MAX_DIMS];
    reduce_mask(fn, x, 0, NULL, mask);
    tg_tensor *acc = fold(fn, x, mask, largest ? FOLD_MAX : FOLD_MIN, 0, largest ? -INFINITY : INFINITY, NULL);
    tg_tensor *out = in_dtype(fn, acc, x->dtype);
    tg_record(op, extreme_all_backward, out, 1, &x);
    return finish_reduce(out, x, mask, false);
}

tg_tensor *tg_max(tg_tensor *x)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, extreme_all("tg_max", "max", x, true));
}

tg_tensor *tg_min(tg_tensor *x)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, extreme_all("tg_min", "min", x, false));
}

/* --- logsumexp -----------------------------------------------------------------------
 * y = m + log(sum exp(x - m)), m = max x over dims (0 where infinite, so
 * that all -inf gives -inf and +inf gives +inf);  dx = g exp(x - y) */
static void logsumexp_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0];
    tg_accum_grad(x, tg_mul(keepdim_view(n, g), tg_exp(tg_sub(x, keepdim_view(n, n->out)))));
}

static tg_tensor *logsumexp_impl(tg_tensor *x, int ndims, const int *dims, bool keepdim)
{
    const char *fn = "tg_logsumexp";
    if (!tg__check_float(fn, x)) return NULL;
    bool mask[TG_MAX_DIMS];
    if (reduce_mask(fn, x, ndims, dims, mask) < 0) return NULL;
    tg_tensor *max = fold(fn, x, mask, FOLD_MAX, 0, -INFINITY, NULL);
    if (!max) return NULL;
    double *m = tg_data(max);
    for (int64_t i = 0; i < tg_numel(max); i++)
        if (isinf(m[i])) m[i] = 0;
    tg_tensor *acc = fold(fn, x, mask, FOLD_EXP_DEV, 0, 0, max);
    if (!acc) return NULL;
    double *a = tg_data(acc);
    for (int64_t i = 0; i < tg_numel(acc); i++) a[i] = log(a[i]) + m[i];
    tg_tensor *out = in_dtype(fn, acc, x->dtype);
    tg_node *n = tg_record("logsumexp", logsumexp_backward, out, 1, &x);
    if (n) keepdim_shape(x, mask, n->iarg);
    return finish_reduce(out, x, mask, keepdim);
}

/* --- vector norms -----------------------------------------------------------------------
 * p = 1:   y = sum |x|;             dx = sgn(x) g
 * p = 2:   y = sqrt(sum x^2);       dx = g x / y (0 where y == 0)
 * p = inf: y = max |x|;             dx = sgn(x) g / k at the k elements with
 *                                   |x| == y (or NaN), 0 elsewhere
 * other p: y = (sum |x|^p)^(1/p);   dx = sgn(x) g (|x| / y)^(p-1) (0 where
 *                                   y == 0 or x == 0)
 * |x| / y is at most 1: y, summed in double, can be far below what the
 * input's dtype holds of y^(p-1) or 1 / y (an f32 norm of elements near
 * 1e-20 gave infinite gradients as g / y^(p-1) times |x|^(p-1)). */
KERNEL2(sgn_times, g, x, x > 0 ? g : (x < 0 ? -g : 0 * g))
KERNEL3(norm2_grad, g, x, y, y == 0 ? 0 : g * (x / y))
/* x = 0 gives 0 unless the norm is NaN, which reaches every element as in
 * torch (its scale g / y^(p-1) is NaN there), or infinite with p < 1, where
 * torch's scale is g y^(1-p) and its 0 at x = 0 times that is NaN */
KERNEL3(normp_grad, g, x, y,
        y == 0 || (x == 0 && y == y && !(c[0] < 1 && isinf(y)))
            ? 0
            : (x > 0 ? g : (x < 0 ? -g : 0 * g)) * pow(fabs(x) / y, c[0] - 1))
KERNEL2(abs_max_mask, x, y, (fabs(x) == y || isnan(x)) ? 1 : 0)

static void norm_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0], *y = keepdim_view(n, n->out);
    g = keepdim_view(n, g);
    if (!y || !g) return; /* out of memory for a view: the pass fails with its message */
    double p = n->farg[0];
    tg_tensor *dx;
    if (p == 1) {
        dx = tg__map("tg_norm", KERNELS(sgn_times), 2, (tg_tensor *[]){g, x}, NULL);
    } else if (p == 2) {
        dx = tg__map("tg_norm", KERNELS(norm2_grad), 3, (tg_tensor *[]){g, x, y}, NULL);
    } else if (isinf(p)) {
        tg_tensor *at_max = tg__map("tg_norm", KERNELS(abs_max_mask), 2, (tg_tensor *[]){x, y}, NULL);
        tg_tensor *share = tg_div(g, tg_sum_to(at_max, y->ndim, y->shape));
        dx = tg__map("tg_norm", KERNELS(sgn_times), 2, (tg_tensor *[]){tg_mul(share, at_max), x}, NULL);
    } else {
        dx = tg__map("tg_norm", KERNELS(normp_grad), 3, (tg_tensor *[]){g, x, y}, &p);
    }
    tg_accum_grad(x, dx);
}

static tg_tensor *norm_impl(tg_tensor *x, double p, int ndims, const int *dims, bool keepdim)
{
    const char *fn = "tg_norm";
    if (!tg__check_float(fn, x)) return NULL;
    if (!(p > 0)) return tg_error("%s: p must be positive or INFINITY, got %g", fn, p);
    bool mask[TG_MAX_DIMS];
    if (reduce_mask(fn, x, ndims, dims, mask) < 0) return NULL;
    if (isinf(p) && reduced_count(x, mask) == 0)
        return tg_error("%s: cannot compute the inf norm over an empty dimension because the operation "
                        "does not have an identity", fn);
    tg_tensor *acc;
    if (isinf(p)) acc = fold(fn, x, mask, FOLD_ABS_MAX, 0, 0, NULL);
    else if (p == 1) acc = fold(fn, x, mask, FOLD_ABS, 0, 0, NULL);
    else if (p == 2) acc = fold(fn, x, mask, FOLD_SQUARE, 0, 0, NULL);
    else acc = fold(fn, x, mask, FOLD_POW_ABS, p, 0, NULL);
    if (!acc) return NULL;
    double *a = tg_data(acc);
    if (p == 2)
        for (int64_t i = 0; i < tg_numel(acc); i++) a[i] = sqrt(a[i]);
    else if (p != 1 && !isinf(p))
        for (int64_t i = 0; i < tg_numel(acc); i++) a[i] = pow(a[i], 1 / p);
    tg_tensor *out = in_dtype(fn, acc, x->dtype);
    tg_node *n = tg_record("norm", norm_backward, out, 1, &x);
    if (n) {
        keepdim_shape(x, mask, n->iarg);
        n->farg[0] = p;
    }
    return finish_reduce(out, x, mask, keepdim);
}

tg_tensor *tg_logsumexp(tg_tensor *x, int ndims, const int *dims, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, logsumexp_impl(x, ndims, dims, keepdim));
}

tg_tensor *tg_norm(tg_tensor *x, double p, int ndims, const int *dims, bool keepdim)
{
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, norm_impl(x, p, ndims, dims, keepdim));
}

tg_tensor *tg_sum_to(tg_tensor *x, int ndim, const int64_t *shape)
{
    int dims[TG_MAX_DIMS];
    int nd = sum_to_dims(x, ndim, shape, dims);
    if (nd < 0) return NULL;
    /* Nothing to sum: the alias over x's storage is the result itself, not
     * a copy made when an op's own scope ends. */
    if (nd == 0) return tg__alias("tg_sum_to", "sum_to", x);
    tg_scope *s = tg__autoscope(1, &x);
    return tg__autoscope_keep(s, tg_view(tg_sum(x, nd, dims, true), ndim, shape));
}
