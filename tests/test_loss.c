/* Losses: golden values and gradients from PyTorch in F32 and F64
 * (contiguous and strided inputs), gradchecks on contiguous, transposed,
 * sliced and broadcast inputs, and bad inputs. */
#include "support.h"
#include <tapegrad/nn.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* --- golden cases ------------------------------------------------------------ */

typedef tg_tensor *(*pointwise_loss)(tg_tensor *a, tg_tensor *b, tg_reduction r);

#define REDUCTION_OPS(name, call)                                                              \
    static tg_tensor *op_##name##_mean(tg_tensor **in) { return call(in[0], in[1], TG_REDUCTION_MEAN); } \
    static tg_tensor *op_##name##_sum(tg_tensor **in) { return call(in[0], in[1], TG_REDUCTION_SUM); }   \
    static tg_tensor *op_##name##_none(tg_tensor **in) { return call(in[0], in[1], TG_REDUCTION_NONE); }

static tg_tensor *smooth_l1_half(tg_tensor *a, tg_tensor *b, tg_reduction r) { return tg_smooth_l1_loss(a, b, r, 0.5); }
static tg_tensor *huber_07(tg_tensor *a, tg_tensor *b, tg_reduction r) { return tg_huber_loss(a, b, r, 0.7); }
REDUCTION_OPS(mse, tg_mse_loss)
REDUCTION_OPS(l1, tg_l1_loss)
REDUCTION_OPS(smooth_l1, smooth_l1_half)
REDUCTION_OPS(huber, huber_07)
static tg_tensor *op_bce_mean(tg_tensor **in)
{
    return tg_binary_cross_entropy_with_logits(in[0], in[1], NULL, NULL, TG_REDUCTION_MEAN);
}
static tg_tensor *op_smooth_l1_beta0(tg_tensor **in) { return tg_smooth_l1_loss(in[0], in[1], TG_REDUCTION_MEAN, 0); }
static tg_tensor *op_bce_weights_sum(tg_tensor **in)
{
    return tg_binary_cross_entropy_with_logits(in[0], in[1], in[2], in[3], TG_REDUCTION_SUM);
}
static tg_tensor *op_bce_pos_weight_none(tg_tensor **in)
{
    return tg_binary_cross_entropy_with_logits(in[0], in[1], NULL, in[2], TG_REDUCTION_NONE);
}
static tg_tensor *op_bce_none(tg_tensor **in)
{
    return tg_binary_cross_entropy_with_logits(in[0], in[1], NULL, NULL, TG_REDUCTION_NONE);
}
static tg_tensor *op_bce_row_weight_mean(tg_tensor **in)
{
    return tg_binary_cross_entropy_with_logits(in[0], in[1], in[2], NULL, TG_REDUCTION_MEAN);
}

/* Cross entropy / nll with inputs (logits, target[, weight]). */
static tg_tensor *ce(tg_tensor **in, tg_reduction r, double smoothing, bool weighted, int64_t ignore)
{
    tg_cross_entropy_opts o = {r, ignore, smoothing, weighted ? in[2] : NULL};
    return tg_cross_entropy(in[0], in[1], &o);
}
static tg_tensor *op_ce_mean(tg_tensor **in) { return tg_cross_entropy(in[0], in[1], NULL); }
static tg_tensor *op_ce_sum(tg_tensor **in) { return ce(in, TG_REDUCTION_SUM, 0, false, -100); }
static tg_tensor *op_ce_none(tg_tensor **in) { return ce(in, TG_REDUCTION_NONE, 0, false, -100); }
static tg_tensor *op_ce_w_mean(tg_tensor **in) { return ce(in, TG_REDUCTION_MEAN, 0, true, -100); }
static tg_tensor *op_ce_w_sum(tg_tensor **in) { return ce(in, TG_REDUCTION_SUM, 0, true, -100); }
static tg_tensor *op_ce_w_none(tg_tensor **in) { return ce(in, TG_REDUCTION_NONE, 0, true, -100); }
static tg_tensor *op_ce_smooth_mean(tg_tensor **in) { return ce(in, TG_REDUCTION_MEAN, 0.1, false, -100); }
static tg_tensor *op_ce_smooth_sum(tg_tensor **in) { return ce(in, TG_REDUCTION_SUM, 0.1, false, -100); }
static tg_tensor *op_ce_smooth_none(tg_tensor **in) { return ce(in, TG_REDUCTION_NONE, 0.1, false, -100); }
static tg_tensor *op_ce_smooth_w_mean(tg_tensor **in) { return ce(in, TG_REDUCTION_MEAN, 0.2, true, -100); }
static tg_tensor *op_ce_smooth_w_sum(tg_tensor **in) { return ce(in, TG_REDUCTION_SUM, 0.2, true, -100); }
static tg_tensor *op_ce_smooth_w_none(tg_tensor **in) { return ce(in, TG_REDUCTION_NONE, 0.2, true, -100); }
static tg_tensor *op_ce_ignore_1(tg_tensor **in) { return ce(in, TG_REDUCTION_MEAN, 0, false, 1); }
static tg_tensor *op_ce_smooth_03_none(tg_tensor **in) { return ce(in, TG_REDUCTION_NONE, 0.3, false, -100); }
static tg_tensor *nll(tg_tensor **in, tg_reduction r, bool weighted)
{
    tg_cross_entropy_opts o = {r, -100, 0, weighted ? in[2] : NULL};
    return tg_nll_loss(in[0], in[1], &o);
}
static tg_tensor *op_nll_mean(tg_tensor **in) { return tg_nll_loss(in[0], in[1], NULL); }
static tg_tensor *op_nll_w_mean(tg_tensor **in) { return nll(in, TG_REDUCTION_MEAN, true); }
static tg_tensor *op_nll_none(tg_tensor **in) { return nll(in, TG_REDUCTION_NONE, false); }
static tg_tensor *op_nll_sum(tg_tensor **in) { return nll(in, TG_REDUCTION_SUM, false); }

static void test_golden(void **state)
{
    (void)state;
    static const golden_case cases[] = {
        {"mse_mean", 2, 0, 3, op_mse_mean},
        {"mse_sum", 2, 0, 3, op_mse_sum},
        {"mse_none", 2, 0, 3, op_mse_none},
        {"mse_broadcast", 2, 0, 3, op_mse_mean},
        {"l1_mean", 2, 0, 3, op_l1_mean},
        {"l1_sum", 2, 0, 3, op_l1_sum},
        {"l1_none", 2, 0, 3, op_l1_none},
        {"smooth_l1_mean", 2, 0, 3, op_smooth_l1_mean},
        {"smooth_l1_sum", 2, 0, 3, op_smooth_l1_sum},
        {"smooth_l1_none", 2, 0, 3, op_smooth_l1_none},
        {"smooth_l1_beta0", 2, 0, 3, op_smooth_l1_beta0},
        {"huber_mean", 2, 0, 3, op_huber_mean},
        {"huber_sum", 2, 0, 3, op_huber_sum},
        {"huber_none", 2, 0, 3, op_huber_none},
        {"huber_broadcast", 2, 0, 3, op_huber_none},
        {"bce_mean", 2, 0, 3, op_bce_mean},
        {"bce_weights_sum", 4, 0, 3, op_bce_weights_sum},
        {"bce_pos_weight_none", 3, 0, 3, op_bce_pos_weight_none},
        {"bce_row_weight_mean", 3, 0, 3, op_bce_row_weight_mean},
        {"bce_inf_none", 2, 0, 2, op_bce_none},
        {"bce_inf_pos_weight_none", 3, 0, 2, op_bce_pos_weight_none},
        {"bce_inf_target_none", 2, 0, 3, op_bce_none},
        {"ce_mean", 2, 2, 1, op_ce_mean},
        {"ce_sum", 2, 2, 1, op_ce_sum},
        {"ce_none", 2, 2, 1, op_ce_none},
        {"ce_weight_ignore_mean", 3, 2, 1, op_ce_w_mean},
        {"ce_weight_ignore_sum", 3, 2, 1, op_ce_w_sum},
        {"ce_weight_ignore_none", 3, 2, 1, op_ce_w_none},
        {"ce_smooth_mean", 2, 2, 1, op_ce_smooth_mean},
        {"ce_smooth_sum", 2, 2, 1, op_ce_smooth_sum},
        {"ce_smooth_none", 2, 2, 1, op_ce_smooth_none},
        {"ce_smooth_weight_mean", 3, 2, 1, op_ce_smooth_w_mean},
        {"ce_smooth_weight_sum", 3, 2, 1, op_ce_smooth_w_sum},
        {"ce_smooth_weight_none", 3, 2, 1, op_ce_smooth_w_none},
        {"ce_ignore_index_1", 2, 2, 1, op_ce_ignore_1},
        {"ce_3d", 3, 2, 1, op_ce_w_mean},
        {"ce_3d_smooth_none", 2, 2, 1, op_ce_smooth_03_none},
        {"ce_1d", 2, 2, 1, op_ce_mean},
        {"ce_big", 2, 2, 1, op_ce_smooth_mean},
        {"ce_all_ignored", 2, 2, 1, op_ce_mean},
        {"ce_all_ignored_smooth", 2, 2, 1, op_ce_smooth_mean},
        {"nll_mean", 2, 2, 1, op_nll_mean},
        {"nll_weight_ignore", 3, 2, 1, op_nll_w_mean},
        {"nll_3d_none", 2, 2, 1, op_nll_none},
        {"nll_sum", 2, 2, 1, op_nll_sum},
    };
    run_golden_cases("loss.txt", cases, sizeof cases / sizeof cases[0]);
}

/* --- gradchecks -----------------------------------------------------------------
 * The first input runs on a view of its leaf in four layouts; the others are
 * plain leaves (or constants in the context). */

typedef struct {
    layout_input x;
    pointwise_loss pointwise;
    tg_reduction reduction;
    tg_tensor *target;                 /* class indices */
    tg_cross_entropy_opts opts;
} check_ctx;

#define X(in, c) layout_view((in)[0], &(c)->x)

static tg_tensor *gc_pointwise(int n, tg_tensor **in, void *v)
{
    (void)n;
    check_ctx *c = v;
    return c->pointwise(X(in, c), in[1], c->reduction);
}
static tg_tensor *gc_bce(int n, tg_tensor **in, void *v)
{
    check_ctx *c = v;
    tg_tensor *weight = n > 2 ? in[2] : NULL, *pos_weight = n > 3 ? in[3] : NULL;
    return tg_binary_cross_entropy_with_logits(X(in, c), in[1], weight, pos_weight, c->reduction);
}
static tg_tensor *gc_ce(int n, tg_tensor **in, void *v)
{
    (void)n;
    check_ctx *c = v;
    return tg_cross_entropy(X(in, c), c->target, &c->opts);
}
static tg_tensor *gc_nll(int n, tg_tensor **in, void *v)
{
    (void)n;
    check_ctx *c = v;
    return tg_nll_loss(X(in, c), c->target, &c->opts);
}

/* Gradcheck fn in every layout of input 0 (c->x), with extra leaves. */
static void check_layouts(tg_gradcheck_fn fn, check_ctx *c, int n_extra, const leaf_spec *extra, const char *what)
{
    assert_gradcheck_layouts(fn, c, &c->x, -2, 2, n_extra, extra, what);
}

static void test_gradcheck_pointwise(void **state)
{
    (void)state;
    check_ctx c = {.x = {.ndim = 2, .shape = {3, 4}}};
    const leaf_spec same = {2, {3, 4}, -2, 2}, row = {1, {4}, -2, 2};
    pointwise_loss losses[4] = {tg_mse_loss, tg_l1_loss, smooth_l1_half, huber_07};
    const char *names[4] = {"mse", "l1", "smooth_l1", "huber"};
    for (int i = 0; i < 4; i++)
        for (tg_reduction r = TG_REDUCTION_MEAN; r <= TG_REDUCTION_NONE; r++) {
            c.pointwise = losses[i];
            c.reduction = r;
            char what[64];
            snprintf(what, sizeof what, "%s reduction %d", names[i], (int)r);
            check_layouts(gc_pointwise, &c, 1, &same, what);
            snprintf(what, sizeof what, "%s broadcast target, reduction %d", names[i], (int)r);
            check_layouts(gc_pointwise, &c, 1, &row, what);
        }
}

static void test_gradcheck_bce(void **state)
{
    (void)state;
    check_ctx c = {.x = {.ndim = 2, .shape = {3, 4}}};
    const leaf_spec extra[3] = {{2, {3, 4}, 0, 1}, {1, {4}, 0.2, 2}, {1, {4}, 0.2, 3}};
    for (tg_reduction r = TG_REDUCTION_MEAN; r <= TG_REDUCTION_NONE; r++) {
        c.reduction = r;
        check_layouts(gc_bce, &c, 1, extra, "bce");
        check_layouts(gc_bce, &c, 3, extra, "bce weight and pos_weight");
    }
}

static void test_gradcheck_classification(void **state)
{
    (void)state;
    tg_tensor *target = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){2, -100, 0});
    tg_tensor *weight = tg_from_array(TG_F64, 1, (int64_t[]){4}, (double[]){0.5, 1.5, 2.0, 1.0});
    check_ctx c = {.x = {.ndim = 2, .shape = {3, 4}}, .target = target};
    for (tg_reduction r = TG_REDUCTION_MEAN; r <= TG_REDUCTION_NONE; r++) {
        c.opts = (tg_cross_entropy_opts){r, -100, 0.0, NULL};
        check_layouts(gc_ce, &c, 0, NULL, "cross_entropy");
        check_layouts(gc_nll, &c, 0, NULL, "nll_loss");
        c.opts.weight = weight;
        check_layouts(gc_ce, &c, 0, NULL, "cross_entropy weighted");
        check_layouts(gc_nll, &c, 0, NULL, "nll_loss weighted");
        c.opts.label_smoothing = 0.25;
        check_layouts(gc_ce, &c, 0, NULL, "cross_entropy smoothed, weighted");
        c.opts.weight = NULL;
        check_layouts(gc_ce, &c, 0, NULL, "cross_entropy smoothed");
    }
    tg_free(target);
    /* (N, C, d) logits with (N, d) targets. */
    target = tg_from_array(TG_I64, 2, (int64_t[]){2, 3}, (int64_t[]){1, 3, 0, 2, 2, -100});
    check_ctx c3 = {.x = {.ndim = 3, .shape = {2, 4, 3}}, .target = target,
                    .opts = {TG_REDUCTION_MEAN, -100, 0.1, weight}};
    check_layouts(gc_ce, &c3, 0, NULL, "cross_entropy 3-D");
    c3.opts.label_smoothing = 0;
    check_layouts(gc_nll, &c3, 0, NULL, "nll_loss 3-D");
    tg_free(target);
    tg_free(weight);
}

/* --- behaviour --------------------------------------------------------------------- */

static void test_cross_entropy_values(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    /* Stable on huge logits: the right class at +1e4 costs nothing, the wrong one 2e4. */
    tg_tensor *logits = tg_from_array(TG_F32, 2, (int64_t[]){2, 2}, (float[]){1e4f, -1e4f, 1e4f, -1e4f});
    tg_tensor *target = tg_from_array(TG_I64, 1, (int64_t[]){2}, (int64_t[]){0, 1});
    tg_tensor *l = tg_cross_entropy(logits, target, &(tg_cross_entropy_opts){TG_REDUCTION_NONE, -100, 0, NULL});
    assert_true(tg_get(l, (int64_t[]){0}) == 0 && tg_get(l, (int64_t[]){1}) == 2e4f);
    /* Mean with class weights divides by the weights of the kept targets. */
    tg_tensor *x = tg_zeros(TG_F64, 2, (int64_t[]){3, 2});
    tg_tensor *w = tg_from_array(TG_F64, 1, (int64_t[]){2}, (double[]){1, 3});
    tg_tensor *t = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, 1, -100});
    double mean = tg_item(tg_cross_entropy(x, t, &(tg_cross_entropy_opts){TG_REDUCTION_MEAN, -100, 0, w}));
    assert_true(fabs(mean - log(2.0)) < 1e-15); /* (1 + 3) log 2 / (1 + 3) */
    /* Every target ignored: NaN under MEAN, 0 under SUM. */
    tg_tensor *all = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){-100, -100, -100});
    assert_true(isnan(tg_item(tg_cross_entropy(x, all, NULL))));
    assert_true(tg_item(tg_cross_entropy(x, all, &(tg_cross_entropy_opts){TG_REDUCTION_SUM, -100, 0, NULL})) == 0);
    tg_scope_end(s);
}

/* Outside any scope and without a graph, a loss returns a persistent result
 * and keeps nothing else (the leak checker of the sanitizer build sees the
 * rest). */
static void test_outside_scope(void **state)
{
    (void)state;
    tg_manual_seed(3);
    tg_tensor *x = tg_randn(TG_F64, 2, (int64_t[]){3, 4}, 0, 1);
    tg_tensor *xt = tg_transpose(x, 0, 1); /* (4, 3): logits for 4 samples */
    tg_tensor *target = tg_from_array(TG_I64, 1, (int64_t[]){4}, (int64_t[]){2, -100, 0, 1});
    tg_tensor *w = tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0.5, 1.5, 2.0});
    tg_cross_entropy_opts o = {TG_REDUCTION_MEAN, -100, 0.2, w};
    tg_tensor *ce = tg_cross_entropy(xt, target, &o);
    tg_tensor *mse = tg_mse_loss(x, x, TG_REDUCTION_SUM);
    tg_tensor *bce = tg_binary_cross_entropy_with_logits(x, x, NULL, NULL, TG_REDUCTION_NONE);
    assert_true(ce && ce->persistent && mse && mse->persistent && bce && bce->persistent);
    tg_scope *s = tg_scope_begin();
    assert_true(tg_item(ce) == tg_item(tg_cross_entropy(xt, target, &o)));
    tg_scope_end(s);
    assert_true(tg_item(mse) == 0);
    tg_tensor *frees[] = {ce, mse, bce, w, target, xt, x};
    for (size_t i = 0; i < sizeof frees / sizeof frees[0]; i++) tg_free(frees[i]);
}

/* The mean's gradient of a difference above FLT_MAX / 2 stays finite, as
 * torch's (2/N) d does (values from torch 1.13); with the sum, 2 d
 * overflows in torch too. */
static void test_mse_gradient_of_a_large_difference(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *target = tg_from_array(TG_F32, 1, (int64_t[]){4}, (float[]){2e38f, 1, 0, 3});
    for (int sum = 0; sum < 2; sum++) {
        tg_tensor *x = tg_requires_grad(tg_from_array(TG_F32, 1, (int64_t[]){4}, (float[]){-1e38f, 1, 2, 3}), true);
        assert_int_equal(tg_backward(tg_mse_loss(x, target, sum ? TG_REDUCTION_SUM : TG_REDUCTION_MEAN), NULL), 0);
        float want0 = sum ? -INFINITY : -1.5000000027488779e+38f;
        assert_true(tg_get(x->grad, (int64_t[]){0}) == want0);
        assert_true(tg_get(x->grad, (int64_t[]){2}) == (sum ? 4.0 : 1.0));
    }
    tg_scope_end(s);
}

/* The targets of the losses below: (2, 3) values and (2) classes. */
static tg_tensor *values_target, *class_target;
static tg_tensor *op_mse(tg_tensor *x) { return tg_mse_loss(x, values_target, TG_REDUCTION_NONE); }
static tg_tensor *op_l1(tg_tensor *x) { return tg_l1_loss(x, values_target, TG_REDUCTION_NONE); }
static tg_tensor *op_smooth_l1(tg_tensor *x) { return tg_smooth_l1_loss(x, values_target, TG_REDUCTION_NONE, 0.5); }
static tg_tensor *op_huber(tg_tensor *x) { return tg_huber_loss(x, values_target, TG_REDUCTION_NONE, 0.5); }
static tg_tensor *op_bce(tg_tensor *x)
{
    return tg_binary_cross_entropy_with_logits(x, values_target, NULL, NULL, TG_REDUCTION_NONE);
}
static tg_tensor *op_ce(tg_tensor *x)
{
    return tg_cross_entropy(x, class_target, &(tg_cross_entropy_opts){TG_REDUCTION_NONE, -100, 0.0, NULL});
}
static tg_tensor *op_nll(tg_tensor *x)
{
    return tg_nll_loss(x, class_target, &(tg_cross_entropy_opts){TG_REDUCTION_NONE, -100, 0.0, NULL});
}

/* No loss's backward reads the loss, nor nll's its input: changed in place
 * after the forward, they leave the gradient as it was, as in torch (the
 * backward refused to run). */
static void test_values_the_backward_does_not_read(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){1, 2, 3, -1, 0, 4}), true);
    values_target = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, (double[]){0.5, 1, 0, 1, 0.25, 0});
    class_target = tg_from_array(TG_I64, 1, (int64_t[]){2}, (int64_t[]){2, 0});
    tg_tensor *(*ops[])(tg_tensor *) = {op_mse, op_l1, op_smooth_l1, op_huber, op_bce, op_ce, op_nll};
    for (int k = 0; k < 7; k++) assert_change_keeps_grad(ops[k], x, NULL, ops[k] == op_nll, true);
    tg_free(class_target);
    tg_free(values_target);
    tg_free(x);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F32, 2, (int64_t[]){3, 4});
    tg_tensor *ix = tg_zeros(TG_I64, 2, (int64_t[]){3, 4});
    assert_null(tg_mse_loss(x, tg_ones(TG_F32, 2, (int64_t[]){3, 5}), TG_REDUCTION_MEAN));
    assert_error_contains("tg_mse_loss: The size of tensor a (4) must match the size of tensor b (5)");
    assert_null(tg_l1_loss(x, ix, TG_REDUCTION_MEAN));
    assert_error_contains("tg_l1_loss: expected a float32 or float64 tensor, got int64");
    assert_null(tg_mse_loss(x, tg_ones(TG_F64, 2, (int64_t[]){3, 4}), TG_REDUCTION_SUM));
    assert_error_contains("tg_mse_loss: expected all inputs to have the same dtype, got float32 and float64");
    assert_null(tg_mse_loss(x, x, (tg_reduction)7));
    assert_error_contains("tg_mse_loss: 7 is not a valid value for reduction");
    assert_null(tg_smooth_l1_loss(x, x, TG_REDUCTION_MEAN, -1));
    assert_error_contains("tg_smooth_l1_loss: smooth_l1_loss does not support negative values for beta (got -1)");
    assert_null(tg_huber_loss(x, x, TG_REDUCTION_MEAN, 0));
    assert_error_contains("tg_huber_loss: huber_loss does not support non-positive values for delta (got 0)");

    const char *bce = "tg_binary_cross_entropy_with_logits";
    tg_tensor *row = tg_ones(TG_F32, 1, (int64_t[]){4});
    assert_null(tg_binary_cross_entropy_with_logits(x, row, NULL, NULL, TG_REDUCTION_MEAN));
    assert_error_contains(bce);
    assert_error_contains("Target size ([4]) must be the same as input size ([3,4])");
    assert_null(tg_binary_cross_entropy_with_logits(x, x, tg_ones(TG_F32, 1, (int64_t[]){3}), NULL, TG_REDUCTION_MEAN));
    assert_error_contains(bce);
    assert_error_contains("weight of dtype float32 and shape [3] must have the input's dtype (float32)");
    assert_error_contains("and broadcast to its shape [3,4]");
    tg_tensor *cube = tg_ones(TG_F32, 3, (int64_t[]){2, 3, 4});
    assert_null(tg_binary_cross_entropy_with_logits(x, x, NULL, cube, TG_REDUCTION_MEAN));
    assert_error_contains("pos_weight of dtype float32 and shape [2,3,4]");
    assert_null(tg_binary_cross_entropy_with_logits(x, x, NULL, tg_ones(TG_F64, 1, (int64_t[]){4}), TG_REDUCTION_MEAN));
    assert_error_contains("pos_weight of dtype float64");

    tg_tensor *t = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, 4, 1});
    assert_null(tg_cross_entropy(x, t, NULL));
    assert_error_contains("tg_cross_entropy: Target 4 is out of bounds: class indices must be in [0, 3] for 4 classes");
    t = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, -1, 1});
    assert_null(tg_nll_loss(x, t, NULL));
    assert_error_contains("tg_nll_loss: Target -1 is out of bounds");
    t = tg_from_array(TG_I64, 1, (int64_t[]){3}, (int64_t[]){0, 1, (int64_t)1 << 50});
    assert_null(tg_cross_entropy(x, t, NULL));
    assert_error_contains("Target 1125899906842624 is out of bounds");
    assert_null(tg_cross_entropy(x, tg_zeros(TG_F32, 1, (int64_t[]){3}), NULL));
    assert_error_contains("tg_cross_entropy: expected target of dtype int64 (class indices), got float32");
    assert_null(tg_cross_entropy(x, tg_zeros(TG_I64, 1, (int64_t[]){4}), NULL));
    assert_error_contains("tg_cross_entropy: expected target of shape [3] for input of shape [3,4], got [4]");
    tg_tensor *x3 = tg_ones(TG_F32, 3, (int64_t[]){2, 4, 5});
    assert_null(tg_cross_entropy(x3, tg_zeros(TG_I64, 2, (int64_t[]){2, 4}), NULL));
    assert_error_contains("expected target of shape [2,5] for input of shape [2,4,5], got [2,4]");
    assert_null(tg_cross_entropy(tg_scalar(TG_F32, 1), tg_zeros(TG_I64, 0, NULL), NULL));
    assert_error_contains("tg_cross_entropy: expected input of shape (C), (N, C) or (N, C, d1, ...), got a 0-dim");
    tg_tensor *ok = tg_zeros(TG_I64, 1, (int64_t[]){3});
    tg_cross_entropy_opts o = {TG_REDUCTION_MEAN, -100, 0, tg_ones(TG_F32, 1, (int64_t[]){3})};
    assert_null(tg_cross_entropy(x, ok, &o));
    assert_error_contains("tg_cross_entropy: weight tensor should be defined either for all 4 classes or no classes");
    o.weight = tg_ones(TG_F64, 1, (int64_t[]){4});
    assert_null(tg_cross_entropy(x, ok, &o));
    assert_error_contains("dtype float64");
    o = (tg_cross_entropy_opts){TG_REDUCTION_MEAN, -100, 1.5, NULL};
    assert_null(tg_cross_entropy(x, ok, &o));
    assert_error_contains("tg_cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: 1.5");
    o.label_smoothing = 0.1;
    assert_null(tg_nll_loss(x, ok, &o));
    assert_error_contains("tg_nll_loss: label_smoothing must be 0 here");
    o = (tg_cross_entropy_opts){(tg_reduction)-1, -100, 0, NULL};
    assert_null(tg_cross_entropy(x, ok, &o));
    assert_error_contains("tg_cross_entropy: -1 is not a valid value for reduction");
    assert_null(tg_cross_entropy(ix, ok, NULL));
    assert_error_contains("tg_cross_entropy: expected a float32 or float64 tensor, got int64");

    tg_clear_error();
    assert_null(tg_mse_loss(NULL, x, TG_REDUCTION_MEAN));
    assert_null(tg_cross_entropy(x, NULL, NULL));
    assert_null(tg_binary_cross_entropy_with_logits(x, NULL, NULL, NULL, TG_REDUCTION_MEAN));
    assert_string_equal(tg_last_error(), "");
    tg_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_gradcheck_pointwise),
        cmocka_unit_test(test_gradcheck_bce),
        cmocka_unit_test(test_gradcheck_classification),
        cmocka_unit_test(test_cross_entropy_values),
        cmocka_unit_test(test_outside_scope),
        cmocka_unit_test(test_mse_gradient_of_a_large_difference),
        cmocka_unit_test(test_values_the_backward_does_not_read),
        cmocka_unit_test(test_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
