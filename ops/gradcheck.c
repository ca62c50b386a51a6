#include <math.h>
#include <stdio.h>

#include <tapegrad/gradcheck.h>
#include "../core/internal.h"
#include <tapegrad/elementwise.h>
#include <tapegrad/random.h>
#include <tapegrad/reduce.h>

/* Weights in [0.5, 1.5) from a fixed seed, leaving the caller's stream as
 * it was (persistent: they serve every evaluation of the check). */
static tg_tensor *make_weights(const tg_tensor *out)
{
    uint64_t keep = (uint64_t)tg_rand_below(UINT64_MAX);
    tg_manual_seed(12345);
    tg_tensor *w = tg_keep(tg_rand(out->dtype, out->ndim, out->shape, 0.5, 1.5));
    tg_manual_seed(keep);
    return w;
}

/* L = sum(fn(inputs) * w), evaluated in a scope of its own; false (the
 * message stands) if fn or an op failed, out of memory say: a NaN from
 * the failure would read as a wrong gradient. */
static bool loss_value(tg_gradcheck_fn fn, tg_tensor **inputs, int n, void *ctx, tg_tensor *weights, double *value)
{
    tg_scope *s = tg_scope_begin();
    if (!s) return false;
    tg_tensor *loss = tg_sum(tg_mul(fn(n, inputs, ctx), weights), 0, NULL, false);
    if (loss) *value = tg_item(loss);
    tg_scope_end(s);
    return loss != NULL;
}

/* Address of row-major element k of t (any strides). */
static char *element(tg_tensor *t, int64_t k)
{
    int64_t off = t->offset;
    for (int d = t->ndim - 1; d >= 0; d--) {
        off += (k % t->shape[d]) * t->stride[d];
        k /= t->shape[d];
    }
    return (char *)t->storage->data + off * (int64_t)tg_dtype_size(t->dtype);
}

int tg_gradcheck(tg_gradcheck_fn fn, int n, tg_tensor **inputs, void *ctx, double eps, double atol,
                 double rtol, tg_gradcheck_result *result)
{
    /* What a failed check leaves in result: no element, no error that a
     * caller could read as a pass. */
    const tg_gradcheck_result failed = {.max_abs_err = NAN, .max_rel_err = NAN, .worst_input = -1,
                                        .worst_index = -1, .analytic = NAN, .numeric = NAN};
    if (result) *result = failed;
    tg_gradcheck_result r = {0};
    if (n < 1 || n > 16 || !inputs || !fn)
        return tg_fail("tg_gradcheck: expected fn and 1..16 inputs, got %d", n);
    if (!(eps > 0) || !isfinite(eps))
        return tg_fail("tg_gradcheck: eps must be positive and finite, got %g", eps);
    for (int i = 0; i < n; i++) {
        if (!tg__check_float("tg_gradcheck", inputs[i])) return -1;
        if (inputs[i]->node)
            return tg_fail("tg_gradcheck: input %d is not a leaf (made by '%s')", i, inputs[i]->node->op);
        /* Perturbing one element of an expanded leaf moves all that share
         * its memory: the numeric derivative would be their sum. */
        const int expanded = inputs[i]->requires_grad ? tg__expanded_dim(inputs[i]) : -1;
        if (expanded >= 0) {
            char shape[128];
            return tg_fail("tg_gradcheck: input %d (shape %s) has stride 0 in dim %d: gradcheck only supports "
                           "inputs that are non-overlapping; pass a copy of it (tg_keep) instead", i,
                           tg_shape_str(inputs[i], shape, sizeof shape), expanded);
        }
    }
    tg_scope *scope = tg_scope_begin();
    if (!scope) return tg_fail("tg_gradcheck: out of memory");
    tg_tensor *weights = NULL;
    int status = 0;
    /* Analytic gradients, into fresh .grad buffers. */
    tg_tensor *saved_grads[16] = {0};
    for (int i = 0; i < n; i++) {
        saved_grads[i] = inputs[i]->grad;
        inputs[i]->grad = NULL;
    }
    tg_tensor *out = fn(n, inputs, ctx);
    if (!out || !out->requires_grad) {
        char cause[512];
        snprintf(cause, sizeof cause, "%s", tg_last_error());
        if (out) tg_error("tg_gradcheck: the output does not require grad");
        else tg_error("tg_gradcheck: fn returned NULL (%s)", cause[0] ? cause : "no message");
        status = -1;
        goto done;
    }
    weights = make_weights(out);
    if (tg_backward(tg_sum(tg_mul(out, weights), 0, NULL, false), NULL) < 0) {
        status = -1;
        goto done;
    }
    bool was = tg_set_grad_enabled(false);
    bool first = true;
    for (int i = 0; i < n; i++) {
        tg_tensor *x = inputs[i];
        if (!x->requires_grad) continue;
        for (int64_t k = 0; k < tg_numel(x); k++) {
            char *p = element(x, k);
            double orig = tg__load(p, x->dtype);
            double plus = 0, minus = 0;
            tg__store(p, x->dtype, orig + eps);
            bool evaluated = loss_value(fn, inputs, n, ctx, weights, &plus);
            tg__store(p, x->dtype, orig - eps);
            evaluated = evaluated && loss_value(fn, inputs, n, ctx, weights, &minus);
            tg__store(p, x->dtype, orig);
            if (!evaluated) {
                char cause[512];
                snprintf(cause, sizeof cause, "%s", tg_last_error());
                tg_error("tg_gradcheck: evaluating the loss at element %lld of input %d failed (%s)", (long long)k, i,
                         cause[0] ? cause : "no message");
                status = -1;
                tg_set_grad_enabled(was);
                goto done;
            }
            double numeric = (plus - minus) / (2 * eps);
            double analytic = x->grad ? tg__load(element(x->grad, k), x->dtype) : 0.0;
            double err = fabs(analytic - numeric);
            if (isnan(numeric) != isnan(analytic)) err = INFINITY;
            if (first || err > r.max_abs_err) {
                first = false;
                r.max_abs_err = err;
                r.worst_input = i;
                r.worst_index = k;
                r.analytic = analytic;
                r.numeric = numeric;
            }
            if (numeric != 0 && err / fabs(numeric) > r.max_rel_err) r.max_rel_err = err / fabs(numeric);
            if (!(err <= atol + rtol * fabs(numeric)) && status == 0) status = 1;
        }
    }
    tg_set_grad_enabled(was);
done:
    /* In reverse, so that a leaf given twice gets back the caller's .grad
     * (saved by its first entry) after its check's buffer is freed once. */
    for (int i = n - 1; i >= 0; i--) {
        tg_free(inputs[i]->grad);
        inputs[i]->grad = saved_grads[i];
    }
    tg_free(weights);
    tg_scope_end(scope);
    if (result) *result = status < 0 ? failed : r;
    return status;
}
