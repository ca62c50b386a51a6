/* Internal: elementwise kernels from one expression.
 *
 * KERNEL1(name, expr) defines name_f32 and name_f64, row kernels computing
 * out = expr for each element, where expr reads the input as `x` (and the
 * op's scalar arguments as c[0], c[1], ...). KERNEL2 reads `a` and `b`,
 * KERNEL3 reads `a`, `b` and `w`. <tgmath.h> makes exp(x), tanh(x), ...
 * pick the float or double function from x's type, so one expression
 * serves both dtypes. Each kernel has a plain-pointer loop for contiguous
 * rows, which the compiler vectorises, and a strided loop for the rest. */
#ifndef TG_MAP_H
#define TG_MAP_H

#include <tgmath.h>

#include "../core/internal.h"

#define TG__ROW_KERNEL(name, T, NIN, DECL, expr)                                        \
    static void name(int64_t n, char **p, const int64_t *s, void *ctx)                   \
    {                                                                                    \
        const double *c = ctx;                                                           \
        (void)c;                                                                         \
        bool contiguous = s[0] == (int64_t)sizeof(T);                                    \
        for (int k = 1; k <= NIN; k++) contiguous = contiguous && s[k] == (int64_t)sizeof(T); \
        if (contiguous) {                                                                \
            T *restrict o = (T *)p[0];                                                   \
            for (int64_t i = 0; i < n; i++) {                                            \
                DECL(T, i * (int64_t)sizeof(T))                                          \
                o[i] = (T)(expr);                                                        \
            }                                                                            \
        } else {                                                                         \
            for (int64_t i = 0; i < n; i++) {                                            \
                DECL##_STRIDED(T, i)                                                     \
                *(T *)(p[0] + i * s[0]) = (T)(expr);                                     \
            }                                                                            \
        }                                                                                \
    }

#define TG__DECL1(T, off) T x = *(const T *)(p[1] + (off)); (void)x;
#define TG__DECL1_STRIDED(T, i) T x = *(const T *)(p[1] + (i) * s[1]); (void)x;
#define TG__DECL2(T, off) T a = *(const T *)(p[1] + (off)), b = *(const T *)(p[2] + (off)); (void)a; (void)b;
#define TG__DECL2_STRIDED(T, i) T a = *(const T *)(p[1] + (i) * s[1]), b = *(const T *)(p[2] + (i) * s[2]); (void)a; (void)b;
#define TG__DECL3(T, off) T a = *(const T *)(p[1] + (off)), b = *(const T *)(p[2] + (off)), w = *(const T *)(p[3] + (off)); (void)a; (void)b; (void)w;
#define TG__DECL3_STRIDED(T, i) T a = *(const T *)(p[1] + (i) * s[1]), b = *(const T *)(p[2] + (i) * s[2]), w = *(const T *)(p[3] + (i) * s[3]); (void)a; (void)b; (void)w;

#define KERNEL1(name, expr) \
    TG__ROW_KERNEL(name##_f32, float, 1, TG__DECL1, expr) TG__ROW_KERNEL(name##_f64, double, 1, TG__DECL1, expr)
#define KERNEL2(name, expr) \
    TG__ROW_KERNEL(name##_f32, float, 2, TG__DECL2, expr) TG__ROW_KERNEL(name##_f64, double, 2, TG__DECL2, expr)
#define KERNEL3(name, expr) \
    TG__ROW_KERNEL(name##_f32, float, 3, TG__DECL3, expr) TG__ROW_KERNEL(name##_f64, double, 3, TG__DECL3, expr)

/* The pair of kernels for one op, indexed by dtype (TG_F32 = 0, TG_F64 = 1). */
typedef struct {
    tg_row_fn k[2];
} tg_kernel;
#define KERNELS(name) ((tg_kernel){{name##_f32, name##_f64}})

/* out = kernel(inputs...) over the broadcast shape of the n inputs (1..3),
 * all of one float dtype; args are the scalar arguments (c[] in the
 * expression). No node is recorded. NULL with a message naming fn on bad
 * input. */
tg_tensor *tg__map(const char *fn, tg_kernel kernel, int n, tg_tensor *const *inputs, const double *args);

#endif
