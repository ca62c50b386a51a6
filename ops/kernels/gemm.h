/* GEMM: the matrix product every matmul, linear layer and recurrent cell
 * ends in. Cache-blocked and packed, with AVX-512 and AVX2/FMA micro-kernels
 * picked at run time from what the CPU supports, a portable C fallback, and
 * OpenMP over blocks of M and N (never K, so the result is bit-identical for
 * any thread count). Built with -Dblas=enabled, calls whose strides BLAS can
 * express go to cblas instead.
 *
 * Operands are described by element strides, so views need no copies:
 *     A(i,k) = A[i*rsA + k*csA]    A is (M,K)
 *     B(k,j) = B[k*rsB + j*csB]    B is (K,N)
 *     C(i,j) = C[i*rsC + j*csC]    C is (M,N)
 * A row-major (M,K) matrix has rs = K, cs = 1; its transpose is the same
 * memory with the strides swapped (rs = 1, cs = K). For example y = x W^T
 * with x (B,I) and a PyTorch weight W (O,I), both row-major:
 *     tg_gemm_f32(B, O, I, 1.0f, x, I, 1, W, 1, I, 0.0f, y, O, 1); */
#ifndef TG_GEMM_H
#define TG_GEMM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* C = alpha * A * B + beta * C in float. beta == 0 means C is written and
 * never read (NaN or garbage in C is ignored); alpha == 0 or K == 0 leaves
 * C = beta * C without reading A or B. M, N or K may be 0. C must not
 * overlap A or B. Returns 0, or -1 with a message (tg_last_error()) for a
 * negative size, a NULL pointer where elements would be read or written,
 * sizes and strides that span more than memory, or a C whose elements
 * overlap (a stride of 0 along a dim of more than one, or a leading
 * dimension too small: rsC < N with csC == 1, csC < M with rsC == 1). */
int tg_gemm_f32(int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t rsA, int64_t csA,
                const float *B, int64_t rsB, int64_t csB,
                float beta, float *C, int64_t rsC, int64_t csC);

/* The same in double. */
int tg_gemm_f64(int64_t M, int64_t N, int64_t K, double alpha,
                const double *A, int64_t rsA, int64_t csA,
                const double *B, int64_t rsB, int64_t csB,
                double beta, double *C, int64_t rsC, int64_t csC);

/* Name of the SIMD level in use by GEMM and the vector math: "avx512",
 * "avx512vl" (GEMM in 256-bit vectors with AVX-512's 32 registers, the
 * vector math in 512-bit ones), "avx2" or "scalar". The first call picks
 * the fastest level on this CPU (AVX-512 where it is full width, avx512vl
 * where 512-bit FMAs are split in two halves, as on Zen 4: told apart by
 * timing both widths once, about 20 us), or the level
 * the environment variable TG_SIMD=avx512|avx512vl|avx2|scalar names (a
 * level the CPU lacks falls back to the best one below it). */
const char *tg_simd_level(void);

/* Switch the SIMD level at run time, for tests and benchmarks: level is
 * "avx512", "avx512vl", "avx2" or "scalar"; NULL repeats the automatic choice (reading
 * TG_SIMD again). Returns 0, or -1 with a message if the name is unknown or
 * the CPU (or this build) lacks that level, leaving the level unchanged.
 * Not to be called while another thread is inside a kernel. */
int tg_simd_force(const char *level);

#ifdef __cplusplus
}
#endif

#endif
