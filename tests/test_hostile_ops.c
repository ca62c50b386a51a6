/* Hostile arguments to the ops: every unary, binary, dims-list and one-dim op
 * from a table, then linear algebra, shape and index ops, nn functions. */
#include "hostile.h"

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
static tg_tensor *rsub_scalar(tg_tensor *x) { return tg_rsub_scalar(x, 1); }
static tg_tensor *sub_scalar(tg_tensor *x) { return tg_sub_scalar(x, 1); }
static tg_tensor *div_scalar(tg_tensor *x) { return tg_div_scalar(x, 2); }
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
    UW("tg_rsub_scalar", rsub_scalar, true), UW("tg_sub_scalar", sub_scalar, true),
    UW("tg_div_scalar", div_scalar, true), UW("tg_softmax", softmax0, true),
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
    return tg_split(x, 1, d, 8, out) > 0 ? out[0] : NULL;
}
static tg_tensor *d_chunk(tg_tensor *x, int d)
{
    tg_tensor *out[2];
    return tg_chunk(x, 2, d, 2, out) > 0 ? out[0] : NULL;
}
static tg_tensor *d_cat(tg_tensor *x, int d) { return tg_cat(2, (tg_tensor *[]){x, x}, d); }
static tg_tensor *d_stack(tg_tensor *x, int d) { return tg_stack(2, (tg_tensor *[]){x, x}, d); }
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
    /* a 0-dim input has no feature dim, rather than one of size 0 */
    assert_error_contains("tg_linear: both arguments to linear need to be at least 1D, but they are 0D and 2D");
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
    EXPECT_ERR(tg_cat(2, NULL, 0), "tg_cat");
    EXPECT_ERR(tg_cat(0, (tg_tensor *[]){z.f64}, 0), "tg_cat");
    EXPECT_ERR(tg_cat(-1, (tg_tensor *[]){z.f64}, 0), "tg_cat");
    EXPECT_NULL_SILENT(tg_cat(2, (tg_tensor *[]){z.f64, NULL}, 0));
    EXPECT_ERR(tg_cat(2, (tg_tensor *[]){z.f64, z.f32}, 0), "tg_cat");
    EXPECT_ERR(tg_cat(2, (tg_tensor *[]){z.f64, z.other}, 0), "tg_cat");
    EXPECT_ERR(tg_cat(2, (tg_tensor *[]){z.f64, z.dim0}, 0), "tg_cat");
    EXPECT_ERR(tg_cat(2, (tg_tensor *[]){z.dim0, z.dim0}, 0), "tg_cat");
    EXPECT_ERR(tg_cat(2, (tg_tensor *[]){z.f64, z.dead}, 0), "tg_cat");
    EXPECT_OK(tg_cat(2, (tg_tensor *[]){z.f64, z.empty}, 0));
    EXPECT_ERR(tg_stack(2, NULL, 0), "tg_stack");
    EXPECT_ERR(tg_stack(0, (tg_tensor *[]){z.f64}, 0), "tg_stack");
    EXPECT_NULL_SILENT(tg_stack(2, (tg_tensor *[]){NULL, z.f64}, 0));
    EXPECT_ERR(tg_stack(2, (tg_tensor *[]){z.f64, z.empty}, 0), "tg_stack");
    EXPECT_ERR(tg_stack(2, (tg_tensor *[]){z.f64, z.i64}, 0), "tg_stack");
    tg_tensor *eight = tg_zeros(TG_F32, 8, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1});
    EXPECT_ERR(tg_stack(2, (tg_tensor *[]){eight, eight}, 0), "tg_stack");
    EXPECT_OK(tg_stack(2, (tg_tensor *[]){z.dim0, z.dim0}, 0));
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unary_table),
        cmocka_unit_test(test_binary_table),
        cmocka_unit_test(test_dims_table),
        cmocka_unit_test(test_dim_table),
        cmocka_unit_test(test_linalg),
        cmocka_unit_test(test_shape_ops),
        cmocka_unit_test(test_nn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
