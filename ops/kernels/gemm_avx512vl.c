/* The AVX2 kernels compiled with AVX-512VL (-mavx512f -mavx512dq
 * -mavx512vl): the same 256-bit vectors, but 32 of them, which makes room
 * for an 8 x 16 f32 tile (8 x 8 for f64) in 16 accumulators. It is the
 * level for CPUs whose 512-bit FMAs are two 256-bit halves (Zen 4): their
 * peak is the AVX2 one, and the taller tile wastes no rows on the batch
 * sizes recurrent steps use (32, 64, 128 rows are whole 8-row slivers;
 * 6-row ones leave a partial tile), and reads B once per 8 rows instead of
 * 6. Zen 4, 1 thread: SGEMM
 * 32x128x512 102 GFLOP/s against 93, 1024^3 103 against 100. */
#define ISA avx512vl
#define MR TG_AVX512VL_MR
#include "gemm_avx2.c"
