/* Custom ops defined with tg_record (examples/swish.h) and the DOT export. */
#include "support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../examples/swish.h"

static tg_tensor *swish_plain(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return swish(in[0], 0.7);
}

static tg_tensor *swish_transposed(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return swish(tg_narrow(tg_transpose(in[0], 0, 1), 0, 1, 2), 0.7);
}

static tg_tensor *swish_broadcast(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_mul(swish(tg_expand(in[0], 2, (int64_t[]){4, 3}), 0.7), in[1]);
}

static void test_custom_op_values_and_gradients(void **state)
{
    (void)state;
    tg_manual_seed(3);
    tg_tensor *x = leaf_f64(2, (int64_t[]){3, 4}, -2, 2);
    tg_tensor *row = leaf_f64(1, (int64_t[]){3}, -2, 2);
    tg_tensor *w = leaf_f64(2, (int64_t[]){4, 3}, -1, 1);
    tg_scope *s = tg_scope_begin();
    /* The same function composed from built-in ops. */
    tg_tensor *reference = tg_mul(x, tg_sigmoid(tg_mul_scalar(x, 0.7)));
    assert_close(swish(x, 0.7), reference, 1e-14, 1e-15, "swish values f64");
    tg_tensor *x32 = tg_cast(x, TG_F32);
    assert_close(swish(x32, 0.7), tg_cast(reference, TG_F32), 1e-6, 1e-7, "swish values f32");
    tg_scope_end(s);
    assert_gradcheck(swish_plain, &x, 1, NULL, "swish contiguous");
    assert_gradcheck(swish_transposed, &x, 1, NULL, "swish transposed and sliced");
    tg_tensor *in[2] = {row, w};
    assert_gradcheck(swish_broadcast, in, 2, NULL, "swish broadcast");
    tg_free(x);
    tg_free(row);
    tg_free(w);
}

/* Three steps of an LSTM-like recurrence, exported as DOT and rendered by
 * Graphviz. */
/* y = x * s with s saved for backward (not an input): dx = g * s. The saved
 * tensor's version is checked, so changing s in place between forward and
 * backward is refused instead of giving a silently wrong gradient. */
static void scaled_backward(tg_node *n, tg_tensor *g)
{
    tg_accum_grad(n->inputs[0], tg_mul(g, n->saved[0]));
}

static tg_tensor *scaled(tg_tensor *x, tg_tensor *s)
{
    bool was = tg_set_grad_enabled(false);
    tg_tensor *y = tg_mul(x, s);
    tg_set_grad_enabled(was);
    tg_node *node = tg_record("scaled", scaled_backward, y, 1, &x);
    if (node && tg_save_for_backward(node, 0, s) < 0) return NULL;
    return y;
}

static void test_saved_tensor_is_checked(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}), true);
    tg_scope *scope = tg_scope_begin();
    tg_tensor *s = tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){0.5, -1, 4});
    assert_int_equal(tg_backward(tg_sum(scaled(x, s), 0, NULL, false), NULL), 0);
    assert_true(tg_get(x->grad, (int64_t[]){0}) == 0.5 && tg_get(x->grad, (int64_t[]){1}) == -1 &&
                tg_get(x->grad, (int64_t[]){2}) == 4);
    tg_tensor *loss = tg_sum(scaled(x, s), 0, NULL, false);
    tg_fill_(s, 2.0);
    assert_int_equal(tg_backward(loss, NULL), -1);
    assert_error_contains("modified by an inplace operation");
    assert_true(tg_get(x->grad, (int64_t[]){2}) == 4); /* a failed pass changes no .grad */
    bool was = tg_no_grad_begin();
    tg_tensor *product = tg_mul(x, s);
    tg_no_grad_end(was);
    tg_node *node = tg_record("scaled", scaled_backward, product, 1, &x);
    assert_non_null(node);
    assert_int_equal(tg_save_for_backward(node, 4, s), -1);
    assert_error_contains("tg_save_for_backward: expected a node and a slot in [0, 3], got 4");
    assert_int_equal(tg_save_for_backward(NULL, 0, s), -1);
    tg_scope_end(scope);
    tg_free(x);
}

/* An out that is an input, was recorded already, is int64 or outlives
 * the node (persistent, inside a scope) is refused: recorded, it tied the
 * graph in a knot (the input's gradient went nowhere), dropped the first
 * node's gradient, or left a pointer into the ended scope. */
static void test_record_refuses_bad_out(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3}), true);
    tg_tensor *kept = tg_ones(TG_F64, 1, (int64_t[]){3});
    tg_scope *scope = tg_scope_begin();
    assert_null(tg_record("scaled", scaled_backward, x, 1, &x));
    assert_error_contains("tg_record: 'scaled': out is input 0");
    assert_null(x->node);
    tg_tensor *product = tg_mul(x, x);
    assert_null(tg_record("scaled", scaled_backward, product, 1, &x));
    assert_error_contains("tg_record: 'scaled': out was recorded already (by 'mul')");
    assert_string_equal(product->node->op, "mul");
    assert_null(tg_record("scaled", scaled_backward, tg_zeros(TG_I64, 1, (int64_t[]){3}), 1, &x));
    assert_error_contains("tg_record: expected a float32 or float64 tensor, got int64");
    assert_null(tg_record("scaled", scaled_backward, kept, 1, &x));
    assert_error_contains("tg_record: 'scaled': out is persistent");
    assert_false(kept->requires_grad);
    assert_int_equal(tg_backward(tg_sum(product, 0, NULL, false), NULL), 0);
    assert_true(tg_get(x->grad, (int64_t[]){2}) == 6);
    tg_scope_end(scope);
    tg_free(kept);
    tg_free(x);
}

static void test_dot_of_lstm_like_expression_renders(void **state)
{
    (void)state;
    tg_manual_seed(4);
    const int64_t B = 2, H = 3;
    tg_scope *s = tg_scope_begin();
    tg_tensor *w = tg_requires_grad(tg_keep(tg_rand(TG_F32, 2, (int64_t[]){4 * H, H}, -0.5, 0.5)), true);
    tg_tensor *h = tg_zeros(TG_F32, 2, (int64_t[]){B, H}), *c = tg_zeros(TG_F32, 2, (int64_t[]){B, H});
    tg_tensor *x = tg_ones(TG_F32, 2, (int64_t[]){B, H});
    for (int t = 0; t < 3; t++) {
        tg_tensor *gates = tg_linear(tg_add(x, h), w, NULL);
        tg_tensor *g[4];
        tg_chunk(gates, 4, 1, 4, g);
        c = tg_addcmul(tg_mul(tg_sigmoid(g[1]), c), tg_sigmoid(g[0]), tg_tanh(g[2]), 1.0);
        h = tg_mul(tg_sigmoid(g[3]), tg_tanh(c));
    }
    tg_tensor *loss = tg_sum(h, 0, NULL, false);
    char dot_path[] = "/tmp/tg_graph_XXXXXX";
    int fd = mkstemp(dot_path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_int_equal(tg_graph_dot(loss, f), 0);
    fclose(f);
    char cmd[256], svg_path[64];
    snprintf(svg_path, sizeof svg_path, "%s.svg", dot_path);
    snprintf(cmd, sizeof cmd, "dot -Tsvg %s -o %s", dot_path, svg_path);
    int rc = system(cmd);
    assert_int_equal(rc, 0);
    FILE *svg = fopen(svg_path, "r");
    assert_non_null(svg);
    char head[4096] = {0};
    size_t n = fread(head, 1, sizeof head - 1, svg);
    fclose(svg);
    assert_true(n > 0);
    assert_non_null(strstr(head, "<svg"));
    unlink(dot_path);
    unlink(svg_path);
    tg_scope_end(s);
    tg_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_custom_op_values_and_gradients),
        cmocka_unit_test(test_dot_of_lstm_like_expression_renders),
        cmocka_unit_test(test_saved_tensor_is_checked),
        cmocka_unit_test(test_record_refuses_bad_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
