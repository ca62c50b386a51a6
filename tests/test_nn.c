/* NN functions: softmax, log_softmax, layer_norm, dropout. Golden values
 * and gradients from PyTorch in F32 and F64 (contiguous and strided
 * inputs), gradchecks on contiguous, transposed, sliced and broadcast
 * inputs, dropout statistics, and bad inputs. */
#include "support.h"
#include <tapegrad/nn.h>

#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- golden cases ------------------------------------------------------------ */

static tg_tensor *op_softmax_d1(tg_tensor **in) { return tg_softmax(in[0], 1); }
static tg_tensor *op_softmax_d0(tg_tensor **in) { return tg_softmax(in[0], 0); }
static tg_tensor *op_softmax_last(tg_tensor **in) { return tg_softmax(in[0], -1); }
static tg_tensor *op_log_softmax_d1(tg_tensor **in) { return tg_log_softmax(in[0], 1); }
static tg_tensor *op_log_softmax_d0(tg_tensor **in) { return tg_log_softmax(in[0], 0); }
static tg_tensor *op_log_softmax_last(tg_tensor **in) { return tg_log_softmax(in[0], -1); }
static tg_tensor *op_layer_norm_1(tg_tensor **in) { return tg_layer_norm(in[0], 1, in[1], in[2], 1e-5); }
static tg_tensor *op_layer_norm_2(tg_tensor **in) { return tg_layer_norm(in[0], 2, in[1], in[2], 1e-5); }
static tg_tensor *op_layer_norm_plain(tg_tensor **in) { return tg_layer_norm(in[0], 1, NULL, NULL, 1e-5); }
static tg_tensor *op_layer_norm_weight(tg_tensor **in) { return tg_layer_norm(in[0], 1, in[1], NULL, 1e-3); }
static tg_tensor *op_layer_norm_all(tg_tensor **in) { return tg_layer_norm(in[0], 2, NULL, in[1], 1e-5); }
static tg_tensor *op_dropout_eval(tg_tensor **in) { return tg_dropout(in[0], 0.5, false); }
static tg_tensor *op_dropout_p0(tg_tensor **in) { return tg_dropout(in[0], 0.0, true); }
static tg_tensor *op_dropout_p1(tg_tensor **in) { return tg_dropout(in[0], 1.0, true); }

static void test_golden(void **state)
{
    (void)state;
    static const golden_case cases[] = {
        {"softmax_d1", 1, 0, 1, op_softmax_d1},
        {"softmax_d0", 1, 0, 1, op_softmax_d0},
        {"softmax_3d", 1, 0, 1, op_softmax_d1},
        {"softmax_big", 1, 0, 1, op_softmax_last},
        {"softmax_0d", 1, 0, 1, op_softmax_d0},
        {"log_softmax_d1", 1, 0, 1, op_log_softmax_d1},
        {"log_softmax_d0", 1, 0, 1, op_log_softmax_d0},
        {"log_softmax_3d", 1, 0, 1, op_log_softmax_d1},
        {"log_softmax_big", 1, 0, 1, op_log_softmax_last},
        {"log_softmax_0d", 1, 0, 1, op_log_softmax_d0},
        {"layer_norm_1", 3, 0, 7, op_layer_norm_1},
        {"layer_norm_2", 3, 0, 7, op_layer_norm_2},
        {"layer_norm_plain", 1, 0, 1, op_layer_norm_plain},
        {"layer_norm_weight", 2, 0, 3, op_layer_norm_weight},
        {"layer_norm_all", 2, 0, 3, op_layer_norm_all},
        {"dropout_eval", 1, 0, 1, op_dropout_eval},
        {"dropout_p0", 1, 0, 1, op_dropout_p0},
        {"dropout_p1", 1, 0, 1, op_dropout_p1},
    };
    run_golden_cases("nn.txt", cases, sizeof cases / sizeof cases[0]);
}

/* --- gradchecks -----------------------------------------------------------------
 * The first input runs on a view of its leaf in four layouts. */

typedef struct {
    layout_input x;
    int dim;
} check_ctx;

static tg_tensor *gc_softmax(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_softmax(layout_view(in[0], &c->x), c->dim);
}
static tg_tensor *gc_log_softmax(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    return tg_log_softmax(layout_view(in[0], &c->x), c->dim);
}
static tg_tensor *gc_layer_norm(int n, tg_tensor **in, void *vctx)
{
    check_ctx *c = vctx;
    /* A sliced weight (every other element) tests a strided affine too. */
    tg_tensor *w = n > 1 ? tg_select(tg_view(in[1], 2, (int64_t[]){-1, 2}), 1, 0) : NULL;
    return tg_layer_norm(layout_view(in[0], &c->x), c->dim, w, n > 2 ? in[2] : NULL, 1e-5);
}
/* Layer norm of each of 2 blocks of the last dim (6 -> 2 x 3), with a
 * weight and bias of the whole last dim, as a recurrent layer uses it. */
static tg_tensor *gc_layer_norm_blocks(int n, tg_tensor **in, void *vctx)
{
    check_ctx *c = vctx;
    return tg__layer_norm_blocks(layout_view(in[0], &c->x), 2, n > 1 ? in[1] : NULL, n > 2 ? in[2] : NULL, 1e-5);
}
static tg_tensor *gc_dropout(int n, tg_tensor **in, void *vctx)
{
    (void)n;
    check_ctx *c = vctx;
    tg_manual_seed(11); /* the same mask on every evaluation */
    return tg_dropout(layout_view(in[0], &c->x), 0.4, true);
}

/* Gradcheck fn in every layout of input 0 (c->x), with extra leaves. */
static void check_layouts(tg_gradcheck_fn fn, check_ctx *c, int n_extra, const leaf_spec *extra, const char *what)
{
    assert_gradcheck_layouts(fn, c, &c->x, -2, 2, n_extra, extra, what);
}

static void test_gradcheck(void **state)
{
    (void)state;
    check_ctx c = {.x = {.ndim = 3, .shape = {3, 4, 5}}, .dim = 1};
    check_layouts(gc_softmax, &c, 0, NULL, "softmax dim 1");
    check_layouts(gc_log_softmax, &c, 0, NULL, "log_softmax dim 1");
    c.dim = -1;
    check_layouts(gc_softmax, &c, 0, NULL, "softmax dim -1");
    check_layouts(gc_log_softmax, &c, 0, NULL, "log_softmax dim -1");
    c.dim = 0;
    check_layouts(gc_log_softmax, &c, 0, NULL, "log_softmax dim 0");
    /* layer norm over the last dim (5) and the last two (4, 5). */
    c.dim = 1;
    check_layouts(gc_layer_norm, &c, 2, (leaf_spec[]){{1, {10}, -2, 2}, {1, {5}, -2, 2}}, "layer_norm affine");
    check_layouts(gc_layer_norm, &c, 0, NULL, "layer_norm plain");
    c.dim = 2;
    check_layouts(gc_layer_norm, &c, 0, NULL, "layer_norm 2 dims");
    check_layouts(gc_dropout, &c, 0, NULL, "dropout");
    c.x = (layout_input){.ndim = 3, .shape = {3, 4, 6}};
    check_layouts(gc_layer_norm_blocks, &c, 2, (leaf_spec[]){{1, {6}, -2, 2}, {1, {6}, -2, 2}}, "layer_norm blocks");
    check_layouts(gc_layer_norm_blocks, &c, 1, (leaf_spec[]){{1, {6}, -2, 2}}, "layer_norm blocks, weight only");
}

/* layer norm over two dims with (4, 5) weight and bias. */
static tg_tensor *gc_layer_norm_2d_affine(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_layer_norm(in[0], 2, tg_transpose(in[1], 0, 1), in[2], 1e-5);
}

static void test_layer_norm_2d_affine(void **state)
{
    (void)state;
    tg_tensor *in[3] = {leaf_f64(3, (int64_t[]){2, 4, 5}, -2, 2), leaf_f64(2, (int64_t[]){5, 4}, -2, 2),
                        leaf_f64(2, (int64_t[]){4, 5}, -2, 2)};
    assert_gradcheck(gc_layer_norm_2d_affine, in, 3, NULL, "layer_norm (4,5) affine");
    for (int k = 0; k < 3; k++) tg_free(in[k]);
}

/* Blocks normalised by tg__layer_norm_blocks match the plain layer norm of
 * the split view followed by the affine (forward and every gradient), for
 * one block and several, both dtypes, and 1 or 2 threads: the affine's
 * gradients, summed by column pieces on threads, agree bit for bit. */
static void test_layer_norm_blocks_values(void **state)
{
    (void)state;
    const int64_t cases[3][3] = {{5, 12, 3}, {7, 10, 1}, {96, 768, 4}}; /* rows, C, blocks */
    int before = tg_get_num_threads();
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        double tol = d ? 1e-12 : 2e-5;
        for (int c = 0; c < 3; c++) {
            int64_t rows = cases[c][0], C = cases[c][1], blocks = cases[c][2];
            tg_manual_seed(5 + (uint64_t)c);
            tg_tensor *leaf[3] = {tg_randn(dt, 2, (int64_t[]){rows, C}, 0.5, 2), tg_randn(dt, 1, &C, 1, 0.5),
                                  tg_randn(dt, 1, &C, 0, 1)};
            tg_tensor *g = tg_randn(dt, 2, (int64_t[]){rows, C}, 0, 1);
            for (int k = 0; k < 3; k++) tg_requires_grad(leaf[k], true);
            tg_tensor *ref[4], *got[2][4];
            for (int way = 0; way < 3; way++) { /* 0: composition; 1, 2: blocks on 1, 2 threads */
                tg_set_num_threads(way ? way : 1);
                tg_zero_grad(3, leaf);
                tg_scope *s = tg_scope_begin();
                tg_tensor *y;
                if (way == 0) {
                    tg_tensor *split = tg_view(leaf[0], 3, (int64_t[]){rows, blocks, C / blocks});
                    y = tg_view(tg_layer_norm(split, 1, NULL, NULL, 1e-5), 2, (int64_t[]){rows, C});
                    y = tg_addcmul(leaf[2], y, leaf[1], 1.0);
                } else {
                    y = tg__layer_norm_blocks(leaf[0], blocks, leaf[1], leaf[2], 1e-5);
                }
                assert_non_null(y);
                assert_int_equal(tg_backward(y, g), 0);
                tg_tensor **out = way == 0 ? ref : got[way - 1];
                out[0] = tg_keep(y);
                for (int k = 0; k < 3; k++) out[1 + k] = tg_keep(leaf[k]->grad);
                tg_scope_end(s);
            }
            for (int k = 0; k < 4; k++) {
                assert_close(got[0][k], ref[k], tol, tol, "layer_norm blocks");
                assert_memory_equal(tg_data(got[0][k]), tg_data(got[1][k]), (size_t)tg_numel(ref[k]) * tg_dtype_size(dt));
                tg_free(ref[k]);
                tg_free(got[0][k]);
                tg_free(got[1][k]);
            }
            for (int k = 0; k < 3; k++) tg_free(leaf[k]);
            tg_free(g);
        }
    }
    tg_set_num_threads(before);
}

/* --- behaviour ------------------------------------------------------------------- */

/* Float32 lines longer than the vector exp's piece of the line (256),
 * with a tail, forward and backward of both kinds: within float rounding
 * of the same computed in float64. */
static void test_softmax_long_lines(void **state)
{
    (void)state;
    tg_manual_seed(17);
    tg_tensor *x64 = tg_rand(TG_F64, 2, (int64_t[]){3, 1000}, -20, 20);
    tg_tensor *g64 = tg_randn(TG_F64, 2, (int64_t[]){3, 1000}, 0, 1);
    tg_tensor *x32 = tg_requires_grad(tg_cast(x64, TG_F32), true), *g32 = tg_cast(g64, TG_F32);
    tg_requires_grad(x64, true);
    for (int log_kind = 0; log_kind < 2; log_kind++) {
        tg_zero_grad(1, &x64);
        tg_zero_grad(1, &x32);
        tg_scope *s = tg_scope_begin();
        tg_tensor *y64 = log_kind ? tg_log_softmax(x64, 1) : tg_softmax(x64, 1);
        tg_tensor *y32 = log_kind ? tg_log_softmax(x32, 1) : tg_softmax(x32, 1);
        assert_close(y32, y64, 1e-5, log_kind ? 1e-5 : 1e-9, "long line forward");
        assert_int_equal(tg_backward(y64, g64), 0);
        assert_int_equal(tg_backward(y32, g32), 0);
        assert_close(x32->grad, x64->grad, 1e-5, 1e-6, "long line backward");
        tg_scope_end(s);
    }
    tg_free(x64);
    tg_free(g64);
    tg_free(x32);
    tg_free(g32);
}

static void test_softmax_values(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    /* Huge logits: no overflow, exact one-hot. */
    tg_tensor *x = tg_from_array(TG_F32, 1, (int64_t[]){3}, (float[]){1e4f, -1e4f, 0});
    tg_tensor *y = tg_softmax(x, 0);
    assert_true(tg_get(y, (int64_t[]){0}) == 1 && tg_get(y, (int64_t[]){1}) == 0);
    tg_tensor *ly = tg_log_softmax(x, 0);
    assert_true(tg_get(ly, (int64_t[]){0}) == 0 && tg_get(ly, (int64_t[]){1}) == -2e4f);
    /* Rows sum to one along the chosen dim. */
    tg_tensor *r = tg_softmax(tg_randn(TG_F64, 2, (int64_t[]){4, 6}, 0, 3), 0);
    tg_tensor *sums = tg_sum(r, 1, (int[]){0}, false);
    for (int64_t j = 0; j < 6; j++) assert_true(fabs(tg_get(sums, &j) - 1) < 1e-14);
    tg_scope_end(s);
}

static void test_dropout(void **state)
{
    (void)state;
    const double p = 0.3;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F32, 2, (int64_t[]){200, 500}), true);
    tg_scope *s = tg_scope_begin();
    tg_manual_seed(5);
    tg_tensor *y = tg_dropout(x, p, true);
    int64_t zeros = 0, n = tg_numel(y);
    const float *py = tg_data(y);
    for (int64_t i = 0; i < n; i++) {
        if (py[i] == 0) zeros++;
        else assert_float_equal(py[i], 1 / (1 - p), 1e-6); /* survivors scaled by 1 / (1 - p) */
    }
    assert_true(fabs((double)zeros / (double)n - p) < 0.01);
    /* The same seed gives the same mask; the gradient is the mask times the scale. */
    tg_manual_seed(5);
    tg_tensor *again = tg_dropout(x, p, true);
    assert_memory_equal(tg_data(again), py, sizeof(float) * (size_t)n);
    assert_int_equal(tg_backward(tg_sum(y, 0, NULL, false), NULL), 0);
    assert_memory_equal(tg_data(x->grad), py, sizeof(float) * (size_t)n);
    /* A different seed gives a different mask. */
    tg_manual_seed(6);
    assert_true(memcmp(tg_data(tg_dropout(x, p, true)), py, sizeof(float) * (size_t)n) != 0);
    /* Evaluation and p == 0 return x's values in a new header (never x
     * itself); p == 1 zeros everything. */
    tg_tensor *eval = tg_dropout(x, p, false), *p0 = tg_dropout(x, 0, true);
    assert_true(eval != x && eval->storage == x->storage && p0 != x && p0->storage == x->storage);
    assert_true(tg_item(tg_sum(tg_abs(tg_dropout(x, 1, true)), 0, NULL, false)) == 0);
    tg_scope_end(s);
    tg_free(x);
}

static tg_tensor *op_softmax(tg_tensor *x) { return tg_softmax(x, 1); }
static tg_tensor *op_log_softmax(tg_tensor *x) { return tg_log_softmax(x, 0); }
static tg_tensor *op_dropout(tg_tensor *x)
{
    tg_manual_seed(3);
    return tg_dropout(x, 0.5, true);
}

/* The backward of softmax and log_softmax reads y, dropout's its mask: x,
 * and dropout's y, changed in place after the forward leave the gradient
 * as it was, as in torch (the backward refused to run). */
static void test_values_the_backward_does_not_read(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, -1, 0, 4}), true);
    tg_tensor *gout = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){0.5, -1, 2, 1, 0.25, -3});
    tg_tensor *(*ops[])(tg_tensor *) = {op_softmax, op_log_softmax, op_dropout};
    for (int k = 0; k < 3; k++) assert_change_keeps_grad(ops[k], x, gout, true, k == 2);
    tg_free(gout);
    tg_free(x);
}

/* Outside any scope and without a graph, the ops return persistent results
 * and keep nothing else (the leak checker of the sanitizer build sees the
 * rest). */
static void test_outside_scope(void **state)
{
    (void)state;
    tg_tensor *x = tg_randn(TG_F32, 2, (int64_t[]){4, 3}, 0, 1);
    tg_tensor *xt = tg_transpose(x, 0, 1);
    tg_tensor *w = tg_ones(TG_F32, 1, (int64_t[]){4}), *w8 = tg_ones(TG_F32, 1, (int64_t[]){8});
    tg_tensor *ws = tg_narrow(w8, 0, 2, 4);
    tg_tensor *results[] = {tg_softmax(xt, 1), tg_log_softmax(xt, 0), tg_layer_norm(xt, 1, ws, w, 1e-5),
                            tg_dropout(xt, 0.5, true)};
    for (int i = 0; i < 4; i++) {
        assert_non_null(results[i]);
        assert_true(results[i]->persistent);
        tg_free(results[i]);
    }
    tg_free(ws);
    tg_free(w8);
    tg_free(w);
    tg_free(xt);
    tg_free(x);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F32, 2, (int64_t[]){3, 4});
    tg_tensor *ix = tg_zeros(TG_I64, 2, (int64_t[]){3, 4});
    assert_null(tg_softmax(x, 2));
    assert_error_contains("tg_softmax: Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    assert_null(tg_log_softmax(ix, 1));
    assert_error_contains("tg_log_softmax: expected a float32 or float64 tensor, got int64");

    assert_null(tg_dropout(x, -0.1, true));
    assert_error_contains("tg_dropout: dropout probability has to be between 0 and 1, but got -0.1");
    assert_null(tg_dropout(x, 1.5, false));
    assert_error_contains("but got 1.5");
    assert_null(tg_dropout(x, NAN, true));
    assert_error_contains("tg_dropout: dropout probability");
    assert_null(tg_dropout(ix, 0.5, true));
    assert_error_contains("tg_dropout: expected a float32 or float64 tensor, got int64");

    tg_tensor *w = tg_ones(TG_F32, 1, (int64_t[]){4});
    assert_null(tg_layer_norm(x, 0, NULL, NULL, 1e-5));
    assert_error_contains("tg_layer_norm: n_normalized must be in [1, 2] for input of shape [3,4], got 0");
    assert_null(tg_layer_norm(x, 3, NULL, NULL, 1e-5));
    assert_error_contains("got 3");
    assert_null(tg_layer_norm(x, 1, tg_ones(TG_F32, 1, (int64_t[]){3}), NULL, 1e-5));
    assert_error_contains("tg_layer_norm: Expected weight of the normalized shape (the last 1 dims of input [3,4])");
    assert_null(tg_layer_norm(x, 1, w, tg_ones(TG_F64, 1, (int64_t[]){4}), 1e-5));
    assert_error_contains("tg_layer_norm: Expected bias of the normalized shape");
    assert_error_contains("got float64 [4]");
    assert_null(tg_layer_norm(ix, 1, NULL, NULL, 1e-5));
    assert_error_contains("tg_layer_norm: expected a float32 or float64 tensor, got int64");
    assert_null(tg__layer_norm_blocks(x, 3, NULL, NULL, 1e-5));
    assert_error_contains("tg__layer_norm_blocks: the last dim of input [3,4] does not split into 3 blocks");
    assert_null(tg__layer_norm_blocks(x, 0, NULL, NULL, 1e-5));
    assert_error_contains("does not split into 0 blocks");
    assert_null(tg__layer_norm_blocks(x, 2, tg_ones(TG_F32, 1, (int64_t[]){2}), NULL, 1e-5));
    assert_error_contains("tg__layer_norm_blocks: Expected weight of shape [4] and dtype float32 for input [3,4], got float32 [2]");
    assert_null(tg__layer_norm_blocks(x, 2, w, tg_ones(TG_F64, 1, (int64_t[]){4}), 1e-5));
    assert_error_contains("Expected bias of shape [4] and dtype float32 for input [3,4], got float64 [4]");
    assert_null(tg__layer_norm_blocks(ix, 1, NULL, NULL, 1e-5));
    assert_error_contains("tg__layer_norm_blocks: expected a float32 or float64 tensor, got int64");

    tg_clear_error();
    assert_null(tg_softmax(NULL, 0));
    assert_null(tg_layer_norm(NULL, 1, w, NULL, 1e-5));
    assert_null(tg_dropout(NULL, 0.5, true));
    assert_string_equal(tg_last_error(), "");
    tg_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),         cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_layer_norm_2d_affine), cmocka_unit_test(test_layer_norm_blocks_values),
        cmocka_unit_test(test_softmax_values), cmocka_unit_test(test_softmax_long_lines),
        cmocka_unit_test(test_dropout),              cmocka_unit_test(test_values_the_backward_does_not_read),
        cmocka_unit_test(test_outside_scope),        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
