/* GEMM, C = alpha*A*B + beta*C, blocked the way BLIS and GotoBLAS do it.
 *
 *   for jc over N in steps of NC            B block (KC x NC) lives in L3
 *     for pc over K in steps of KC          one rank-KC update of C
 *       pack B[pc:pc+KC, jc:jc+NC] into NR-column slivers
 *       for ic over M in steps of MC        A block (MC x KC) lives in L2
 *         pack A[ic:ic+MC, pc:pc+KC] into MR-row slivers
 *         for jr over the block in NR       B sliver (KC x NR) stays in L1
 *           for ir over the block in MR
 *             micro-kernel: C[MR x NR] (+)= A sliver * B sliver
 *
 * The micro-kernel keeps the MR x NR tile of C in vector registers for the
 * whole KC loop: per k it loads NR/lanes vectors of B, broadcasts MR values
 * of A and issues MR*NR/lanes FMAs, so arithmetic outweighs memory traffic.
 * Packing copies each operand once into the exact order the kernel reads,
 * which is why strides (and therefore transposes) cost nothing extra: only
 * the packing loops see them. Edge tiles (M or N not a multiple of the tile)
 * go through the same kernel: fewer rows are a kernel argument, fewer
 * columns use zero-padded B and store only the columns that exist (a
 * private copy of the tile on the scalar level).
 *
 * Small M (a batch of a few rows times a weight matrix) is dominated by
 * packing B, which is as much memory traffic as the product itself, so B
 * is read in place: when B's rows are contiguous the micro-kernel reads its
 * slivers directly; when B is transposed (x W^T with W row-major) and A's
 * rows are contiguous, C is computed as dot products of rows of A with
 * rows of W, vectorised along k. From 9 to 256 rows, a transposed B is
 * still read in place where the level can store a tile transposed: the
 * product runs as C^T = W A^T, broadcasting W's rows and packing only A.
 *
 * Threads split C into blocks of whole tiles along M and N, never K: every
 * element is accumulated in the same order whatever the thread count.
 * The calling thread keeps the packing buffers of every thread of its calls
 * (the core's per-thread scratch buffer, grown on demand, 64-byte aligned),
 * so steady-state calls do not allocate, whatever number of threads runs. */
#include <tapegrad/gemm.h>
#include "../../core/internal.h"
#include "kern_simd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef TG_USE_BLAS
#include <cblas.h>
#include <limits.h>
#endif

/* Largest MR*NR of any level (AVX-512 f32: 12 x 32). */
#define TG_TILE_MAX 384
_Static_assert(TG_AVX512_MR * TG_AVX512_NR_F32 <= TG_TILE_MAX, "edge tile too small");

/* Below this much work a product stays on one thread. Waking the OpenMP
 * team costs microseconds, more when its helpers have gone to sleep; in a
 * recurrent step's loop they are still spinning from the last region, and
 * a second thread pays from about 2^19 f32 multiply-adds in packed tiles
 * (a step's 64 x 512 x 28 input projection, 5 us): measured on 2 vCPUs
 * of a Zen 4, Fashion-MNIST's row LSTM step (B=64, I=28, H=128) takes 6.4
 * ms on 2 threads with this bound against 7.0 with 2^21, and larger steps
 * are unchanged. An f64 multiply-add, or one in the dot-product path,
 * takes about twice as long, so threads_for counts it double. */
#define TG_GEMM_PARALLEL_MIN (1 << 19)

typedef tg_ukr_f32 ukr_fn_f32;
typedef tg_ukr_f64 ukr_fn_f64;

static int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

/* The rows of the sliver that starts `left` rows before the end of a block
 * of A: mr, but a last sliver of at most mr/3 rows shares the rows of the
 * one before it evenly (12 + 4 rows go as 8 + 8). A sliver of few rows
 * costs about what one of 8 does: its kernel runs as many k steps with
 * fewer multiply-adds per step. Zen 5, 1 thread, B read in place, N=1024
 * K=512: 48 rows 250 GFLOP/s, 48 + 4 rows 228, 48 + 8 rows 245, and a
 * batch of 64 (5 x 12 + 4) 230. Each element is computed the same way
 * whichever sliver holds it, so the bits do not change. Packed slivers
 * stay mr rows apart in the buffer (a short one padded with zeros). */
static int64_t sliver_rows(int64_t left, int mr)
{
    if (left <= mr) return left;
    if (left < 2 * mr && left - mr <= mr / 3) return (left + 1) / 2;
    return mr;
}

/* The rows of a block of mc rows in slivers of a full mr rows, from its start. */
static int64_t full_sliver_rows(int64_t mc, int mr)
{
    int64_t full = mc / mr;
    if (full > 0 && mc % mr != 0 && mc % mr <= mr / 3) full--;
    return full * mr;
}

/* Packing buffers: the calling thread's scratch buffer, for every thread
 * of the call, grown on demand and kept across calls;
 * tg_release_thread_memory and the thread's exit free it. */
static void *tls_buffer(int which, size_t bytes) { return tg__thread_scratch(which, bytes); }

static int check_args(const char *fn, int64_t M, int64_t N, int64_t K, bool reads_ab,
                      const void *A, const void *B, const void *C)
{
    if (M < 0 || N < 0 || K < 0)
        return tg_fail("%s: negative size M=%lld, N=%lld, K=%lld", fn, (long long)M, (long long)N,
                       (long long)K);
    if (M > 0 && N > 0 && !C)
        return tg_fail("%s: C is NULL for a %lldx%lld result", fn, (long long)M, (long long)N);
    if (M > 0 && N > 0 && K > 0 && reads_ab && (!A || !B))
        return tg_fail("%s: %s is NULL (M=%lld, N=%lld, K=%lld)", fn, !A ? "A" : "B", (long long)M,
                       (long long)N, (long long)K);
    return 0;
}

/* Whether a rows x cols operand with strides (rs, cs) spans fewer elements
 * of elem bytes than any array can hold: pointer arithmetic over a larger
 * span would overflow. */
static bool operand_extent(int64_t rows, int64_t cols, int64_t rs, int64_t cs, size_t elem)
{
    const int64_t most = PTRDIFF_MAX / (int64_t)elem;
    if (rows > most || cols > most) return false;
    if (rows == 0 || cols == 0) return true;
    uint64_t r = rs < 0 ? 0 - (uint64_t)rs : (uint64_t)rs, c = cs < 0 ? 0 - (uint64_t)cs : (uint64_t)cs;
    uint64_t along_rows, along_cols, sum;
    return !__builtin_mul_overflow(r, (uint64_t)(rows - 1), &along_rows) &&
           !__builtin_mul_overflow(c, (uint64_t)(cols - 1), &along_cols) &&
           !__builtin_add_overflow(along_rows, along_cols, &sum) && sum < (uint64_t)most;
}

/* Sizes and strides that no array could hold, and a C whose elements
 * overlap (a stride of 0 along a dim of more than one, or a leading
 * dimension too small), are refused before any loop or packing size is
 * computed from them. */
static int check_extents(const char *fn, size_t elem, int64_t M, int64_t N, int64_t K, bool reads_ab, int64_t rsA,
                         int64_t csA, int64_t rsB, int64_t csB, int64_t rsC, int64_t csC)
{
    /* The leading dimension of BLAS: one stride 1 and the other at most the
     * length of that dim puts two elements in one place. */
    bool ld_short = M > 1 && N > 1 &&
                    ((csC == 1 && rsC > -N && rsC < N) || (rsC == 1 && csC > -M && csC < M));
    if (M > 0 && N > 0 && (ld_short || (M > 1 && rsC == 0) || (N > 1 && csC == 0)))
        return tg_fail("%s: C's strides (%lld, %lld) overlap its %lldx%lld elements", fn, (long long)rsC,
                       (long long)csC, (long long)M, (long long)N);
    if (!operand_extent(M, N, rsC, csC, elem))
        return tg_fail("%s: C of %lldx%lld with strides (%lld, %lld) is larger than memory", fn, (long long)M,
                       (long long)N, (long long)rsC, (long long)csC);
    if (!reads_ab || M == 0 || N == 0) {
        if (K > PTRDIFF_MAX / (int64_t)elem) return tg_fail("%s: K=%lld is larger than memory", fn, (long long)K);
        return 0;
    }
    if (!operand_extent(M, K, rsA, csA, elem))
        return tg_fail("%s: A of %lldx%lld with strides (%lld, %lld) is larger than memory", fn, (long long)M,
                       (long long)K, (long long)rsA, (long long)csA);
    if (!operand_extent(K, N, rsB, csB, elem))
        return tg_fail("%s: B of %lldx%lld with strides (%lld, %lld) is larger than memory", fn, (long long)K,
                       (long long)N, (long long)rsB, (long long)csB);
    return 0;
}

/* Read B in place when A has few rows (a recurrent step's batch): each B
 * sliver is then used by a few tiles in a row and stays in L1 between
 * them, so packing it would mostly copy it. Measured on Zen 4, 1 thread,
 * 64x256x1024: 103 GFLOP/s in place against 90 packed; from 256 rows on,
 * packing wins (99 against 94). */
#define TG_GEMM_DIRECT_B_MAX_M 64

static bool use_direct_b(int64_t M, int64_t csB)
{
    return csB == 1 && M <= TG_GEMM_DIRECT_B_MAX_M;
}

/* A batch of at most this many rows times a transposed B (the x W^T of a
 * recurrent step) uses dot products over W in place: packing W would cost
 * more than the product. */
#define TG_GEMM_DOTS_MAX_M 8

static bool use_dots(int64_t M, int64_t csA, int64_t rsB)
{
    return M <= TG_GEMM_DOTS_MAX_M && csA == 1 && rsB == 1;
}

/* Up to this many rows, a transposed B (x W^T) is read in place by the
 * level's ukr_wt (gemm_wt in gemm_driver.h) rather than packed: packing W
 * is a transpose, about as much work per element as a product of 5 rows.
 * Measured on Zen 4, 1 thread, f32, N=1024 K=256 (avx512vl): 32 rows 113
 * GFLOP/s against 98 packed, 64 rows 111 against 105, 256 rows 112
 * against 110; from 512 rows on, A's packed rows outgrow L2 and packing W
 * wins (106 against 111). Below 9 rows the dot products are faster (8
 * rows: 75 against 55). */
#define TG_GEMM_WT_MAX_M 256
/* gemm_wt runs K in blocks whose packed rows of A take up to this many
 * bytes, rather than in the level's kc: each block of K reads every tile
 * of W once more and stores every tile of C through the transposes once
 * more (loading it back), and A's packed rows stay in L2 up to about
 * this size. Zen 5, 1 thread, f32, medians of 3 (GFLOP/s, kc = 256
 * against this): 64x2048x512 236 against 252, 128x1024x1024 228 against
 * 252, 256x1024x512 233 against 251, 64x1024x4096 207 against 238; 256
 * KB was as good up to 128 rows but not at 256, 1 MB worse at 256. */
#define WT_PACK_BYTES (512 << 10)

/* ukr_wt takes A's rows NR at a time and the packed path MR at a time:
 * where the last sliver would waste more rows with NR, packing W wins
 * (avx512vl, 24 rows: 93 GFLOP/s packed against 84; avx512, 12 x 32 tiles,
 * 40 rows: 96 against 69). */
static bool use_wt(const tg_gemm_blocking *bl, bool has_kernel, int64_t M, int64_t rsB, int64_t csC)
{
    return has_kernel && rsB == 1 && csC == 1 && M <= TG_GEMM_WT_MAX_M &&
           round_up(M, bl->nr) <= round_up(M, bl->mr);
}

/* cost: the time of one multiply-add relative to an f32 one in packed
 * tiles (see TG_GEMM_PARALLEL_MIN). */
static int threads_for(int64_t M, int64_t N, int64_t K, double cost)
{
    return (double)M * (double)N * (double)K * cost < TG_GEMM_PARALLEL_MIN ? 1 : tg_get_num_threads();
}

/* This thread's block [m0,m1) x [n0,n1) of C: the factorisation
 * nthreads = tm * tn whose largest block has the fewest tiles, and among
 * those the one that packs least. Each thread packs the rows of A and the
 * columns of B of its block, so a block of M/tm rows and N/tn columns
 * packs (M/tm + N/tn) K values: a weight gradient (M = 4H rows, N = H
 * columns) splits M, a recurrent step (M = the batch) splits N. Measured
 * on Zen 4, 2 threads, 1024 x 256 x 64 with A transposed: 188 GFLOP/s
 * splitting N (each thread packing all of A), 196 splitting M (one thread
 * 109).
 * With B read in place (b_in_place: few rows of A) only A is packed, and
 * a product that narrows (N < K: a step's state gradient g W_hh, K = 4H,
 * N = H) splits M: each thread reads all of B, which nothing writes, but
 * only its rows of A and C, which the elementwise ops around it (a fused
 * cell, split by rows) write and read on the same thread, so they do not
 * travel between cores. Where N >= K (the step's gates, N = 4H) splitting
 * N, each thread's half of B nearer in cache, stays faster. 2 threads on
 * two vCPUs a 340 ns round trip apart: the LSTM step B=64 T=50 I=H=256
 * 49.6 ms against 50.9, B=32 T=100 I=H=128 21.6 against 22.8, B=64 T=28
 * I=28 H=128 8.09 against 8.37; the gates split along M too, the forward
 * took 21.2 ms against 19.8. 60 ns apart: 43.6 against 43.8, 14.0
 * against 14.5, 5.05 against 5.15. */
static void thread_block(const tg_gemm_blocking *bl, bool b_in_place, int nthreads, int tid, int64_t M, int64_t N,
                         int64_t K, int64_t *m0, int64_t *m1, int64_t *n0, int64_t *n1)
{
    int64_t tiles_n = (N + bl->nr - 1) / bl->nr;
    int best_tm = nthreads;
    int64_t best_cost = INT64_MAX, best_packed = INT64_MAX;
    for (int tn = nthreads; tn >= 1; tn--) {
        if (nthreads % tn) continue;
        int tm = nthreads / tn;
        int64_t rows = ((M + tm - 1) / tm + bl->mr - 1) / bl->mr, cols = (tiles_n + tn - 1) / tn;
        int64_t cost = rows * cols, packed = rows * bl->mr + (b_in_place && N < K ? 0 : cols * bl->nr);
        if (cost < best_cost || (cost == best_cost && packed < best_packed))
            best_cost = cost, best_packed = packed, best_tm = tm;
    }
    int tm = best_tm, tn = nthreads / best_tm;
    /* Rows in equal parts, not whole tiles: a block's slivers take any
     * rows (sliver_rows), and a tile of 8 rows takes two thirds of the
     * time of one of 12 when B is read in place. 64 rows on 2 threads were
     * 36 and 28; 32 and 32 is also the fused cell's split of the rows that
     * the product reads or writes. Zen 5, 2 threads: g W_hh (64 x 256 x
     * 1024, B in place) 458 to 473 GFLOP/s against 408 to 437; the LSTM
     * step at B=64 T=50 I=H=256 20.81 ms against 21.22 (medians of 7
     * alternating runs). Which thread computes a row changes nothing in
     * how it is computed. */
    tg__share(M, 1, tm, tid / tn, m0, m1);
    tg__share(N, bl->nr, tn, tid % tn, n0, n1);
}

#ifdef TG_USE_BLAS
/* Describe a rows x cols operand with strides (rs, cs) to row-major cblas:
 * unit column stride is NoTrans with ld = rs, unit row stride is Trans with
 * ld = cs. A dimension of 1 makes the other stride irrelevant. Returns false
 * when BLAS cannot express it (or an int would overflow). */
static bool blas_operand(int64_t rows, int64_t cols, int64_t rs, int64_t cs,
                         enum CBLAS_TRANSPOSE *trans, int *ld)
{
    int64_t lead;
    if (cs == 1 && (rows == 1 || rs >= cols)) {
        *trans = CblasNoTrans;
        lead = rows == 1 ? cols : rs;
    } else if (rs == 1 && (cols == 1 || cs >= rows)) {
        *trans = CblasTrans;
        lead = cols == 1 ? rows : cs;
    } else {
        return false;
    }
    if (lead < 1) lead = 1;
    if (lead > INT_MAX || rows > INT_MAX || cols > INT_MAX) return false;
    *ld = (int)lead;
    return true;
}

/* C must be row-major here (gemm swaps a column-major C away first). */
#define TG_BLAS_ROUTE(NAME_, T_, CBLAS_GEMM)                                                  \
    static bool NAME_(int64_t M, int64_t N, int64_t K, T_ alpha, const T_ *A, int64_t rsA,    \
                      int64_t csA, const T_ *B, int64_t rsB, int64_t csB, T_ beta, T_ *C,     \
                      int64_t rsC, int64_t csC)                                               \
    {                                                                                         \
        enum CBLAS_TRANSPOSE ta, tb, tc;                                                      \
        int lda, ldb, ldc;                                                                    \
        if (!blas_operand(M, K, rsA, csA, &ta, &lda) || !blas_operand(K, N, rsB, csB, &tb, &ldb) || \
            !blas_operand(M, N, rsC, csC, &tc, &ldc) || tc != CblasNoTrans)                   \
            return false;                                                                     \
        CBLAS_GEMM(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, alpha, A, lda, B, ldb, beta, \
                   C, ldc);                                                                   \
        return true;                                                                          \
    }
TG_BLAS_ROUTE(gemm_blas_f32, float, cblas_sgemm)
TG_BLAS_ROUTE(gemm_blas_f64, double, cblas_dgemm)
#endif

#define T float
#define NAME(x) x##_f32
#include "gemm_driver.h"
#undef T
#undef NAME

#define T double
#define NAME(x) x##_f64
#include "gemm_driver.h"
#undef T
#undef NAME

int tg_gemm_f32(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsA,
                int64_t csA, const float *B, int64_t rsB, int64_t csB, float beta, float *C,
                int64_t rsC, int64_t csC)
{
    return gemm_f32("tg_gemm_f32", M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC, NULL);
}

int tg_gemm_f64(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsA,
                int64_t csA, const double *B, int64_t rsB, int64_t csB, double beta, double *C,
                int64_t rsC, int64_t csC)
{
    return gemm_f64("tg_gemm_f64", M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC, NULL);
}

int tg__gemm_bias_f32(int64_t M, int64_t N, int64_t K, const float *A, int64_t rsA, int64_t csA, const float *B,
                      int64_t rsB, int64_t csB, const float *bias, float *C, int64_t rsC, int64_t csC)
{
    return gemm_f32("tg_gemm_f32", M, N, K, 1, A, rsA, csA, B, rsB, csB, 0, C, rsC, csC, bias);
}

int tg__gemm_bias_f64(int64_t M, int64_t N, int64_t K, const double *A, int64_t rsA, int64_t csA, const double *B,
                      int64_t rsB, int64_t csB, const double *bias, double *C, int64_t rsC, int64_t csC)
{
    return gemm_f64("tg_gemm_f64", M, N, K, 1, A, rsA, csA, B, rsB, csB, 0, C, rsC, csC, bias);
}

int tg__gemm_shared_a_f32(int64_t M, int64_t K, const float *A, int64_t rsA, int64_t csA, int n,
                          const tg__gemm_out *out, float beta, float *sums)
{
    return gemm_shared_a_f32("tg_gemm_f32", M, K, A, rsA, csA, n, out, beta, sums);
}

int tg__gemm_shared_a_f64(int64_t M, int64_t K, const double *A, int64_t rsA, int64_t csA, int n,
                          const tg__gemm_out *out, double beta, double *sums)
{
    return gemm_shared_a_f64("tg_gemm_f64", M, K, A, rsA, csA, n, out, beta, sums);
}
