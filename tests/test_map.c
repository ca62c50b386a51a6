/* tg_map (custom.h): elementwise ops from per-element functions. Values
 * against the same function built from ops, gradchecks with one, two and
 * three inputs through broadcasting and strides, float32 with and without
 * float functions, results that do not depend on the thread count, and bad
 * input. */
#include "support.h"

#include <math.h>
#include <string.h>

/* y = a * exp(b):  dy/da = exp(b), dy/db = a exp(b) */
static double scaled_exp(const double *x, const double *c)
{
    (void)c;
    return x[0] * exp(x[1]);
}
static double scaled_exp_grad(int k, const double *x, const double *c)
{
    (void)c;
    return k == 0 ? exp(x[1]) : x[0] * exp(x[1]);
}
static const tg_map_op scaled_exp_op = {"scaled_exp", 2, scaled_exp, scaled_exp_grad, NULL, NULL};

/* y = c0 * a * b + c1 * t^2:  dy/da = c0 b, dy/db = c0 a, dy/dt = 2 c1 t */
static double mix(const double *x, const double *c) { return c[0] * x[0] * x[1] + c[1] * x[2] * x[2]; }
static double mix_grad(int k, const double *x, const double *c)
{
    return k == 0 ? c[0] * x[1] : k == 1 ? c[0] * x[0] : 2 * c[1] * x[2];
}
/* the same in float, to run float32 tensors without a round trip */
static float mix_f32(const float *x, const double *c) { return (float)c[0] * x[0] * x[1] + (float)c[1] * x[2] * x[2]; }
static float mix_grad_f32(int k, const float *x, const double *c)
{
    return k == 0 ? (float)c[0] * x[1] : k == 1 ? (float)c[0] * x[0] : 2 * (float)c[1] * x[2];
}
static const tg_map_op mix_op = {"mix", 3, mix, mix_grad, mix_f32, mix_grad_f32};

/* y = x^3 / 3:  dy/dx = x^2 */
static double cube(const double *x, const double *c)
{
    (void)c;
    return x[0] * x[0] * x[0] / 3;
}
static double cube_grad(int k, const double *x, const double *c)
{
    (void)k;
    (void)c;
    return x[0] * x[0];
}
static const tg_map_op cube_op = {"cube", 1, cube, cube_grad, NULL, NULL};

static const double MIX_ARGS[2] = {1.5, -0.25};

static tg_tensor *scaled_exp_fn(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    /* a (3, 4) transposed, b (3) broadcast over the rows of a^T (4, 3) */
    return tg_map(&scaled_exp_op, 2, (tg_tensor *[]){tg_transpose(in[0], 0, 1), in[1]}, 0, NULL);
}

static tg_tensor *mix_fn(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    /* a (2, 3, 4), b (3, 1) and t (4) sliced from (7): three broadcasts */
    return tg_map(&mix_op, 3, (tg_tensor *[]){in[0], in[1], tg_narrow(in[2], 0, 2, 4)}, 2, MIX_ARGS);
}

static tg_tensor *cube_fn(int n, tg_tensor **in, void *ctx)
{
    (void)n;
    (void)ctx;
    return tg_map(&cube_op, 1, in, 0, NULL);
}

static void test_values_and_gradients(void **state)
{
    (void)state;
    tg_manual_seed(7);
    tg_tensor *a = leaf_f64(2, (int64_t[]){3, 4}, -1, 1), *b = leaf_f64(1, (int64_t[]){3}, -1, 1);
    tg_tensor *a3 = leaf_f64(3, (int64_t[]){2, 3, 4}, -1, 1), *b3 = leaf_f64(2, (int64_t[]){3, 1}, -1, 1);
    tg_tensor *t = leaf_f64(1, (int64_t[]){7}, -1, 1);
    tg_scope *s = tg_scope_begin();
    assert_close(scaled_exp_fn(2, (tg_tensor *[]){a, b}, NULL), tg_mul(tg_transpose(a, 0, 1), tg_exp(b)), 1e-15, 0,
                 "a exp(b), broadcast and transposed");
    tg_tensor *ts = tg_narrow(t, 0, 2, 4);
    tg_tensor *expected = tg_add(tg_mul_scalar(tg_mul(a3, b3), 1.5), tg_mul_scalar(tg_square(ts), -0.25));
    assert_close(mix_fn(3, (tg_tensor *[]){a3, b3, t}, NULL), expected, 1e-15, 1e-16, "three inputs");
    /* float32: through the float functions, and through the double ones */
    tg_tensor *f32[3] = {tg_cast(a3, TG_F32), tg_cast(b3, TG_F32), tg_cast(ts, TG_F32)};
    assert_close(tg_map(&mix_op, 3, f32, 2, MIX_ARGS), tg_cast(expected, TG_F32), 1e-6, 1e-6, "mix float32");
    tg_tensor *c32 = tg_map(&cube_op, 1, f32, 0, NULL);
    assert_int_equal(c32->dtype, TG_F32);
    assert_close(c32, tg_cast(tg_div_scalar(tg_mul(tg_square(a3), a3), 3), TG_F32), 1e-6, 1e-7, "cube float32");
    tg_scope_end(s);
    assert_gradcheck(scaled_exp_fn, ((tg_tensor *[]){a, b}), 2, NULL, "two inputs, broadcast and transposed");
    assert_gradcheck(mix_fn, ((tg_tensor *[]){a3, b3, t}), 3, NULL, "three inputs, broadcast and sliced");
    assert_gradcheck(cube_fn, &a, 1, NULL, "one input");
    /* gradients flow to the inputs that need them only */
    tg_tensor *fixed = tg_ones(TG_F64, 1, (int64_t[]){3});
    s = tg_scope_begin();
    tg_zero_grad(1, &a);
    tg_tensor *y = tg_map(&scaled_exp_op, 2, (tg_tensor *[]){tg_transpose(a, 0, 1), fixed}, 0, NULL);
    assert_int_equal(tg_backward(tg_sum(y, 0, NULL, false), NULL), 0);
    assert_close(a->grad, tg_full(TG_F64, 2, (int64_t[]){3, 4}, exp(1.0)), 1e-15, 0, "d/da");
    assert_null(fixed->grad);
    tg_scope_end(s);
    tg_free(fixed);
    tg_tensor *all[] = {a, b, a3, b3, t};
    for (int i = 0; i < 5; i++) tg_free(all[i]);
}

/* Large tensors split across threads in fixed pieces: the same bits for any
 * thread count, forward and backward. */
static void test_threads_do_not_change_results(void **state)
{
    (void)state;
    tg_manual_seed(9);
    tg_tensor *x = leaf_f64(2, (int64_t[]){300, 400}, -2, 2);
    tg_tensor *y[2], *g[2];
    int before = tg_get_num_threads();
    for (int k = 0; k < 2; k++) {
        tg_set_num_threads(k + 1);
        tg_scope *s = tg_scope_begin();
        tg_zero_grad(1, &x);
        tg_tensor *out = tg_map(&cube_op, 1, (tg_tensor *[]){tg_transpose(x, 0, 1)}, 0, NULL);
        assert_int_equal(tg_backward(tg_sum(tg_mul(out, out), 0, NULL, false), NULL), 0);
        y[k] = tg_keep(out);
        g[k] = tg_keep(x->grad);
        tg_scope_end(s);
    }
    tg_set_num_threads(before);
    assert_close(y[0], y[1], 0, 0, "values with 1 and 2 threads");
    assert_close(g[0], g[1], 0, 0, "gradients with 1 and 2 threads");
    tg_scope *s = tg_scope_begin();
    assert_close(g[0], tg_mul_scalar(tg_mul(tg_pow_scalar(x, 5), tg_ones_like(x)), 2.0 / 3), 1e-14, 1e-14,
                 "d/dx (x^3/3)^2 = 2/3 x^5");
    tg_scope_end(s);
    for (int k = 0; k < 2; k++) {
        tg_free(y[k]);
        tg_free(g[k]);
    }
    tg_free(x);
}

static double zero_grad(int k, const double *x, const double *c)
{
    (void)k, (void)x, (void)c;
    return 0;
}

/* The op descriptor may be a local variable that is gone (or reused) by
 * the time backward runs: the node keeps a copy. */
static void test_op_descriptor_copied(void **state)
{
    (void)state;
    tg_tensor *x = tg_requires_grad(tg_from_array(TG_F64, 1, (int64_t[]){3}, (double[]){1, 2, -3}), true);
    tg_scope *s = tg_scope_begin();
    tg_map_op local = cube_op;
    tg_tensor *y = tg_map(&local, 1, &x, 0, NULL);
    local.grad = zero_grad;
    local.name = "changed";
    assert_int_equal(tg_backward(tg_sum(y, 0, NULL, false), NULL), 0);
    const double want[3] = {1, 4, 9};
    for (int64_t k = 0; k < 3; k++) assert_true(tg_get(x->grad, &k) == want[k]);
    tg_scope_end(s);
    tg_free(x);
}

static void test_bad_input(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F64, 1, (int64_t[]){3});
    assert_null(tg_map(NULL, 1, &x, 0, NULL));
    assert_error_contains("tg_map: NULL op");
    assert_null(tg_map(&cube_op, 2, (tg_tensor *[]){x, x}, 0, NULL));
    assert_error_contains("tg_map: op 'cube' takes 1 inputs, got 2");
    assert_null(tg_map(&cube_op, 1, NULL, 0, NULL));
    assert_error_contains("tg_map: op 'cube' takes 1 inputs, got 1 in a NULL array");
    assert_null(tg_map(&cube_op, 1, &x, 5, (double[5]){0}));
    assert_error_contains("tg_map: op 'cube' got 5 scalar arguments, expected 0 to 4");
    assert_null(tg_map(&cube_op, 1, &x, 1, NULL));
    assert_error_contains("tg_map: op 'cube' got 1 scalar arguments in a NULL array");
    tg_map_op broken = cube_op;
    broken.grad = NULL;
    assert_null(tg_map(&broken, 1, &x, 0, NULL));
    assert_error_contains("tg_map: op 'cube' needs its double value and grad functions (grad is NULL)");
    broken = cube_op;
    broken.n_inputs = 4;
    assert_null(tg_map(&broken, 4, (tg_tensor *[]){x, x, x, x}, 0, NULL));
    assert_error_contains("tg_map: op 'cube' has 4 inputs, expected 1 to 3");
    assert_null(tg_map(&scaled_exp_op, 2, (tg_tensor *[]){x, tg_ones(TG_F32, 1, (int64_t[]){3})}, 0, NULL));
    assert_error_contains("scaled_exp: expected all inputs to have the same dtype, got float64 and float32");
    assert_null(tg_map(&scaled_exp_op, 2, (tg_tensor *[]){x, tg_ones(TG_F64, 1, (int64_t[]){4})}, 0, NULL));
    assert_error_contains("scaled_exp: The size of tensor a (3) must match the size of tensor b (4)");
    assert_null(tg_map(&cube_op, 1, (tg_tensor *[]){tg_zeros(TG_I64, 1, (int64_t[]){3})}, 0, NULL));
    assert_error_contains("cube: expected a float32 or float64 tensor, got int64");
    tg_clear_error();
    assert_null(tg_map(&scaled_exp_op, 2, (tg_tensor *[]){x, NULL}, 0, NULL));
    assert_string_equal(tg_last_error(), "");
    tg_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_gradients),
        cmocka_unit_test(test_threads_do_not_change_results),
        cmocka_unit_test(test_op_descriptor_copied),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
