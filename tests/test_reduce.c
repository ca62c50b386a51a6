/* Reductions: golden values and gradients vs PyTorch (F32 and F64) over
 * single dims, dim lists with keepdim and everything; gradcheck on
 * contiguous, transposed, sliced and broadcast inputs; ties, NaN, empty and
 * degenerate reductions; thread-count independence; bad input. */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FILE_ "reduce.txt"

static const double RTOL[2] = {1e-5, 1e-12}, ATOL[2] = {1e-6, 1e-12};
static const char *SUFFIX[2] = {"f32", "f64"};

/* --- the ops, all with one signature ------------------------------------------ */

typedef tg_tensor *(*reduce_fn)(tg_tensor *x, int ndims, const int *dims, bool keepdim);

static tg_tensor *var_u(tg_tensor *x, int n, const int *d, bool k) { return tg_var(x, n, d, true, k); }
static tg_tensor *var_b(tg_tensor *x, int n, const int *d, bool k) { return tg_var(x, n, d, false, k); }
static tg_tensor *std_u(tg_tensor *x, int n, const int *d, bool k) { return tg_std(x, n, d, true, k); }
static tg_tensor *std_b(tg_tensor *x, int n, const int *d, bool k) { return tg_std(x, n, d, false, k); }
static tg_tensor *norm_1(tg_tensor *x, int n, const int *d, bool k) { return tg_norm(x, 1, n, d, k); }
static tg_tensor *norm_2(tg_tensor *x, int n, const int *d, bool k) { return tg_norm(x, 2, n, d, k); }
static tg_tensor *norm_inf(tg_tensor *x, int n, const int *d, bool k) { return tg_norm(x, INFINITY, n, d, k); }
static tg_tensor *norm_3(tg_tensor *x, int n, const int *d, bool k) { return tg_norm(x, 3, n, d, k); }
static tg_tensor *norm_0_5(tg_tensor *x, int n, const int *d, bool k) { return tg_norm(x, 0.5, n, d, k); }
/* The one-dim and whole-tensor forms, reading dims[0] (or nothing). */
static tg_tensor *max_dim(tg_tensor *x, int n, const int *d, bool k) { return n ? tg_max_dim(x, d[0], k, NULL) : NULL; }
static tg_tensor *min_dim(tg_tensor *x, int n, const int *d, bool k) { return n ? tg_min_dim(x, d[0], k, NULL) : NULL; }
static tg_tensor *max_all(tg_tensor *x, int n, const int *d, bool k) { (void)n, (void)d, (void)k; return tg_max(x); }
static tg_tensor *min_all(tg_tensor *x, int n, const int *d, bool k) { (void)n, (void)d, (void)k; return tg_min(x); }

/* Fixture prefix and op; the list matches gen_reduce.py. */
static const struct {
    const char *name;
    reduce_fn fn;
} OPS[] = {
    {"sum", tg_sum},     {"mean", tg_mean},     {"var", var_u},      {"varb", var_b},
    {"std", std_u},      {"stdb", std_b},       {"lse", tg_logsumexp}, {"norm1", norm_1},
    {"norm2", norm_2},   {"norminf", norm_inf}, {"norm3", norm_3},   {"norm0_5", norm_0_5},
};
#define N_OPS (int)(sizeof OPS / sizeof OPS[0])

static const struct {
    const char *tag;
    int ndims;
    int dims[2];
    bool keepdim;
} DIMS[] = {{"d1", 1, {1}, false}, {"d02k", 2, {0, 2}, true}, {"dm1", 1, {-1}, false}, {"all", 0, {0}, false}};

/* --- golden --------------------------------------------------------------------- */

/* Case `name` in both dtypes: y = fn(x, dims) against name_y_*, dx against
 * name_dx_*. With extreme set, y is instead max_dim (extreme > 0) or min_dim
 * (extreme < 0) over dims[0], and its indices are compared with name_i. */
static void check_golden_case(const char *name, reduce_fn fn, int ndims, const int *dims, bool keepdim, int extreme)
{
    char key[128];
    for (int dt = 0; dt < 2; dt++) {
        tg_dtype dtype = dt ? TG_F64 : TG_F32;
        snprintf(key, sizeof key, "%s_x", name);
        tg_tensor *x = golden_leaf(FILE_, key, dtype, true);
        tg_scope *s = tg_scope_begin();
        tg_tensor *idx = NULL, *y;
        if (extreme) y = extreme > 0 ? tg_max_dim(x, dims[0], keepdim, &idx) : tg_min_dim(x, dims[0], keepdim, &idx);
        else y = fn(x, ndims, dims, keepdim);
        snprintf(key, sizeof key, "%s_y_%s", name, SUFFIX[dt]);
        assert_close(y, golden(FILE_, key, dtype), RTOL[dt], ATOL[dt], key);
        if (extreme) {
            assert_non_null(idx);
            assert_int_equal(idx->dtype, TG_I64);
            snprintf(key, sizeof key, "%s_i", name);
            assert_close(tg_cast(idx, TG_F64), golden(FILE_, key, TG_F64), 0, 0, key);
        }
        snprintf(key, sizeof key, "%s_gy", name);
        assert_int_equal(tg_backward(y, golden(FILE_, key, dtype)), 0);
        snprintf(key, sizeof key, "%s_dx_%s", name, SUFFIX[dt]);
        assert_close(x->grad, golden(FILE_, key, dtype), RTOL[dt], ATOL[dt], key);
        tg_scope_end(s);
        tg_free(x);
    }
}

static void check_golden(const char *name, reduce_fn fn, int ndims, const int *dims, bool keepdim)
{
    check_golden_case(name, fn, ndims, dims, keepdim, 0);
}

static void test_golden_over_dims(void **state)
{
    (void)state;
    char name[64];
    for (int i = 0; i < N_OPS; i++)
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s_%s", OPS[i].name, DIMS[k].tag);
            check_golden(name, OPS[i].fn, DIMS[k].ndims, DIMS[k].dims, DIMS[k].keepdim);
        }
    int d1[1] = {1};
    check_golden("lse_big", tg_logsumexp, 1, d1, false);
    check_golden("lse_inf", tg_logsumexp, 1, d1, false);
}

/* max_dim / min_dim values, indices and gradients. */
static void check_extreme_dim(const char *name, bool largest, int dim, bool keepdim)
{
    check_golden_case(name, NULL, 1, &dim, keepdim, largest ? 1 : -1);
}

static void test_max_min_dim_golden(void **state)
{
    (void)state;
    static const int dims[] = {0, 1, 2, -1};
    char name[64], arg[64];
    for (int i = 0; i < 4; i++)
        for (int keep = 0; keep < 2; keep++) {
            const char *tag_fmt = dims[i] < 0 ? "m%d%s" : "%d%s";
            char tag[16];
            snprintf(tag, sizeof tag, tag_fmt, abs(dims[i]), keep ? "k" : "");
            snprintf(name, sizeof name, "maxdim_%s", tag);
            check_extreme_dim(name, true, dims[i], keep);
            snprintf(name, sizeof name, "mindim_%s", tag);
            check_extreme_dim(name, false, dims[i], keep);
            /* argmax / argmin on the same tied input, in both dtypes */
            for (int dt = 0; dt < 2; dt++) {
                tg_scope *s = tg_scope_begin();
                tg_tensor *x = golden(FILE_, "maxdim_0_x", dt ? TG_F64 : TG_F32);
                tg_tensor *am = tg_argmax(x, dims[i], keep), *an = tg_argmin(x, dims[i], keep);
                assert_true(am && am->dtype == TG_I64 && !am->requires_grad);
                snprintf(arg, sizeof arg, "argmax_%s", tag);
                assert_close(tg_cast(am, TG_F64), golden(FILE_, arg, TG_F64), 0, 0, arg);
                snprintf(arg, sizeof arg, "argmin_%s", tag);
                assert_close(tg_cast(an, TG_F64), golden(FILE_, arg, TG_F64), 0, 0, arg);
                tg_scope_end(s);
            }
        }
    check_extreme_dim("maxdim_rand", true, 1, false);
    check_extreme_dim("maxdim_nan", true, 1, false); /* the first NaN wins */
    check_extreme_dim("mindim_nan", false, 1, false);
}

static tg_tensor *sum_to_4_1(tg_tensor *x, int n, const int *d, bool k)
{
    (void)n, (void)d, (void)k;
    return tg_sum_to(x, 2, (int64_t[]){4, 1});
}
static tg_tensor *sum_to_1_4_5(tg_tensor *x, int n, const int *d, bool k)
{
    (void)n, (void)d, (void)k;
    return tg_sum_to(x, 3, (int64_t[]){1, 4, 5});
}
/* the (2,3,4) gradcheck input down to (3,1) */
static tg_tensor *sum_to_3_1(tg_tensor *x, int n, const int *d, bool k)
{
    (void)n, (void)d, (void)k;
    return tg_sum_to(x, 2, (int64_t[]){3, 1});
}

static void test_sum_to(void **state)
{
    (void)state;
    check_golden("sum_to", sum_to_4_1, 0, NULL, false);
    check_golden("sum_to_lead1", sum_to_1_4_5, 0, NULL, false);
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F32, 2, (int64_t[]){3, 4});
    /* Nothing to sum: a new header over x's storage, never x itself. */
    tg_tensor *same = tg_sum_to(x, 2, (int64_t[]){3, 4});
    assert_true(same != x && same->storage == x->storage && tg_same_shape(same, x));
    assert_null(tg_sum_to(x, 2, (int64_t[]){2, 4}));
    assert_error_contains("tg_sum_to: shape [3,4] cannot be summed to shape [2,4], which does not broadcast to it");
    assert_null(tg_sum_to(x, 3, (int64_t[]){1, 3, 4}));
    assert_error_contains("tg_sum_to");
    tg_scope_end(s);
    /* Outside any scope too (persistent x, with or without grad): writing
     * the result writes x. */
    for (int rg = 0; rg < 2; rg++) {
        tg_tensor *p = tg_requires_grad(tg_ones(TG_F64, 2, (int64_t[]){3, 4}), rg);
        tg_tensor *q = tg_sum_to(p, 2, (int64_t[]){3, 4});
        assert_non_null(q);
        assert_true(q != p && tg_data(q) == tg_data(p) && tg_same_shape(q, p));
        tg_tensor *p0 = tg_scalar(TG_F64, 2), *q0 = tg_sum_to(p0, 0, NULL);
        assert_true(q0 != NULL && q0 != p0 && tg_data(q0) == tg_data(p0));
        tg_free(q0);
        tg_free(p0);
        tg_free(q);
        tg_free(p);
    }
}

static void test_max_min_all_golden(void **state)
{
    (void)state;
    /* Ties share the gradient evenly (torch 1.13), NaNs too. */
    check_golden("max_all_ties", max_all, 0, NULL, false);
    check_golden("min_all_ties", min_all, 0, NULL, false);
    check_golden("max_all_rand", max_all, 0, NULL, false);
    check_golden("max_all_nan", max_all, 0, NULL, false);
    check_golden("min_all_nan", min_all, 0, NULL, false);
}

static void test_degenerate_golden(void **state)
{
    (void)state;
    int d0[1] = {0}, d1[1] = {1};
    check_golden("var_one", var_u, 1, d0, false);      /* N - 1 = 0: NaN value and gradient */
    check_golden("varb_one", var_b, 1, d0, false);     /* 0, gradient 0 */
    check_golden("std_const", std_u, 1, d1, false);    /* std 0: gradient 0, not NaN */
    check_golden("std_const_rounded", std_u, 1, d1, false); /* the mean of equal values is exact */
    check_golden("var_const_rounded", var_u, 1, d1, false);
    check_golden("norm2_zero", norm_2, 1, d1, false);  /* norm 0: gradient 0 */
    check_golden("norminf_ties", norm_inf, 1, d1, false);
    check_golden("norm1_zero", norm_1, 1, d1, false);
    check_golden("norm0_5_zero", norm_0_5, 1, d1, false);
}

/* --- gradcheck -------------------------------------------------------------------- */

enum { AS_IS, TRANSPOSED, NARROWED, EXPANDED };

typedef struct {
    reduce_fn fn;
    int layout, ndims;
    int dims[2];
    bool keepdim;
} gc_case;

/* The leaf is viewed to shape (2,3,4) inside the function. */
static tg_tensor *gc_fn(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    const gc_case *c = ctx;
    tg_tensor *x = in[0];
    if (c->layout == TRANSPOSED) x = tg_transpose(x, 0, 2);               /* (4,3,2) -> (2,3,4) */
    if (c->layout == NARROWED) x = tg_narrow(tg_narrow(x, 2, 1, 4), 0, 1, 2); /* (4,3,6) -> (2,3,4) */
    if (c->layout == EXPANDED) x = tg_expand(x, 3, (int64_t[]){2, 3, 4}); /* (1,3,4) */
    return c->fn(x, c->ndims, c->dims, c->keepdim);
}

static void run_gradcheck(reduce_fn fn, int ndims, const int *dims, bool keepdim, double lo, double hi,
                          const char *name)
{
    static const int64_t leaf_shape[4][3] = {{2, 3, 4}, {4, 3, 2}, {4, 3, 6}, {1, 3, 4}};
    char what[96];
    for (int layout = 0; layout < 4; layout++) {
        gc_case c = {fn, layout, ndims, {ndims ? dims[0] : 0, ndims > 1 ? dims[1] : 0}, keepdim};
        tg_tensor *x = leaf_f64(3, leaf_shape[layout], lo, hi);
        /* Keep magnitudes apart from zero and from each other where kinks live. */
        snprintf(what, sizeof what, "%s layout %d ndims %d", name, layout, ndims);
        assert_gradcheck(gc_fn, &x, 1, &c, what);
        tg_free(x);
    }
}

static void test_gradcheck(void **state)
{
    (void)state;
    tg_manual_seed(7);
    int d1[1] = {1}, d02[2] = {0, 2}, dm1[1] = {-1};
    for (int i = 0; i < N_OPS; i++) {
        double lo = strstr(OPS[i].name, "norm") ? 0.2 : -2; /* |x| away from the kink at 0 */
        run_gradcheck(OPS[i].fn, 1, d1, false, lo, 2, OPS[i].name);
        run_gradcheck(OPS[i].fn, 2, d02, true, lo, 2, OPS[i].name);
        run_gradcheck(OPS[i].fn, 0, NULL, false, lo, 2, OPS[i].name);
    }
    run_gradcheck(sum_to_3_1, 0, NULL, false, -2, 2, "sum_to");
    run_gradcheck(max_dim, 1, d1, false, -2, 2, "max_dim");
    run_gradcheck(min_dim, 1, dm1, true, -2, 2, "min_dim");
    run_gradcheck(max_dim, 1, (int[]){0}, true, -2, 2, "max_dim 0");
    run_gradcheck(max_all, 0, NULL, false, -2, 2, "max");
    run_gradcheck(min_all, 0, NULL, false, -2, 2, "min");
    /* negative values for the norms too */
    run_gradcheck(norm_2, 1, d1, false, -2, 2, "norm2 signed");
    run_gradcheck(norm_1, 1, d1, false, -2, 2, "norm1 signed");
    run_gradcheck(norm_inf, 2, d02, false, -2, 2, "norminf signed");
}

/* --- edge shapes --------------------------------------------------------------------- */

/* A norm summed in double can be far below what the input's dtype holds
 * of its powers: an f32 input near 1e-20 has y^2 (p = 3) and 1 / y
 * (p = 2, near 1e-39) out of f32's range. Its gradient is still finite,
 * the f64 one rounded, as (|x| / y)^(p-1) is at most 1. */
static void test_norm_of_tiny_values(void **state)
{
    (void)state;
    const double p[3] = {3, 2, 1.5};
    const double scale[2] = {1e-20, 1e-39};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++) {
            tg_tensor *grads[2];
            for (int d = 0; d < 2; d++) {
                tg_dtype dtype = d ? TG_F64 : TG_F32;
                tg_scope *s = tg_scope_begin();
                tg_tensor *x = tg_requires_grad(
                    tg_mul_scalar(tg_cast(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){1, -2, 3}), dtype),
                                  scale[k]), true);
                assert_int_equal(tg_backward(tg_norm(x, p[i], 0, NULL, false), NULL), 0);
                grads[d] = tg_keep(tg_cast(x->grad, TG_F64));
                tg_scope_end(s);
            }
            char what[64];
            snprintf(what, sizeof what, "p = %g, x near %g", p[i], scale[k]);
            assert_close(grads[0], grads[1], 1e-5, 0, what);
            tg_free(grads[0]);
            tg_free(grads[1]);
        }
}

/* A NaN norm makes every element's gradient NaN, zeros too; an infinite
 * one leaves finite elements 0 and the infinite one NaN (torch 1.13's
 * values, p = 3 and 1.5), but for p < 1 see below. */
static void test_norm_gradient_of_nonfinite_norms(void **state)
{
    (void)state;
    const double p[2] = {3, 1.5};
    for (int i = 0; i < 2; i++) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0, NAN, 1}), true);
        assert_int_equal(tg_backward(tg_norm(x, p[i], 0, NULL, false), NULL), 0);
        for (int64_t k = 0; k < 3; k++) assert_true(isnan(tg_get(x->grad, &k)));
        tg_tensor *y = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0, INFINITY, 1}), true);
        assert_int_equal(tg_backward(tg_norm(y, p[i], 0, NULL, false), NULL), 0);
        assert_true(tg_get(y->grad, (int64_t[]){0}) == 0 && !signbit(tg_get(y->grad, (int64_t[]){0})));
        assert_true(isnan(tg_get(y->grad, (int64_t[]){1})));
        assert_true(tg_get(y->grad, (int64_t[]){2}) == 0);
        tg_scope_end(s);
    }
    /* p < 1 scales by g y^(1-p): an infinite norm makes zeros NaN and
     * finite elements infinite (torch 1.13, p = 0.5) */
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0, INFINITY, 1}), true);
    assert_int_equal(tg_backward(tg_norm(y, 0.5, 0, NULL, false), NULL), 0);
    assert_true(isnan(tg_get(y->grad, (int64_t[]){0})));
    assert_true(isnan(tg_get(y->grad, (int64_t[]){1})));
    assert_true(tg_get(y->grad, (int64_t[]){2}) == INFINITY);
    tg_tensor *z = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0, 0, 4}), true);
    assert_int_equal(tg_backward(tg_norm(z, 0.5, 0, NULL, false), NULL), 0);
    assert_true(tg_get(z->grad, (int64_t[]){0}) == 0 && tg_get(z->grad, (int64_t[]){1}) == 0);
    assert_near(tg_get(z->grad, (int64_t[]){2}), 1.0, 1e-15);
    tg_scope_end(s);
}

static void test_empty_and_scalar(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *e = tg_zeros(TG_F64, 2, (int64_t[]){0, 3});
    int d0[1] = {0}, d1[1] = {1};
    /* Reducing the empty dim: identities (sum 0, norms 0, lse -inf) or NaN. */
    tg_tensor *r = tg_sum(e, 1, d0, false);
    assert_true(r->ndim == 1 && r->shape[0] == 3 && tg_get(r, (int64_t[]){2}) == 0.0);
    assert_true(isnan(tg_get(tg_mean(e, 1, d0, false), (int64_t[]){0})));
    assert_true(isnan(tg_get(tg_var(e, 1, d0, true, false), (int64_t[]){0})));
    assert_true(isnan(tg_get(tg_std(e, 1, d0, false, false), (int64_t[]){0})));
    tg_tensor *l = tg_logsumexp(e, 1, d0, false);
    assert_true(isinf(tg_get(l, (int64_t[]){1})) && tg_get(l, (int64_t[]){1}) < 0);
    assert_true(tg_get(tg_norm(e, 2, 1, d0, false), (int64_t[]){0}) == 0.0);
    assert_true(tg_item(tg_norm(e, 1, 0, NULL, false)) == 0.0);
    /* Reducing a non-empty dim of an empty tensor: an empty result. */
    tg_tensor *idx;
    tg_tensor *m = tg_max_dim(e, 1, false, &idx);
    assert_true(m && m->ndim == 1 && m->shape[0] == 0 && idx->shape[0] == 0);
    assert_true(tg_norm(e, INFINITY, 1, d1, true)->shape[0] == 0);
    assert_true(tg_argmin(e, 1, true)->shape[0] == 0);
    /* ... while an empty reduction without an identity is an error, as in torch */
    assert_null(tg_max_dim(e, 0, false, NULL));
    assert_error_contains("tg_max_dim: Expected reduction dim 0 to have non-zero size");
    assert_null(tg_argmax(e, -2, false));
    assert_error_contains("tg_argmax");
    assert_null(tg_max(e));
    assert_error_contains("tg_max: Expected reduction dim to be specified for input.numel() == 0");
    assert_null(tg_min(e));
    assert_null(tg_norm(e, INFINITY, 1, d0, false));
    assert_error_contains("tg_norm: cannot compute the inf norm");

    /* 0-dim input: every reduction gives a 0-dim result. */
    tg_tensor *c = tg_scalar(TG_F32, -3);
    assert_true(tg_sum(c, 0, NULL, false)->ndim == 0);
    assert_true(tg_item(tg_max_dim(c, 0, false, &idx)) == -3.0 && tg_item(idx) == 0.0);
    assert_true(tg_item(tg_argmax(c, -1, true)) == 0.0);
    assert_true(tg_item(tg_norm(c, 2, 1, d0, true)) == 3.0);
    assert_true(tg_item(tg_logsumexp(c, 0, NULL, false)) == -3.0);
    assert_true(tg_item(tg_max(c)) == -3.0);
    assert_true(tg_item(tg_var(c, 0, NULL, false, false)) == 0.0);

    /* Size-1 dims: max over one element is that element, index 0. */
    tg_tensor *one = tg_from_array(TG_F64, 3, (int64_t[]){2, 1, 2}, (double[]){1, 2, 3, 4});
    tg_tensor *v = tg_max_dim(one, 1, true, &idx);
    assert_true(v->ndim == 3 && v->shape[1] == 1 && tg_get(v, (int64_t[]){1, 0, 0}) == 3.0);
    assert_true(tg_get(idx, (int64_t[]){1, 0, 1}) == 0.0);
    assert_true(tg_get(tg_std(one, 1, (int[]){1}, false, false), (int64_t[]){0, 1}) == 0.0);
    tg_scope_end(s);
}

static void test_max_dim_gradient_goes_to_first_tie(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 5, 5, 2, 2, 0}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *idx;
    tg_tensor *y = tg_max_dim(tg_transpose(x, 0, 1), 0, false, &idx); /* columns of x, strided */
    assert_int_equal(tg_backward(y, tg_from_array(TG_F64, 1, (int64_t[]){2}, (double[]){10, 20})), 0);
    assert_true(tg_get(idx, (int64_t[]){0}) == 1.0 && tg_get(idx, (int64_t[]){1}) == 0.0);
    double expected[6] = {0, 10, 0, 20, 0, 0}, got[6];
    tg_copy_to_array(x->grad, got);
    assert_memory_equal(got, expected, sizeof got);
    tg_scope_end(s);
    tg_free(x);
}

/* A NaN (or infinite) gradient reaches the elements equal to max(x) only:
 * the others get exactly 0, as torch's, not 0 * NaN. */
static void test_max_all_nan_gradient_stays_at_the_max(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){-1, 0.5, -2}), true);
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_backward(tg_max(x), tg_scalar(TG_F64, NAN)), 0);
    assert_true(tg_get(x->grad, (int64_t[]){0}) == 0.0 && tg_get(x->grad, (int64_t[]){2}) == 0.0);
    assert_true(isnan(tg_get(x->grad, (int64_t[]){1})));
    tg_zero_grad(1, &x);
    assert_int_equal(tg_backward(tg_min(x), tg_scalar(TG_F64, INFINITY)), 0);
    assert_true(tg_get(x->grad, (int64_t[]){0}) == 0.0 && tg_get(x->grad, (int64_t[]){1}) == 0.0);
    assert_true(tg_get(x->grad, (int64_t[]){2}) == INFINITY);
    tg_scope_end(s);
    tg_free(x);
}

/* Float64 values near DBL_MAX sum past it, but their mean does not: equal
 * values have variance and std 0 and gradient 0 (torch: 0), not inf. */
static void test_var_std_near_dbl_max(void **state)
{
    (void)state;
    const double big = 1.7976931348623157e308;
    tg_tensor *x = tg_requires_grad(
        tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){big, big, big, -big, -big, -big / 2}), true);
    tg_scope *s = tg_scope_begin();
    int d1[1] = {1};
    for (int k = 0; k < 2; k++) {
        tg_tensor *y = k ? tg_std(x, 1, d1, true, false) : tg_var(x, 1, d1, false, false);
        assert_true(tg_get(y, (int64_t[]){0}) == 0.0);
        assert_true(tg_get(y, (int64_t[]){1}) == INFINITY); /* (big / 2)^2 does overflow */
        assert_int_equal(tg_backward(tg_select(y, 0, 0), NULL), 0);
        double got[6];
        tg_copy_to_array(x->grad, got);
        for (int i = 0; i < 6; i++) assert_true(got[i] == 0.0);
        tg_zero_grad(1, &x);
    }
    /* A variance that does overflow keeps the finite mean: the gradient
     * 2 / N * (x - mean) is finite at x = big (it was NaN). */
    tg_tensor *y = tg_var(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){big, big, -big}), 0, NULL, false, false);
    assert_true(tg_item(y) == INFINITY);
    tg_tensor *z = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){big, big, -big}), true);
    assert_int_equal(tg_backward(tg_var(z, 0, NULL, false, false), NULL), 0);
    assert_float_equal(tg_get(z->grad, (int64_t[]){0}) / big, 4.0 / 9, 1e-15);
    tg_scope_end(s);
    tg_free(x);
}

static void test_thread_count_independent(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_manual_seed(3);
    tg_tensor *x = tg_randn(TG_F32, 2, (int64_t[]){300, 400}, 0, 1);
    int d0[1] = {0};
    tg_tensor *r[2][6];
    int threads = tg_get_num_threads();
    for (int t = 0; t < 2; t++) {
        tg_set_num_threads(t + 1);
        r[t][0] = tg_sum(x, 0, NULL, false);
        r[t][1] = tg_var(x, 1, d0, true, false);
        r[t][2] = tg_logsumexp(x, 0, NULL, false);
        r[t][3] = tg_norm(x, 2, 1, d0, false);
        r[t][4] = tg_max_dim(x, 0, false, NULL);
        r[t][5] = tg_mean(tg_transpose(x, 0, 1), 1, d0, false);
    }
    tg_set_num_threads(threads);
    for (int k = 0; k < 6; k++)
        assert_memory_equal(tg_data(r[0][k]), tg_data(r[1][k]), (size_t)tg_numel(r[0][k]) * sizeof(float));
    /* The full sum, folded in parallel blocks, against a plain double loop. */
    const float *v = tg_data(x);
    double total = 0, largest = -INFINITY;
    for (int64_t i = 0; i < 300 * 400; i++) {
        total += v[i];
        largest = v[i] > largest ? v[i] : largest;
    }
    assert_near(tg_item(r[0][0]), total, 1e-6 * fabs(total) + 1e-4);
    /* A length that leaves a tail after the eight partial sums. */
    tg_tensor *odd = tg_narrow(tg_flatten(x, 0, 1), 0, 5, 1003);
    double odd_total = 0;
    for (int64_t i = 5; i < 5 + 1003; i++) odd_total += v[i];
    assert_near(tg_item(tg_sum(tg_contiguous(odd), 0, NULL, false)), odd_total, 1e-6 * fabs(odd_total) + 1e-5);
    assert_near(tg_item(tg_max(x)), largest, 0.0);
    tg_scope_end(s);
}

static void test_bad_input(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F32, 2, (int64_t[]){3, 4});
    tg_tensor *i64 = tg_zeros(TG_I64, 2, (int64_t[]){3, 4});
    int bad[1] = {2}, twice[2] = {1, -1};
    for (int i = 0; i < N_OPS; i++) {
        tg_clear_error();
        assert_null(OPS[i].fn(x, 1, bad, false));
        assert_error_contains("Dimension out of range (expected to be in range of [-2, 1], but got 2)");
        assert_null(OPS[i].fn(x, 2, twice, false));
        assert_error_contains("appears multiple times");
        assert_null(OPS[i].fn(i64, 0, NULL, false));
        assert_error_contains("expected a float32 or float64 tensor, got int64");
        tg_clear_error();
        assert_null(OPS[i].fn(NULL, 0, NULL, false));
        assert_string_equal(tg_last_error(), "");
    }
    /* A 0-dim tensor takes dim 0 or -1, once: torch refuses both twice. */
    tg_tensor *scalar = tg_scalar(TG_F64, 2.0);
    int zero_twice[2] = {0, 0}, zero_and_last[2] = {0, -1};
    for (int i = 0; i < N_OPS; i++) {
        tg_clear_error();
        assert_null(OPS[i].fn(scalar, 2, zero_twice, false));
        assert_error_contains("dim 0 appears multiple times in the list of dims");
        assert_null(OPS[i].fn(scalar, 2, zero_and_last, true));
        assert_error_contains("dim -1 appears multiple times in the list of dims");
    }
    assert_null(tg_max_dim(x, -3, false, NULL));
    assert_error_contains("tg_max_dim: Dimension out of range");
    assert_null(tg_min_dim(i64, 0, false, NULL));
    assert_error_contains("tg_min_dim: expected a float32 or float64 tensor, got int64");
    assert_null(tg_argmin(x, 5, false));
    assert_error_contains("tg_argmin: Dimension out of range");
    assert_null(tg_max(i64));
    assert_error_contains("tg_max");
    assert_null(tg_norm(x, 0, 0, NULL, false));
    assert_error_contains("tg_norm: p must be positive or INFINITY, got 0");
    assert_null(tg_norm(x, -INFINITY, 0, NULL, false));
    assert_null(tg_norm(x, NAN, 0, NULL, false));
    tg_tensor *idx = x;
    assert_null(tg_max_dim(x, 9, true, &idx));
    assert_null(idx); /* indices cleared on failure */
    tg_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_over_dims),   cmocka_unit_test(test_max_min_dim_golden),
        cmocka_unit_test(test_sum_to),
        cmocka_unit_test(test_max_min_all_golden), cmocka_unit_test(test_degenerate_golden),
        cmocka_unit_test(test_gradcheck),          cmocka_unit_test(test_empty_and_scalar),
        cmocka_unit_test(test_norm_of_tiny_values),
        cmocka_unit_test(test_norm_gradient_of_nonfinite_norms),
        cmocka_unit_test(test_max_dim_gradient_goes_to_first_tie),
        cmocka_unit_test(test_max_all_nan_gradient_stays_at_the_max),
        cmocka_unit_test(test_var_std_near_dbl_max),
        cmocka_unit_test(test_thread_count_independent), cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
