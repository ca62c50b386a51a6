/* Hostile arguments to every public function: NULL pointers, wrong dtypes,
 * 0-dim and empty tensors, out-of-range dims, negative and huge sizes,
 * non-finite scalars and mismatched shapes. Each call must fail cleanly:
 * NULL (or -1, NAN, ...) with a message naming the function, or NULL with no
 * new message when the bad argument is a NULL tensor (NULL propagates). */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vmath.h"

/* call returns fail_value and leaves a message naming fn. */
#define EXPECT_FAIL(call, fail_value, fn)          \
    do {                                           \
        tg_clear_error();                          \
        assert_true((call) == (fail_value));       \
        assert_error_contains(fn);                 \
    } while (0)
#define EXPECT_ERR(call, fn) EXPECT_FAIL(call, NULL, fn)
/* call returns fail_value without a new message (NULL propagation). */
#define EXPECT_SILENT(call, fail_value)            \
    do {                                           \
        tg_clear_error();                          \
        assert_true((call) == (fail_value));       \
        assert_string_equal(tg_last_error(), "");  \
    } while (0)
#define EXPECT_NULL_SILENT(call) EXPECT_SILENT(call, NULL)
/* call succeeds (non-NULL) and sets no message. */
#define EXPECT_OK(call)                            \
    do {                                           \
        tg_clear_error();                          \
        assert_non_null(call);                     \
        assert_string_equal(tg_last_error(), "");  \
    } while (0)
#define EXPECT_NAN(call, fn)                       \
    do {                                           \
        tg_clear_error();                          \
        assert_true(isnan(call));                  \
        assert_error_contains(fn);                 \
    } while (0)

/* Tensors every table test uses, made in the caller's scope. */
typedef struct {
    tg_tensor *f64;   /* (2,3) F64 */
    tg_tensor *f32;   /* (2,3) F32 */
    tg_tensor *i64;   /* (2,3) I64 zeros */
    tg_tensor *dim0;  /* () F64 */
    tg_tensor *empty; /* (0,3) F64 */
    tg_tensor *other; /* (4,5) F64: broadcasts with none of the above */
    tg_tensor *dead;  /* a tensor whose scope has ended */
} zoo;

static zoo make_zoo(void)
{
    tg_scope *inner = tg_scope_begin();
    tg_tensor *dead = tg_ones(TG_F64, 1, (int64_t[]){3});
    tg_scope_end(inner);
    return (zoo){
        .f64 = tg_rand(TG_F64, 2, (int64_t[]){2, 3}, 0.5, 1.5),
        .f32 = tg_rand(TG_F32, 2, (int64_t[]){2, 3}, 0.5, 1.5),
        .i64 = tg_zeros(TG_I64, 2, (int64_t[]){2, 3}),
        .dim0 = tg_scalar(TG_F64, 0.5),
        .empty = tg_zeros(TG_F64, 2, (int64_t[]){0, 3}),
        .other = tg_ones(TG_F64, 2, (int64_t[]){4, 5}),
        .dead = dead,
    };
}

/* --- unary ops -------------------------------------------------------------- */

static tg_tensor *pow_scalar2(tg_tensor *x) { return tg_pow_scalar(x, 2.0); }
static tg_tensor *leaky_relu(tg_tensor *x) { return tg_leaky_relu(x, 0.01); }
static tg_tensor *elu(tg_tensor *x) { return tg_elu(x, 1.0); }
static tg_tensor *gelu(tg_tensor *x) { return tg_gelu(x, false); }
static tg_tensor *softplus(tg_tensor *x) { return tg_softplus(x, 1.0, 20.0); }
static tg_tensor *hardtanh(tg_tensor *x) { return tg_hardtanh(x, -1, 1); }
static tg_tensor *clamp(tg_tensor *x) { return tg_clamp(x, 0, 1); }
static tg_tensor *add_scalar(tg_tensor *x) { return tg_add_scalar(x, 1); }
static tg_tensor *mul_scalar(tg_tensor *x) { return tg_mul_scalar(x, 2); }
static tg_tensor *rsub_scalar(tg_tensor *x) { return tg_rsub_scalar(1, x); }
static tg_tensor *softmax0(tg_tensor *x) { return tg_softmax(x, -1); }
static tg_tensor *log_softmax0(tg_tensor *x) { return tg_log_softmax(x, -1); }
static tg_tensor *dropout_half(tg_tensor *x) { return tg_dropout(x, 0.5, true); }
static tg_tensor *sum_all(tg_tensor *x) { return tg_sum(x, 0, NULL, false); }
static tg_tensor *mean_all(tg_tensor *x) { return tg_mean(x, 0, NULL, false); }
static tg_tensor *var_all(tg_tensor *x) { return tg_var(x, 0, NULL, true, false); }
static tg_tensor *std_all(tg_tensor *x) { return tg_std(x, 0, NULL, true, false); }
static tg_tensor *logsumexp_all(tg_tensor *x) { return tg_logsumexp(x, 0, NULL, false); }
static tg_tensor *norm_all(tg_tensor *x) { return tg_norm(x, 2, 0, NULL, false); }

typedef struct {
    const char *name;
    tg_tensor *(*fn)(tg_tensor *);
    bool empty_ok; /* an empty input is valid (PyTorch gives an empty result or a value) */
} unary_case;

#define U(f, ok) {"tg_" #f, tg_##f, ok}
#define UW(name, f, ok) {name, f, ok}
static const unary_case unary_cases[] = {
    U(neg, true), U(abs, true), U(exp, true), U(log, true), U(log1p, true), U(sqrt, true), U(rsqrt, true),
    U(square, true), U(sin, true), U(cos, true), U(tanh, true), U(sigmoid, true), U(relu, true),
    U(hardsigmoid, true),
    UW("tg_pow_scalar", pow_scalar2, true), UW("tg_leaky_relu", leaky_relu, true), UW("tg_elu", elu, true),
    UW("tg_gelu", gelu, true), UW("tg_softplus", softplus, true), UW("tg_hardtanh", hardtanh, true),
    UW("tg_clamp", clamp, true), UW("tg_add_scalar", add_scalar, true), UW("tg_mul_scalar", mul_scalar, true),
    UW("tg_rsub_scalar", rsub_scalar, true), UW("tg_softmax", softmax0, true),
    UW("tg_log_softmax", log_softmax0, true), UW("tg_dropout", dropout_half, true),
    UW("tg_sum", sum_all, true), UW("tg_mean", mean_all, true), UW("tg_var", var_all, true),
    UW("tg_std", std_all, true), UW("tg_logsumexp", logsumexp_all, true), UW("tg_norm", norm_all, true),
    UW("tg_max", tg_max, false), UW("tg_min", tg_min, false),
};

static void test_unary_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof unary_cases / sizeof *unary_cases; i++) {
        const unary_case *c = &unary_cases[i];
        print_message("%s\n", c->name);
        tg_scope *s = tg_scope_begin();
        zoo z = make_zoo();
        EXPECT_NULL_SILENT(c->fn(NULL));
        EXPECT_ERR(c->fn(z.i64), c->name);
        EXPECT_ERR(c->fn(z.dead), c->name);
        EXPECT_OK(c->fn(z.dim0));
        EXPECT_OK(c->fn(z.f32));
        EXPECT_OK(c->fn(tg_transpose(z.f64, 0, 1)));
        if (c->empty_ok) EXPECT_OK(c->fn(z.empty));
        else EXPECT_ERR(c->fn(z.empty), c->name);
        tg_scope_end(s);
    }
}

/* --- binary ops --------------------------------------------------------------- */

static tg_tensor *lerp_w(tg_tensor *a, tg_tensor *b) { return tg_lerp(a, b, b); }
static tg_tensor *lerp_s(tg_tensor *a, tg_tensor *b) { return tg_lerp(b, b, a); }
static tg_tensor *addcmul_a(tg_tensor *a, tg_tensor *b) { return tg_addcmul(a, b, b, 1); }
static tg_tensor *addcmul_b(tg_tensor *a, tg_tensor *b) { return tg_addcmul(b, b, a, 1); }
static tg_tensor *where_m(tg_tensor *a, tg_tensor *b) { return tg_where(a, b, b); }
static tg_tensor *where_b(tg_tensor *a, tg_tensor *b) { return tg_where(b, b, a); }
static tg_tensor *masked_fill(tg_tensor *a, tg_tensor *b) { return tg_masked_fill(a, b, 0); }
static tg_tensor *masked_fill_m(tg_tensor *a, tg_tensor *b) { return tg_masked_fill(b, a, 0); }
static tg_tensor *mse(tg_tensor *a, tg_tensor *b) { return tg_mse_loss(a, b, TG_REDUCTION_NONE); }
static tg_tensor *l1(tg_tensor *a, tg_tensor *b) { return tg_l1_loss(a, b, TG_REDUCTION_MEAN); }
static tg_tensor *smooth_l1(tg_tensor *a, tg_tensor *b) { return tg_smooth_l1_loss(a, b, TG_REDUCTION_SUM, 1); }
static tg_tensor *huber(tg_tensor *a, tg_tensor *b) { return tg_huber_loss(a, b, TG_REDUCTION_MEAN, 1); }
static tg_tensor *bce(tg_tensor *a, tg_tensor *b) { return tg_binary_cross_entropy_with_logits(a, b, NULL, NULL, TG_REDUCTION_MEAN); }
static tg_tensor *bce_w(tg_tensor *a, tg_tensor *b) { return tg_binary_cross_entropy_with_logits(b, b, a, NULL, TG_REDUCTION_MEAN); }
static tg_tensor *bce_pw(tg_tensor *a, tg_tensor *b) { return tg_binary_cross_entropy_with_logits(b, b, NULL, a, TG_REDUCTION_SUM); }

enum { INT_A = 1, INT_B = 2, SAME = 4, OPT_A = 8 };
typedef struct {
    const char *name;
    tg_tensor *(*fn)(tg_tensor *, tg_tensor *);
    unsigned flags; /* INT_A, INT_B: that argument may be I64 (a mask); SAME: no
                     * broadcasting; OPT_A: the first argument may be NULL */
} binary_case;

#define B(f) {"tg_" #f, tg_##f, false}
static const binary_case binary_cases[] = {
    B(add), B(sub), B(mul), B(div), B(pow), B(maximum), B(minimum), B(eq), B(ne), B(lt), B(le), B(gt), B(ge),
    {"tg_lerp", lerp_w, false}, {"tg_lerp", lerp_s, false}, {"tg_addcmul", addcmul_a, false}, {"tg_addcmul", addcmul_b, false},
    {"tg_where", where_m, INT_A}, {"tg_where", where_b, false}, {"tg_masked_fill", masked_fill, INT_B}, {"tg_masked_fill", masked_fill_m, INT_A},
    {"tg_mse_loss", mse, false}, {"tg_l1_loss", l1, false}, {"tg_smooth_l1_loss", smooth_l1, false}, {"tg_huber_loss", huber, false},
    {"tg_binary_cross_entropy_with_logits", bce, SAME}, {"tg_binary_cross_entropy_with_logits", bce_w, OPT_A},
    {"tg_binary_cross_entropy_with_logits", bce_pw, OPT_A},
};

static void test_binary_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof binary_cases / sizeof *binary_cases; i++) {
        const binary_case *c = &binary_cases[i];
        print_message("%s\n", c->name);
        tg_scope *s = tg_scope_begin();
        zoo z = make_zoo();
        if (c->flags & OPT_A) EXPECT_OK(c->fn(NULL, z.f64));
        else EXPECT_NULL_SILENT(c->fn(NULL, z.f64));
        EXPECT_NULL_SILENT(c->fn(z.f64, NULL));
        if (c->flags & INT_A) EXPECT_OK(c->fn(z.i64, z.f64));
        else EXPECT_ERR(c->fn(z.i64, z.f64), c->name);
        if (c->flags & INT_B) EXPECT_OK(c->fn(z.f64, z.i64));
        else EXPECT_ERR(c->fn(z.f64, z.i64), c->name);
        EXPECT_ERR(c->fn(z.f64, z.other), c->name);
        EXPECT_ERR(c->fn(z.dead, z.f64), c->name);
        EXPECT_ERR(c->fn(z.f64, z.dead), c->name);
        if (c->flags & SAME) {
            EXPECT_ERR(c->fn(z.dim0, z.f64), c->name);
            EXPECT_OK(c->fn(z.dim0, z.dim0));
        } else if (c->flags & OPT_A) { /* a weight broadcasts to the input, not back */
            EXPECT_OK(c->fn(z.dim0, z.f64));
            EXPECT_ERR(c->fn(z.f64, z.dim0), c->name);
        } else {
            EXPECT_OK(c->fn(z.dim0, z.f64));
            EXPECT_OK(c->fn(z.f64, z.dim0));
        }
        EXPECT_OK(c->fn(z.empty, z.empty));
        tg_scope_end(s);
    }
}

/* --- reductions over dims ------------------------------------------------------ */

static tg_tensor *r_sum(tg_tensor *x, int n, const int *d) { return tg_sum(x, n, d, false); }
static tg_tensor *r_mean(tg_tensor *x, int n, const int *d) { return tg_mean(x, n, d, true); }
static tg_tensor *r_var(tg_tensor *x, int n, const int *d) { return tg_var(x, n, d, true, false); }
static tg_tensor *r_std(tg_tensor *x, int n, const int *d) { return tg_std(x, n, d, false, false); }
static tg_tensor *r_lse(tg_tensor *x, int n, const int *d) { return tg_logsumexp(x, n, d, false); }
static tg_tensor *r_norm(tg_tensor *x, int n, const int *d) { return tg_norm(x, 1, n, d, false); }
static tg_tensor *r_flip(tg_tensor *x, int n, const int *d) { return tg_flip(x, n, d); }

typedef struct {
    const char *name;
    tg_tensor *(*fn)(tg_tensor *, int, const int *);
    bool int_ok; /* a data mover: I64 input is valid */
} dims_case;

static const dims_case dims_cases[] = {
    {"tg_sum", r_sum, false}, {"tg_mean", r_mean, false}, {"tg_var", r_var, false}, {"tg_std", r_std, false},
    {"tg_logsumexp", r_lse, false}, {"tg_norm", r_norm, false}, {"tg_flip", r_flip, true},
};

static void test_dims_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof dims_cases / sizeof *dims_cases; i++) {
        const dims_case *c = &dims_cases[i];
        print_message("%s\n", c->name);
        tg_scope *s = tg_scope_begin();
        zoo z = make_zoo();
        EXPECT_NULL_SILENT(c->fn(NULL, 1, (int[]){0}));
        if (c->int_ok) EXPECT_OK(c->fn(z.i64, 1, (int[]){0}));
        else EXPECT_ERR(c->fn(z.i64, 1, (int[]){0}), c->name);
        EXPECT_ERR(c->fn(z.f64, 1, (int[]){8}), c->name);
        EXPECT_ERR(c->fn(z.f64, 1, (int[]){-9}), c->name);
        EXPECT_ERR(c->fn(z.f64, 1, (int[]){2}), c->name);
        EXPECT_ERR(c->fn(z.f64, 1, NULL), c->name);
        EXPECT_ERR(c->fn(z.f64, -1, (int[]){0}), c->name);
        EXPECT_ERR(c->fn(z.f64, 9, (int[]){0, 1, 0, 1, 0, 1, 0, 1, 0}), c->name);
        EXPECT_ERR(c->fn(z.f64, 2, (int[]){1, -1}), c->name);
        EXPECT_ERR(c->fn(z.dim0, 1, (int[]){1}), c->name);
        EXPECT_OK(c->fn(z.dim0, 1, (int[]){0}));
        EXPECT_OK(c->fn(z.dim0, 1, (int[]){-1}));
        EXPECT_OK(c->fn(z.empty, 1, (int[]){1}));
        tg_scope_end(s);
    }
}

/* --- ops along one dim ---------------------------------------------------------- */

static tg_tensor *d_softmax(tg_tensor *x, int d) { return tg_softmax(x, d); }
static tg_tensor *d_log_softmax(tg_tensor *x, int d) { return tg_log_softmax(x, d); }
static tg_tensor *d_max(tg_tensor *x, int d)
{
    tg_tensor *idx = NULL;
    tg_tensor *v = tg_max_dim(x, d, false, &idx);
    return v && idx ? v : NULL;
}
static tg_tensor *d_min(tg_tensor *x, int d) { return tg_min_dim(x, d, true, NULL); }
static tg_tensor *d_argmax(tg_tensor *x, int d) { return tg_argmax(x, d, false); }
static tg_tensor *d_argmin(tg_tensor *x, int d) { return tg_argmin(x, d, true); }
static tg_tensor *d_transpose(tg_tensor *x, int d) { return tg_transpose(x, d, 0); }
static tg_tensor *d_transpose2(tg_tensor *x, int d) { return tg_transpose(x, 0, d); }
static tg_tensor *d_narrow(tg_tensor *x, int d) { return tg_narrow(x, d, 0, 1); }
static tg_tensor *d_select(tg_tensor *x, int d) { return tg_select(x, d, 0); }
static tg_tensor *d_squeeze(tg_tensor *x, int d) { return tg_squeeze(x, d); }
static tg_tensor *d_unsqueeze(tg_tensor *x, int d) { return tg_unsqueeze(x, d); }
static tg_tensor *d_flatten(tg_tensor *x, int d) { return tg_flatten(x, d, -1); }
static tg_tensor *d_flatten2(tg_tensor *x, int d) { return tg_flatten(x, 0, d); }
static tg_tensor *d_split(tg_tensor *x, int d)
{
    tg_tensor *out[8];
    return tg_split(x, 1, d, out, 8) > 0 ? out[0] : NULL;
}
static tg_tensor *d_chunk(tg_tensor *x, int d)
{
    tg_tensor *out[2];
    return tg_chunk(x, 2, d, out) > 0 ? out[0] : NULL;
}
static tg_tensor *d_cat(tg_tensor *x, int d) { return tg_cat((tg_tensor *[]){x, x}, 2, d); }
static tg_tensor *d_stack(tg_tensor *x, int d) { return tg_stack((tg_tensor *[]){x, x}, 2, d); }
static tg_tensor *d_index_select(tg_tensor *x, int d)
{
    return tg_index_select(x, d, tg_zeros(TG_I64, 1, (int64_t[]){1}));
}
static tg_tensor *d_gather(tg_tensor *x, int d)
{
    return x ? tg_gather(x, d, tg_zeros(TG_I64, x->ndim, x->shape)) : tg_gather(x, d, NULL);
}
static tg_tensor *d_scatter_add(tg_tensor *x, int d)
{
    return x ? tg_scatter_add(x, d, tg_zeros(TG_I64, x->ndim, x->shape), x) : tg_scatter_add(x, d, NULL, NULL);
}
static tg_tensor *d_size(tg_tensor *x, int d) { return tg_size(x, d) >= 0 ? x : NULL; }

typedef struct {
    const char *name;
    tg_tensor *(*fn)(tg_tensor *, int);
    bool float_only; /* I64 input is an error */
} dim_case;

static const dim_case dim_cases[] = {
    {"tg_softmax", d_softmax, true}, {"tg_log_softmax", d_log_softmax, true}, {"tg_max_dim", d_max, true},
    {"tg_min_dim", d_min, true}, {"tg_argmax", d_argmax, true}, {"tg_argmin", d_argmin, true},
    {"tg_transpose", d_transpose, false}, {"tg_transpose", d_transpose2, false}, {"tg_narrow", d_narrow, false},
    {"tg_select", d_select, false}, {"tg_squeeze", d_squeeze, false}, {"tg_unsqueeze", d_unsqueeze, false},
    {"tg_flatten", d_flatten, false}, {"tg_flatten", d_flatten2, false}, {"tg_split", d_split, false},
    {"tg_chunk", d_chunk, false}, {"tg_cat", d_cat, false}, {"tg_stack", d_stack, false},
    {"tg_index_select", d_index_select, false}, {"tg_gather", d_gather, false},
    {"tg_scatter_add", d_scatter_add, false}, {"tg_size", d_size, false},
};

static void test_dim_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof dim_cases / sizeof *dim_cases; i++) {
        const dim_case *c = &dim_cases[i];
        print_message("%s\n", c->name);
        tg_scope *s = tg_scope_begin();
        zoo z = make_zoo();
        tg_clear_error();
        assert_null(c->fn(NULL, 0));
        assert_string_equal(tg_last_error(), "");
        EXPECT_ERR(c->fn(z.f64, 8), c->name);
        EXPECT_ERR(c->fn(z.f64, -9), c->name);
        EXPECT_ERR(c->fn(z.f64, 1 << 30), c->name);
        EXPECT_ERR(c->fn(z.f64, -(1 << 30)), c->name);
        EXPECT_ERR(c->fn(z.dead, 0), c->name);
        if (c->float_only) EXPECT_ERR(c->fn(z.i64, 0), c->name);
        EXPECT_OK(c->fn(z.f64, -1));
        tg_scope_end(s);
    }
}

/* --- factories ------------------------------------------------------------------ */

static void test_factories(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    const int64_t neg[2] = {2, -1}, huge[2] = {INT64_MAX, INT64_MAX}, big[1] = {INT64_MAX / 4};
    const tg_dtype bad = (tg_dtype)7;
    EXPECT_ERR(tg_empty(TG_F32, -1, neg), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 9, huge), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 2, NULL), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 2, neg), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F32, 2, huge), "tg_empty");
    EXPECT_ERR(tg_empty(TG_F64, 1, big), "tg_empty");
    EXPECT_ERR(tg_empty(bad, 1, (int64_t[]){2}), "tg_empty");
    EXPECT_ERR(tg_zeros(TG_F32, 2, neg), "tg_zeros");
    EXPECT_ERR(tg_ones(TG_F32, 2, huge), "tg_ones");
    EXPECT_ERR(tg_full(TG_F32, 2, NULL, 1), "tg_full");
    EXPECT_ERR(tg_full(TG_I64, 1, (int64_t[]){2}, NAN), "tg_full");
    EXPECT_ERR(tg_full(TG_I64, 1, (int64_t[]){2}, 1e300), "tg_full");
    EXPECT_ERR(tg_scalar(bad, 1), "tg_scalar");
    EXPECT_ERR(tg_scalar(TG_I64, INFINITY), "tg_scalar");
    EXPECT_ERR(tg_arange(TG_F64, 0, 1, 0), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 0, NAN, 1), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 0, INFINITY, 1), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 1, 0, 1), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, 0, 1e300, 1e-300), "tg_arange");
    EXPECT_ERR(tg_arange(TG_F64, -1e308, 1e308, 1e-10), "tg_arange");
    EXPECT_ERR(tg_arange(TG_I64, 0, 1e300, 1e280), "tg_arange");
    EXPECT_ERR(tg_arange(bad, 0, 1, 1), "tg_arange");
    EXPECT_ERR(tg_linspace(TG_F64, 0, 1, -1), "tg_linspace");
    EXPECT_ERR(tg_linspace(TG_F64, 0, 1, INT64_MAX), "tg_linspace");
    EXPECT_ERR(tg_linspace(bad, 0, 1, 3), "tg_linspace");
    EXPECT_ERR(tg_linspace(TG_I64, 0, NAN, 3), "tg_linspace");
    EXPECT_ERR(tg_eye(TG_F64, -1), "tg_eye");
    EXPECT_ERR(tg_eye(TG_F64, INT64_MAX), "tg_eye");
    EXPECT_ERR(tg_eye(bad, 2), "tg_eye");
    EXPECT_ERR(tg_rand(TG_F64, 2, neg, 0, 1), "tg_rand");
    EXPECT_ERR(tg_rand(TG_F64, 1, (int64_t[]){2}, 1, 0), "tg_rand");
    EXPECT_ERR(tg_rand(TG_F64, 1, (int64_t[]){2}, NAN, 0), "tg_rand");
    EXPECT_ERR(tg_rand(TG_F64, 1, (int64_t[]){2}, -INFINITY, INFINITY), "tg_rand");
    EXPECT_ERR(tg_rand(TG_I64, 1, (int64_t[]){2}, 0, 1e300), "tg_rand");
    EXPECT_ERR(tg_rand(bad, 1, (int64_t[]){2}, 0, 1), "tg_rand");
    EXPECT_ERR(tg_randn(TG_F64, 2, NULL, 0, 1), "tg_randn");
    EXPECT_ERR(tg_randn(TG_F64, 1, (int64_t[]){2}, 0, -1), "tg_randn");
    EXPECT_ERR(tg_randn(TG_F64, 1, (int64_t[]){2}, 0, NAN), "tg_randn");
    EXPECT_ERR(tg_randn(TG_I64, 1, (int64_t[]){2}, 0, 1), "tg_randn");
    EXPECT_ERR(tg_randint(2, neg, 0, 3), "tg_randint");
    EXPECT_ERR(tg_randint(1, (int64_t[]){2}, 3, 3), "tg_randint");
    EXPECT_ERR(tg_randint(9, huge, 0, 3), "tg_randint");
    EXPECT_OK(tg_randint(1, (int64_t[]){4}, INT64_MIN, INT64_MAX));
    EXPECT_ERR(tg_from_array(TG_F64, 1, (int64_t[]){2}, NULL), "tg_from_array");
    EXPECT_ERR(tg_from_array(TG_F64, 2, neg, (double[]){1, 2}), "tg_from_array");
    EXPECT_ERR(tg_from_array(bad, 1, (int64_t[]){1}, (double[]){1}), "tg_from_array");
    EXPECT_NULL_SILENT(tg_zeros_like(NULL));
    EXPECT_NULL_SILENT(tg_ones_like(NULL));
    EXPECT_NULL_SILENT(tg_clone(NULL));
    EXPECT_NULL_SILENT(tg_contiguous(NULL));
    EXPECT_NULL_SILENT(tg_cast(NULL, TG_F32));
    EXPECT_NULL_SILENT(tg_keep(NULL));
    EXPECT_NULL_SILENT(tg_detach(NULL));
    EXPECT_NULL_SILENT(tg_requires_grad(NULL, true));
    zoo z = make_zoo();
    EXPECT_ERR(tg_cast(z.f64, bad), "tg_cast");
    EXPECT_ERR(tg_zeros_like(z.dead), "tg_zeros_like");
    EXPECT_ERR(tg_clone(z.dead), "tg_clone");
    EXPECT_ERR(tg_keep(z.dead), "tg_keep");
    EXPECT_ERR(tg_requires_grad(z.i64, true), "tg_requires_grad");
    EXPECT_OK(tg_clone(z.empty));
    EXPECT_OK(tg_cast(z.i64, TG_F32));
    EXPECT_OK(tg_zeros(TG_F64, 2, (int64_t[]){0, INT64_MAX}));
    tg_scope_end(s);
}

/* --- inspection, views and in-place updates ------------------------------------- */

static void test_inspection(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    char buf[64];
    assert_int_equal(tg_dtype_size((tg_dtype)7), 8);
    assert_string_equal(tg_dtype_name((tg_dtype)-3), "unknown");
    EXPECT_SILENT(tg_numel(NULL), 0);
    EXPECT_SILENT(tg_size(NULL, 0), -1);
    EXPECT_FAIL(tg_size(z.f64, 2), -1, "tg_size");
    EXPECT_SILENT(tg_is_contiguous(NULL), false);
    EXPECT_SILENT(tg_data(NULL), NULL);
    EXPECT_SILENT(tg_same_shape(NULL, z.f64), false);
    EXPECT_SILENT(tg_same_shape(z.f64, NULL), false);
    tg_clear_error();
    assert_true(isnan(tg_item(NULL)));
    assert_string_equal(tg_last_error(), "");
    EXPECT_NAN(tg_item(z.f64), "tg_item");
    EXPECT_NAN(tg_item(z.empty), "tg_item");
    EXPECT_NAN(tg_item(z.dead), "tg_item");
    EXPECT_NAN(tg_get(z.f64, NULL), "tg_get");
    EXPECT_NAN(tg_get(z.f64, (int64_t[]){2, 0}), "tg_get");
    EXPECT_NAN(tg_get(z.f64, (int64_t[]){0, -1}), "tg_get");
    EXPECT_NAN(tg_get(z.f64, (int64_t[]){INT64_MIN, INT64_MAX}), "tg_get");
    assert_true(tg_get(z.dim0, NULL) == 0.5);
    EXPECT_SILENT(tg_copy_to_array(NULL, buf), -1);
    EXPECT_FAIL(tg_copy_to_array(z.f64, NULL), -1, "tg_copy_to_array");
    EXPECT_FAIL(tg_copy_to_array(z.dead, buf), -1, "tg_copy_to_array");
    /* Truncated and missing buffers. */
    assert_string_equal(tg_shape_str(NULL, buf, sizeof buf), "[]");
    assert_string_equal(tg_shape_str(z.f64, buf, 3), "[2");
    assert_null(tg_shape_str(z.f64, NULL, 10));
    assert_non_null(tg_shape_str(z.f64, buf, 0));
    assert_null(tg_repr(z.f64, NULL, 10));
    assert_string_equal(tg_repr(NULL, buf, sizeof buf), "tensor(<invalid>)");
    assert_string_equal(tg_repr(z.dead, buf, sizeof buf), "tensor(<invalid>)");
    assert_string_equal(tg_repr(z.f64, buf, 5), "tens");
    assert_int_equal(tg_repr(z.empty, buf, 1)[0], '\0');
    tg_free(NULL);
    tg_free(z.f64); /* a scope tensor: left to its scope */
    assert_true(tg_numel(z.f64) == 6);
    tg_scope_end(s);
}

static void test_views(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    tg_tensor *out[4] = {NULL};
    const int64_t huge[2] = {INT64_MAX, INT64_MAX};
    /* view / reshape */
    EXPECT_NULL_SILENT(tg_view(NULL, 1, (int64_t[]){6}));
    EXPECT_NULL_SILENT(tg_reshape(NULL, 1, (int64_t[]){6}));
    EXPECT_ERR(tg_view(z.f64, 1, NULL), "tg_view");
    EXPECT_ERR(tg_view(z.f64, -1, (int64_t[]){6}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 6}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 1, (int64_t[]){7}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 2, (int64_t[]){-1, -1}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 2, (int64_t[]){-2, -3}), "tg_view");
    EXPECT_ERR(tg_view(z.f64, 2, huge), "tg_view");
    EXPECT_ERR(tg_reshape(z.f64, 3, (int64_t[]){INT64_MAX, 4, -1}), "tg_reshape");
    EXPECT_ERR(tg_view(z.empty, 2, (int64_t[]){0, -1}), "tg_view");
    EXPECT_ERR(tg_view(tg_transpose(z.f64, 0, 1), 1, (int64_t[]){6}), "tg_view");
    EXPECT_ERR(tg_reshape(z.dead, 1, (int64_t[]){3}), "tg_reshape");
    EXPECT_OK(tg_reshape(z.dim0, 3, (int64_t[]){1, 1, 1}));
    EXPECT_OK(tg_view(z.empty, 3, (int64_t[]){3, 0, 5}));
    /* permute / transpose */
    EXPECT_NULL_SILENT(tg_permute(NULL, (int[]){1, 0}));
    EXPECT_ERR(tg_permute(z.f64, NULL), "tg_permute");
    EXPECT_ERR(tg_permute(z.f64, (int[]){0, 0}), "tg_permute");
    EXPECT_ERR(tg_permute(z.f64, (int[]){0, 2}), "tg_permute");
    EXPECT_ERR(tg_permute(z.f64, (int[]){0, INT32_MIN}), "tg_permute");
    EXPECT_OK(tg_permute(z.dim0, NULL));
    EXPECT_OK(tg_transpose(z.dim0, 0, -1));
    EXPECT_ERR(tg_transpose(z.dim0, 1, 0), "tg_transpose");
    /* narrow / select */
    EXPECT_ERR(tg_narrow(z.f64, 1, 0, 4), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, 2, 2), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, -4, 1), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, 0, -1), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, INT64_MAX, INT64_MAX), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, INT64_MIN, 1), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.f64, 1, 1, INT64_MAX), "tg_narrow");
    EXPECT_ERR(tg_narrow(z.dim0, 0, 0, 1), "tg_narrow");
    EXPECT_OK(tg_narrow(z.f64, 1, 3, 0));
    EXPECT_ERR(tg_select(z.f64, 0, 2), "tg_select");
    EXPECT_ERR(tg_select(z.f64, 0, -3), "tg_select");
    EXPECT_ERR(tg_select(z.f64, 0, INT64_MIN), "tg_select");
    EXPECT_ERR(tg_select(z.f64, 0, INT64_MAX), "tg_select");
    EXPECT_ERR(tg_select(z.dim0, 0, 0), "tg_select");
    EXPECT_ERR(tg_select(z.empty, 0, 0), "tg_select");
    /* expand */
    EXPECT_NULL_SILENT(tg_expand(NULL, 2, (int64_t[]){2, 3}));
    EXPECT_ERR(tg_expand(z.f64, 2, NULL), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, 1, (int64_t[]){3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, -1, (int64_t[]){3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 2, 3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.f64, 2, (int64_t[]){4, 3}), "tg_expand");
    EXPECT_ERR(tg_expand(z.dim0, 1, (int64_t[]){-1}), "tg_expand");
    EXPECT_ERR(tg_expand(z.dim0, 1, (int64_t[]){-5}), "tg_expand");
    EXPECT_ERR(tg_expand(z.dim0, 2, huge), "tg_expand");
    EXPECT_OK(tg_expand(z.dim0, 2, (int64_t[]){0, 4}));
    /* squeeze / unsqueeze / flatten */
    EXPECT_NULL_SILENT(tg_squeeze_all(NULL));
    EXPECT_ERR(tg_squeeze_all(z.dead), "tg_squeeze_all");
    EXPECT_OK(tg_squeeze(z.dim0, 0));
    EXPECT_OK(tg_squeeze(z.dim0, -1));
    EXPECT_ERR(tg_squeeze(z.dim0, 1), "tg_squeeze");
    tg_tensor *eight = tg_zeros(TG_F32, 8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1});
    EXPECT_ERR(tg_unsqueeze(eight, 0), "tg_unsqueeze");
    EXPECT_ERR(tg_unsqueeze(z.f64, 3), "tg_unsqueeze");
    EXPECT_ERR(tg_unsqueeze(z.f64, -4), "tg_unsqueeze");
    EXPECT_OK(tg_unsqueeze(z.dim0, -1));
    EXPECT_ERR(tg_flatten(z.f64, 1, 0), "tg_flatten");
    EXPECT_OK(tg_flatten(z.dim0, 5, 9));
    /* split / chunk */
    EXPECT_SILENT(tg_split(NULL, 1, 0, out, 4), -1);
    EXPECT_FAIL(tg_split(z.f64, 1, 0, NULL, 4), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, 0, 0, out, 4), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, -1, 0, out, 4), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, 1, 1, out, 2), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.f64, 1, 1, out, -1), -1, "tg_split");
    EXPECT_FAIL(tg_split(z.dim0, 1, 0, out, 4), -1, "tg_split");
    assert_int_equal(tg_split(z.f64, INT64_MAX, 1, out, 4), 1);
    assert_int_equal(tg_split(z.empty, 2, 0, out, 4), 1);
    EXPECT_SILENT(tg_chunk(NULL, 2, 0, out), -1);
    EXPECT_FAIL(tg_chunk(z.f64, 0, 0, out), -1, "tg_chunk");
    EXPECT_FAIL(tg_chunk(z.f64, -2, 0, out), -1, "tg_chunk");
    EXPECT_FAIL(tg_chunk(z.f64, 2, 0, NULL), -1, "tg_chunk");
    EXPECT_FAIL(tg_chunk(z.dim0, 2, 0, out), -1, "tg_chunk");
    assert_int_equal(tg_chunk(z.f64, 4, 1, out), 3);
    tg_scope_end(s);
}

static void test_inplace(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    EXPECT_SILENT(tg_copy_(NULL, z.f64), -1);
    EXPECT_SILENT(tg_copy_(z.f64, NULL), -1);
    EXPECT_FAIL(tg_copy_(z.f64, z.other), -1, "tg_copy_");
    EXPECT_FAIL(tg_copy_(z.dim0, z.f64), -1, "tg_copy_");
    EXPECT_FAIL(tg_copy_(z.dead, z.f64), -1, "tg_copy_");
    EXPECT_FAIL(tg_copy_(z.f64, z.dead), -1, "tg_copy_");
    assert_int_equal(tg_copy_(z.f64, z.dim0), 0);
    assert_int_equal(tg_copy_(z.i64, z.f32), 0);
    EXPECT_SILENT(tg_fill_(NULL, 1), -1);
    EXPECT_FAIL(tg_fill_(z.i64, NAN), -1, "tg_fill_");
    EXPECT_FAIL(tg_fill_(z.i64, -1e19), -1, "tg_fill_");
    assert_int_equal(tg_fill_(z.empty, 1), 0);
    EXPECT_SILENT(tg_add_(NULL, z.f64, 1), -1);
    EXPECT_SILENT(tg_add_(z.f64, NULL, 1), -1);
    EXPECT_FAIL(tg_add_(z.f64, z.other, 1), -1, "tg_add_");
    EXPECT_FAIL(tg_add_(z.dim0, z.f64, 1), -1, "tg_add_");
    EXPECT_SILENT(tg_mul_scalar_(NULL, 1), -1);
    EXPECT_FAIL(tg_mul_scalar_(z.dead, 1), -1, "tg_mul_scalar_");
    tg_tensor *leaf = leaf_f64(1, (int64_t[]){3}, 0, 1);
    EXPECT_FAIL(tg_fill_(leaf, 1), -1, "tg_fill_");
    EXPECT_FAIL(tg_add_(leaf, leaf, 1), -1, "tg_add_");
    EXPECT_FAIL(tg_mul_scalar_(leaf, 2), -1, "tg_mul_scalar_");
    EXPECT_FAIL(tg_copy_(leaf, z.dim0), -1, "tg_copy_");
    tg_free(leaf);
    tg_scope_end(s);
}

/* --- autograd, scopes, gradcheck, threads, random, GEMM, vector math ----------- */

static void noop_backward(tg_node *n, tg_tensor *g)
{
    (void)n;
    (void)g;
}

static tg_tensor *identity_fn(tg_tensor **in, int n, void *ctx)
{
    (void)n;
    (void)ctx;
    return in[0];
}

static tg_tensor *failing_fn(tg_tensor **in, int n, void *ctx)
{
    (void)in;
    (void)n;
    (void)ctx;
    return NULL;
}

static void test_autograd(void **state)
{
    (void)state;
    tg_tensor *leaf = leaf_f64(1, (int64_t[]){3}, 0, 1);
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    EXPECT_SILENT(tg_backward(NULL, NULL), -1);
    EXPECT_SILENT(tg_backward_retain(NULL, NULL), -1);
    EXPECT_FAIL(tg_backward(z.f64, NULL), -1, "tg_backward");
    tg_tensor *y = tg_mul(leaf, leaf);
    EXPECT_FAIL(tg_backward(y, NULL), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(y, z.f64), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(y, tg_zeros(TG_I64, 1, (int64_t[]){3})), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(y, z.dead), -1, "tg_backward");
    EXPECT_FAIL(tg_backward(z.dead, NULL), -1, "tg_backward");
    assert_int_equal(tg_backward(tg_sum(y, 0, NULL, false), NULL), 0);
    EXPECT_FAIL(tg_backward(tg_sum(y, 0, NULL, false), NULL), -1, "tg_backward");
    /* tg_record and the helpers for backward functions */
    tg_clear_error();
    assert_null(tg_record("op", noop_backward, NULL, 1, &leaf));
    assert_null(tg_record("op", noop_backward, z.f64, -1, &leaf));
    assert_null(tg_record("op", noop_backward, z.f64, 0, NULL));
    EXPECT_ERR(tg_record("op", noop_backward, z.f64, 2, NULL), "tg_record");
    EXPECT_ERR(tg_record("op", NULL, z.f64, 1, &leaf), "tg_record");
    EXPECT_ERR(tg_record(NULL, noop_backward, z.f64, 1, &leaf), "tg_record");
    assert_false(tg_needs_grad(NULL));
    tg_accum_grad(NULL, z.f64);
    tg_accum_grad(leaf, NULL);
    assert_null(tg_grad_slot(NULL));
    assert_null(tg_grad_slot(z.f64));
    tg_zero_grad(NULL, 3);
    tg_zero_grad(&leaf, -1);
    tg_zero_grad((tg_tensor *[]){NULL, leaf}, 2);
    EXPECT_SILENT(tg_graph_dot(NULL, stdout), -1);
    EXPECT_FAIL(tg_graph_dot(z.f64, NULL), -1, "tg_graph_dot");
    EXPECT_FAIL(tg_graph_dot(z.dead, stdout), -1, "tg_graph_dot");
    EXPECT_ERR(tg_detach(z.dead), "tg_detach");
    /* scopes */
    EXPECT_FAIL(tg_scope_end(NULL), -1, "tg_scope_end");
    tg_scope *inner = tg_scope_begin();
    assert_int_equal(tg_scope_end(inner), 0);
    EXPECT_FAIL(tg_scope_end(inner), -1, "tg_scope_end");
    /* gradcheck */
    tg_tensor *in[17];
    for (int i = 0; i < 17; i++) in[i] = leaf;
    EXPECT_FAIL(tg_gradcheck(NULL, in, 1, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, NULL, 1, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, in, 0, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, in, -1, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, in, 17, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, (tg_tensor *[]){z.i64}, 1, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, (tg_tensor *[]){y}, 1, NULL, 1e-6, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, in, 1, NULL, 0, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_FAIL(tg_gradcheck(identity_fn, in, 1, NULL, NAN, 1e-5, 1e-3, NULL), -1, "tg_gradcheck");
    EXPECT_SILENT(tg_gradcheck(identity_fn, (tg_tensor *[]){NULL}, 1, NULL, 1e-6, 1e-5, 1e-3, NULL), -1);
    tg_gradcheck_result r;
    EXPECT_FAIL(tg_gradcheck(failing_fn, in, 1, NULL, 1e-6, 1e-5, 1e-3, &r), -1, "tg_gradcheck");
    assert_int_equal(tg_gradcheck(identity_fn, in, 1, NULL, 1e-6, 1e-5, 1e-3, &r), 0);
    tg_scope_end(s);
    tg_free(leaf);
    /* threads and random */
    int threads = tg_get_num_threads();
    EXPECT_FAIL(tg_set_num_threads(0), -1, "tg_set_num_threads");
    EXPECT_FAIL(tg_set_num_threads(-5), -1, "tg_set_num_threads");
    assert_int_equal(tg_get_num_threads(), threads);
    EXPECT_FAIL(tg_rand_below(0), 0, "tg_rand_below");
    assert_true(tg_rand_below(1) == 0);
    /* error handler */
    assert_null(tg_set_error_handler(NULL, NULL));
}

static void test_kernels(void **state)
{
    (void)state;
    float a32[4] = {1, 2, 3, 4}, c32[4] = {0};
    double a64[4] = {1, 2, 3, 4}, c64[4] = {0};
    EXPECT_FAIL(tg_gemm_f32(-1, 2, 2, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, -1, 2, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, -1, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, 2, 1, NULL, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, 2, 1, a32, 2, 1, NULL, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(2, 2, 2, 1, a32, 2, 1, a32, 2, 1, 0, NULL, 2, 1), -1, "tg_gemm_f32");
    EXPECT_FAIL(tg_gemm_f32(INT64_MIN, 2, 2, 1, a32, 2, 1, a32, 2, 1, 0, c32, 2, 1), -1, "tg_gemm_f32");
    assert_int_equal(tg_gemm_f32(0, 0, 0, 1, NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, 0), 0);
    assert_int_equal(tg_gemm_f32(2, 2, 0, 1, NULL, 0, 0, NULL, 0, 0, 0, c32, 2, 1), 0);
    EXPECT_FAIL(tg_gemm_f64(-1, 2, 2, 1, a64, 2, 1, a64, 2, 1, 0, c64, 2, 1), -1, "tg_gemm_f64");
    EXPECT_FAIL(tg_gemm_f64(2, 2, 2, 1, NULL, 2, 1, a64, 2, 1, 0, c64, 2, 1), -1, "tg_gemm_f64");
    EXPECT_FAIL(tg_gemm_f64(2, 2, 2, 1, a64, 2, 1, a64, 2, 1, 1, NULL, 2, 1), -1, "tg_gemm_f64");
    assert_int_equal(tg_gemm_f64(2, 2, 2, 1, a64, 2, 1, a64, 2, 1, 0, c64, 2, 1), 0);
    assert_true(c64[0] == 7 && c64[3] == 22);
    const char *level = tg_simd_level();
    EXPECT_FAIL(tg_simd_force("sse9"), -1, "tg_simd_force");
    EXPECT_FAIL(tg_simd_force(""), -1, "tg_simd_force");
    assert_string_equal(tg_simd_level(), level);
    /* Vector math: n <= 0 touches nothing (not even NULL pointers). */
    tg_vexp_f32(0, NULL, NULL);
    tg_vtanh_f32(-5, NULL, NULL);
    tg_vsigmoid_f32(-1, a32, c32);
    tg_vexp_f64(0, NULL, NULL);
    tg_vtanh_f64(-5, NULL, NULL);
    tg_vsigmoid_f64(INT64_MIN, NULL, NULL);
    tg_vexp_f32(4, a32, a32);
    assert_true(a32[0] > 2.7f && a32[0] < 2.72f);
}

/* --- linear algebra, shape and index ops, nn functions --------------------------- */

static void test_linalg(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    tg_tensor *v3 = tg_ones(TG_F64, 1, (int64_t[]){3}), *b3 = tg_ones(TG_F64, 3, (int64_t[]){2, 3, 2});
    EXPECT_NULL_SILENT(tg_matmul(NULL, z.f64));
    EXPECT_NULL_SILENT(tg_matmul(z.f64, NULL));
    EXPECT_ERR(tg_matmul(z.f64, z.f64), "tg_matmul");
    EXPECT_ERR(tg_matmul(z.dim0, z.f64), "tg_matmul");
    EXPECT_ERR(tg_matmul(z.f64, z.dim0), "tg_matmul");
    EXPECT_ERR(tg_matmul(z.i64, tg_transpose(z.i64, 0, 1)), "tg_matmul");
    EXPECT_ERR(tg_matmul(z.f32, tg_transpose(z.f64, 0, 1)), "tg_matmul");
    EXPECT_ERR(tg_matmul(z.dead, v3), "tg_matmul");
    EXPECT_OK(tg_matmul(z.empty, v3));
    EXPECT_NULL_SILENT(tg_bmm(NULL, b3));
    EXPECT_ERR(tg_bmm(z.f64, z.f64), "tg_bmm");
    EXPECT_ERR(tg_bmm(b3, b3), "tg_bmm");
    EXPECT_ERR(tg_bmm(b3, tg_ones(TG_F64, 3, (int64_t[]){3, 2, 2})), "tg_bmm");
    EXPECT_ERR(tg_bmm(tg_cast(b3, TG_I64), tg_cast(tg_transpose(b3, 1, 2), TG_I64)), "tg_bmm");
    EXPECT_NULL_SILENT(tg_linear(NULL, z.f64, NULL));
    EXPECT_NULL_SILENT(tg_linear(z.f64, NULL, NULL));
    EXPECT_ERR(tg_linear(z.f64, z.other, NULL), "tg_linear");
    EXPECT_ERR(tg_linear(z.dim0, z.f64, NULL), "tg_linear");
    EXPECT_ERR(tg_linear(z.f64, v3, NULL), "tg_linear");
    EXPECT_ERR(tg_linear(z.f64, z.f64, z.other), "tg_linear");
    EXPECT_ERR(tg_linear(z.f64, z.f64, tg_zeros(TG_I64, 1, (int64_t[]){2})), "tg_linear");
    EXPECT_ERR(tg_linear(z.f64, z.f32, NULL), "tg_linear");
    EXPECT_ERR(tg_linear(z.i64, z.i64, NULL), "tg_linear");
    EXPECT_ERR(tg_linear(z.f64, z.f64, z.dead), "tg_linear");
    EXPECT_OK(tg_linear(z.empty, z.f64, v3 ? tg_ones(TG_F64, 1, (int64_t[]){2}) : NULL));
    EXPECT_NULL_SILENT(tg_outer(NULL, v3));
    EXPECT_ERR(tg_outer(z.f64, v3), "tg_outer");
    EXPECT_ERR(tg_outer(z.dim0, v3), "tg_outer");
    EXPECT_ERR(tg_outer(tg_cast(v3, TG_I64), v3), "tg_outer");
    tg_scope_end(s);
}

static void test_shape_ops(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    tg_tensor *idx_bad = tg_full(TG_I64, 1, (int64_t[]){1}, 3), *idx_neg = tg_full(TG_I64, 1, (int64_t[]){1}, -1);
    /* cat / stack */
    EXPECT_ERR(tg_cat(NULL, 2, 0), "tg_cat");
    EXPECT_ERR(tg_cat((tg_tensor *[]){z.f64}, 0, 0), "tg_cat");
    EXPECT_ERR(tg_cat((tg_tensor *[]){z.f64}, -1, 0), "tg_cat");
    EXPECT_NULL_SILENT(tg_cat((tg_tensor *[]){z.f64, NULL}, 2, 0));
    EXPECT_ERR(tg_cat((tg_tensor *[]){z.f64, z.f32}, 2, 0), "tg_cat");
    EXPECT_ERR(tg_cat((tg_tensor *[]){z.f64, z.other}, 2, 0), "tg_cat");
    EXPECT_ERR(tg_cat((tg_tensor *[]){z.f64, z.dim0}, 2, 0), "tg_cat");
    EXPECT_ERR(tg_cat((tg_tensor *[]){z.dim0, z.dim0}, 2, 0), "tg_cat");
    EXPECT_ERR(tg_cat((tg_tensor *[]){z.f64, z.dead}, 2, 0), "tg_cat");
    EXPECT_OK(tg_cat((tg_tensor *[]){z.f64, z.empty}, 2, 0));
    EXPECT_ERR(tg_stack(NULL, 2, 0), "tg_stack");
    EXPECT_ERR(tg_stack((tg_tensor *[]){z.f64}, 0, 0), "tg_stack");
    EXPECT_NULL_SILENT(tg_stack((tg_tensor *[]){NULL, z.f64}, 2, 0));
    EXPECT_ERR(tg_stack((tg_tensor *[]){z.f64, z.empty}, 2, 0), "tg_stack");
    EXPECT_ERR(tg_stack((tg_tensor *[]){z.f64, z.i64}, 2, 0), "tg_stack");
    tg_tensor *eight = tg_zeros(TG_F32, 8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1});
    EXPECT_ERR(tg_stack((tg_tensor *[]){eight, eight}, 2, 0), "tg_stack");
    EXPECT_OK(tg_stack((tg_tensor *[]){z.dim0, z.dim0}, 2, 0));
    /* flip */
    EXPECT_ERR(tg_flip(z.f64, 2, (int[]){0, 0}), "tg_flip");
    /* repeat */
    EXPECT_NULL_SILENT(tg_repeat(NULL, 1, (int64_t[]){2}));
    EXPECT_ERR(tg_repeat(z.f64, 1, (int64_t[]){2}), "tg_repeat");
    EXPECT_ERR(tg_repeat(z.f64, 2, NULL), "tg_repeat");
    EXPECT_ERR(tg_repeat(z.f64, -1, (int64_t[]){2}), "tg_repeat");
    EXPECT_ERR(tg_repeat(z.f64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}), "tg_repeat");
    EXPECT_ERR(tg_repeat(z.f64, 2, (int64_t[]){-1, 1}), "tg_repeat");
    EXPECT_ERR(tg_repeat(z.f64, 2, (int64_t[]){INT64_MAX, 2}), "tg_repeat");
    EXPECT_ERR(tg_repeat(z.f64, 3, (int64_t[]){INT64_MAX / 2, INT64_MAX / 2, 1}), "tg_repeat");
    EXPECT_OK(tg_repeat(z.dim0, 2, (int64_t[]){0, 3}));
    EXPECT_OK(tg_repeat(z.empty, 2, (int64_t[]){INT64_MAX, 1}));
    /* pad */
    EXPECT_NULL_SILENT(tg_pad(NULL, 2, (int64_t[]){1, 1}, 0));
    EXPECT_ERR(tg_pad(z.f64, 1, (int64_t[]){1}, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.f64, 2, NULL, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.f64, -2, (int64_t[]){1, 1}, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.f64, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.f64, 2, (int64_t[]){-2, -2}, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.f64, 2, (int64_t[]){INT64_MAX, INT64_MAX}, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.f64, 2, (int64_t[]){INT64_MIN, 0}, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.f64, 4, (int64_t[]){0, 0, INT64_MAX / 2, INT64_MAX / 2}, 0), "tg_pad");
    EXPECT_ERR(tg_pad(z.i64, 2, (int64_t[]){1, 1}, NAN), "tg_pad");
    EXPECT_ERR(tg_pad(z.dim0, 2, (int64_t[]){1, 1}, 0), "tg_pad");
    EXPECT_OK(tg_pad(z.f64, 2, (int64_t[]){-1, -2}, 0));
    /* index ops */
    EXPECT_ERR(tg_index_select(z.f64, 1, idx_bad), "tg_index_select");
    EXPECT_ERR(tg_index_select(z.f64, 1, idx_neg), "tg_index_select");
    EXPECT_ERR(tg_index_select(z.f64, 1, tg_zeros(TG_F64, 1, (int64_t[]){1})), "tg_index_select");
    EXPECT_ERR(tg_index_select(z.f64, 1, z.i64), "tg_index_select");
    EXPECT_NULL_SILENT(tg_index_select(z.f64, 1, NULL));
    EXPECT_ERR(tg_index_select(z.dim0, 0, tg_ones(TG_I64, 1, (int64_t[]){1})), "tg_index_select");
    EXPECT_OK(tg_index_select(z.empty, 0, tg_zeros(TG_I64, 1, (int64_t[]){0})));
    EXPECT_ERR(tg_index_select(z.empty, 0, tg_zeros(TG_I64, 1, (int64_t[]){1})), "tg_index_select");
    tg_tensor *big = tg_full(TG_I64, 2, (int64_t[]){2, 3}, 5), *neg = tg_full(TG_I64, 2, (int64_t[]){2, 3}, INT64_MIN);
    EXPECT_ERR(tg_gather(z.f64, 1, big), "tg_gather");
    EXPECT_ERR(tg_gather(z.f64, 1, neg), "tg_gather");
    EXPECT_ERR(tg_gather(z.f64, 1, tg_zeros(TG_I64, 1, (int64_t[]){2})), "tg_gather");
    EXPECT_ERR(tg_gather(z.f64, 1, tg_zeros(TG_I64, 2, (int64_t[]){3, 3})), "tg_gather");
    EXPECT_ERR(tg_gather(z.f64, 1, z.f64), "tg_gather");
    EXPECT_NULL_SILENT(tg_gather(z.f64, 1, NULL));
    EXPECT_ERR(tg_scatter_add(z.f64, 1, big, z.f64), "tg_scatter_add");
    EXPECT_ERR(tg_scatter_add(z.f64, 1, neg, z.f64), "tg_scatter_add");
    EXPECT_ERR(tg_scatter_add(z.f64, 1, z.i64, z.f32), "tg_scatter_add");
    EXPECT_ERR(tg_scatter_add(z.f64, 1, z.i64, z.dim0), "tg_scatter_add");
    EXPECT_ERR(tg_scatter_add(z.f64, 1, tg_zeros(TG_I64, 2, (int64_t[]){3, 3}), z.other), "tg_scatter_add");
    EXPECT_NULL_SILENT(tg_scatter_add(z.f64, 1, z.i64, NULL));
    EXPECT_NULL_SILENT(tg_scatter_add(NULL, 1, z.i64, z.f64));
    /* embedding */
    tg_tensor *w = tg_ones(TG_F64, 2, (int64_t[]){4, 3});
    EXPECT_NULL_SILENT(tg_embedding(NULL, z.i64, -1));
    EXPECT_NULL_SILENT(tg_embedding(w, NULL, -1));
    EXPECT_ERR(tg_embedding(w, z.f64, -1), "tg_embedding");
    EXPECT_ERR(tg_embedding(w, big, -1), "tg_embedding");
    EXPECT_ERR(tg_embedding(w, neg, -1), "tg_embedding");
    EXPECT_ERR(tg_embedding(w, z.i64, 4), "tg_embedding");
    EXPECT_ERR(tg_embedding(w, z.i64, -2), "tg_embedding");
    EXPECT_ERR(tg_embedding(w, z.i64, INT64_MIN), "tg_embedding");
    EXPECT_ERR(tg_embedding(z.i64, z.i64, -1), "tg_embedding");
    EXPECT_ERR(tg_embedding(z.dim0, z.i64, -1), "tg_embedding");
    EXPECT_ERR(tg_embedding(tg_ones(TG_F64, 3, (int64_t[]){4, 3, 1}), z.i64, -1), "tg_embedding");
    EXPECT_OK(tg_embedding(w, tg_zeros(TG_I64, 0, NULL), 0));
    EXPECT_OK(tg_embedding(w, tg_zeros(TG_I64, 2, (int64_t[]){0, 2}), -1));
    tg_scope_end(s);
}

static void test_nn(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    const tg_reduction bad = (tg_reduction)9;
    /* dropout */
    EXPECT_ERR(tg_dropout(z.f64, -0.1, true), "tg_dropout");
    EXPECT_ERR(tg_dropout(z.f64, 1.5, true), "tg_dropout");
    EXPECT_ERR(tg_dropout(z.f64, NAN, true), "tg_dropout");
    EXPECT_ERR(tg_dropout(z.f64, NAN, false), "tg_dropout");
    EXPECT_ERR(tg_dropout(z.i64, 0, false), "tg_dropout");
    EXPECT_OK(tg_dropout(z.f64, 1, true));
    /* layer norm */
    tg_tensor *w3 = tg_ones(TG_F64, 1, (int64_t[]){3});
    EXPECT_NULL_SILENT(tg_layer_norm(NULL, 1, NULL, NULL, 1e-5));
    EXPECT_ERR(tg_layer_norm(z.f64, 0, NULL, NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.f64, 3, NULL, NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.f64, -1, NULL, NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.dim0, 1, NULL, NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.i64, 1, NULL, NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.f64, 1, z.f64, NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.f64, 1, NULL, z.dim0, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.f64, 1, tg_cast(w3, TG_I64), NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.f64, 1, tg_cast(w3, TG_F32), NULL, 1e-5), "tg_layer_norm");
    EXPECT_ERR(tg_layer_norm(z.f64, 1, z.dead, NULL, 1e-5), "tg_layer_norm");
    EXPECT_OK(tg_layer_norm(z.empty, 1, w3, w3, 1e-5));
    /* pointwise losses: reduction and beta/delta */
    EXPECT_ERR(tg_mse_loss(z.f64, z.f64, bad), "tg_mse_loss");
    EXPECT_ERR(tg_l1_loss(z.f64, z.f64, bad), "tg_l1_loss");
    EXPECT_ERR(tg_smooth_l1_loss(z.f64, z.f64, bad, 1), "tg_smooth_l1_loss");
    EXPECT_ERR(tg_smooth_l1_loss(z.f64, z.f64, TG_REDUCTION_MEAN, -1), "tg_smooth_l1_loss");
    EXPECT_ERR(tg_smooth_l1_loss(z.f64, z.f64, TG_REDUCTION_MEAN, NAN), "tg_smooth_l1_loss");
    EXPECT_ERR(tg_huber_loss(z.f64, z.f64, TG_REDUCTION_MEAN, 0), "tg_huber_loss");
    EXPECT_ERR(tg_huber_loss(z.f64, z.f64, TG_REDUCTION_MEAN, NAN), "tg_huber_loss");
    EXPECT_ERR(tg_huber_loss(z.f64, z.f64, bad, 1), "tg_huber_loss");
    EXPECT_ERR(tg_binary_cross_entropy_with_logits(z.f64, z.f64, NULL, NULL, bad), "tg_binary_cross_entropy_with_logits");
    EXPECT_ERR(tg_binary_cross_entropy_with_logits(z.f64, z.f64, z.i64, NULL, TG_REDUCTION_MEAN), "tg_binary_cross_entropy_with_logits");
    /* cross entropy and nll */
    tg_tensor *logits = tg_rand(TG_F64, 2, (int64_t[]){2, 3}, -1, 1);
    tg_tensor *target = tg_zeros(TG_I64, 1, (int64_t[]){2});
    tg_tensor *t_big = tg_full(TG_I64, 1, (int64_t[]){2}, 3), *t_neg = tg_full(TG_I64, 1, (int64_t[]){2}, INT64_MIN);
    tg_cross_entropy_opts o = {TG_REDUCTION_MEAN, -100, 0.0, NULL};
    EXPECT_NULL_SILENT(tg_cross_entropy(NULL, target, NULL));
    EXPECT_NULL_SILENT(tg_cross_entropy(logits, NULL, NULL));
    EXPECT_ERR(tg_cross_entropy(logits, t_big, NULL), "tg_cross_entropy");
    EXPECT_ERR(tg_cross_entropy(logits, t_neg, NULL), "tg_cross_entropy");
    EXPECT_ERR(tg_cross_entropy(logits, tg_cast(target, TG_F64), NULL), "tg_cross_entropy");
    EXPECT_ERR(tg_cross_entropy(z.i64, target, NULL), "tg_cross_entropy");
    EXPECT_ERR(tg_cross_entropy(logits, z.i64, NULL), "tg_cross_entropy");
    EXPECT_ERR(tg_cross_entropy(logits, tg_zeros(TG_I64, 1, (int64_t[]){3}), NULL), "tg_cross_entropy");
    EXPECT_ERR(tg_cross_entropy(z.dim0, tg_zeros(TG_I64, 0, NULL), NULL), "tg_cross_entropy");
    EXPECT_ERR(tg_cross_entropy(tg_zeros(TG_F64, 2, (int64_t[]){2, 0}), target, NULL), "tg_cross_entropy");
    o.reduction = bad;
    EXPECT_ERR(tg_cross_entropy(logits, target, &o), "tg_cross_entropy");
    o.reduction = TG_REDUCTION_MEAN;
    o.label_smoothing = 1.5;
    EXPECT_ERR(tg_cross_entropy(logits, target, &o), "tg_cross_entropy");
    o.label_smoothing = NAN;
    EXPECT_ERR(tg_cross_entropy(logits, target, &o), "tg_cross_entropy");
    o.label_smoothing = 0.1;
    EXPECT_ERR(tg_nll_loss(logits, target, &o), "tg_nll_loss");
    o.label_smoothing = 0;
    o.weight = tg_ones(TG_F64, 1, (int64_t[]){2});
    EXPECT_ERR(tg_cross_entropy(logits, target, &o), "tg_cross_entropy");
    EXPECT_ERR(tg_nll_loss(logits, target, &o), "tg_nll_loss");
    o.weight = tg_ones(TG_F32, 1, (int64_t[]){3});
    EXPECT_ERR(tg_cross_entropy(logits, target, &o), "tg_cross_entropy");
    o.weight = z.dead;
    EXPECT_ERR(tg_cross_entropy(logits, target, &o), "tg_cross_entropy");
    o.weight = NULL;
    o.ignore_index = 0;
    EXPECT_OK(tg_cross_entropy(logits, target, &o));
    EXPECT_ERR(tg_nll_loss(logits, t_big, NULL), "tg_nll_loss");
    EXPECT_ERR(tg_nll_loss(logits, t_neg, NULL), "tg_nll_loss");
    EXPECT_ERR(tg_nll_loss(z.f64, tg_zeros(TG_I64, 2, (int64_t[]){2, 3}), NULL), "tg_nll_loss");
    EXPECT_OK(tg_cross_entropy(tg_zeros(TG_F64, 2, (int64_t[]){0, 3}), tg_zeros(TG_I64, 1, (int64_t[]){0}), NULL));
    tg_scope_end(s);
}

/* --- layers, optimizers, schedules, clipping ----------------------------------------- */

static double half_lambda(int64_t epoch, int group, void *user)
{
    (void)epoch;
    (void)group;
    (void)user;
    return 0.5;
}

static void test_layers(void **state)
{
    (void)state;
    /* parameter collections */
    tg_params p = tg_params_new();
    tg_tensor *w = tg_param_full(TG_F64, 1, (int64_t[]){3}, 1.0);
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    EXPECT_FAIL(tg_params_add(NULL, NULL, "w", w), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_add(&p, NULL, NULL, w), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_add(&p, NULL, "w", NULL), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_add(&p, long_name, "w", w), -1, "tg_params_add");
    assert_int_equal(tg_params_add(&p, NULL, "w", w), 0);
    EXPECT_FAIL(tg_params_add(&p, "", "w", w), -1, "tg_params_add");
    EXPECT_FAIL(tg_params_extend(NULL, "a", &p), -1, "tg_params_extend");
    EXPECT_FAIL(tg_params_extend(&p, "a", NULL), -1, "tg_params_extend");
    EXPECT_FAIL(tg_params_extend(&p, NULL, &p), -1, "duplicate parameter name 'w'");
    assert_null(tg_params_find(NULL, "w"));
    assert_null(tg_params_find(&p, NULL));
    assert_int_equal(tg_params_set_group(NULL, "w", 1), 0);
    assert_int_equal(tg_params_set_group(&p, NULL, 1), 0);
    assert_int_equal(tg_params_numel(NULL), 0);
    tg_params_zero_grad(NULL);
    tg_params_free(NULL);
    EXPECT_ERR(tg_param_uniform(TG_I64, 1, (int64_t[]){2}, 0, 1), "tg_param_uniform");
    EXPECT_ERR(tg_param_uniform(TG_F64, 1, (int64_t[]){-2}, 0, 1), "tg_param_uniform");
    EXPECT_ERR(tg_param_uniform(TG_F64, 1, (int64_t[]){2}, 1, 0), "tg_param_uniform");
    EXPECT_ERR(tg_param_normal(TG_F64, 2, NULL, 0, 1), "tg_param_normal");
    EXPECT_ERR(tg_param_normal(TG_F64, 1, (int64_t[]){2}, 0, -1), "tg_param_normal");
    EXPECT_ERR(tg_param_full(TG_I64, 1, (int64_t[]){2}, 0), "tg_param_full");
    EXPECT_ERR(tg_param_full(TG_F64, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 0), "tg_param_full");
    /* optimizers */
    tg_sgd_config sgd = tg_sgd_defaults(0.1);
    tg_adam_config adam = tg_adam_defaults();
    tg_rmsprop_config rms = tg_rmsprop_defaults();
    tg_adagrad_config ada = tg_adagrad_defaults();
    tg_params empty = tg_params_new();
    EXPECT_ERR(tg_sgd(NULL, 1, &sgd), "tg_sgd");
    EXPECT_ERR(tg_sgd(&p, 1, NULL), "tg_sgd");
    EXPECT_ERR(tg_sgd(&p, 0, &sgd), "tg_sgd");
    EXPECT_ERR(tg_sgd(&p, -1, &sgd), "tg_sgd");
    EXPECT_ERR(tg_sgd(&empty, 1, &sgd), "tg_sgd");
    sgd.lr = NAN;
    EXPECT_ERR(tg_sgd(&p, 1, &sgd), "tg_sgd");
    sgd.lr = -1;
    EXPECT_ERR(tg_sgd(&p, 1, &sgd), "tg_sgd");
    sgd = tg_sgd_defaults(0.1);
    sgd.nesterov = true;
    EXPECT_ERR(tg_sgd(&p, 1, &sgd), "tg_sgd");
    adam.beta1 = 1;
    EXPECT_ERR(tg_adam(&p, 1, &adam), "tg_adam");
    adam = tg_adamw_defaults();
    adam.eps = NAN;
    EXPECT_ERR(tg_adamw(&p, 1, &adam), "tg_adamw");
    rms.alpha = -1;
    EXPECT_ERR(tg_rmsprop(&p, 1, &rms), "tg_rmsprop");
    ada.lr_decay = -1;
    EXPECT_ERR(tg_adagrad(&p, 1, &ada), "tg_adagrad");
    EXPECT_ERR(tg_adagrad(&p, 1, NULL), "tg_adagrad");
    tg_params_set_group(&p, "w", 3);
    EXPECT_ERR(tg_sgd(&p, 1, (tg_sgd_config[]){tg_sgd_defaults(0.1)}), "tg_sgd");
    tg_params_set_group(&p, "w", 0);
    EXPECT_FAIL(tg_optim_step(NULL), -1, "tg_optim_step");
    tg_optim_zero_grad(NULL);
    tg_optim_free(NULL);
    assert_int_equal(tg_optim_num_groups(NULL), 0);
    EXPECT_NAN(tg_optim_get_lr(NULL, 0), "tg_optim_get_lr");
    EXPECT_FAIL(tg_optim_set_lr(NULL, 0, 1), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_param_steps(NULL, 0), -1, "tg_optim_param_steps");
    EXPECT_FAIL(tg_optim_state_export(NULL, &empty), -1, "tg_optim_state_export");
    EXPECT_FAIL(tg_optim_state_import(NULL, &empty), -1, "tg_optim_state_import");
    tg_optim *opt = tg_adam(&p, 1, (tg_adam_config[]){tg_adam_defaults()});
    assert_non_null(opt);
    EXPECT_NAN(tg_optim_get_lr(opt, 1), "tg_optim_get_lr");
    EXPECT_NAN(tg_optim_get_lr(opt, -1), "tg_optim_get_lr");
    EXPECT_FAIL(tg_optim_set_lr(opt, 0, NAN), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_set_lr(opt, 0, -1), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_set_lr(opt, 5, 1), -1, "tg_optim_set_lr");
    EXPECT_FAIL(tg_optim_param_steps(opt, 1), -1, "tg_optim_param_steps");
    EXPECT_FAIL(tg_optim_param_steps(opt, -1), -1, "tg_optim_param_steps");
    EXPECT_FAIL(tg_optim_state_export(opt, NULL), -1, "tg_optim_state_export");
    EXPECT_FAIL(tg_optim_state_import(opt, NULL), -1, "tg_optim_state_import");
    /* a gradient of the wrong shape */
    w->grad = tg_zeros(TG_F64, 1, (int64_t[]){4});
    EXPECT_FAIL(tg_optim_step(opt), -1, "tg_optim_step");
    tg_free(w->grad);
    w->grad = NULL;
    /* schedules */
    EXPECT_ERR(tg_sched_step_lr(NULL, 1, 0.5), "tg_sched_step_lr");
    EXPECT_ERR(tg_sched_step_lr(opt, 0, 0.5), "tg_sched_step_lr");
    EXPECT_ERR(tg_sched_step_lr(opt, -3, 0.5), "tg_sched_step_lr");
    EXPECT_ERR(tg_sched_multistep_lr(opt, 2, NULL, 0.5), "tg_sched_multistep_lr");
    EXPECT_ERR(tg_sched_multistep_lr(opt, -1, (int64_t[]){1}, 0.5), "tg_sched_multistep_lr");
    EXPECT_ERR(tg_sched_multistep_lr(opt, 2, (int64_t[]){3, 1}, 0.5), "tg_sched_multistep_lr");
    EXPECT_ERR(tg_sched_exponential_lr(NULL, 0.5), "tg_sched_exponential_lr");
    EXPECT_ERR(tg_sched_cosine_lr(opt, 0, 0), "tg_sched_cosine_lr");
    EXPECT_ERR(tg_sched_cosine_lr(opt, INT64_MIN, 0), "tg_sched_cosine_lr");
    EXPECT_ERR(tg_sched_lambda_lr(opt, NULL, NULL), "tg_sched_lambda_lr");
    EXPECT_ERR(tg_sched_lambda_lr(NULL, half_lambda, NULL), "tg_sched_lambda_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, 0, 1, 5), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, 0.5, 2, 5), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, 0.5, 1, 0), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_linear_lr(opt, NAN, 1, 5), "tg_sched_linear_lr");
    EXPECT_ERR(tg_sched_plateau(opt, NULL), "tg_sched_plateau");
    tg_plateau_config pc = tg_plateau_defaults();
    pc.factor = 1;
    EXPECT_ERR(tg_sched_plateau(opt, &pc), "tg_sched_plateau");
    pc = tg_plateau_defaults();
    pc.patience = -1;
    EXPECT_ERR(tg_sched_plateau(opt, &pc), "tg_sched_plateau");
    EXPECT_FAIL(tg_sched_step(NULL), -1, "tg_sched_step");
    EXPECT_FAIL(tg_sched_step_metric(NULL, 1), -1, "tg_sched_step_metric");
    EXPECT_NAN(tg_sched_last_lr(NULL, 0), "tg_sched_last_lr");
    EXPECT_SILENT(tg_sched_last_epoch(NULL), -1);
    EXPECT_FAIL(tg_sched_state_export(NULL, &empty), -1, "tg_sched_state_export");
    EXPECT_FAIL(tg_sched_state_import(NULL, &empty), -1, "tg_sched_state_import");
    tg_sched_free(NULL);
    tg_sched *sch = tg_sched_lambda_lr(opt, half_lambda, NULL);
    assert_non_null(sch);
    EXPECT_NAN(tg_sched_last_lr(sch, 1), "tg_sched_last_lr");
    EXPECT_NAN(tg_sched_last_lr(sch, -1), "tg_sched_last_lr");
    EXPECT_FAIL(tg_sched_step_metric(sch, 1), -1, "tg_sched_step_metric");
    EXPECT_FAIL(tg_sched_state_export(sch, NULL), -1, "tg_sched_state_export");
    EXPECT_FAIL(tg_sched_state_import(sch, NULL), -1, "tg_sched_state_import");
    EXPECT_FAIL(tg_sched_state_import(sch, &empty), -1, "tg_sched_state_import");
    tg_sched_free(sch);
    /* clipping */
    EXPECT_FAIL(tg_clip_grad_norm(NULL, 1, 2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, -1, 2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, NAN, 2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, 1, -2, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_norm(&p, 1, NAN, NULL), -1, "tg_clip_grad_norm");
    EXPECT_FAIL(tg_clip_grad_value(NULL, 1), -1, "tg_clip_grad_value");
    EXPECT_FAIL(tg_clip_grad_value(&p, -1), -1, "tg_clip_grad_value");
    EXPECT_FAIL(tg_clip_grad_value(&p, NAN), -1, "tg_clip_grad_value");
    tg_optim_free(opt);
    tg_params_free(&p);
    tg_free(w);
}

static void test_modules(void **state)
{
    (void)state;
    tg_params p = tg_params_new();
    EXPECT_ERR(tg_linear_layer_new(0, 2, true, TG_F64), "tg_linear_layer_new");
    EXPECT_ERR(tg_linear_layer_new(2, -1, true, TG_F64), "tg_linear_layer_new");
    EXPECT_ERR(tg_linear_layer_new(2, 2, true, TG_I64), "tg_linear_layer_new");
    EXPECT_ERR(tg_linear_layer_new(INT64_MAX, INT64_MAX, true, TG_F64), "too large");
    EXPECT_ERR(tg_embedding_layer_new(0, 2, -1, TG_F64), "tg_embedding_layer_new");
    EXPECT_ERR(tg_embedding_layer_new(4, 2, 4, TG_F64), "tg_embedding_layer_new");
    EXPECT_ERR(tg_embedding_layer_new(4, 2, -2, TG_F64), "tg_embedding_layer_new");
    EXPECT_ERR(tg_dropout_layer_new(-0.5), "tg_dropout_layer_new");
    EXPECT_ERR(tg_dropout_layer_new(NAN), "tg_dropout_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(0, (int64_t[]){3}, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(9, (int64_t[]){3}, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, NULL, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, (int64_t[]){0}, 1e-5, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, (int64_t[]){3}, -1, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_layernorm_layer_new(1, (int64_t[]){3}, NAN, true, TG_F64), "tg_layernorm_layer_new");
    EXPECT_ERR(tg_cell_new((tg_rnn_mode)9, 2, 3, true, TG_F64), "tg_cell_new");
    EXPECT_ERR(tg_cell_new(TG_LSTM, 0, 3, true, TG_F64), "tg_cell_new");
    EXPECT_ERR(tg_cell_new(TG_GRU, 2, 3, true, TG_I64), "tg_cell_new");
    EXPECT_ERR(tg_rnn_new(NULL), "tg_rnn_new");
    EXPECT_ERR(tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = 0}), "tg_lstm_new");
    EXPECT_ERR(tg_gru_new(&(tg_gru_config){.input_size = 2, .hidden_size = 3, .num_layers = -1}), "tg_gru_new");
    EXPECT_ERR(tg_lstm_new(&(tg_lstm_config){.input_size = 2, .hidden_size = 3, .proj_size = 3}), "tg_lstm_new");
    EXPECT_ERR(tg_gru_new(&(tg_gru_config){.input_size = 2, .hidden_size = 3, .dropout = NAN}), "tg_gru_new");
    EXPECT_ERR(tg_rnn_new(&(tg_rnn_config){.input_size = 2, .hidden_size = 3, .dtype = (tg_dtype)7}), "tg_rnn_new");
    /* forward with bad inputs */
    tg_linear_layer *lin = tg_linear_layer_new(3, 2, true, TG_F64);
    tg_embedding_layer *emb = tg_embedding_layer_new(4, 2, -1, TG_F64);
    tg_dropout_layer *drop = tg_dropout_layer_new(0.5);
    tg_layernorm_layer *ln = tg_layernorm_layer_new(1, (int64_t[]){3}, 1e-5, true, TG_F64);
    tg_cell *cell = tg_cell_new(TG_LSTM, 3, 2, true, TG_F64);
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 3, .hidden_size = 2, .dtype = TG_F64});
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = 3, .hidden_size = 2, .dtype = TG_F64});
    assert_true(lin && emb && drop && ln && cell && lstm && gru);
    tg_scope *s = tg_scope_begin();
    zoo z = make_zoo();
    tg_tensor *c_out = NULL, *x = tg_ones(TG_F64, 3, (int64_t[]){4, 2, 3});
    tg_rnn_output out;
    EXPECT_ERR(tg_linear_layer_forward(NULL, z.f64), "tg_linear_layer_forward");
    EXPECT_NULL_SILENT(tg_linear_layer_forward(lin, NULL));
    EXPECT_ERR(tg_linear_layer_forward(lin, z.other), "tg_linear");
    EXPECT_ERR(tg_linear_layer_forward(lin, z.f32), "tg_linear");
    EXPECT_ERR(tg_embedding_layer_forward(NULL, z.i64), "tg_embedding_layer_forward");
    EXPECT_ERR(tg_embedding_layer_forward(emb, z.f64), "tg_embedding");
    EXPECT_ERR(tg_embedding_layer_forward(emb, tg_full(TG_I64, 1, (int64_t[]){1}, 4)), "tg_embedding");
    EXPECT_ERR(tg_dropout_layer_forward(NULL, z.f64), "tg_dropout_layer_forward");
    tg_dropout_layer_train(NULL, false);
    EXPECT_ERR(tg_layernorm_layer_forward(NULL, z.f64), "tg_layernorm_layer_forward");
    EXPECT_ERR(tg_layernorm_layer_forward(ln, z.other), "tg_layernorm_layer_forward");
    EXPECT_ERR(tg_layernorm_layer_forward(ln, z.dim0), "tg_layernorm_layer_forward");
    EXPECT_ERR(tg_cell_forward(NULL, z.f64, NULL, NULL, &c_out), "tg_cell_forward");
    EXPECT_NULL_SILENT(tg_cell_forward(cell, NULL, NULL, NULL, &c_out));
    EXPECT_ERR(tg_cell_forward(cell, z.other, NULL, NULL, &c_out), "tg_cell_forward");
    EXPECT_ERR(tg_cell_forward(cell, z.f64, z.f64, NULL, &c_out), "tg_cell_forward");
    EXPECT_ERR(tg_cell_forward(cell, z.f64, NULL, z.other, &c_out), "tg_cell_forward");
    EXPECT_ERR(tg_cell_forward(cell, z.f64, NULL, NULL, NULL), "tg_cell_forward");
    EXPECT_ERR(tg_cell_forward(cell, z.dim0, NULL, NULL, &c_out), "tg_cell_forward");
    EXPECT_ERR(tg_cell_forward(cell, z.i64, NULL, NULL, &c_out), "tg_cell_forward");
    EXPECT_ERR(tg_rnn_gates(z.f64, z.other, TG_RNN_TANH), "tg_rnn_gates");
    EXPECT_ERR(tg_rnn_gates(z.f64, NULL, (tg_rnn_mode)9), "tg_rnn_gates");
    EXPECT_ERR(tg_lstm_gates(z.f64, NULL, z.f64, &c_out), "tg_lstm_gates");
    EXPECT_ERR(tg_lstm_gates(tg_ones(TG_F64, 2, (int64_t[]){2, 8}), NULL, z.f64, NULL), "tg_lstm_gates");
    EXPECT_ERR(tg_gru_gates(z.f64, z.f64, z.f64), "tg_gru_gates");
    EXPECT_ERR(tg_gru_gates(z.dim0, z.dim0, z.dim0), "tg_gru_gates");
    EXPECT_FAIL(tg_rnn_forward(NULL, x, NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, x, NULL, NULL, NULL, NULL), -1, "_forward: ");
    EXPECT_SILENT(tg_lstm_forward(lstm, NULL, NULL, NULL, NULL, &out), -1);
    EXPECT_FAIL(tg_lstm_forward(lstm, z.other, NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, z.dim0, NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, tg_cast(x, TG_I64), NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, tg_cast(x, TG_F32), NULL, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, x, z.f64, NULL, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_lstm_forward(lstm, x, NULL, z.f64, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, x, NULL, (int64_t[]){0, 4}, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, x, NULL, (int64_t[]){5, 4}, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, x, NULL, (int64_t[]){INT64_MIN, 4}, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_rnn_forward(gru, x, NULL, z.f64, NULL, &out), -1, "_forward: ");
    EXPECT_FAIL(tg_gru_forward(gru, tg_ones(TG_F64, 3, (int64_t[]){0, 2, 3}), NULL, NULL, &out), -1, "_forward: ");
    assert_int_equal(tg_gru_forward(gru, x, NULL, (int64_t[]){1, 4}, &out), 0);
    tg_scope_end(s);
    tg_rnn_train(NULL, false);
    EXPECT_FAIL(tg_linear_layer_params(NULL, &p, ""), -1, "tg_linear_layer_params");
    EXPECT_FAIL(tg_linear_layer_params(lin, NULL, ""), -1, "tg_linear_layer_params");
    EXPECT_FAIL(tg_embedding_layer_params(emb, NULL, ""), -1, "tg_embedding_layer_params");
    EXPECT_FAIL(tg_layernorm_layer_params(NULL, &p, ""), -1, "tg_layernorm_layer_params");
    EXPECT_FAIL(tg_cell_params(cell, NULL, ""), -1, "tg_cell_params");
    EXPECT_FAIL(tg_rnn_params(NULL, &p, ""), -1, "tg_rnn_params");
    assert_int_equal(tg_rnn_params(lstm, &p, NULL), 0);
    EXPECT_FAIL(tg_rnn_params(lstm, &p, NULL), -1, "tg_params_add");
    tg_params_free(&p);
    tg_linear_layer_free(lin);
    tg_embedding_layer_free(emb);
    tg_dropout_layer_free(drop);
    tg_layernorm_layer_free(ln);
    tg_cell_free(cell);
    tg_rnn_free(lstm);
    tg_rnn_free(gru);
    tg_linear_layer_free(NULL);
    tg_embedding_layer_free(NULL);
    tg_dropout_layer_free(NULL);
    tg_layernorm_layer_free(NULL);
    tg_cell_free(NULL);
    tg_rnn_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_table),
        cmocka_unit_test(test_binary_table),
        cmocka_unit_test(test_dims_table),
        cmocka_unit_test(test_dim_table),
        cmocka_unit_test(test_factories),
        cmocka_unit_test(test_inspection),
        cmocka_unit_test(test_views),
        cmocka_unit_test(test_inplace),
        cmocka_unit_test(test_autograd),
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_linalg),
        cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_nn),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_modules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
