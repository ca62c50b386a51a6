/* The tape: gradients of expressions and views, accumulation, grad mode,
 * and the errors of misuse. */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* y = sum(tanh(a) * b + exp(a) / 2) with a (2,3), b (3) broadcast:
 * dy/da = (1 - tanh(a)^2) * b + exp(a) / 2,  dy/db = sum over rows of tanh(a) */
static void test_expression_gradients(void **state)
{
    (void)state;
    double av[6] = {0.1, -0.2, 0.3, 0.7, -1.1, 0.05}, bv[3] = {1.5, -0.5, 2.0};
    tg_tensor *a = tg_requires_grad(tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, av), true);
    tg_tensor *b = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, bv), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = tg_sum(tg_add(tg_mul(tg_tanh(a), b), tg_div(tg_exp(a), tg_scalar(TG_F64, 2.0))), 0, NULL, false);
    assert_int_equal(tg_backward(y, NULL), 0);
    double expect_b[3] = {0, 0, 0};
    for (int i = 0; i < 6; i++) {
        double t = tanh(av[i]);
        assert_near(tg_get(a->grad, (int64_t[]){i / 3, i % 3}), (1 - t * t) * bv[i % 3] + exp(av[i]) / 2, 1e-12);
        expect_b[i % 3] += t;
    }
    for (int j = 0; j < 3; j++) assert_near(tg_get(b->grad, (int64_t[]){j}), expect_b[j], 1e-14);
    tg_scope_end(s);
    tg_free(a);
    tg_free(b);
}

/* x used twice (a diamond): both paths add into x's gradient. */
static void test_accumulation(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_full(TG_F64, 1, (int64_t[]){4}, 3.0), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = tg_sum(tg_add(tg_mul(x, x), tg_mul_scalar(x, 5)), 0, NULL, false);
    tg_backward(y, NULL);
    assert_near(tg_get(x->grad, (int64_t[]){2}), 2 * 3.0 + 5, 1e-15);
    /* A second graph adds into the same .grad, as PyTorch. */
    tg_backward(tg_sum(x, 0, NULL, false), NULL);
    assert_near(tg_get(x->grad, (int64_t[]){0}), 12.0, 1e-15);
    tg_zero_grad(1, &x);
    assert_true(tg_get(x->grad, (int64_t[]){0}) == 0.0);
    /* An explicit output gradient for a non-scalar. */
    tg_tensor *g = tg_from_array(TG_F64, 1, (int64_t[]){4}, (double[]){1, 2, 3, 4});
    tg_tensor *h = tg_mul_scalar(x, 2);
    tg_backward(tg_add(tg_add(h, h), x), g); /* the seed flows into several buffers */
    assert_near(tg_get(x->grad, (int64_t[]){3}), 4 * 5.0, 1e-15);
    assert_near(tg_get(g, (int64_t[]){3}), 4.0, 0); /* the caller's gradient is left alone */
    tg_scope_end(s);
    tg_free(x);
}

static void test_grad_mode_and_detach(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F32, 1, (int64_t[]){3}), true);
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    assert_true(was);
    tg_tensor *y = tg_exp(x);
    assert_false(y->requires_grad);
    assert_null(y->node);
    bool inner = tg_set_grad_enabled(false); /* nested */
    assert_false(inner);
    tg_set_grad_enabled(inner);
    assert_false(tg_is_grad_enabled());
    tg_set_grad_enabled(was);
    assert_true(tg_is_grad_enabled());
    tg_tensor *z = tg_exp(x);
    assert_true(z->requires_grad);
    assert_string_equal(z->node->op, "exp");
    bool outer = tg_no_grad_begin(); /* no_grad blocks nest */
    bool inner_was = tg_no_grad_begin();
    assert_false(tg_exp(x)->requires_grad);
    tg_no_grad_end(inner_was);
    assert_false(tg_is_grad_enabled());
    tg_no_grad_end(outer);
    assert_true(tg_is_grad_enabled() && tg_exp(x)->requires_grad);
    tg_tensor *d = tg_detach(z);
    assert_false(d->requires_grad);
    assert_ptr_equal(d->storage, z->storage);
    /* Gradient stops at the detached tensor. */
    tg_backward(tg_sum(tg_mul(z, d), 0, NULL, false), NULL);
    assert_near(tg_get(x->grad, (int64_t[]){0}), exp(1.0) * exp(1.0), 1e-5);
    tg_scope_end(s);
    tg_free(x);
}

static void test_backward_errors(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F64, 2, (int64_t[]){2, 2}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = tg_sum(tg_mul(x, x), 0, NULL, false);
    assert_int_equal(tg_backward(y, NULL), 0);
    assert_int_equal(tg_backward(y, NULL), -1);
    assert_error_contains("backward through the graph a second time");
    tg_tensor *y2 = tg_sum(tg_mul(x, x), 0, NULL, false);
    assert_int_equal(tg_backward_retain(y2, NULL), 0);
    assert_int_equal(tg_backward(y2, NULL), 0);
    assert_near(tg_get(x->grad, (int64_t[]){0, 0}), 6.0, 1e-15);
    assert_int_equal(tg_backward(tg_ones(TG_F64, 0, NULL), NULL), -1);
    assert_error_contains("does not require grad");
    assert_int_equal(tg_backward(tg_exp(x), NULL), -1);
    assert_error_contains("grad can be implicitly created only for scalar outputs (got shape [2,2])");
    assert_int_equal(tg_backward(tg_exp(x), tg_ones(TG_F64, 1, (int64_t[]){3})), -1);
    assert_error_contains("does not match output of shape [2,2]");
    assert_null(tg_requires_grad(tg_zeros(TG_I64, 1, (int64_t[]){2}), true));
    assert_error_contains("floating point");
    tg_tensor *leaf = tg_exp(x);
    assert_null(tg_requires_grad(leaf, false));
    assert_error_contains("leaf");
    /* In-place updates of a tensor that requires grad need grad mode off. */
    assert_int_equal(tg_fill_(x, 0.0), -1);
    assert_error_contains("in-place");
    tg_scope_end(s);
    tg_free(x);
}

/* --- gradients of views ----------------------------------------------------- */

static tg_tensor *view_chain(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    tg_tensor *x = in[0];                                           /* (3,4,2) */
    tg_tensor *t = tg_transpose(x, 0, 2);                           /* (2,4,3) */
    tg_tensor *p = tg_permute(t, (int[]){1, 0, 2});                 /* (4,2,3) */
    tg_tensor *nr = tg_narrow(p, 0, 1, 3);                          /* (3,2,3) */
    tg_tensor *sel = tg_select(nr, 1, 1);                           /* (3,3) */
    tg_tensor *r = tg_reshape(sel, 1, (int64_t[]){9});              /* copies: not viewable */
    tg_tensor *u = tg_unsqueeze(r, 0);                              /* (1,9) */
    tg_tensor *e = tg_expand(u, 2, (int64_t[]){2, 9});              /* (2,9), stride 0 */
    tg_tensor *parts[3];
    tg_chunk(e, 3, 1, 3, parts);                                       /* 3 x (2,3) */
    tg_tensor *f = tg_flatten(tg_contiguous(parts[2]), 0, 1);       /* (6) */
    return tg_add(tg_mul(tg_squeeze(tg_view(f, 2, (int64_t[]){6, 1}), 1), f), tg_sum(parts[0], 0, NULL, false));
}

static void test_view_gradients(void **state)
{
    (void)state;
    tg_manual_seed(1);
    tg_tensor *x = leaf_f64(3, (int64_t[]){3, 4, 2}, -1, 1);
    assert_gradcheck(view_chain, &x, 1, NULL, "view chain");
    tg_free(x);
}

static tg_tensor *split_and_cast(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    tg_tensor *parts[3];
    int k = tg_split(in[0], 2, 1, 3, parts);                        /* (4,2), (4,2), (4,1) */
    tg_tensor *c = tg_cast(tg_cast(parts[1], TG_F32), TG_F64);
    tg_tensor *cl = tg_clone(parts[k - 1]);
    return tg_mul(tg_add(parts[0], c), cl);                         /* (4,2) */
}

static void test_split_cast_clone_gradients(void **state)
{
    (void)state;
    tg_manual_seed(2);
    tg_tensor *x = leaf_f64(2, (int64_t[]){4, 5}, -1, 1);
    /* The float32 round trip loses precision: compare at float tolerance. */
    tg_gradcheck_result r;
    assert_true(tg_gradcheck(split_and_cast, 1, &x, NULL, 1e-3, 1e-4, 1e-3, &r) == 0);
    tg_free(x);
}

/* One tensor as several inputs of one op. The first input to take the
 * incoming gradient adopts it as its buffer; later inputs must still see
 * that gradient as it was (addcmul reads g again after adding it into t). */
static tg_tensor *repeated_inputs(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    tg_tensor *c = tg_mul_scalar(in[0], 1.5), *x = in[1];
    switch (*(const int *)ctx) {
    case 0: return tg_addcmul(c, c, x, 0.7);
    case 1: return tg_lerp(c, c, tg_sigmoid(x));
    case 2: return tg_sub(tg_mul(c, c), c);
    default: return tg_where(tg_gt(x, c), c, tg_add(c, c));
    }
}

static void test_repeated_inputs(void **state)
{
    (void)state;
    tg_manual_seed(6);
    tg_tensor *in[2] = {leaf_f64(1, (int64_t[]){5}, -1, 1), leaf_f64(1, (int64_t[]){5}, -1, 1)};
    for (int which = 0; which < 4; which++) assert_gradcheck(repeated_inputs, in, 2, &which, "inputs used twice");
    tg_free(in[0]);
    tg_free(in[1]);
}

/* Narrows of one tensor: the first region to reach its new gradient
 * buffer is copied in (a -0.0 stays -0.0, as PyTorch's zeros and copy_
 * keep it) and the rest is +0.0; a second region adds onto it, overlap
 * included. */
static void test_narrow_gradients(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_zeros(TG_F64, 2, (int64_t[]){2, 6}), true);
    double g1v[6] = {-0.0, 1, 2, -0.0, 4, 5}, g2v[6] = {10, 20, 30, 40, 50, 60};
    tg_tensor *g1 = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, g1v);
    tg_tensor *g2 = tg_from_array(TG_F64, 2, (int64_t[]){2, 3}, g2v);
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_backward(tg_narrow(x, 1, 1, 3), g1), 0);
    tg_scope_end(s);
    double got[12];
    tg_copy_to_array(x->grad, got);
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 6; j++) {
            double v = got[i * 6 + j], want = j >= 1 && j < 4 ? g1v[i * 3 + j - 1] : 0.0;
            assert_true(v == want && signbit(v) == signbit(want));
        }
    tg_free(x->grad);
    x->grad = NULL;
    /* Columns [0, 3) and [2, 5) in one pass: column 2 gets both. */
    s = tg_scope_begin();
    tg_tensor *loss = tg_add(tg_sum(tg_mul(tg_narrow(x, 1, 0, 3), g1), 0, NULL, false),
                             tg_sum(tg_mul(tg_narrow(x, 1, 2, 3), g2), 0, NULL, false));
    assert_int_equal(tg_backward(loss, NULL), 0);
    tg_scope_end(s);
    tg_copy_to_array(x->grad, got);
    for (int64_t i = 0; i < 2; i++)
        for (int64_t j = 0; j < 6; j++) {
            double want = (j < 3 ? g1v[i * 3 + j] : 0) + (j >= 2 && j < 5 ? g2v[i * 3 + j - 2] : 0);
            assert_true(got[i * 6 + j] == want);
        }
    tg_free(x), tg_free(g1), tg_free(g2);
}

/* Slicing a (B,T,K) tensor into T steps: backward adds each step's gradient
 * into one gradient buffer of the base, so it allocates O(B*T*K) bytes, not
 * the O(B*T*T*K) that a full-size gradient per slice would cost. */
static void test_slice_backward_is_linear(void **state)
{
    (void)state;
    const int64_t B = 4, T = 64, K = 32;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F64, 3, (int64_t[]){B, T, K}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *h = tg_mul_scalar(x, 2.0); /* a non-leaf, so its gradient lives in the arena */
    tg_tensor *acc = NULL;
    for (int64_t t = 0; t < T; t++) {
        tg_tensor *step = tg_tanh(tg_select(h, 1, t)); /* (B,K) */
        acc = acc ? tg_add(acc, step) : step;
    }
    tg_tensor *loss = tg_sum(acc, 0, NULL, false);
    size_t before = tg_arena_used();
    assert_int_equal(tg_backward(loss, NULL), 0);
    size_t used = tg_arena_used() - before;
    size_t base = (size_t)(B * T * K) * sizeof(double);
    /* Per step: a few (B,K) gradients plus headers; once: the base's buffer. */
    size_t linear_bound = 2 * base + (size_t)T * (6 * (size_t)(B * K) * sizeof(double) + 4096);
    assert_true(used <= linear_bound);
    assert_true(used < (size_t)T * base / 4); /* far below quadratic */
    double t2 = tanh(2.0);
    assert_near(tg_get(x->grad, (int64_t[]){3, 63, 31}), 2 * (1 - t2 * t2), 1e-12);
    tg_scope_end(s);
    tg_free(x);
}

/* A custom op that adds into a region of its input's gradient buffer, the
 * way views do: y = x[1:3] * 2 as one node. */
static void first_rows_backward(tg_node *node, tg_tensor *g)
{
    tg_tensor *slot = tg_grad_slot(node->inputs[0]);
    assert_true(tg_needs_grad(node->inputs[0]) && slot);
    tg_add_(tg_narrow(slot, 0, 1, 2), g, 2.0);
}

static void test_custom_op_with_grad_slot(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F64, 2, (int64_t[]){4, 3}), true);
    tg_tensor *layer_params = tg_requires_grad(tg_ones(TG_F64, 1, (int64_t[]){3}), true);
    tg_params params = tg_params_new();
    assert_int_equal(tg_params_add(&params, "m", "x", x), 0);
    assert_int_equal(tg_params_add(&params, "m", "bias", layer_params), 0);
    tg_scope *s = tg_scope_begin();
    tg_tensor *region = tg_narrow(tg_detach(x), 0, 1, 2);
    tg_tensor *y = tg_mul_scalar(tg_contiguous(region), 2.0); /* off the tape: the custom node supplies the gradient */
    tg_record("first_rows", first_rows_backward, y, 1, &x);
    tg_backward(tg_sum(tg_add(y, layer_params), 0, NULL, false), NULL);
    assert_near(tg_get(x->grad, (int64_t[]){0, 0}), 0.0, 0);
    assert_near(tg_get(x->grad, (int64_t[]){2, 1}), 2.0, 0);
    assert_near(tg_get(layer_params->grad, (int64_t[]){0}), 2.0, 0);
    assert_false(tg_needs_grad(tg_detach(x)));
    tg_params_zero_grad(&params);
    assert_near(tg_get(x->grad, (int64_t[]){2, 1}), 0.0, 0);
    assert_near(tg_get(layer_params->grad, (int64_t[]){0}), 0.0, 0);
    tg_scope_end(s);
    tg_params_free(&params);
    tg_free(x);
    tg_free(layer_params);
}

static void test_graph_dot(void **state)
{
    (void)state;
    tg_tensor *w = tg_requires_grad(tg_ones(TG_F32, 2, (int64_t[]){3, 2}), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F32, 2, (int64_t[]){4, 2});
    tg_tensor *y = tg_sum(tg_tanh(tg_matmul(x, tg_transpose(w, 0, 1))), 0, NULL, false);
    char *buf = graph_dot_text(y);
    assert_non_null(strstr(buf, "digraph tapegrad"));
    assert_non_null(strstr(buf, "label=\"tanh\\n[4,3]\""));
    assert_non_null(strstr(buf, "label=\"matmul\\n[4,3]\""));
    assert_non_null(strstr(buf, "label=\"leaf [3,2]\""));
    assert_non_null(strstr(buf, "label=\"sum\\n[]\""));
    free(buf);
    assert_int_equal(tg_graph_dot(y, NULL), -1);
    tg_scope_end(s);
    tg_free(w);
}

/* Inputs whose graphs a backward released (outside any scope: their nodes
 * are tombstones, off the tape) are drawn as dashed boxes; the list of
 * nodes reached once had room only for the nodes on the tape. */
static void test_graph_dot_released_inputs(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F32, 1, (int64_t[]){3}), true);
    tg_tensor *parts[3] = {tg_tanh(x), tg_sigmoid(x), tg_exp(x)};
    for (int i = 0; i < 3; i++) {
        tg_tensor *loss = tg_sum(parts[i], 0, NULL, false);
        assert_int_equal(tg_backward(loss, NULL), 0);
        tg_free(loss);
    }
    tg_tensor *ab = tg_mul(parts[0], parts[1]);
    tg_tensor *y = tg_mul(ab, parts[2]);
    assert_non_null(y);
    char *buf = graph_dot_text(y);
    assert_non_null(strstr(buf, "label=\"mul\\n[3]\""));
    assert_non_null(strstr(buf, "style=dashed, label=\"tanh\""));
    assert_non_null(strstr(buf, "style=dashed, label=\"sigmoid\""));
    assert_non_null(strstr(buf, "style=dashed, label=\"exp\""));
    free(buf);
    tg_free(y);
    tg_free(ab);
    for (int i = 0; i < 3; i++) tg_free(parts[i]);
    tg_free(x);
}

/* A graph a backward released inside a scope stays on the tape until the
 * scope ends, and its inputs may be freed meanwhile (a parameter freed
 * after the step's backward): it is drawn as a dashed box, as one released
 * outside scopes is, without reading them (they were read after their
 * free). */
static void test_graph_dot_released_in_a_scope(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_ones(TG_F64, 1, (int64_t[]){3}), true);
    tg_tensor *w = tg_requires_grad(tg_full(TG_F64, 1, (int64_t[]){3}, 2.0), true);
    tg_scope *s = tg_scope_begin();
    tg_tensor *loss = tg_sum(tg_mul(x, w), 0, NULL, false);
    assert_int_equal(tg_backward(loss, NULL), 0);
    tg_free(w);
    char *buf = graph_dot_text(loss);
    assert_non_null(strstr(buf, "style=dashed, label=\"sum\""));
    assert_null(strstr(buf, "leaf"));
    free(buf);
    assert_true(tg_get(x->grad, (int64_t[]){1}) == 2.0);
    tg_scope_end(s);
    tg_free(x);
}

/* A gradient summed down to a broadcast input (a bias's): each element sums
 * its rows 256 at a time from zero, those partial sums 256 at a time, and
 * adds the totals in order, in float, for any thread count, wide rows split
 * across threads by columns and rows that fold into one element summed
 * whole, in double. */
/* b's gradient from the backward of a + b given g, on `threads` threads. */
static const float *bias_grad(tg_tensor *a, tg_tensor *b, tg_tensor *g, int threads)
{
    tg_set_num_threads(threads);
    tg_zero_grad(1, &b);
    tg_scope *s = tg_scope_begin();
    assert_int_equal(tg_backward(tg_add(a, b), g), 0);
    tg_scope_end(s);
    return tg_data(b->grad);
}

static void blocked_row_sums(const float *g, int64_t rows, int64_t cols, float *dst)
{
    for (int64_t j = 0; j < cols; j++) {
        float total = 0;
        int partials = 0;
        for (int64_t r0 = 0; r0 < rows; r0 += 256) {
            float part = 0;
            for (int64_t r = r0; r < rows && r < r0 + 256; r++) part += g[r * cols + j];
            total += part;
            if (++partials == 256) dst[j] += total, total = 0, partials = 0;
        }
        if (partials) dst[j] += total;
    }
}

static void test_broadcast_grad_sum_threads(void **state)
{
    (void)state;
    const int64_t shapes[3][2] = {{500, 300}, {40, 100}, {300, 1}};
    int before = tg_get_num_threads();
    for (int c = 0; c < 3; c++) {
        int64_t rows = shapes[c][0], cols = shapes[c][1];
        tg_manual_seed(21 + (uint64_t)c);
        tg_tensor *a = tg_randn(TG_F32, 2, (int64_t[]){rows, cols}, 0, 1);
        tg_tensor *g = tg_randn(TG_F32, 2, (int64_t[]){rows, cols}, 0, 1);
        tg_tensor *b = tg_zeros(TG_F32, 1, (int64_t[]){cols});
        tg_requires_grad(b, true);
        const float *gv = tg_data(g);
        float *expected = calloc((size_t)cols, sizeof(float));
        if (cols > 1) {
            blocked_row_sums(gv, rows, cols, expected);
        } else {
            double total = 0; /* a row folding into one element is summed in double */
            for (int64_t r = 0; r < rows; r++) total += gv[r];
            expected[0] = (float)total;
        }
        for (int t = 1; t <= 2; t++) assert_memory_equal(bias_grad(a, b, g, t), expected, (size_t)cols * sizeof(float));
        free(expected);
        tg_free(a);
        tg_free(g);
        tg_free(b);
    }
    tg_set_num_threads(before);
}

/* A million rows of 0.1 summed into a bias's gradient: added one by one in
 * float, the sum drifts by a percent (9.9e-3); in blocks by 3.7e-6, the
 * rounding of each block's 256 equal terms, on 1 and 2 threads alike. */
static void test_broadcast_grad_sum_accuracy(void **state)
{
    (void)state;
    const int64_t rows = (int64_t)1 << 20, cols = 2;
    int before = tg_get_num_threads();
    tg_tensor *a = tg_zeros(TG_F32, 2, (int64_t[]){rows, cols});
    tg_tensor *g = tg_full(TG_F32, 2, (int64_t[]){rows, cols}, 0.1f);
    tg_tensor *b = tg_zeros(TG_F32, 2, (int64_t[]){1, cols});
    tg_requires_grad(b, true);
    float first = 0;
    for (int t = 1; t <= 2; t++) {
        const float *gb = bias_grad(a, b, g, t);
        double exact = (double)0.1f * (double)rows;
        for (int64_t j = 0; j < cols; j++) assert_true(fabs(gb[j] - exact) <= 1e-5 * exact);
        if (t == 1) first = gb[0];
        assert_true(gb[0] == first && gb[1] == first);
    }
    tg_free(a);
    tg_free(g);
    tg_free(b);
    tg_set_num_threads(before);
}

/* --- gradcheck's result ------------------------------------------------------------ */

static tg_tensor *sin_of_square(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_sin(tg_mul(in[0], in[0]));
}

static tg_tensor *fails(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)in;
    (void)ctx;
    return NULL;
}

/* -1 and the documented result, whatever result held before. */
static void assert_no_result(int status, const tg_gradcheck_result *r)
{
    assert_int_equal(status, -1);
    assert_int_equal(r->worst_input, -1);
    assert_int_equal(r->worst_index, -1);
    assert_true(isnan(r->max_abs_err) && isnan(r->max_rel_err) && isnan(r->analytic) && isnan(r->numeric));
}

/* Every return writes result: a check refused before it starts left the
 * caller's memory as it was, and one whose fn failed left zeros, the
 * errors of a pass. */
static void test_gradcheck_result_on_every_path(void **state)
{
    (void)state;
    const tg_gradcheck_result stale = {.max_abs_err = 7, .max_rel_err = 7, .worst_input = 7, .worst_index = 7};
    tg_gradcheck_result r;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0.3, 1.7, -2.0}), true);
    tg_tensor *column = tg_full(TG_F64, 2, (int64_t[]){3, 1}, 0.5);
    tg_tensor *wide = tg_requires_grad(tg_detach(tg_expand(column, 2, (int64_t[]){3, 4})), true);
    tg_tensor *indices = tg_zeros(TG_I64, 1, (int64_t[]){3});
    tg_scope *s = tg_scope_begin();
    tg_tensor *made = tg_mul_scalar(x, 2.0);
    r = stale;
    assert_no_result(tg_gradcheck(sin_of_square, 0, &x, NULL, 1e-6, 1e-5, 1e-3, &r), &r);
    r = stale;
    assert_no_result(tg_gradcheck(sin_of_square, 1, &x, NULL, 0.0, 1e-5, 1e-3, &r), &r);
    r = stale;
    assert_no_result(tg_gradcheck(sin_of_square, 1, &indices, NULL, 1e-6, 1e-5, 1e-3, &r), &r);
    r = stale;
    assert_no_result(tg_gradcheck(sin_of_square, 1, &made, NULL, 1e-6, 1e-5, 1e-3, &r), &r);
    assert_error_contains("tg_gradcheck: input 0 is not a leaf (made by 'mul_scalar')");
    r = stale;
    assert_no_result(tg_gradcheck(sin_of_square, 1, &wide, NULL, 1e-6, 1e-5, 1e-3, &r), &r);
    r = stale;
    assert_no_result(tg_gradcheck(fails, 1, &x, NULL, 1e-6, 1e-5, 1e-3, &r), &r);
    assert_error_contains("tg_gradcheck: fn returned NULL");
    tg_scope_end(s);
    assert_int_equal(tg_gradcheck(sin_of_square, 1, &x, NULL, 1e-6, 1e-5, 1e-3, &r), 0);
    assert_int_equal(r.worst_input, 0);
    assert_true(r.worst_index >= 0 && r.worst_index < 3);
    assert_true(r.max_abs_err < 1e-8);
    tg_free(indices);
    tg_free(wide);
    tg_free(column);
    tg_free(x);
}

/* F32 inputs are checked, as PyTorch checks them after its warning, and
 * come out as PyTorch's do: torch.autograd.gradcheck of sin(x * x) at
 * x = [0.3, 1.7, -2.0] in float32 is False at eps 1e-6, atol 1e-5, rtol
 * 1e-3 and True at eps 1e-3, atol and rtol 1e-2. */
static void test_gradcheck_float32(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F32, 1, (int64_t[]){3}, (float[]){0.3f, 1.7f, -2.0f}), true);
    tg_gradcheck_result r;
    assert_int_equal(tg_gradcheck(sin_of_square, 1, &x, NULL, 1e-6, 1e-5, 1e-3, &r), 1);
    assert_true(r.max_abs_err > 1e-3);
    assert_int_equal(tg_gradcheck(sin_of_square, 1, &x, NULL, 1e-3, 1e-2, 1e-2, &r), 0);
    assert_int_equal(r.worst_input, 0);
    assert_true(r.max_abs_err < 1e-2);
    tg_free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expression_gradients),
        cmocka_unit_test(test_accumulation),
        cmocka_unit_test(test_grad_mode_and_detach),
        cmocka_unit_test(test_backward_errors),
        cmocka_unit_test(test_view_gradients),
        cmocka_unit_test(test_split_cast_clone_gradients),
        cmocka_unit_test(test_slice_backward_is_linear),
        cmocka_unit_test(test_narrow_gradients),
        cmocka_unit_test(test_graph_dot),
        cmocka_unit_test(test_graph_dot_released_inputs),
        cmocka_unit_test(test_graph_dot_released_in_a_scope),
        cmocka_unit_test(test_custom_op_with_grad_slot),
        cmocka_unit_test(test_repeated_inputs),
        cmocka_unit_test(test_broadcast_grad_sum_threads),
        cmocka_unit_test(test_broadcast_grad_sum_accuracy),
        cmocka_unit_test(test_gradcheck_result_on_every_path),
        cmocka_unit_test(test_gradcheck_float32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
