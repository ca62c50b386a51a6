/* Internal: elementwise kernels from one expression.
 *
 * KERNEL2(name, g, y, expr) defines name_f32 and name_f64, row kernels
 * computing out = expr for each element, where expr names its operands with
 * the letters of the formula it implements (here g and y, in the order the
 * operands are passed to tg__map) and reads the op's scalar arguments as
 * c[0], c[1], ... KERNEL1 and KERNEL3 take one and three names. The
 * expression becomes an inline function in float and in double; <tgmath.h>
 * makes exp(x), tanh(x), ... pick the function of the operand's type, so
 * one expression serves both dtypes. Each kernel has a plain-pointer loop for
 * contiguous rows, which the compiler vectorises, and a strided loop for the
 * rest. */
#ifndef TG_MAP_H
#define TG_MAP_H

#include <tgmath.h>

#include "../core/internal.h"

/* Operand k's element at byte offset off of its row. */
#define TG__AT(T, k, off) (*(const T *)(p[k] + (off)))
#define TG__ARGS1(T, o1, o2, o3) TG__AT(T, 1, o1), c
#define TG__ARGS2(T, o1, o2, o3) TG__AT(T, 1, o1), TG__AT(T, 2, o2), c
#define TG__ARGS3(T, o1, o2, o3) TG__AT(T, 1, o1), TG__AT(T, 2, o2), TG__AT(T, 3, o3), c

/* A row kernel applying the element function f to NIN operands. */
#define TG__ROW_KERNEL(name, T, NIN, f)                                                   \
    TG__VECTOR_CLONES static void name(int64_t n, char **p, const int64_t *s, void *ctx)   \
    {                                                                                      \
        const double *c = ctx;                                                             \
        const int64_t z = (int64_t)sizeof(T);                                              \
        bool contiguous = s[0] == z;                                                       \
        for (int k = 1; k <= NIN; k++) contiguous = contiguous && s[k] == z;               \
        if (contiguous) {                                                                  \
            T *restrict o = (T *)p[0];                                                     \
            for (int64_t i = 0; i < n; i++) o[i] = f(TG__ARGS##NIN(T, i * z, i * z, i * z)); \
        } else {                                                                           \
            for (int64_t i = 0; i < n; i++)                                                \
                *(T *)(p[0] + i * s[0]) = f(TG__ARGS##NIN(T, i * s[1], i * s[2], i * s[3])); \
        }                                                                                  \
    }

#define KERNEL1(name, x, expr)                                                              \
    static inline float name##_el_f32(float x, const double *c) { (void)x; (void)c; return (float)(expr); }   \
    static inline double name##_el_f64(double x, const double *c) { (void)x; (void)c; return (double)(expr); } \
    TG__ROW_KERNEL(name##_f32, float, 1, name##_el_f32) TG__ROW_KERNEL(name##_f64, double, 1, name##_el_f64)
#define KERNEL2(name, x, y, expr)                                                                                 \
    static inline float name##_el_f32(float x, float y, const double *c) { (void)x; (void)y; (void)c; return (float)(expr); }     \
    static inline double name##_el_f64(double x, double y, const double *c) { (void)x; (void)y; (void)c; return (double)(expr); } \
    TG__ROW_KERNEL(name##_f32, float, 2, name##_el_f32) TG__ROW_KERNEL(name##_f64, double, 2, name##_el_f64)
#define KERNEL3(name, x, y, z, expr)                                                                                        \
    static inline float name##_el_f32(float x, float y, float z, const double *c)                                            \
    { (void)x; (void)y; (void)z; (void)c; return (float)(expr); }                                                             \
    static inline double name##_el_f64(double x, double y, double z, const double *c)                                        \
    { (void)x; (void)y; (void)z; (void)c; return (double)(expr); }                                                            \
    TG__ROW_KERNEL(name##_f32, float, 3, name##_el_f32) TG__ROW_KERNEL(name##_f64, double, 3, name##_el_f64)

/* The scalar argument c[k] in the type of operand x (float in a float32
 * kernel): torch converts a Scalar argument to the tensor's dtype before
 * using it, so a float32 op multiplies by, and compares with, the float
 * nearest to the argument (0.1f, 0.7f), not the double. */
#define ARG(x, k) _Generic((x), float: (float)c[k], default: c[k])

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
/* tg__map with any context for the kernels (custom.c's per-element functions). */
tg_tensor *tg__map_ctx(const char *fn, tg_kernel kernel, int n, tg_tensor *const *inputs, void *ctx);

#endif
