/* Vector math: every SIMD level the CPU has against libm's float result
 * (expf, tanhf, 1/(1+expf(-x))) over a sweep of the whole float range:
 * saturation, inf, NaN, denormal inputs and outputs, tiny values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <tapegrad/error.h>
#include <tapegrad/gemm.h>
#include <tapegrad/vmath.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allowed: 2e-7 relative (under 2 ulp), plus one unit of the smallest
 * denormal, since a denormal result has fewer significant bits. */
#define REL_TOL 2e-7

static const char *const levels[] = {"avx512", "avx512vl", "avx2", "scalar"};

typedef void (*vfn_f32)(int64_t, const float *, float *);

static float ref_exp(float x) { return expf(x); }
static float ref_tanh(float x) { return tanhf(x); }
static float ref_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Every 4099th bit pattern of each sign, about a million values spread
 * evenly over every binade (denormals included), then special values. */
static float *sweep_inputs(int64_t *count)
{
    static const float specials[] = {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-40f, -1e-40f, 1e-30f, -1e-30f,
                                     1e-8f, -1e-8f, 0.0625f, -0.0625f, 0.5f, -0.5f, 1.0f, -1.0f,
                                     9.0f, -9.0f, 10.0f, -10.0f, 88.72283f, 88.72284f, -87.33654f,
                                     -88.72284f, -103.97208f, -103.97209f, 100.0f, -100.0f, 1e4f,
                                     -1e4f, FLT_MAX, -FLT_MAX, INFINITY, -INFINITY, NAN};
    const uint32_t stride = 4099, inf_bits = 0x7f800000u;
    int64_t n = 2 * (int64_t)(inf_bits / stride + 1) + (int64_t)(sizeof specials / sizeof specials[0]);
    float *x = malloc(sizeof(float) * (size_t)n);
    int64_t at = 0;
    for (uint32_t u = 0; u < inf_bits; u += stride) {
        x[at++] = bits_to_float(u);
        x[at++] = bits_to_float(u | 0x80000000u);
    }
    for (size_t i = 0; i < sizeof specials / sizeof specials[0]; i++) x[at++] = specials[i];
    *count = at;
    return x;
}

/* Largest relative error of fn against ref over x (NaN must give NaN,
 * infinities must match exactly). */
static double max_error(vfn_f32 fn, float (*ref)(float), const float *x, int64_t n, float *y,
                        float *worst_x)
{
    fn(n, x, y);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        float want = ref(x[i]);
        double err;
        if (isnan(want) || isnan(y[i])) err = isnan(want) && isnan(y[i]) ? 0 : INFINITY;
        else if (isinf(want) || isinf(y[i])) err = want == y[i] ? 0 : INFINITY;
        else err = fmax(0.0, fabs((double)y[i] - want) - FLT_TRUE_MIN) / fmax(fabs((double)want), FLT_TRUE_MIN);
        if (err > worst) worst = err, *worst_x = x[i];
    }
    return worst;
}

static void test_accuracy_sweep(void **state)
{
    (void)state;
    int64_t n;
    float *x = sweep_inputs(&n);
    float *y = malloc(sizeof(float) * (size_t)n);
    static const struct {
        const char *name;
        vfn_f32 fn;
        float (*ref)(float);
    } fns[] = {{"exp", tg_vexp_f32, ref_exp}, {"tanh", tg_vtanh_f32, ref_tanh},
               {"sigmoid", tg_vsigmoid_f32, ref_sigmoid}};
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue;
        for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
            float worst_x = 0;
            double err = max_error(fns[f].fn, fns[f].ref, x, n, y, &worst_x);
            print_message("%-7s %-7s max rel error vs libm %.3g (at x = %.9g)\n", levels[lv],
                          fns[f].name, err, worst_x);
            if (!(err <= REL_TOL))
                fail_msg("%s %s: relative error %.3g at x = %.9g", levels[lv], fns[f].name, err, worst_x);
        }
    }
    assert_int_equal(tg_simd_force(NULL), 0);
    free(x);
    free(y);
}

/* Tiny inputs: tanh(x) = x and sigmoid(x) = 1/2 exactly, exp(x) = 1. */
static void test_tiny_and_special(void **state)
{
    (void)state;
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue;
        float x[5] = {1e-30f, -3e-20f, 1e-40f, -0.0f, 2e-9f}, y[5];
        tg_vtanh_f32(5, x, y);
        for (int i = 0; i < 5; i++) assert_true(y[i] == x[i] && signbit(y[i]) == signbit(x[i]));
        tg_vsigmoid_f32(5, x, y);
        for (int i = 0; i < 5; i++) assert_true(y[i] == 0.5f);
        tg_vexp_f32(5, x, y);
        for (int i = 0; i < 5; i++) assert_true(y[i] == 1.0f);
        float s[6] = {INFINITY, -INFINITY, NAN, 1e4f, -1e4f, -100.0f}, e[6], t[6], g[6];
        tg_vexp_f32(6, s, e);
        tg_vtanh_f32(6, s, t);
        tg_vsigmoid_f32(6, s, g);
        assert_true(e[0] == INFINITY && e[1] == 0 && isnan(e[2]) && e[3] == INFINITY && e[4] == 0 && e[5] > 0);
        assert_true(t[0] == 1 && t[1] == -1 && isnan(t[2]) && t[3] == 1 && t[4] == -1 && t[5] == -1);
        assert_true(g[0] == 1 && g[1] == 0 && isnan(g[2]) && g[3] == 1 && g[4] == 0 && g[5] == 0);
    }
    assert_int_equal(tg_simd_force(NULL), 0);
}

/* At every level, each function on every length up to a few blocks of
 * the vectors a loop turn takes (4 x 16 floats on avx512): the same bits
 * as over the whole array, nothing past n written, and in place (y == x)
 * the same; then the double versions against libm. */
static void test_in_place_and_lengths(void **state)
{
    (void)state;
    enum { N = 150 };
    static const vfn_f32 fns[] = {tg_vexp_f32, tg_vtanh_f32, tg_vsigmoid_f32};
    float x[N], y[N], whole[N];
    for (size_t lv = 0; lv < sizeof levels / sizeof levels[0]; lv++) {
        if (tg_simd_force(levels[lv]) != 0) continue;
        for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
            for (int i = 0; i < N; i++) x[i] = (float)(i - 75) * 0.17f;
            fns[f](N, x, whole);
            for (int len = 0; len <= N; len++) {
                for (int i = 0; i < N; i++) x[i] = (float)(i - 75) * 0.17f, y[i] = -7.0f;
                fns[f](len, x, y);
                fns[f](len, x, x);
                for (int i = 0; i < N; i++) {
                    if (i < len && (y[i] != whole[i] || x[i] != whole[i]))
                        fail_msg("%s function %zu, length %d: element %d differs", levels[lv], f, len, i);
                    if (i >= len && (y[i] != -7.0f || x[i] != (float)(i - 75) * 0.17f))
                        fail_msg("%s function %zu, length %d: element %d past n written", levels[lv], f, len, i);
                }
            }
        }
    }
    assert_int_equal(tg_simd_force(NULL), 0);
    double xd[3] = {-2.0, 0.0, 3.0}, yd[3];
    tg_vexp_f64(3, xd, yd);
    assert_true(yd[0] == exp(-2.0) && yd[1] == 1.0 && yd[2] == exp(3.0));
    tg_vtanh_f64(3, xd, yd);
    assert_true(yd[0] == tanh(-2.0) && yd[1] == 0.0 && yd[2] == tanh(3.0));
    tg_vsigmoid_f64(3, xd, yd);
    assert_true(yd[0] == 1.0 / (1.0 + exp(2.0)) && yd[1] == 0.5);
    tg_clear_error();
    tg_vexp_f32(3, NULL, y);
    assert_non_null(strstr(tg_last_error(), "tg_vexp_f32"));
    /* A negative length is refused with a message, writing nothing. */
    tg_clear_error();
    yd[0] = 7.0;
    tg_vtanh_f64(-2, xd, yd);
    assert_non_null(strstr(tg_last_error(), "tg_vtanh_f64: negative size n=-2"));
    assert_true(yd[0] == 7.0);
    tg_clear_error();
    tg_vsigmoid_f32(-1, x, y);
    assert_non_null(strstr(tg_last_error(), "tg_vsigmoid_f32: negative size n=-1"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy_sweep),
        cmocka_unit_test(test_tiny_and_special),
        cmocka_unit_test(test_in_place_and_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
