/* tg_fuse: gradchecks of LSTM- and GRU-like expressions on inputs of every
 * layout (contiguous, transposed, sliced, broadcast rows, expanded, sharing
 * storage; leaves, or an op's results read in part and saved block by
 * block), values and gradients against the same expressions composed
 * from the separate ops in F32 and F64, lerp exact at its ends, loads and
 * values no output reads, results outside any scope and with no rows, the
 * same bits on 1 and 2 threads, no grad, inputs modified in place before
 * backward (refused, or harmless for blocks kept as copies), the limits,
 * and bad expressions. */
#include "support.h"
#include <tapegrad/fuse.h>
#include <tapegrad/tapegrad.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IN 5

/* --- layouts --------------------------------------------------------------------
 * An input of an expression is a (rows, cols) tensor, seen through a view of
 * a leaf: the leaf itself, a transpose of a (cols, rows) leaf (inner stride
 * rows), a narrow of a (rows, cols + 5) leaf (row stride above cols), a
 * (1, cols) or (cols) leaf broadcasting over the rows, or a (1, cols) leaf
 * expanded to (rows, cols) (row stride 0). */

typedef enum { L_CONTIG, L_TRANSPOSED, L_SLICED, L_ROW, L_VECTOR, L_EXPANDED } layout;

static const char *const layout_names[] = {"contiguous", "transposed", "sliced", "row", "vector", "expanded"};

static tg_tensor *make_leaf(tg_dtype dtype, layout l, int64_t rows, int64_t cols)
{
    int ndim = 2;
    int64_t shape[2] = {rows, cols};
    if (l == L_TRANSPOSED) shape[0] = cols, shape[1] = rows;
    if (l == L_SLICED) shape[1] = cols + 5;
    if (l == L_ROW || l == L_EXPANDED) shape[0] = 1;
    if (l == L_VECTOR) ndim = 1, shape[0] = cols;
    tg_scope *s = tg_scope_begin();
    tg_tensor *t = tg_keep(tg_rand(dtype, ndim, shape, -2, 2));
    tg_scope_end(s);
    return tg_requires_grad(t, true);
}

static tg_tensor *view_of(tg_tensor *leaf, layout l, int64_t rows, int64_t cols)
{
    switch (l) {
    case L_TRANSPOSED: return tg_transpose(leaf, 0, 1);
    case L_SLICED: return tg_narrow(leaf, 1, 2, cols);
    case L_EXPANDED: return tg_expand(leaf, 2, (int64_t[]){rows, cols});
    default: return leaf;
    }
}

/* Block k (columns [k W, (k + 1) W)) of x, as tg_fuse_input sees it. */
static tg_tensor *block(tg_tensor *x, int64_t k, int64_t W)
{
    return tg_narrow(x, x->ndim - 1, k * W, W);
}

/* --- the expressions, fused and composed from the separate ops --------------------
 * Both versions apply the same ops in the same order, so they should agree
 * to rounding. */

typedef struct {
    const char *name;
    int n_in, n_out;
    int64_t cols_blocks[MAX_IN], cols_extra[MAX_IN]; /* input k has cols_blocks[k] * W + cols_extra[k] columns */
    int (*fused)(int64_t W, tg_tensor **in, tg_tensor **out);
    void (*composed)(int64_t W, tg_tensor **in, tg_tensor **out);
} expr;

/* gates (R, 4W), c (R, W): h' = o tanh(c'), c' = f c + i g. */
static int fused_lstm(int64_t W, tg_tensor **in, tg_tensor **out)
{
    tg_fuse f;
    tg_fuse_begin(&f, W);
    int i = tg_fuse_sigmoid(&f, tg_fuse_input(&f, in[0], 0));
    int fg = tg_fuse_sigmoid(&f, tg_fuse_input(&f, in[0], 1));
    int g = tg_fuse_tanh(&f, tg_fuse_input(&f, in[0], 2));
    int o = tg_fuse_sigmoid(&f, tg_fuse_input(&f, in[0], 3));
    int c = tg_fuse_input(&f, in[1], 0);
    int fc = tg_fuse_mul(&f, fg, c);
    int ig = tg_fuse_mul(&f, i, g);
    int c2 = tg_fuse_add(&f, fc, ig);
    int h2 = tg_fuse_mul(&f, o, tg_fuse_tanh(&f, c2));
    return tg_fuse_run(&f, 2, (int[]){h2, c2}, out);
}

static void composed_lstm(int64_t W, tg_tensor **in, tg_tensor **out)
{
    tg_tensor *i = tg_sigmoid(block(in[0], 0, W)), *f = tg_sigmoid(block(in[0], 1, W));
    tg_tensor *g = tg_tanh(block(in[0], 2, W)), *o = tg_sigmoid(block(in[0], 3, W));
    tg_tensor *c2 = tg_add(tg_mul(f, in[1]), tg_mul(i, g));
    out[0] = tg_mul(o, tg_tanh(c2));
    out[1] = c2;
}

/* Every op. xw, hw (R, 3W), h (R, W), b (3W) and e (R, 3W + 2), of which
 * only block 1 is read (its other columns get a zero gradient). Block 0 of
 * xw is handed in twice, so its gradient is the sum over both uses. */
static int fused_gru(int64_t W, tg_tensor **in, tg_tensor **out)
{
    tg_tensor *xw = in[0], *hw = in[1], *h = in[2], *b = in[3], *e = in[4];
    tg_fuse f;
    tg_fuse_begin(&f, W);
    int x0 = tg_fuse_input(&f, xw, 0), h0 = tg_fuse_input(&f, hw, 0), b0 = tg_fuse_input(&f, b, 0);
    int r = tg_fuse_sigmoid(&f, tg_fuse_add(&f, tg_fuse_add(&f, x0, h0), b0));
    int x1 = tg_fuse_input(&f, xw, 1), h1 = tg_fuse_input(&f, hw, 1);
    int z = tg_fuse_sigmoid(&f, tg_fuse_add(&f, x1, h1));
    int x2 = tg_fuse_input(&f, xw, 2), h2b = tg_fuse_input(&f, hw, 2), b2 = tg_fuse_input(&f, b, 2);
    int n = tg_fuse_tanh(&f, tg_fuse_add(&f, x2, tg_fuse_mul(&f, r, tg_fuse_add(&f, h2b, b2))));
    int h2 = tg_fuse_lerp(&f, n, tg_fuse_input(&f, h, 0), z);
    int again = tg_fuse_input(&f, xw, 0), e1 = tg_fuse_input(&f, e, 1);
    int y = tg_fuse_mul(&f, tg_fuse_relu(&f, tg_fuse_sub(&f, again, e1)), tg_fuse_one_minus(&f, z));
    int q = tg_fuse_sub(&f, tg_fuse_one_minus(&f, n), tg_fuse_relu(&f, tg_fuse_input(&f, hw, 1)));
    return tg_fuse_run(&f, 3, (int[]){h2, y, q}, out);
}

static void composed_gru(int64_t W, tg_tensor **in, tg_tensor **out)
{
    tg_tensor *xw = in[0], *hw = in[1], *h = in[2], *b = in[3], *e = in[4];
    tg_tensor *r = tg_sigmoid(tg_add(tg_add(block(xw, 0, W), block(hw, 0, W)), block(b, 0, W)));
    tg_tensor *z = tg_sigmoid(tg_add(block(xw, 1, W), block(hw, 1, W)));
    tg_tensor *n = tg_tanh(tg_add(block(xw, 2, W), tg_mul(r, tg_add(block(hw, 2, W), block(b, 2, W)))));
    out[0] = tg_lerp(n, block(h, 0, W), z);
    out[1] = tg_mul(tg_relu(tg_sub(block(xw, 0, W), block(e, 1, W))), tg_rsub_scalar(z, 1));
    out[2] = tg_sub(tg_rsub_scalar(n, 1), tg_relu(block(hw, 1, W)));
}

static const expr lstm = {"lstm", 2, 2, {4, 1}, {0, 0}, fused_lstm, composed_lstm};
static const expr gru = {"gru", 5, 3, {3, 3, 1, 3, 3}, {0, 0, 0, 0, 2}, fused_gru, composed_gru};

/* --- gradchecks ------------------------------------------------------------------ */

typedef struct {
    const expr *e;
    layout layouts[MAX_IN];
    int64_t R, W;
    /* Inputs with rows of their own are views of an op's result (1 * the
     * leaf, in scope memory) instead of the leaf's: those the expression
     * reads in part are then saved block by block for the backward. */
    bool via_op;
} case_ctx;

static int64_t cols_of(const case_ctx *c, int k) { return c->e->cols_blocks[k] * c->W + c->e->cols_extra[k]; }

static tg_tensor *fused_of_leaves(int n, tg_tensor **leaves, void *vctx)
{
    (void)n;
    const case_ctx *c = vctx;
    tg_tensor *in[MAX_IN], *out[TG_FUSE_MAX_OUTPUTS];
    for (int k = 0; k < c->e->n_in; k++) {
        layout l = c->layouts[k];
        bool own_rows = l == L_CONTIG || l == L_TRANSPOSED || l == L_SLICED;
        in[k] = view_of(c->via_op && own_rows ? tg_mul_scalar(leaves[k], 1.0) : leaves[k], l, c->R, cols_of(c, k));
    }
    if (c->e->fused(c->W, in, out) < 0) return NULL;
    return tg_cat(c->e->n_out, out, 1);
}

static void make_leaves(const case_ctx *c, tg_dtype dtype, tg_tensor **leaves)
{
    for (int k = 0; k < c->e->n_in; k++) leaves[k] = make_leaf(dtype, c->layouts[k], c->R, cols_of(c, k));
}

static void describe(const case_ctx *c, char *buf, size_t len)
{
    int at = snprintf(buf, len, "%s R=%lld W=%lld%s", c->e->name, (long long)c->R, (long long)c->W,
                      c->via_op ? " via an op" : "");
    for (int k = 0; k < c->e->n_in && at > 0 && (size_t)at < len; k++)
        at += snprintf(buf + at, len - (size_t)at, " %s", layout_names[c->layouts[k]]);
}

static void check_gradient_impl(tg_gradcheck_fn fn, tg_tensor **in, int n, void *ctx, const char *what,
                                const char *file, int line)
{
    tg_gradcheck_result r;
    int status = tg_gradcheck(fn, n, in, ctx, 1e-6, 1e-5, 1e-3, &r);
    if (status < 0) fail_at(file, line, "%s: gradcheck error: %s", what, tg_last_error());
    if (status > 0)
        fail_at(file, line, "%s: gradcheck failed at input %d element %lld: analytic %.10g, numeric %.10g", what,
                r.worst_input, (long long)r.worst_index, r.analytic, r.numeric);
}
#define check_gradient(fn, in, n, ctx, what) check_gradient_impl(fn, in, n, ctx, what, __FILE__, __LINE__)

static void gradcheck_case(const case_ctx *c)
{
    char what[256];
    describe(c, what, sizeof what);
    tg_manual_seed(101);
    tg_tensor *leaves[MAX_IN];
    make_leaves(c, TG_F64, leaves);
    check_gradient(fused_of_leaves, leaves, c->e->n_in, (void *)c, what);
    for (int k = 0; k < c->e->n_in; k++) tg_free(leaves[k]);
}

/* gates and c as two views of one (R, 5W) leaf: distinct inputs whose
 * gradients land in the same storage. */
static tg_tensor *lstm_shared_storage(int n, tg_tensor **leaves, void *vctx)
{
    (void)n;
    int64_t W = *(const int64_t *)vctx;
    tg_tensor *in[2] = {tg_narrow(leaves[0], 1, 0, 4 * W), tg_narrow(leaves[0], 1, 4 * W, W)}, *out[2];
    if (fused_lstm(W, in, out) < 0) return NULL;
    return tg_cat(2, out, 1);
}

static void test_gradcheck_lstm_layouts(void **state)
{
    (void)state;
    static const layout cases[][2] = {
        {L_CONTIG, L_CONTIG},     {L_TRANSPOSED, L_TRANSPOSED}, {L_SLICED, L_SLICED}, {L_CONTIG, L_ROW},
        {L_CONTIG, L_VECTOR},     {L_SLICED, L_EXPANDED},       {L_ROW, L_CONTIG},    {L_TRANSPOSED, L_VECTOR},
        {L_ROW, L_VECTOR}, /* nothing but broadcast rows: the output is (1, W) */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        case_ctx c = {.e = &lstm, .layouts = {cases[i][0], cases[i][1]}, .R = 3, .W = 5};
        gradcheck_case(&c);
    }
    int64_t W = 4;
    tg_manual_seed(102);
    tg_tensor *leaf = leaf_f64(2, (int64_t[]){3, 5 * W}, -2, 2);
    check_gradient(lstm_shared_storage, &leaf, 1, &W, "lstm, gates and c in one leaf");
    tg_free(leaf);
}

static void test_gradcheck_gru_every_op(void **state)
{
    (void)state;
    static const layout cases[][MAX_IN] = {
        {L_CONTIG, L_TRANSPOSED, L_SLICED, L_VECTOR, L_CONTIG},
        {L_SLICED, L_CONTIG, L_EXPANDED, L_ROW, L_TRANSPOSED},
        {L_TRANSPOSED, L_SLICED, L_ROW, L_VECTOR, L_SLICED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int via_op = 0; via_op < 2; via_op++) {
            case_ctx c = {.e = &gru, .R = 3, .W = 4, .via_op = via_op};
            memcpy(c.layouts, cases[i], sizeof c.layouts);
            gradcheck_case(&c);
        }
}

/* --- values and gradients against the composed ops -------------------------------- */

static double max_abs(const tg_tensor *t)
{
    int64_t n = tg_numel(t);
    double *v = malloc(sizeof(double) * (size_t)(n ? n : 1)), m = 0;
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    tg_copy_to_array(tg_cast((tg_tensor *)t, TG_F64), v);
    tg_set_grad_enabled(was);
    tg_scope_end(s);
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    free(v);
    return m;
}

/* |a - e| <= tol |e| + tol max|e|: a few roundings apart, also where a sum
 * of gradients cancels to well below its terms. */
static void assert_matches_impl(const tg_tensor *a, const tg_tensor *e, double tol, const char *what, const char *file,
                                int line)
{
    if (!e) fail_at(file, line, "%s: the composed ops failed: %s", what, tg_last_error());
    if (!a) fail_at(file, line, "%s: no result", what);
    if (a->dtype != e->dtype) fail_at(file, line, "%s: dtype %d, expected %d", what, a->dtype, e->dtype);
    assert_close_impl(a, e, tol, tol * max_abs(e), what, file, line);
}
#define assert_matches(a, e, tol, what) assert_matches_impl(a, e, tol, what, __FILE__, __LINE__)

/* Backpropagates sum(y * w). */
static void backward_of_impl(tg_tensor *y, tg_tensor *w, const char *what, const char *file, int line)
{
    if (tg_backward(tg_sum(tg_mul(y, w), 0, NULL, false), NULL) != 0)
        fail_at(file, line, "%s: backward failed: %s", what, tg_last_error());
}
#define backward_of(y, w, what) backward_of_impl(y, w, what, __FILE__, __LINE__)

/* out[0..n) must be contiguous (rows, W) planes of one new (n, rows, W) tensor. */
static void assert_outputs_layout(tg_tensor **out, int n, int64_t rows, int64_t W, tg_tensor **in, int n_in,
                                  const char *what)
{
    for (int k = 0; k < n; k++) {
        if (!out[k]) fail_msg("%s: output %d is NULL", what, k);
        if (out[k]->ndim != 2 || out[k]->shape[0] != rows || out[k]->shape[1] != W)
            fail_msg("%s: output %d is not (%lld, %lld)", what, k, (long long)rows, (long long)W);
        if (out[k]->storage != out[0]->storage) fail_msg("%s: output %d is not a view of output 0's tensor", what, k);
        bool placed = out[k]->offset == out[0]->offset + k * rows * W && tg_is_contiguous(out[k]);
        if (!placed) fail_msg("%s: output %d is not plane %d of one (%d, R, W) tensor", what, k, k, n);
        for (int j = 0; j < n_in; j++)
            if (out[k]->storage == in[j]->storage) fail_msg("%s: output %d shares input %d's storage", what, k, j);
    }
    if (n == 1 && !tg_is_contiguous(out[0])) fail_msg("%s: a single output is not contiguous", what);
}

static void compare_case(const case_ctx *c, tg_dtype dtype, double tol)
{
    char what[256], label[320];
    describe(c, what, sizeof what);
    snprintf(what + strlen(what), sizeof what - strlen(what), " %s", tg_dtype_name(dtype));
    tg_manual_seed(201);
    tg_tensor *leaves[MAX_IN], *fused_grads[MAX_IN];
    make_leaves(c, dtype, leaves);
    tg_scope *s = tg_scope_begin();
    /* Views of their own for each version, whose graphs are released by one backward each. */
    tg_tensor *in[MAX_IN], *cin[MAX_IN], *fo[TG_FUSE_MAX_OUTPUTS], *co[TG_FUSE_MAX_OUTPUTS];
    for (int k = 0; k < c->e->n_in; k++) {
        in[k] = view_of(leaves[k], c->layouts[k], c->R, cols_of(c, k));
        cin[k] = view_of(leaves[k], c->layouts[k], c->R, cols_of(c, k));
    }
    if (c->e->fused(c->W, in, fo) != 0) fail_msg("%s: tg_fuse_run failed: %s", what, tg_last_error());
    c->e->composed(c->W, cin, co);
    int64_t rows = co[0]->ndim == 2 ? co[0]->shape[0] : 1;
    assert_outputs_layout(fo, c->e->n_out, rows, c->W, in, c->e->n_in, what);
    for (int k = 0; k < c->e->n_out; k++) {
        assert_true(fo[k]->requires_grad);
        snprintf(label, sizeof label, "%s: output %d", what, k);
        assert_matches(fo[k], tg_reshape(co[k], 2, (int64_t[]){rows, c->W}), tol, label);
    }
    /* The same weighted sum of the outputs through both versions. */
    tg_tensor *w = tg_rand(dtype, 2, (int64_t[]){rows, c->e->n_out * c->W}, -1, 1);
    backward_of(tg_cat(c->e->n_out, fo, 1), w, what);
    for (int k = 0; k < c->e->n_in; k++) {
        fused_grads[k] = leaves[k]->grad;
        leaves[k]->grad = NULL;
        if (!fused_grads[k]) fail_msg("%s: input %d got no gradient", what, k);
    }
    tg_tensor *co_rows[TG_FUSE_MAX_OUTPUTS];
    for (int k = 0; k < c->e->n_out; k++) co_rows[k] = tg_reshape(co[k], 2, (int64_t[]){rows, c->W});
    backward_of(tg_cat(c->e->n_out, co_rows, 1), w, what);
    for (int k = 0; k < c->e->n_in; k++) {
        snprintf(label, sizeof label, "%s: gradient of input %d", what, k);
        assert_matches(fused_grads[k], leaves[k]->grad, tol, label);
        tg_free(fused_grads[k]);
    }
    tg_scope_end(s);
    for (int k = 0; k < c->e->n_in; k++) tg_free(leaves[k]);
}

static void test_matches_composed_ops(void **state)
{
    (void)state;
    static const int64_t sizes[][2] = {{5, 300}, {3, 7}, {1, 9}};
    static const layout lstm_cases[][2] = {
        {L_CONTIG, L_CONTIG}, {L_TRANSPOSED, L_SLICED}, {L_SLICED, L_VECTOR}, {L_CONTIG, L_EXPANDED}, {L_ROW, L_ROW}};
    static const layout gru_cases[][MAX_IN] = {
        {L_CONTIG, L_CONTIG, L_CONTIG, L_VECTOR, L_CONTIG},
        {L_CONTIG, L_TRANSPOSED, L_SLICED, L_VECTOR, L_CONTIG},
        {L_SLICED, L_CONTIG, L_EXPANDED, L_ROW, L_TRANSPOSED},
    };
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int d = 0; d < 2; d++) {
            tg_dtype dtype = d ? TG_F64 : TG_F32;
            double tol = d ? 1e-12 : 1e-6;
            for (size_t i = 0; i < sizeof lstm_cases / sizeof lstm_cases[0]; i++) {
                case_ctx c = {.e = &lstm, .layouts = {lstm_cases[i][0], lstm_cases[i][1]}, .R = sizes[si][0],
                              .W = sizes[si][1]};
                compare_case(&c, dtype, tol);
            }
            for (size_t i = 0; i < sizeof gru_cases / sizeof gru_cases[0]; i++) {
                case_ctx c = {.e = &gru, .R = sizes[si][0], .W = sizes[si][1]};
                memcpy(c.layouts, gru_cases[i], sizeof c.layouts);
                compare_case(&c, dtype, tol);
            }
        }
}

/* An input block as an output as it is, one value as two outputs (its
 * gradient is the sum of both), and a single output. */
static void test_loads_and_repeated_outputs(void **state)
{
    (void)state;
    const int64_t R = 4, W = 6;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        double tol = d ? 1e-12 : 1e-6;
        tg_manual_seed(301);
        tg_tensor *x = make_leaf(dtype, L_TRANSPOSED, R, 2 * W);
        tg_scope *s = tg_scope_begin();
        tg_tensor *xv = tg_transpose(x, 0, 1);
        tg_fuse f;
        tg_fuse_begin(&f, W);
        int x1 = tg_fuse_input(&f, xv, 1);
        int sg = tg_fuse_sigmoid(&f, x1);
        tg_tensor *out[3];
        assert_int_equal(tg_fuse_run(&f, 3, (int[]){x1, sg, x1}, out), 0);
        assert_outputs_layout(out, 3, R, W, &xv, 1, "loads and repeated outputs");
        tg_tensor *xc = tg_transpose(x, 0, 1);
        tg_tensor *expected[3] = {block(xc, 1, W), tg_sigmoid(block(xc, 1, W)), block(xc, 1, W)};
        for (int k = 0; k < 3; k++) assert_matches(out[k], expected[k], tol, "loads and repeated outputs");
        tg_tensor *w = tg_rand(dtype, 2, (int64_t[]){R, 3 * W}, -1, 1);
        backward_of(tg_cat(3, out, 1), w, "loads and repeated outputs");
        tg_tensor *fused_grad = x->grad;
        x->grad = NULL;
        backward_of(tg_cat(3, expected, 1), w, "loads and repeated outputs, composed");
        assert_matches(fused_grad, x->grad, tol, "loads and repeated outputs: gradient");
        tg_free(fused_grad);

        tg_fuse_begin(&f, W);
        tg_tensor *one;
        assert_int_equal(tg_fuse_run(&f, 1, (int[]){tg_fuse_tanh(&f, tg_fuse_input(&f, xv, 0))}, &one), 0);
        assert_outputs_layout(&one, 1, R, W, &xv, 1, "single output");
        assert_matches(one, tg_tanh(block(xv, 0, W)), tol, "single output");
        tg_scope_end(s);
        tg_free(x);
    }
}

static void assert_no_node(tg_tensor **out, int n, const char *what)
{
    for (int k = 0; k < n; k++) {
        if (!out[k]) fail_msg("%s: output %d is NULL (%s)", what, k, tg_last_error());
        if (out[k]->requires_grad || out[k]->node) fail_msg("%s: output %d recorded a node", what, k);
    }
}

/* tg_lerp's two-sided form: weight 1 gives the end exactly, weight 0 the
 * start (start + 1 (end - start) would not always round back to end). */
static void test_lerp_exact_at_ends(void **state)
{
    (void)state;
    const int64_t R = 6, W = 50;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        tg_manual_seed(303);
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_rand(dtype, 2, (int64_t[]){R, 2 * W}, -100, 100);
        tg_tensor *ends[2] = {tg_zeros(dtype, 2, (int64_t[]){R, W}), tg_ones(dtype, 2, (int64_t[]){R, W})};
        tg_tensor *w = tg_cat(2, ends, 1);
        tg_fuse f;
        tg_fuse_begin(&f, W);
        int a = tg_fuse_input(&f, x, 0), b = tg_fuse_input(&f, x, 1);
        int at0 = tg_fuse_lerp(&f, a, b, tg_fuse_input(&f, w, 0));
        int at1 = tg_fuse_lerp(&f, a, b, tg_fuse_input(&f, w, 1));
        tg_tensor *out[2];
        assert_int_equal(tg_fuse_run(&f, 2, (int[]){at0, at1}, out), 0);
        assert_close(out[0], block(x, 0, W), 0, 0, "lerp at weight 0");
        assert_close(out[1], block(x, 1, W), 0, 0, "lerp at weight 1");
        tg_scope_end(s);
    }
}

/* Outside any scope the outputs are persistent, freed one by one with
 * tg_free (the sanitizer builds report a leak or a double free). */
static void test_outside_any_scope(void **state)
{
    (void)state;
    const int64_t R = 3, W = 7;
    tg_manual_seed(302);
    tg_tensor *gates = tg_rand(TG_F64, 2, (int64_t[]){R, 4 * W}, -2, 2);
    tg_tensor *c = tg_rand(TG_F64, 1, (int64_t[]){W}, -2, 2);
    tg_tensor *out[2];
    assert_int_equal(fused_lstm(W, (tg_tensor *[]){gates, c}, out), 0);
    assert_no_node(out, 2, "outside any scope");
    tg_scope *s = tg_scope_begin();
    tg_tensor *expected[2];
    composed_lstm(W, (tg_tensor *[]){gates, c}, expected);
    for (int k = 0; k < 2; k++) assert_matches(out[k], expected[k], 1e-12, "outside any scope");
    tg_scope_end(s);
    for (int k = 0; k < 2; k++) {
        assert_true(out[k]->persistent);
        tg_free(out[k]);
    }
    tg_free(gates);
    tg_free(c);
}

/* No rows: (0, W) results and empty gradients, as the composed ops give. */
static void test_zero_rows(void **state)
{
    (void)state;
    const int64_t W = 4;
    tg_tensor *x = tg_requires_grad(tg_zeros(TG_F32, 2, (int64_t[]){0, 2 * W}), true);
    tg_tensor *b = tg_requires_grad(tg_ones(TG_F32, 1, (int64_t[]){W}), true);
    tg_scope *s = tg_scope_begin();
    tg_fuse f;
    tg_fuse_begin(&f, W);
    int v = tg_fuse_mul(&f, tg_fuse_sigmoid(&f, tg_fuse_input(&f, x, 1)), tg_fuse_add(&f, tg_fuse_input(&f, x, 0),
                                                                                     tg_fuse_input(&f, b, 0)));
    tg_tensor *out;
    assert_int_equal(tg_fuse_run(&f, 1, &v, &out), 0);
    assert_int_equal(out->ndim, 2);
    assert_int_equal(out->shape[0], 0);
    assert_int_equal(out->shape[1], W);
    backward_of(out, tg_zeros(TG_F32, 2, (int64_t[]){0, W}), "zero rows");
    assert_non_null(x->grad);
    assert_true(tg_same_shape(x->grad, x));
    /* b broadcasts over no rows: its gradient is a sum of nothing. */
    assert_non_null(b->grad);
    assert_matches(b->grad, tg_zeros(TG_F32, 1, (int64_t[]){W}), 0, "zero rows: gradient of b");
    tg_scope_end(s);
    tg_free(x);
    tg_free(b);
}

/* A block loaded but read by no output, and a value computed but not
 * returned: the input's gradient there is zero, not whatever the memory
 * held before (the arena is filled with NaN first to tell them apart). */
static void test_unreached_values(void **state)
{
    (void)state;
    const int64_t R = 5, W = 300;
    for (int d = 0; d < 2; d++) {
        tg_dtype dtype = d ? TG_F64 : TG_F32;
        tg_manual_seed(304);
        tg_tensor *x = make_leaf(dtype, L_CONTIG, R, 3 * W);
        tg_scope *s = tg_scope_begin();
        tg_tensor *w = tg_rand(dtype, 2, (int64_t[]){R, W}, -1, 1);
        tg_fuse f;
        tg_fuse_begin(&f, W);
        int x0 = tg_fuse_input(&f, x, 0), x1 = tg_fuse_input(&f, x, 1), x2 = tg_fuse_input(&f, x, 2);
        assert_true(tg_fuse_tanh(&f, x2) >= 0);
        int v = tg_fuse_mul(&f, tg_fuse_sigmoid(&f, x0), x1);
        tg_tensor *out;
        assert_int_equal(tg_fuse_run(&f, 1, &v, &out), 0);
        tg_tensor *loss = tg_sum(tg_mul(out, w), 0, NULL, false);
        tg_scope *dirt = tg_scope_begin();
        for (int k = 0; k < 8; k++) assert_non_null(tg_full(dtype, 2, (int64_t[]){R, 3 * W}, NAN));
        tg_scope_end(dirt);
        assert_int_equal(tg_backward(loss, NULL), 0);
        tg_tensor *fused_grad = x->grad;
        x->grad = NULL;
        backward_of(tg_mul(tg_sigmoid(block(x, 0, W)), block(x, 1, W)), w, "unreached values, composed");
        assert_matches(fused_grad, x->grad, d ? 1e-12 : 1e-6, "unreached values: gradient");
        assert_close(tg_narrow(fused_grad, 1, 2 * W, W), tg_zeros(dtype, 2, (int64_t[]){R, W}), 0, 0,
                     "unreached values: gradient of the unread block");
        tg_free(fused_grad);
        tg_scope_end(s);
        tg_free(x);
    }
}

static tg_tensor *doubled(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    (void)ctx;
    return tg_mul_scalar(grad, 2.0);
}

/* The loss of the outputs-apart cases: mode 0 reads only out[1], mode 1
 * only out[0], mode 2 both with a hook doubling out[0]'s gradient, mode 3
 * both with out[1]'s gradient retained, backpropagated twice through a
 * kept graph. Returns 0 or -1. */
static int backward_apart(int mode, tg_tensor **out, tg_tensor *w)
{
    if (mode == 2 && tg_register_hook(out[0], doubled, NULL) != 0) return -1;
    if (mode == 3 && tg_retain_grad(out[1]) != 0) return -1;
    tg_tensor *y = mode == 0 ? out[1] : mode == 1 ? out[0] : tg_add(out[0], out[1]);
    tg_tensor *loss = tg_sum(tg_mul(y, w), 0, NULL, false);
    if (mode == 3 && tg_backward_retain(loss, NULL) != 0) return -1;
    return tg_backward(loss, NULL);
}

/* Each output of an expression with several hands its gradient to the
 * fused node on its own: an output that gets none counts as zero, and a
 * hook, a retained gradient and a second backward through a kept graph
 * give the inputs what the composed ops give them. */
static void test_outputs_apart(void **state)
{
    (void)state;
    const int64_t R = 4, W = 37;
    for (int mode = 0; mode < 4; mode++) {
        tg_manual_seed(305);
        tg_tensor *leaves[2] = {make_leaf(TG_F64, L_CONTIG, R, 4 * W), make_leaf(TG_F64, L_CONTIG, R, W)};
        tg_scope *s = tg_scope_begin();
        tg_tensor *w = tg_rand(TG_F64, 2, (int64_t[]){R, W}, -1, 1);
        tg_tensor *fused[2], *composed[2], *grads[2];
        assert_int_equal(fused_lstm(W, leaves, fused), 0);
        if (backward_apart(mode, fused, w) != 0) fail_msg("outputs apart, mode %d: %s", mode, tg_last_error());
        for (int k = 0; k < 2; k++) {
            grads[k] = leaves[k]->grad;
            leaves[k]->grad = NULL;
        }
        composed_lstm(W, leaves, composed);
        if (backward_apart(mode, composed, w) != 0) fail_msg("outputs apart, mode %d: %s", mode, tg_last_error());
        char what[64];
        for (int k = 0; k < 2; k++) {
            snprintf(what, sizeof what, "outputs apart, mode %d: gradient of input %d", mode, k);
            assert_matches(grads[k], leaves[k]->grad, 1e-12, what);
            tg_free(grads[k]);
        }
        /* Out[1]'s own gradient: w from each of the two backward calls (the
         * composed c also gets h's share, which the fused node keeps inside). */
        if (mode == 3) {
            assert_non_null(fused[1]->grad);
            assert_matches(fused[1]->grad, tg_mul_scalar(w, 2.0), 0, "outputs apart: retained gradient");
        }
        tg_scope_end(s);
        for (int k = 0; k < 2; k++) tg_free(leaves[k]);
    }
}

/* --- threads ------------------------------------------------------------------------ */

typedef struct {
    void *values;
    void *grads[MAX_IN];
} run_bits;

static void run_for_bits(const case_ctx *c, tg_tensor **leaves, tg_tensor *w, run_bits *bits)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = fused_of_leaves(c->e->n_in, leaves, (void *)c);
    if (!y) fail_msg("threads: tg_fuse_run failed: %s", tg_last_error());
    size_t es = tg_dtype_size(y->dtype);
    bits->values = malloc(es * (size_t)tg_numel(y));
    assert_int_equal(tg_copy_to_array(y, bits->values), 0);
    backward_of(y, w, "threads");
    for (int k = 0; k < c->e->n_in; k++) {
        bits->grads[k] = malloc(es * (size_t)tg_numel(leaves[k]));
        assert_int_equal(tg_copy_to_array(leaves[k]->grad, bits->grads[k]), 0);
        tg_free(leaves[k]->grad);
        leaves[k]->grad = NULL;
    }
    tg_scope_end(s);
}

static void test_same_bits_on_one_and_two_threads(void **state)
{
    (void)state;
    int before = tg_get_num_threads();
    case_ctx cases[2] = {{.e = &gru, .layouts = {L_CONTIG, L_TRANSPOSED, L_SLICED, L_VECTOR, L_CONTIG}},
                         {.e = &lstm, .layouts = {L_TRANSPOSED, L_EXPANDED}}};
    for (int i = 0; i < 2; i++)
        for (int d = 0; d < 2; d++) {
            case_ctx *c = &cases[i];
            c->R = 96;
            c->W = 768;
            tg_dtype dtype = d ? TG_F64 : TG_F32;
            tg_manual_seed(401);
            tg_tensor *leaves[MAX_IN];
            make_leaves(c, dtype, leaves);
            tg_tensor *w = tg_rand(dtype, 2, (int64_t[]){c->R, c->e->n_out * c->W}, -1, 1);
            run_bits bits[2];
            for (int t = 0; t < 2; t++) {
                assert_int_equal(tg_set_num_threads(t + 1), 0);
                run_for_bits(c, leaves, w, &bits[t]);
            }
            size_t es = tg_dtype_size(dtype);
            assert_memory_equal(bits[0].values, bits[1].values, es * (size_t)(c->R * c->e->n_out * c->W));
            free(bits[0].values);
            free(bits[1].values);
            for (int k = 0; k < c->e->n_in; k++) {
                assert_memory_equal(bits[0].grads[k], bits[1].grads[k], es * (size_t)tg_numel(leaves[k]));
                free(bits[0].grads[k]);
                free(bits[1].grads[k]);
                tg_free(leaves[k]);
            }
            tg_free(w);
        }
    tg_set_num_threads(before);
}

/* --- no grad, in-place changes, limits ----------------------------------------------- */

static void test_no_grad(void **state)
{
    (void)state;
    case_ctx c = {.e = &gru, .layouts = {L_CONTIG, L_TRANSPOSED, L_SLICED, L_VECTOR, L_CONTIG}, .R = 5, .W = 300};
    tg_manual_seed(501);
    tg_tensor *leaves[MAX_IN];
    make_leaves(&c, TG_F64, leaves);
    tg_scope *s = tg_scope_begin();
    tg_tensor *in[MAX_IN], *out[3], *expected[3];
    for (int k = 0; k < gru.n_in; k++) in[k] = view_of(leaves[k], c.layouts[k], c.R, cols_of(&c, k));
    bool was = tg_no_grad_begin();
    composed_gru(c.W, in, expected);
    tg_no_grad_end(was);

    /* Inputs that require grad, in no-grad mode. */
    was = tg_no_grad_begin();
    assert_int_equal(fused_gru(c.W, in, out), 0);
    tg_no_grad_end(was);
    assert_no_node(out, 3, "no_grad");
    for (int k = 0; k < 3; k++) assert_matches(out[k], expected[k], 1e-12, "no_grad values");

    /* Inputs that do not require grad, grad mode on. */
    tg_tensor *plain[MAX_IN];
    for (int k = 0; k < gru.n_in; k++) plain[k] = tg_detach(in[k]);
    assert_int_equal(fused_gru(c.W, plain, out), 0);
    assert_no_node(out, 3, "inputs without grad");
    for (int k = 0; k < 3; k++) assert_matches(out[k], expected[k], 1e-12, "inputs without grad values");

    /* Only b requires grad: only b gets a gradient, the same as through the composed ops. */
    plain[3] = in[3];
    assert_int_equal(fused_gru(c.W, plain, out), 0);
    for (int k = 0; k < 3; k++) assert_true(out[k]->requires_grad);
    tg_tensor *w = tg_rand(TG_F64, 2, (int64_t[]){c.R, 3 * c.W}, -1, 1);
    backward_of(tg_cat(3, out, 1), w, "one input requiring grad");
    for (int k = 0; k < gru.n_in; k++)
        if (k != 3) assert_null(leaves[k]->grad);
    tg_tensor *fused_grad = leaves[3]->grad;
    leaves[3]->grad = NULL;
    composed_gru(c.W, plain, expected);
    backward_of(tg_cat(3, expected, 1), w, "one input requiring grad, composed");
    assert_matches(fused_grad, leaves[3]->grad, 1e-12, "gradient of the one input requiring grad");
    tg_free(fused_grad);
    tg_scope_end(s);
    for (int k = 0; k < gru.n_in; k++) tg_free(leaves[k]);
}

/* The backward recomputes from the inputs, so an input changed in place
 * after the forward must make it refuse, not give a gradient of other
 * values; also an input that does not require grad. */
static void test_input_modified_before_backward(void **state)
{
    (void)state;
    tg_tensor *x = tg_from_array(TG_F64, 2, (int64_t[]){2, 2}, (double[]){1, 2, 3, 4});
    tg_tensor *y = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 2}, (double[]){5, 6, 7, 8}), true);
    tg_scope *s = tg_scope_begin();
    tg_fuse f;
    tg_fuse_begin(&f, 2);
    tg_tensor *out;
    int v = tg_fuse_mul(&f, tg_fuse_input(&f, x, 0), tg_fuse_input(&f, y, 0));
    assert_int_equal(tg_fuse_run(&f, 1, &v, &out), 0);
    assert_near(tg_get(out, (int64_t[]){1, 1}), 32, 0);
    tg_tensor *loss = tg_sum(out, 0, NULL, false);
    assert_int_equal(tg_fill_(x, 2.0), 0);
    assert_int_equal(tg_backward(loss, NULL), -1);
    assert_error_contains("modified by an inplace operation");
    assert_null(y->grad);
    tg_scope_end(s);
    tg_free(x);
    tg_free(y);
}

/* An input made by another op, of which the backward reads one block of
 * three, is kept as a copy of that block (the rest of it is left to be
 * reused): changed in place after the forward, it leaves the gradients
 * those of the values the forward read. y = sigmoid(p0) * p2 for p = 1 a,
 * so da0 = sigmoid'(a0) a2, da1 = 0, da2 = sigmoid(a0); p contiguous, and
 * p the transpose of a product's result (columns 2 apart). An input read
 * whole is still refused when changed (test_input_modified_before_backward). */
static void test_partly_read_input_kept_as_copy(void **state)
{
    (void)state;
    double av[12] = {0.5, -1, 2, -0.25, 3, -1.5, -2, 0.75, 1.5, 0.125, -0.5, 4};
    for (int transposed = 0; transposed < 2; transposed++) {
        tg_tensor *a = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 6}, av), true);
        tg_scope *s = tg_scope_begin();
        tg_tensor *p = transposed ? tg_transpose(tg_contiguous(tg_transpose(tg_mul_scalar(a, 1.0), 0, 1)), 0, 1)
                                  : tg_mul_scalar(a, 1.0);
        assert_true(p->stride[1] == (transposed ? 2 : 1));
        tg_fuse f;
        tg_fuse_begin(&f, 2);
        tg_tensor *out;
        int v = tg_fuse_mul(&f, tg_fuse_sigmoid(&f, tg_fuse_input(&f, p, 0)), tg_fuse_input(&f, p, 2));
        assert_int_equal(tg_fuse_run(&f, 1, &v, &out), 0);
        tg_tensor *loss = tg_sum(out, 0, NULL, false);
        bool was = tg_set_grad_enabled(false);
        assert_int_equal(tg_fill_(p, 7.0), 0);
        tg_set_grad_enabled(was);
        if (tg_backward(loss, NULL) != 0) fail_msg("backward (transposed %d): %s", transposed, tg_last_error());
        assert_non_null(a->grad);
        for (int r = 0; r < 2; r++)
            for (int k = 0; k < 2; k++) {
                double x = av[6 * r + k], sig = 1 / (1 + exp(-x));
                assert_near(tg_get(a->grad, (int64_t[]){r, k}), sig * (1 - sig) * av[6 * r + 4 + k], 1e-15);
                assert_near(tg_get(a->grad, (int64_t[]){r, 2 + k}), 0, 0);
                assert_near(tg_get(a->grad, (int64_t[]){r, 4 + k}), sig, 1e-15);
            }
        tg_scope_end(s);
        tg_free(a);
    }
}

/* TG_FUSE_MAX_VALUES values and TG_FUSE_MAX_INPUTS distinct inputs are
 * allowed (a tensor handed in again takes no new slot); one more is not. */
static void test_limits(void **state)
{
    (void)state;
    const int64_t R = 3, W = 5;
    tg_manual_seed(601);
    tg_tensor *x[TG_FUSE_MAX_INPUTS + 1];
    for (int k = 0; k <= TG_FUSE_MAX_INPUTS; k++) x[k] = make_leaf(TG_F64, L_CONTIG, R, W);
    tg_scope *s = tg_scope_begin();
    tg_fuse f;
    tg_tensor *out;

    tg_fuse_begin(&f, W);
    int v = tg_fuse_input(&f, x[0], 0);
    tg_tensor *expected = x[0];
    for (int k = 1; k < TG_FUSE_MAX_VALUES; k++) {
        v = tg_fuse_sigmoid(&f, v);
        expected = tg_sigmoid(expected);
    }
    assert_true(v >= 0);
    assert_int_equal(tg_fuse_run(&f, 1, &v, &out), 0);
    assert_matches(out, expected, 1e-12, "a chain of TG_FUSE_MAX_VALUES values");

    tg_clear_error();
    tg_fuse_begin(&f, W);
    v = tg_fuse_input(&f, x[0], 0);
    for (int k = 1; k < TG_FUSE_MAX_VALUES; k++) v = tg_fuse_sigmoid(&f, v);
    assert_int_equal(tg_fuse_sigmoid(&f, v), -1);
    assert_error_contains("tg_fuse_sigmoid");
    out = x[0];
    assert_int_equal(tg_fuse_run(&f, 1, &v, &out), -1);
    assert_null(out);

    tg_fuse_begin(&f, W);
    v = tg_fuse_input(&f, x[0], 0);
    expected = x[0];
    for (int k = 1; k < TG_FUSE_MAX_INPUTS; k++) {
        v = tg_fuse_add(&f, v, tg_fuse_input(&f, x[k], 0));
        expected = tg_add(expected, x[k]);
    }
    v = tg_fuse_mul(&f, v, tg_fuse_input(&f, x[0], 0));
    expected = tg_mul(expected, x[0]);
    assert_true(v >= 0);
    assert_int_equal(tg_fuse_run(&f, 1, &v, &out), 0);
    assert_matches(out, expected, 1e-12, "TG_FUSE_MAX_INPUTS inputs, one handed in twice");
    assert_int_equal(tg_backward(tg_sum(out, 0, NULL, false), NULL), 0);
    for (int k = 0; k < TG_FUSE_MAX_INPUTS; k++) {
        assert_non_null(x[k]->grad);
        tg_free(x[k]->grad);
        x[k]->grad = NULL;
    }

    tg_clear_error();
    tg_fuse_begin(&f, W);
    for (int k = 0; k < TG_FUSE_MAX_INPUTS; k++) assert_true(tg_fuse_input(&f, x[k], 0) >= 0);
    assert_int_equal(tg_fuse_input(&f, x[TG_FUSE_MAX_INPUTS], 0), -1);
    assert_error_contains("tg_fuse_input");
    out = x[0];
    assert_int_equal(tg_fuse_run(&f, 1, (int[]){0}, &out), -1);
    assert_null(out);
    tg_scope_end(s);
    for (int k = 0; k <= TG_FUSE_MAX_INPUTS; k++) tg_free(x[k]);
}

/* --- bad expressions ------------------------------------------------------------------ */

/* tg_fuse_run of a failed or bad expression: -1, out[0..n) all NULL, and
 * the message holds needle and needle2 (when given). */
static void assert_run_fails_impl(tg_fuse *f, int n, const int *values, const char *needle, const char *needle2,
                                  const char *file, int line)
{
    static tg_tensor dummy;
    tg_tensor *out[8];
    for (int k = 0; k < 8; k++) out[k] = &dummy;
    int rc = tg_fuse_run(f, n, values, out);
    if (rc != -1) fail_at(file, line, "tg_fuse_run returned %d, expected -1", rc);
    for (int k = 0; k < n && k < 8; k++)
        if (out[k]) fail_at(file, line, "out[%d] is not NULL after a failure", k);
    if (!strstr(tg_last_error(), needle) || (needle2 && !strstr(tg_last_error(), needle2)))
        fail_at(file, line, "expected an error containing '%s'%s%s%s, got '%s'", needle, needle2 ? " and '" : "",
                needle2 ? needle2 : "", needle2 ? "'" : "", tg_last_error());
}
#define assert_run_fails(f, n, values, needle, needle2) \
    assert_run_fails_impl(f, n, values, needle, needle2, __FILE__, __LINE__)

static void test_bad_expressions(void **state)
{
    (void)state;
    const int64_t W = 5;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_rand(TG_F64, 2, (int64_t[]){3, 2 * W}, -1, 1);
    tg_tensor *x13 = tg_rand(TG_F64, 2, (int64_t[]){3, 13}, -1, 1);
    tg_tensor *x4 = tg_rand(TG_F64, 2, (int64_t[]){4, W}, -1, 1);
    tg_tensor *row = tg_rand(TG_F64, 2, (int64_t[]){1, W}, -1, 1);
    tg_tensor *x32 = tg_rand(TG_F32, 2, (int64_t[]){3, W}, -1, 1);
    tg_tensor *x3d = tg_rand(TG_F64, 3, (int64_t[]){3, 2, W}, -1, 1);
    tg_tensor *x0d = tg_scalar(TG_F64, 1);
    tg_tensor *ints = tg_zeros(TG_I64, 2, (int64_t[]){3, W});
    tg_fuse f;

    /* A width below 1 fails the whole expression. */
    int widths[] = {0, -3};
    for (int i = 0; i < 2; i++) {
        tg_clear_error();
        tg_fuse_begin(&f, widths[i]);
        assert_error_contains("tg_fuse_begin");
        if (widths[i] < 0) assert_error_contains("-3");
        assert_int_equal(tg_fuse_input(&f, x, 0), -1);
        assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_begin", NULL);
    }

    /* Inputs of the wrong kind. */
    tg_tensor *bad_inputs[] = {x3d, x0d, ints};
    for (int i = 0; i < 3; i++) {
        tg_clear_error();
        tg_fuse_begin(&f, W);
        assert_int_equal(tg_fuse_input(&f, bad_inputs[i], 0), -1);
        assert_error_contains("tg_fuse_input");
        assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", i == 2 ? "int64" : NULL);
    }

    /* Mixed dtypes. */
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_input(&f, x32, 0), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", "float");

    /* Blocks out of range: past the end, partly past it (columns [10, 15)
     * of 13), negative. Block 1 of the 13 columns fits. */
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_int_equal(tg_fuse_input(&f, x, 7), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", "7");
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x13, 1) >= 0);
    assert_int_equal(tg_fuse_input(&f, x13, 2), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", NULL);
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_int_equal(tg_fuse_input(&f, x, -1), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", "-1");

    /* Rows: 3 against 4, also after a broadcasting (1, W) input. */
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_input(&f, x4, 0), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", NULL);
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, row, 0) >= 0);
    assert_true(tg_fuse_input(&f, x4, 0) >= 0);
    assert_int_equal(tg_fuse_input(&f, x, 0), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", NULL);

    /* Operands that are not earlier values. */
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_add(&f, 0, 99), -1);
    assert_error_contains("tg_fuse_add");
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_add", "99");
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_mul(&f, 0, 1), -1); /* value 1 does not exist yet */
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_mul", NULL);
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_lerp(&f, 0, 0, -7), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_lerp", "-7");
    /* -1 where nothing failed before is a bad index too, not a failure to pass on. */
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_sigmoid(&f, -1), -1);
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_sigmoid", NULL);

    /* Output counts and output indices, each on a fresh expression. */
    static const struct {
        int n, values[TG_FUSE_MAX_OUTPUTS + 1];
        const char *needle;
    } runs[] = {{0, {1}, NULL}, {TG_FUSE_MAX_OUTPUTS + 1, {1, 1, 1, 1, 1}, NULL}, {2, {1, 99}, "99"}, {1, {-2}, "-2"}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        tg_clear_error();
        tg_fuse_begin(&f, W);
        assert_int_equal(tg_fuse_tanh(&f, tg_fuse_input(&f, x, 0)), 1);
        assert_run_fails(&f, runs[i].n, runs[i].values, "tg_fuse_run", runs[i].needle);
    }

    /* The first failure keeps its message; later calls pass -1 on without one. */
    tg_clear_error();
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_input(&f, x3d, 0), -1);
    assert_int_equal(tg_fuse_add(&f, 0, 99), -1);
    assert_int_equal(tg_fuse_sigmoid(&f, 0), -1);
    assert_int_equal(tg_fuse_input(&f, x, 1), -1);
    assert_null(strstr(tg_last_error(), "99"));
    assert_run_fails(&f, 1, (int[]){0}, "tg_fuse_input", NULL);

    /* A NULL tensor from a failed op fails the expression; the op's message stays. */
    tg_clear_error();
    tg_tensor *broken = tg_add(x, x4);
    assert_null(broken);
    assert_error_contains("tg_add");
    tg_fuse_begin(&f, W);
    assert_true(tg_fuse_input(&f, x, 0) >= 0);
    assert_int_equal(tg_fuse_input(&f, broken, 0), -1);
    assert_int_equal(tg_fuse_relu(&f, 1), -1);
    assert_run_fails(&f, 2, ((int[]){0, 1}), "tg_add", NULL);

    /* The fields are the caller's: an expression altered by hand is
     * refused by the run, naming the value, before a kernel reads it. */
    static const struct {
        int field, value;
        const char *needle;
    } altered[] = {
        {0, 42, "value 1 has unknown op 42"},
        {1, 7, "value 1: operand 0 is 7, not an earlier value"},
        {1, 1, "value 1: operand 0 is 1, not an earlier value"},
        {2, 0, "value 1: operand 1 is 0, where its op takes none (-1)"},
        {3, 5, "value 0 loads input 5, but the expression has 1"},
        {4, 2, "value 0 loads block 2 of width 5, outside the 10 columns of input 0"},
        {5, 99, "99 values"},
        {6, 4, "input 0 of shape [3,10] (float64) does not fit the expression's 4 rows"},
    };
    for (size_t i = 0; i < sizeof altered / sizeof altered[0]; i++) {
        tg_clear_error();
        tg_fuse_begin(&f, W);
        assert_int_equal(tg_fuse_sigmoid(&f, tg_fuse_input(&f, x, 0)), 1);
        switch (altered[i].field) {
        case 0: f.values[1].op = (uint8_t)altered[i].value; break;
        case 1: f.values[1].a = (int8_t)altered[i].value; break;
        case 2: f.values[1].b = (int8_t)altered[i].value; break;
        case 3: f.values[0].input = (int8_t)altered[i].value; break;
        case 4: f.values[0].block = altered[i].value; break;
        case 5: f.n_values = altered[i].value; break;
        case 6: f.rows = altered[i].value; break;
        }
        assert_run_fails(&f, 1, (int[]){1}, "tg_fuse_run: ", altered[i].needle);
    }

    /* A NULL expression is reported by each builder call, naming it. */
    tg_clear_error();
    tg_fuse_begin(NULL, W);
    assert_error_contains("tg_fuse_begin");
    assert_error_contains("NULL");
    tg_clear_error();
    assert_int_equal(tg_fuse_input(NULL, x, 0), -1);
    assert_error_contains("tg_fuse_input");
    assert_error_contains("NULL");
    tg_clear_error();
    assert_int_equal(tg_fuse_add(NULL, 0, 0), -1);
    assert_error_contains("tg_fuse_add");
    tg_clear_error();
    assert_int_equal(tg_fuse_lerp(NULL, 0, 0, 0), -1);
    assert_error_contains("tg_fuse_lerp");
    tg_clear_error();
    assert_int_equal(tg_fuse_tanh(NULL, 0), -1);
    assert_error_contains("tg_fuse_tanh");
    assert_run_fails(NULL, 1, (int[]){0}, "tg_fuse_run", "NULL");

    tg_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_lstm_layouts),
        cmocka_unit_test(test_gradcheck_gru_every_op),
        cmocka_unit_test(test_matches_composed_ops),
        cmocka_unit_test(test_loads_and_repeated_outputs),
        cmocka_unit_test(test_lerp_exact_at_ends),
        cmocka_unit_test(test_unreached_values),
        cmocka_unit_test(test_outputs_apart),
        cmocka_unit_test(test_outside_any_scope),
        cmocka_unit_test(test_zero_rows),
        cmocka_unit_test(test_same_bits_on_one_and_two_threads),
        cmocka_unit_test(test_no_grad),
        cmocka_unit_test(test_input_modified_before_backward),
        cmocka_unit_test(test_partly_read_input_kept_as_copy),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_expressions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
