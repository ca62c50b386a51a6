/* Gradient clipping by total norm and by value. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include <tapegrad/clip.h>
#include "../core/internal.h"

/* The gradient of entry i, or NULL: skipped when absent, an error (*bad set)
 * when it is not a contiguous float tensor. */
static tg_tensor *entry_grad(const char *fn, const tg_params *p, int i, bool *bad)
{
    const tg_tensor *t = p->items[i].tensor;
    if (!t) {
        tg_error("%s: parameter '%s' is NULL", fn, p->items[i].name);
        *bad = true;
        return NULL;
    }
    tg_tensor *g = t->grad;
    if (!g) return NULL;
    if (!tg__check_float(fn, g)) {
        *bad = true;
        return NULL;
    }
    if (!tg_is_contiguous(g)) {
        tg_error("%s: gradient of parameter '%s' is not contiguous", fn, p->items[i].name);
        *bad = true;
        return NULL;
    }
    return g;
}

static inline double load(const void *data, tg_dtype dtype, int64_t i)
{
    return dtype == TG_F32 ? (double)((const float *)data)[i] : ((const double *)data)[i];
}

/* sum (x / scale)^2 of n values of type T, in 8 partial sums added in a
 * fixed order at the end: one running sum would wait on every add. */
#define SQUARES(T)                                                                  \
    TG__VECTOR_CLONES static double squares_##T(const T *x, int64_t n, double scale) \
    {                                                                               \
        double part[8] = {0}, tail = 0;                                             \
        int64_t i = 0;                                                              \
        for (; i + 8 <= n; i += 8)                                                  \
            for (int k = 0; k < 8; k++) {                                           \
                double v = x[i + k] / scale;                                        \
                part[k] += v * v;                                                   \
            }                                                                       \
        for (; i < n; i++) tail += (x[i] / scale) * (x[i] / scale);                 \
        return (((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]))) + tail; \
    }
SQUARES(float)
SQUARES(double)

/* sum |x / scale|^p of n values. */
static double power_sum(const void *data, tg_dtype dtype, int64_t n, double p, double scale)
{
    double acc = 0;
    if (p == 1) {
        for (int64_t i = 0; i < n; i++) acc += fabs(load(data, dtype, i) / scale);
    } else if (p == 2) {
        acc = dtype == TG_F32 ? squares_float(data, n, scale) : squares_double(data, n, scale);
    } else {
        for (int64_t i = 0; i < n; i++) acc += pow(fabs(load(data, dtype, i) / scale), p);
    }
    return acc;
}

/* |x|_p of n values: the largest magnitude for p = inf (NaN wins, as
 * torch.max), the count of non-zeros for p = 0, else (sum |x|^p)^(1/p).
 * A sum that overflows while every value is finite is redone with the
 * values divided by the largest, so only inf or NaN values give a
 * non-finite norm. */
static double vector_norm(const void *data, tg_dtype dtype, int64_t n, double p)
{
    double largest = 0;
    if (isinf(p)) {
        for (int64_t i = 0; i < n && !isnan(largest); i++) {
            double a = fabs(load(data, dtype, i));
            if (a > largest || isnan(a)) largest = a;
        }
        return largest;
    }
    if (p == 0) {
        double count = 0;
        for (int64_t i = 0; i < n; i++) count += load(data, dtype, i) != 0;
        return count;
    }
    double acc = power_sum(data, dtype, n, p, 1.0);
    if (isinf(acc)) {
        largest = vector_norm(data, dtype, n, INFINITY);
        if (isfinite(largest)) return largest * pow(power_sum(data, dtype, n, p, largest), 1 / p);
    }
    return p == 2 ? sqrt(acc) : p == 1 ? acc : pow(acc, 1 / p);
}

int tg_clip_grad_norm(const tg_params *params, double max_norm, double norm_type, double *total_norm)
{
    const char *fn = "tg_clip_grad_norm";
    if (!params) return tg_fail("%s: NULL parameter collection", fn);
    if (!(max_norm >= 0) || !(norm_type >= 0))
        return tg_fail("%s: max_norm (%g) and norm_type (%g) must be >= 0", fn, max_norm, norm_type);
    /* The per-gradient norms, then their norm (PyTorch's two levels). */
    double norms_stack[64] = {0};
    double *norms = params->count <= 64 ? norms_stack : tg__malloc(sizeof *norms * (size_t)params->count);
    if (!norms) return tg_fail("%s: out of memory", fn);
    int n = 0;
    bool bad = false, all_f32 = true;
    for (int i = 0; i < params->count && !bad; i++) {
        const tg_tensor *g = entry_grad(fn, params, i, &bad);
        if (g) norms[n++] = vector_norm(tg_data(g), g->dtype, tg_numel(g), norm_type);
        if (g && g->dtype != TG_F32) all_f32 = false;
    }
    const double total = bad ? NAN : vector_norm(norms, TG_F64, n, norm_type);
    if (norms != norms_stack) free(norms);
    if (bad) return -1;
    if (total_norm) *total_norm = total;
    if (!isfinite(total)) {
        tg_error("%s: the total norm of order %g for gradients is non-finite (%g), so it cannot be clipped; "
                 "the gradients are left unchanged", fn, norm_type, total);
        return 1;
    }
    /* torch's clip_coef = max_norm / (total_norm + 1e-6), where total_norm
     * is a tensor of the gradients' dtype: the division is
     * Tensor.__rtruediv__, a reciprocal and then a product, each rounded
     * to that dtype (f32 unless some gradient is f64). In one rounding the
     * coefficient would differ from torch's by an ulp for about one
     * max_norm in four. A total past float's range (which torch's f32 sum
     * would have made inf) keeps double. */
    const double coef = all_f32 && total <= FLT_MAX ? (double)((1.0f / ((float)total + 1e-6f)) * (float)max_norm)
                                                    : (1.0 / (total + 1e-6)) * max_norm;
    if (coef >= 1) return 0;
    for (int i = 0; i < params->count; i++) {
        tg_tensor *g = params->items[i].tensor->grad;
        if (!g) continue;
        const int64_t n = tg_numel(g);
        if (g->dtype == TG_F32) {
            float *x = tg_data(g), c = (float)coef;
            for (int64_t j = 0; j < n; j++) x[j] *= c;
        } else {
            double *x = tg_data(g);
            for (int64_t j = 0; j < n; j++) x[j] *= coef;
        }
    }
    return 0;
}

int tg_clip_grad_value(const tg_params *params, double clip_value)
{
    const char *fn = "tg_clip_grad_value";
    if (!params) return tg_fail("%s: NULL parameter collection", fn);
    if (!(clip_value >= 0)) return tg_fail("%s: clip_value must be >= 0 (got %g)", fn, clip_value);
    bool bad = false;
    for (int i = 0; i < params->count && !bad; i++) entry_grad(fn, params, i, &bad);
    if (bad) return -1;
    for (int i = 0; i < params->count; i++) {
        tg_tensor *g = params->items[i].tensor->grad;
        if (!g) continue;
        const int64_t n = tg_numel(g);
        if (g->dtype == TG_F32) {
            float *x = tg_data(g), hi = (float)clip_value;
            for (int64_t j = 0; j < n; j++) x[j] = x[j] < -hi ? -hi : x[j] > hi ? hi : x[j];
        } else {
            double *x = tg_data(g), hi = clip_value;
            for (int64_t j = 0; j < n; j++) x[j] = x[j] < -hi ? -hi : x[j] > hi ? hi : x[j];
        }
    }
    return 0;
}
