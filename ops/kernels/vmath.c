/* Vector math entry points: pick the SIMD level's float kernel, split large
 * arrays across threads (each element is independent, so the split cannot
 * change a result), and the plain libm loops used by the scalar level and
 * by the double versions. */
#include <tapegrad/vmath.h>
#include "../../core/internal.h"
#include "kern_simd.h"
#include <tapegrad/threads.h>

#include <math.h>
#include <stdbool.h>

/* Below this many elements one thread finishes before a team would start. */
#define TG_VMATH_PARALLEL_MIN (1 << 15)

/* y[i] = EXPR for i < n. */
#define TG_LIBM_LOOP(NAME_, T_, EXPR)                                                       \
    void NAME_(int64_t n, const T_ *x, T_ *y)                                               \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) y[i] = EXPR;                                        \
    }
TG_LIBM_LOOP(tg_vexp_f32_scalar, float, expf(x[i]))
TG_LIBM_LOOP(tg_vtanh_f32_scalar, float, tanhf(x[i]))
TG_LIBM_LOOP(tg_vsigmoid_f32_scalar, float, 1.0f / (1.0f + expf(-x[i])))
static TG_LIBM_LOOP(exp_f64, double, exp(x[i]))
static TG_LIBM_LOOP(tanh_f64, double, tanh(x[i]))
static TG_LIBM_LOOP(sigmoid_f64, double, 1.0 / (1.0 + exp(-x[i])))

static bool check_args(const char *fn, int64_t n, const void *x, const void *y)
{
    if (n < 0) return TG__REJECT("%s: negative size n=%lld", fn, (long long)n);
    if (n > 0 && (!x || !y)) return TG__REJECT("%s: %s is NULL for n=%lld", fn, !x ? "x" : "y", (long long)n);
    return n > 0;
}

/* Run fn over [0, n) in contiguous chunks, one per thread, each starting on
 * a multiple of 64 elements so SIMD loops see whole vectors until the end. */
#define TG_VMATH_SPLIT(NAME_, T_)                                                           \
    static void NAME_(void (*fn)(int64_t, const T_ *, T_ *), int64_t n, const T_ *x, T_ *y) \
    {                                                                                       \
        tg__parallel region = tg__parallel_begin(tg__threads_for(n, TG_VMATH_PARALLEL_MIN));   \
        if (region.threads == 1) {                                                          \
            fn(n, x, y);                                                                    \
            return;                                                                         \
        }                                                                                   \
        int64_t chunk = (n / region.threads + 63) / 64 * 64;                                \
        _Pragma("omp parallel num_threads(region.threads)")                                 \
        {                                                                                   \
            tg__parallel_arrive(&region);                                                   \
            _Pragma("omp for schedule(static)")                                             \
            for (int64_t start = 0; start < n; start += chunk)                              \
                fn(n - start < chunk ? n - start : chunk, x + start, y + start);            \
        }                                                                                   \
        tg__parallel_end(&region);                                                          \
    }
TG_VMATH_SPLIT(split_f32, float)
TG_VMATH_SPLIT(split_f64, double)

/* The public entry points: the float ones take the level's kernel, the
 * double ones the libm loops above. */
#define TG_VMATH_ENTRY(FN, T_, DT, KERNEL)                                                  \
    void tg_##FN##_##DT(int64_t n, const T_ *x, T_ *y)                                      \
    {                                                                                       \
        if (check_args("tg_" #FN "_" #DT, n, x, y)) split_##DT(KERNEL, n, x, y);           \
    }
TG_VMATH_ENTRY(vexp, float, f32, tg_simd_current()->vexp_f32)
TG_VMATH_ENTRY(vtanh, float, f32, tg_simd_current()->vtanh_f32)
TG_VMATH_ENTRY(vsigmoid, float, f32, tg_simd_current()->vsigmoid_f32)
TG_VMATH_ENTRY(vexp, double, f64, exp_f64)
TG_VMATH_ENTRY(vtanh, double, f64, tanh_f64)
TG_VMATH_ENTRY(vsigmoid, double, f64, sigmoid_f64)
