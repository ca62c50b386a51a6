/* Portable micro-kernels in plain C, for CPUs (or builds) without AVX2. The
 * 4 x 8 tile of accumulators is a fixed-size array the compiler keeps in
 * registers and vectorises with whatever the baseline ISA offers (SSE2 on
 * x86-64). Same contract as the SIMD kernels: see tg_ukr_f32 in
 * kern_simd.h. */
#include "kern_simd.h"

#define MR TG_SCALAR_MR
#define NR TG_SCALAR_NR

#define TG_SCALAR_UKR(NAME_, T_)                                                            \
    void NAME_(int64_t kc, int mr, const T_ *a, const T_ *b, int64_t ldb, T_ *c, int64_t rsc, \
               T_ alpha, T_ beta)                                                           \
    {                                                                                       \
        T_ acc[MR][NR] = {{0}};                                                             \
        for (int64_t k = 0; k < kc; k++) {                                                  \
            for (int i = 0; i < MR; i++)                                                    \
                for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];                      \
            a += MR;                                                                        \
            b += ldb;                                                                       \
        }                                                                                   \
        for (int i = 0; i < mr; i++)                                                        \
            for (int j = 0; j < NR; j++) {                                                  \
                T_ scaled = alpha * acc[i][j];                                              \
                c[i * rsc + j] = beta == 0 ? scaled : beta * c[i * rsc + j] + scaled;       \
            }                                                                               \
    }

TG_SCALAR_UKR(tg_ukr_f32_scalar, float)
TG_SCALAR_UKR(tg_ukr_f64_scalar, double)

/* Packing one sliver of a transposed B: dst[k*NR + j] = src[j*ld + k],
 * zero past cols. Rows of src are read contiguously. */
#define TG_SCALAR_PACK_BT(NAME_, T_)                                                        \
    void NAME_(int64_t kc, int64_t cols, const T_ *src, int64_t ld, T_ *dst)                \
    {                                                                                       \
        for (int64_t j = 0; j < NR; j++)                                                    \
            for (int64_t k = 0; k < kc; k++) dst[k * NR + j] = j < cols ? src[j * ld + k] : 0; \
    }

TG_SCALAR_PACK_BT(tg_pack_bt_f32_scalar, float)
TG_SCALAR_PACK_BT(tg_pack_bt_f64_scalar, double)

/* Dot products of up to 4 rows of A with 4 rows of a transposed B; see
 * tg_dots_f32 in kern_simd.h. */
#define TG_SCALAR_DOTS(NAME_, T_)                                                           \
    void NAME_(int64_t K, int m, const T_ *const *a, const T_ *const *w, T_ *out)          \
    {                                                                                       \
        for (int i = 0; i < m; i++)                                                         \
            for (int j = 0; j < 4; j++) {                                                   \
                T_ sum = 0;                                                                 \
                for (int64_t k = 0; k < K; k++) sum += a[i][k] * w[j][k];                   \
                out[i * 4 + j] = sum;                                                       \
            }                                                                               \
    }

TG_SCALAR_DOTS(tg_dots_f32_scalar, float)
TG_SCALAR_DOTS(tg_dots_f64_scalar, double)
