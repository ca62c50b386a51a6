/* Internal: the table of kernels for one SIMD level, and the per-level
 * functions that fill it. Each level's sources are compiled with their own
 * -m flags into their own static library; only simd.c (compiled without
 * them) decides at run time which table is used, so no AVX instruction runs
 * on a CPU that lacks it. Not installed. */
#ifndef TG_KERN_SIMD_H
#define TG_KERN_SIMD_H

#include <stdbool.h>
#include <stdint.h>

#define TG_HIDDEN __attribute__((visibility("hidden")))

/* A GEMM micro-kernel computes one MR x NR tile of C from packed panels:
 *   acc(i,j) = sum_{k<kc} a[k*MR + i] * b[k*ldb + j]     (i < mr, j < NR)
 *   c[i*rsc + j] = alpha*acc(i,j) + beta*c[i*rsc + j]     (beta == 0: c unread)
 * a is an A sliver packed k-major (MR values per k, rows >= mr unused);
 * b is either a packed B sliver (ldb == NR) or, for the no-packing path,
 * B itself with its row stride. mr may be smaller than MR (few rows of C);
 * the accumulation order over k is the same for every mr, so a row's result
 * does not depend on the rows computed with it. */
typedef void (*tg_ukr_f32)(int64_t kc, int mr, const float *a, const float *b, int64_t ldb,
                           float *c, int64_t rsc, float alpha, float beta);
typedef void (*tg_ukr_f64)(int64_t kc, int mr, const double *a, const double *b, int64_t ldb,
                           double *c, int64_t rsc, double alpha, double beta);

/* The micro-kernel for a tile with only its first nr < NR columns in C
 * (columns contiguous, rsc its row stride), the same arithmetic as the
 * full kernel's with stores (and loads of C) of those columns alone.
 * Optional: the scalar level leaves it NULL and the driver goes through
 * a private tile. */
typedef void (*tg_ukr_cols_f32)(int64_t kc, int mr, int64_t nr, const float *a, const float *b, int64_t ldb,
                                float *c, int64_t rsc, float alpha, float beta);
typedef void (*tg_ukr_cols_f64)(int64_t kc, int mr, int64_t nr, const double *a, const double *b, int64_t ldb,
                                double *c, int64_t rsc, double alpha, double beta);

/* The full micro-kernel with c[i*rsc + j] = acc(i,j) + bias[j] (alpha
 * 1; c unread), the bits of beta 1 onto a c holding the bias. Optional:
 * the scalar level leaves it NULL. */
typedef void (*tg_ukr_bias_f32)(int64_t kc, int mr, const float *a, const float *b, int64_t ldb, float *c,
                                int64_t rsc, const float *bias);
typedef void (*tg_ukr_bias_f64)(int64_t kc, int mr, const double *a, const double *b, int64_t ldb, double *c,
                                int64_t rsc, const double *bias);

/* The kernel that reads a transposed B in place: with w[j*lda + k] =
 * B(k, j) for j < mr (rows of W = B^T) and b a packed sliver of NR rows
 * of A (b[k*NR + i] = A(i, k), zero rows beyond A's), it computes
 *   c[i*rsc + j] = alpha * sum_{k<kc} A(i,k) B(k,j) + beta * c[i*rsc + j]
 * for i < nr, j < mr, the transpose of an mr x NR tile (beta == 0: c
 * unread). Optional: the scalar level leaves it NULL. */
typedef void (*tg_ukr_wt_f32)(int64_t kc, int mr, int nr, const float *w, int64_t lda, const float *b,
                              float *c, int64_t rsc, float alpha, float beta);
typedef void (*tg_ukr_wt_f64)(int64_t kc, int mr, int nr, const double *w, int64_t lda, const double *b,
                              double *c, int64_t rsc, double alpha, double beta);

/* Register tile (mr x nr) and cache blocks (mc x kc of A in L2, kc x nc of B
 * in L3, a kc x nr sliver of B in L1) for one dtype at one level. */
typedef struct {
    int mr, nr;
    int64_t mc, kc, nc;
} tg_gemm_blocking;

/* Tile sizes, shared by each level's kernel file and the table in simd.c.
 * AVX-512: 12 rows x 2 zmm = 24 accumulators of the 32 registers, enough
 * independent FMA chains to keep Zen 5's two 512-bit FMA pipes busy (latency
 * 4 x 2 pipes = 8 needed) while B loads and A broadcasts fit in the rest.
 * AVX2: the classic 6 x 2 ymm = 12 accumulators of 16 registers. */
#define TG_AVX512_MR 12
#define TG_AVX512_NR_F32 32
#define TG_AVX512_NR_F64 16
#define TG_AVX512VL_MR 8 /* the AVX2 tile with 32 registers: 8 x 2 ymm = 16 */
#define TG_AVX2_MR 6
#define TG_AVX2_NR_F32 16
#define TG_AVX2_NR_F64 8
#define TG_SCALAR_MR 4
#define TG_SCALAR_NR 8

/* Pack one sliver of NR columns of a transposed B (B(k,j) = src[j*ld + k],
 * j < cols <= NR) as dst[k*NR + j], zero-padding columns cols..NR-1. */
typedef void (*tg_pack_bt_f32)(int64_t kc, int64_t cols, const float *src, int64_t ld, float *dst);
typedef void (*tg_pack_bt_f64)(int64_t kc, int64_t cols, const double *src, int64_t ld, double *dst);

/* Pack a sliver of rows <= MR rows of a row-major A (A(i,k) = src[i*ld + k])
 * as dst[k*MR + i], zeros in rows rows..MR-1. Optional: the scalar level
 * leaves it NULL and the driver packs element by element. */
typedef void (*tg_pack_a_f32)(int64_t kc, int rows, const float *src, int64_t ld, float *dst);
typedef void (*tg_pack_a_f64)(int64_t kc, int rows, const double *src, int64_t ld, double *dst);

/* Dot products for few rows of A and a transposed B, both read in place:
 * out[i*4 + j] = sum_{k<K} a[i][k] * w[j][k] for i < m (1..4), j < 4, where
 * a[i] is row i of A and w[j] row j of W = B^T (column j of B). */
typedef void (*tg_dots_f32)(int64_t K, int m, const float *const *a, const float *const *w, float *out);
typedef void (*tg_dots_f64)(int64_t K, int m, const double *const *a, const double *const *w, double *out);

typedef void (*tg_vmath_f32)(int64_t n, const float *x, float *y);

typedef struct {
    const char *name;
    tg_gemm_blocking blocking_f32, blocking_f64;
    tg_ukr_f32 ukr_f32;
    tg_ukr_f64 ukr_f64;
    tg_ukr_cols_f32 ukr_cols_f32;
    tg_ukr_cols_f64 ukr_cols_f64;
    tg_ukr_bias_f32 ukr_bias_f32;
    tg_ukr_bias_f64 ukr_bias_f64;
    tg_ukr_wt_f32 ukr_wt_f32;
    tg_ukr_wt_f64 ukr_wt_f64;
    tg_pack_bt_f32 pack_bt_f32;
    tg_pack_bt_f64 pack_bt_f64;
    tg_pack_a_f32 pack_a_f32;
    tg_pack_a_f64 pack_a_f64;
    tg_dots_f32 dots_f32;
    tg_dots_f64 dots_f64;
    tg_vmath_f32 vexp_f32, vtanh_f32, vsigmoid_f32;
} tg_simd_impl;

/* The table in use: chosen on first call from the CPU and TG_SIMD, or set by
 * tg_simd_force(). */
TG_HIDDEN const tg_simd_impl *tg_simd_current(void);

/* Each level's kernels (gemm_<level>.c, vmath_<level>.c, or gemm_scalar.c
 * and vmath.c for the portable level), named tg_<kernel>_<dtype>_<level>. */
#define TG_SIMD_DECLARE(LEVEL)                                                              \
    TG_HIDDEN void tg_ukr_f32_##LEVEL(int64_t, int, const float *, const float *, int64_t,  \
                                      float *, int64_t, float, float);                      \
    TG_HIDDEN void tg_ukr_f64_##LEVEL(int64_t, int, const double *, const double *, int64_t, \
                                      double *, int64_t, double, double);                   \
    TG_HIDDEN void tg_pack_bt_f32_##LEVEL(int64_t, int64_t, const float *, int64_t, float *); \
    TG_HIDDEN void tg_pack_bt_f64_##LEVEL(int64_t, int64_t, const double *, int64_t, double *); \
    TG_HIDDEN void tg_dots_f32_##LEVEL(int64_t, int, const float *const *, const float *const *, \
                                       float *);                                            \
    TG_HIDDEN void tg_dots_f64_##LEVEL(int64_t, int, const double *const *,                 \
                                       const double *const *, double *);                    \
    TG_HIDDEN void tg_vexp_f32_##LEVEL(int64_t n, const float *x, float *y);                \
    TG_HIDDEN void tg_vtanh_f32_##LEVEL(int64_t n, const float *x, float *y);               \
    TG_HIDDEN void tg_vsigmoid_f32_##LEVEL(int64_t n, const float *x, float *y)

/* The vector levels' kernels for tiles of few columns, for a transposed B
 * read in place and for packing a row-major A (gemm_simd.h). */
#define TG_SIMD_DECLARE_VECTOR(LEVEL)                                                       \
    TG_HIDDEN void tg_ukr_cols_f32_##LEVEL(int64_t, int, int64_t, const float *, const float *, int64_t, \
                                           float *, int64_t, float, float);                 \
    TG_HIDDEN void tg_ukr_cols_f64_##LEVEL(int64_t, int, int64_t, const double *, const double *, int64_t, \
                                           double *, int64_t, double, double);              \
    TG_HIDDEN void tg_ukr_bias_f32_##LEVEL(int64_t, int, const float *, const float *, int64_t, float *, int64_t, \
                                           const float *);                                  \
    TG_HIDDEN void tg_ukr_bias_f64_##LEVEL(int64_t, int, const double *, const double *, int64_t, double *,   \
                                           int64_t, const double *);                        \
    TG_HIDDEN void tg_ukr_wt_f32_##LEVEL(int64_t, int, int, const float *, int64_t, const float *, float *, \
                                         int64_t, float, float);                            \
    TG_HIDDEN void tg_ukr_wt_f64_##LEVEL(int64_t, int, int, const double *, int64_t, const double *, \
                                         double *, int64_t, double, double);                \
    TG_HIDDEN void tg_pack_a_f32_##LEVEL(int64_t, int, const float *, int64_t, float *);    \
    TG_HIDDEN void tg_pack_a_f64_##LEVEL(int64_t, int, const double *, int64_t, double *)

/* The probe simd.c times to tell full-width 512-bit FMAs from ones split
 * into two 256-bit halves: `iters` rounds of TG_FMA_PROBE_CHAINS
 * independent multiply-add chains x = x * 0.999999 + 1e-7, from 0..11, on
 * vector registers of width REG ("zmm" or "ymm"), more chains than FMA
 * latency times pipes on any core. It returns lane 0 of the chains, summed
 * in order. The avx512 level defines tg_fma_probe_avx512 on zmm, avx512vl
 * tg_fma_probe_avx512vl on ymm: the same count of instructions, twice the
 * flops in the first.
 *
 * The loop is written in assembly so that the chains stay in registers in
 * every build. Written with intrinsics, a build with ASan (or -O0) kept
 * them on the stack: each FMA then waited for a load and a store, both
 * widths took the same time per instruction, and that build chose the
 * 512-bit kernels on a Zen 4 where the release build chose the 256-bit
 * ones, so the two builds' results differed in their last bits. */
#define TG_FMA_PROBE_CHAINS 12
#define TG_FMA_PROBE_REGS(REG, X)                                                             \
    X(REG, 0, 0) X(REG, 1, 4) X(REG, 2, 8) X(REG, 3, 12) X(REG, 4, 16) X(REG, 5, 20)          \
    X(REG, 6, 24) X(REG, 7, 28) X(REG, 8, 32) X(REG, 9, 36) X(REG, 10, 40) X(REG, 11, 44)
#define TG_FMA_PROBE_LOAD(REG, N, OFF) "vbroadcastss " #OFF "(%[acc]), %%" REG #N "\n\t"
#define TG_FMA_PROBE_FMA(REG, N, OFF) "vfmadd132ps %%" REG "12, %%" REG "13, %%" REG #N "\n\t"
#define TG_FMA_PROBE_STORE(REG, N, OFF) "vmovss %%xmm" #N ", " #OFF "(%[acc])\n\t"
#define TG_DEFINE_FMA_PROBE(NAME, REG)                                                        \
    float NAME(int64_t iters)                                                                 \
    {                                                                                         \
        static const float a = 0.999999f, b = 1e-7f;                                          \
        float acc[TG_FMA_PROBE_CHAINS];                                                       \
        for (int c = 0; c < TG_FMA_PROBE_CHAINS; c++) acc[c] = (float)c;                     \
        if (iters > 0)                                                                        \
            __asm__ volatile("vbroadcastss %[a], %%" REG "12\n\t"                             \
                             "vbroadcastss %[b], %%" REG "13\n\t"                             \
                             TG_FMA_PROBE_REGS(REG, TG_FMA_PROBE_LOAD) "1:\n\t"                \
                             TG_FMA_PROBE_REGS(REG, TG_FMA_PROBE_FMA) "dec %[n]\n\t"           \
                             "jnz 1b\n\t"                                                     \
                             TG_FMA_PROBE_REGS(REG, TG_FMA_PROBE_STORE) "vzeroupper"          \
                             : [n] "+r"(iters)                                                \
                             : [acc] "r"(acc), [a] "m"(a), [b] "m"(b)                         \
                             : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", \
                               "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",    \
                               "xmm15", "memory", "cc");                                       \
        float sum = acc[0];                                                                   \
        for (int c = 1; c < TG_FMA_PROBE_CHAINS; c++) sum += acc[c];                          \
        return sum;                                                                           \
    }
#if defined(TG_HAVE_AVX512) && defined(TG_HAVE_AVX512VL)
TG_HIDDEN float tg_fma_probe_avx512(int64_t iters);
TG_HIDDEN float tg_fma_probe_avx512vl(int64_t iters);
#endif

/* Whether 512-bit FMAs pay for themselves: the probe above took
 * ticks_wide on 512-bit vectors and ticks_narrow on 256-bit ones, and the
 * wide vectors must do at least 1.5 times the flops per tick. Full-width
 * cores give 2 (Zen 5's server parts), cores that split each 512-bit FMA
 * in two give 1 (Zen 4, Zen 5's laptop parts, Intel's cores with one
 * 512-bit FMA unit). A zero time (no usable clock) says yes. */
TG_HIDDEN bool tg_simd_wide_pays(uint64_t ticks_wide, uint64_t ticks_narrow);

TG_SIMD_DECLARE(scalar);
#ifdef TG_HAVE_AVX2
TG_SIMD_DECLARE(avx2);
TG_SIMD_DECLARE_VECTOR(avx2);
#endif
#ifdef TG_HAVE_AVX512
TG_SIMD_DECLARE(avx512);
TG_SIMD_DECLARE_VECTOR(avx512);
#endif
#ifdef TG_HAVE_AVX512VL
TG_SIMD_DECLARE(avx512vl);
TG_SIMD_DECLARE_VECTOR(avx512vl);
#endif

#endif
