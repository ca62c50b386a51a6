/* The blocked GEMM driver, written once for both float dtypes: gemm.c
 * includes this file twice, with T = float, NAME(x) = x##_f32 and then
 * T = double, NAME(x) = x##_f64. See the top of gemm.c for the algorithm. */

/* dst[k * ldd + i] = src[k * ld + i] for i < n, k < kc: runs of n
 * contiguous values, the shape of packed slivers when the operand's other
 * dim is the contiguous one. The run length is a constant for every tile
 * size of a level, so a run is a few vector moves, not a call to memcpy. */
static void NAME(copy_rows)(int64_t kc, int n, const T *src, int64_t ld, T *dst, int64_t ldd)
{
#define COPY_ROWS(N_)                                                                          \
    for (int64_t k = 0; k < kc; k++) memcpy(dst + k * ldd, src + k * ld, (N_) * sizeof(T)); \
    return
    switch (n) {
    case 4: COPY_ROWS(4);
    case 6: COPY_ROWS(6);
    case 8: COPY_ROWS(8);
    case 12: COPY_ROWS(12);
    case 16: COPY_ROWS(16);
    case 32: COPY_ROWS(32);
    default:
        for (int64_t k = 0; k < kc; k++) memcpy(dst + k * ldd, src + k * ld, (size_t)n * sizeof(T));
    }
#undef COPY_ROWS
}

/* Slivers [0, slivers) of n values per row, for rows [0, kc) of src
 * (row k at src + k * ld, sliver s at column s * n), each stored k-major
 * at dst + s * n * kc: the full slivers of an operand whose runs along the
 * memory are the sliver's width (a row-major B, a transposed A). Copied
 * PACK_ROWS rows of src at a time across every sliver: sliver by sliver,
 * each k is a run in a new row, often a new 4 KB page where the hardware
 * prefetchers stop (and rows a multiple of 4 KB apart share one cache
 * set); row by row, the writes are half lines scattered over every
 * sliver. In blocks of rows the reads are a few long streams and the
 * writes whole lines. Zen 4, 1 thread: SGEMM 1024^3 109.4 GFLOP/s against
 * 107.4 (medians of 5 alternating runs), the packing of B from 3.2% of the
 * time to 1.3%; 4 rows as good, 32 worse. */
#define PACK_ROWS 8
static void NAME(pack_runs)(int64_t kc, int64_t slivers, int n, const T *src, int64_t ld, T *dst)
{
    for (int64_t k0 = 0; k0 < kc && slivers; k0 += PACK_ROWS) {
        int64_t rows = kc - k0 < PACK_ROWS ? kc - k0 : PACK_ROWS;
        for (int64_t s = 0; s < slivers; s++)
            NAME(copy_rows)(rows, n, src + k0 * ld + s * n, ld, dst + s * n * kc + k0 * n, n);
    }
}

/* Pack rows [0, mc) x cols [0, kc) of A into slivers of mr rows, each stored
 * k-major (mr values per k): the order the micro-kernel broadcasts them in.
 * A short sliver (sliver_rows: the last, or the last two) is padded with
 * zeros to mr rows: the SIMD kernels are told how many rows are real and
 * skip the rest, the plain C one computes them all. */
static void NAME(pack_a)(const tg_simd_impl *impl, int64_t mc, int64_t kc, const T *A, int64_t rsA,
                         int64_t csA, int mr, T *dst)
{
    /* A transposed (the g^T of a weight gradient): its full slivers are
     * runs of mr values along the rows of the memory. */
    int64_t whole = rsA == 1 && csA != 1 ? full_sliver_rows(mc, mr) : 0;
    NAME(pack_runs)(kc, whole / mr, mr, A, csA, dst);
    dst += whole * kc;
    for (int64_t i0 = whole, rows; i0 < mc; i0 += rows) {
        rows = sliver_rows(mc - i0, mr);
        const T *src = A + i0 * rsA;
        if (csA == 1 && impl->NAME(pack_a)) {
            impl->NAME(pack_a)(kc, (int)rows, src, rsA, dst); /* zeros included */
        } else {
            if (csA == 1) {
                /* Row-major A: read each row contiguously, scatter by mr. */
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t k = 0; k < kc; k++) dst[k * mr + i] = src[i * rsA + k];
            } else {
                for (int64_t k = 0; k < kc; k++)
                    for (int64_t i = 0; i < rows; i++) dst[k * mr + i] = src[i * rsA + k * csA];
            }
            for (int64_t k = 0; k < kc && rows < mr; k++)
                for (int64_t i = rows; i < mr; i++) dst[k * mr + i] = 0;
        }
        dst += (int64_t)mr * kc;
    }
}

/* Pack rows [0, kc) x cols [0, nc) of B into slivers of nr columns, each
 * stored k-major (nr contiguous values per k, the vectors the kernel loads).
 * A partial last sliver is padded with zeros so the kernel can load whole
 * vectors; those columns are computed and dropped. A transposed B
 * (rsB == 1) goes to the level's pack_bt, which transposes in registers.
 * The full slivers of a row-major B are runs of nr values along its rows
 * (pack_runs). */
static void NAME(pack_b)(const tg_simd_impl *impl, int64_t kc, int64_t nc, const T *B, int64_t rsB,
                         int64_t csB, int nr, T *dst)
{
    int64_t whole = csB == 1 ? nc / nr * nr : 0;
    NAME(pack_runs)(kc, whole / nr, nr, B, rsB, dst);
    B += whole, dst += whole * kc, nc -= whole;
    for (int64_t j0 = 0; j0 < nc; j0 += nr) {
        int64_t cols = nc - j0 < nr ? nc - j0 : nr;
        const T *src = B + j0 * csB;
        if (csB == 1) {
            /* The partial last sliver. */
            for (int64_t k = 0; k < kc; k++) {
                memcpy(dst + k * nr, src + k * rsB, (size_t)cols * sizeof(T));
                for (int64_t j = cols; j < nr; j++) dst[k * nr + j] = 0;
            }
        } else if (rsB == 1) {
            impl->NAME(pack_bt)(kc, cols, src, csB, dst);
        } else {
            for (int64_t k = 0; k < kc; k++)
                for (int64_t j = 0; j < nr; j++) dst[k * nr + j] = j < cols ? src[j * csB + k * rsB] : 0;
        }
        dst += (int64_t)nr * kc;
    }
}

/* Cache lines of a later node's input asked for per tile (tg__prefetch_some):
 * one, and one more per PREFETCH_TILE_WORK of the tile's rows times k
 * steps, which its time grows with. A fixed 4 a tile asked for under half
 * of what an LSTM step's backward names (B=32 H=128: 736 of 1,792 lines;
 * B=64 H=256: 2,944 of 7,168): the fused backward, waiting on the rest,
 * fell from 5.7% of the B=32 training step's samples to 3.7% (Zen 5). */
#define PREFETCH_TILE_WORK 64
/* A tile the kernel can't store itself (columns not contiguous, or fewer
 * than a sliver on the scalar level): the kernel run on a private tile
 * with the same alpha and beta (so the arithmetic is the one a full tile
 * gets) and the valid part copied out. Apart from tile, whose every call
 * would otherwise set up the frame of this 64-byte aligned array: tile's
 * own time, most of it that prologue, was 0.9% of an LSTM step's samples. */
__attribute__((noinline)) static void NAME(tile_copied)(const tg_simd_impl *impl, int64_t kc, int mr, int64_t nr,
                                                        const T *a, const T *b, int64_t ldb, T alpha, T beta,
                                                        T *C, int64_t rsC, int64_t csC)
{
    const tg_gemm_blocking *bl = &impl->NAME(blocking);
    NAME(ukr_fn) ukr = impl->NAME(ukr);
    _Alignas(64) T tile[TG_TILE_MAX];
    if (beta != 0) {
        memset(tile, 0, sizeof tile);
        for (int i = 0; i < mr; i++)
            for (int64_t j = 0; j < nr; j++) tile[i * bl->nr + j] = C[i * rsC + j * csC];
    }
    ukr(kc, mr, a, b, ldb, tile, bl->nr, alpha, beta);
    for (int i = 0; i < mr; i++)
        for (int64_t j = 0; j < nr; j++) C[i * rsC + j * csC] = tile[i * bl->nr + j];
}

/* C = bias broadcast over the rows (bias: N values), for the products and
 * tiles that do not add it in the kernel. */
static void NAME(fill_bias)(int64_t M, int64_t N, const T *bias, T *C, int64_t rsC, int64_t csC)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) C[i * rsC + j * csC] = bias[j];
}

/* One tile of mr rows and nr columns of C: the kernel itself for a full
 * tile with contiguous columns, the level's kernel for few columns, or
 * tile_copied. With bias (nr values; alpha and beta 1) a full tile's
 * kernel adds it (ukr_bias); any other tile is filled with it first. */
static inline void NAME(tile)(const tg_simd_impl *impl, int64_t kc, int mr, int64_t nr,
                              const T *a, const T *b, int64_t ldb, T alpha, T beta,
                              T *C, int64_t rsC, int64_t csC, const T *bias)
{
    tg__prefetch_some((int)(1 + mr * kc / PREFETCH_TILE_WORK));
    if (bias && nr == impl->NAME(blocking).nr && csC == 1 && impl->NAME(ukr_bias)) {
        impl->NAME(ukr_bias)(kc, mr, a, b, ldb, C, rsC, bias);
        return;
    }
    if (bias) NAME(fill_bias)(mr, nr, bias, C, rsC, csC);
    if (nr == impl->NAME(blocking).nr && csC == 1)
        impl->NAME(ukr)(kc, mr, a, b, ldb, C, rsC, alpha, beta);
    else if (csC == 1 && impl->NAME(ukr_cols))
        impl->NAME(ukr_cols)(kc, mr, nr, a, b, ldb, C, rsC, alpha, beta);
    else
        NAME(tile_copied)(impl, kc, mr, nr, a, b, ldb, alpha, beta, C, rsC, csC);
}

/* The packing buffers of one thread, in elements: a block of A and a block
 * of B of up to cols columns (a multiple of 64 bytes for every level's
 * blocking, so each thread's buffers start on a cache line). Sized by the
 * call's columns rather than a whole block, so that the memory a buffer
 * has is memory its largest call wrote: khugepaged would otherwise fill
 * in the untouched huge pages of a small model's 8 MB of buffers
 * (core/alloc.c). */
static int64_t NAME(pack_a_elems)(const tg_gemm_blocking *bl) { return round_up(bl->mc, bl->mr) * bl->kc; }
static int64_t NAME(pack_elems)(const tg_gemm_blocking *bl, int64_t cols)
{
    return NAME(pack_a_elems)(bl) + bl->kc * round_up(cols < bl->nc ? cols : bl->nc, bl->nr);
}

/* C = alpha*A*B + beta*C on one thread, for the block of C this thread owns,
 * packing into buf (pack_elems). direct_b (only with csB == 1): the kernel
 * reads full slivers of B straight from memory instead of a packed copy;
 * only a partial last sliver is packed. With bias (N values; alpha and
 * beta 1), the first K block's full tiles add it in the kernel (ukr_bias),
 * the others onto their rows of C filled with it. */
static void NAME(gemm_serial)(const tg_simd_impl *impl, bool direct_b, T *buf,
                              int64_t M, int64_t N, int64_t K, T alpha,
                              const T *A, int64_t rsA, int64_t csA,
                              const T *B, int64_t rsB, int64_t csB,
                              T beta, T *C, int64_t rsC, int64_t csC, const T *bias)
{
    const tg_gemm_blocking *bl = &impl->NAME(blocking);
    const int MR = bl->mr, NR = bl->nr;
    T *abuf = buf, *bbuf = buf + NAME(pack_a_elems)(bl);

    for (int64_t jc = 0; jc < N; jc += bl->nc) {
        int64_t nc = N - jc < bl->nc ? N - jc : bl->nc;
        /* With direct_b, columns [0, nfull) are read in place. */
        int64_t nfull = direct_b ? nc / NR * NR : 0;
        for (int64_t pc = 0; pc < K; pc += bl->kc) {
            int64_t kc = K - pc < bl->kc ? K - pc : bl->kc;
            /* Later K blocks add to what the first one wrote. */
            T beta_p = pc == 0 ? beta : 1;
            const T *Bp = B + pc * rsB + jc * csB;
            if (nc > nfull) NAME(pack_b)(impl, kc, nc - nfull, Bp + nfull * csB, rsB, csB, NR, bbuf);
            for (int64_t ic = 0; ic < M; ic += bl->mc) {
                int64_t mc = M - ic < bl->mc ? M - ic : bl->mc;
                NAME(pack_a)(impl, mc, kc, A + ic * rsA + pc * csA, rsA, csA, MR, abuf);
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int64_t nr = nc - jr < NR ? nc - jr : NR;
                    const T *b = jr < nfull ? Bp + jr : bbuf + (jr - nfull) * kc;
                    int64_t ldb = jr < nfull ? rsB : NR;
                    const T *bias_r = bias && pc == 0 ? bias + jc + jr : NULL;
                    for (int64_t ir = 0, s = 0, mr; ir < mc; ir += mr, s++) {
                        mr = sliver_rows(mc - ir, MR);
                        T *c = C + (ic + ir) * rsC + (jc + jr) * csC;
                        NAME(tile)(impl, kc, (int)mr, nr, abuf + s * MR * kc, b, ldb, alpha, beta_p, c, rsC, csC,
                                   bias_r);
                    }
                }
            }
        }
    }
}

/* Split C into a tm x tn grid of blocks (tm * tn = nthreads), in whole tiles,
 * and run this thread's block with its part of bufs. Which thread computes
 * a tile changes nothing in how it is computed, hence bit-identical results
 * for any thread count. */
static void NAME(gemm_block)(const tg_simd_impl *impl, bool direct_b, T *bufs,
                             int nthreads, int tid, int64_t M, int64_t N, int64_t K, T alpha,
                             const T *A, int64_t rsA, int64_t csA,
                             const T *B, int64_t rsB, int64_t csB,
                             T beta, T *C, int64_t rsC, int64_t csC, const T *bias)
{
    int64_t m0, m1, n0, n1;
    thread_block(&impl->NAME(blocking), direct_b, nthreads, tid, M, N, K, &m0, &m1, &n0, &n1);
    if (m0 >= m1 || n0 >= n1) return;
    NAME(gemm_serial)(impl, direct_b, bufs + tid * NAME(pack_elems)(&impl->NAME(blocking), N), m1 - m0, n1 - n0, K,
                      alpha, A + m0 * rsA, rsA, csA, B + n0 * csB, rsB, csB, beta, C + m0 * rsC + n0 * csC, rsC,
                      csC, bias ? bias + n0 : NULL);
}

/* Few rows of a row-major A times a transposed B (csA == 1, rsB == 1), for
 * columns [n0, n1) of C: dot products along k with both operands read in
 * place, 4 x 4 outputs per kernel call (missing rows or columns repeat the
 * first, and their results are dropped). */
static void NAME(gemm_dots)(const tg_simd_impl *impl, int64_t n0, int64_t n1, int64_t M, int64_t K,
                            T alpha, const T *A, int64_t rsA, const T *B, int64_t csB, T beta, T *C,
                            int64_t rsC, int64_t csC)
{
    for (int64_t i0 = 0; i0 < M; i0 += 4) {
        int m = M - i0 < 4 ? (int)(M - i0) : 4;
        const T *a[4];
        for (int i = 0; i < 4; i++) a[i] = A + (i0 + (i < m ? i : 0)) * rsA;
        for (int64_t j0 = n0; j0 < n1; j0 += 4) {
            int nj = n1 - j0 < 4 ? (int)(n1 - j0) : 4;
            const T *w[4];
            for (int j = 0; j < 4; j++) w[j] = B + (j0 + (j < nj ? j : 0)) * csB;
            T out[16];
            impl->NAME(dots)(K, m, a, w, out);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < nj; j++) {
                    T *c = C + (i0 + i) * rsC + (j0 + j) * csC;
                    T scaled = alpha * out[i * 4 + j];
                    *c = beta == 0 ? scaled : beta * *c + scaled;
                }
        }
    }
}

/* gemm_wt's K block (see WT_PACK_BYTES in gemm.c): all of K while A's
 * packed rows (round_up(M, NR) x kc) fit in WT_PACK_BYTES, else the fewest
 * equal blocks that do, and never less than the level's kc. It depends on
 * M, K and T alone, so every thread count sums in the same blocks. */
static int64_t NAME(wt_kc)(const tg_gemm_blocking *bl, int64_t M, int64_t K)
{
    int64_t most = WT_PACK_BYTES / ((int64_t)sizeof(T) * round_up(M, bl->nr));
    if (most < bl->kc) most = bl->kc;
    int64_t blocks = (K + most - 1) / most;
    return blocks ? (K + blocks - 1) / blocks : K;
}

/* Few rows of A times a transposed B (rsB == 1: B(k,j) = B[j*csB + k], a
 * weight W read in place) for columns [n0, n1) of C, whole tiles of mr
 * columns apart from the last: computed as C^T = W A^T with the level's
 * ukr_wt, which broadcasts W's rows where they are and multiplies slivers
 * of A's rows packed into buf, then stores each tile transposed, K in
 * blocks of wkc (wt_kc, which also sizes buf). Packing A (M x kc) is
 * cheap; packing W (N x kc, a transpose) would cost as much as the
 * product with M this small. */
static void NAME(gemm_wt)(const tg_simd_impl *impl, T *buf, int64_t wkc, int64_t n0, int64_t n1, int64_t M,
                          int64_t K, T alpha, const T *A, int64_t rsA, int64_t csA, const T *B, int64_t csB, T beta,
                          T *C, int64_t rsC)
{
    const tg_gemm_blocking *bl = &impl->NAME(blocking);
    const int MR = bl->mr, NR = bl->nr;
    for (int64_t pc = 0; pc < K; pc += wkc) {
        int64_t kc = K - pc < wkc ? K - pc : wkc;
        T beta_p = pc == 0 ? beta : 1;
        /* A's rows as the B operand of C^T: B'(k, i) = A(i, pc + k). */
        NAME(pack_b)(impl, kc, M, A + pc * csA, csA, rsA, NR, buf);
        for (int64_t j0 = n0; j0 < n1; j0 += MR) {
            int mr = n1 - j0 < MR ? (int)(n1 - j0) : MR;
            for (int64_t i0 = 0; i0 < M; i0 += NR) {
                int nr = M - i0 < NR ? (int)(M - i0) : NR;
                impl->NAME(ukr_wt)(kc, mr, nr, B + j0 * csB + pc, csB, buf + i0 * kc, C + i0 * rsC + j0, rsC,
                                   alpha, beta_p);
            }
        }
    }
}

/* C = beta*C, the whole product when alpha == 0 or K == 0; beta == 0
 * writes zeros without reading C. */
static void NAME(scale_c)(int64_t M, int64_t N, T beta, T *C, int64_t rsC, int64_t csC)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            T *c = C + i * rsC + j * csC;
            *c = beta == 0 ? 0 : beta * *c;
        }
}

/* C = alpha*A*B + beta*C, or with bias (N values; alpha 1, beta 0)
 * C = A*B + bias broadcast over the rows, with the bits of C filled with
 * the bias and then C = A*B + 1*C. */
static int NAME(gemm)(const char *fn, int64_t M, int64_t N, int64_t K, T alpha,
                      const T *A, int64_t rsA, int64_t csA,
                      const T *B, int64_t rsB, int64_t csB,
                      T beta, T *C, int64_t rsC, int64_t csC, const T *bias)
{
    if (check_args(fn, M, N, K, alpha != 0, A, B, C) != 0 ||
        check_extents(fn, sizeof(T), M, N, K, alpha != 0, rsA, csA, rsB, csB, rsC, csC) != 0)
        return -1;
    if (M == 0 || N == 0) return 0;
    if (bias) {
        beta = 1;
        /* Only the blocked path adds it tile by tile (below). */
        if (K == 0 || alpha != 1 || (csC != 1 && rsC == 1)) {
            NAME(fill_bias)(M, N, bias, C, rsC, csC);
            bias = NULL;
        }
    }
    if (K == 0 || alpha == 0) {
        NAME(scale_c)(M, N, beta, C, rsC, csC);
        return 0;
    }
    /* Column-major C: compute C^T = B^T A^T instead, so that rows of the
     * result are contiguous and full tiles are stored directly. */
    if (csC != 1 && rsC == 1) {
        const T *swap = A;
        A = B, B = swap;
        int64_t t = M;
        M = N, N = t;
        t = rsA, rsA = csB, csB = t;
        t = csA, csA = rsB, rsB = t;
        rsC = csC, csC = 1;
    }
#ifdef TG_USE_BLAS
    if (bias) NAME(fill_bias)(M, N, bias, C, rsC, csC);
    if (NAME(gemm_blas)(M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC)) return 0;
    bias = NULL;
#endif
    const tg_simd_impl *impl = tg_simd_current();
    bool dots = use_dots(M, csA, rsB);
    bool wt = !dots && use_wt(&impl->NAME(blocking), impl->NAME(ukr_wt) != NULL, M, rsB, csC);
    if (bias && (dots || wt)) {
        NAME(fill_bias)(M, N, bias, C, rsC, csC);
        bias = NULL;
    }
    int wanted = threads_for(M, N, K, (dots ? 2.0 : 1.0) * (double)(sizeof(T) / sizeof(float)));
    /* Every thread's packing buffers, held by the calling thread and sized
     * for the threads wanted, not for how many run or this call's share of
     * C: a busy machine makes a region run on fewer threads, and a steady
     * training loop must not start allocating when its helpers come back.
     * gemm_wt packs A's M rows as the B operand. */
    T *bufs = NULL;
    int64_t per_thread = NAME(pack_elems)(&impl->NAME(blocking), wt ? M : N);
    const int64_t wkc = wt ? NAME(wt_kc)(&impl->NAME(blocking), M, K) : 0;
    const int64_t packed_a = round_up(M, impl->NAME(blocking).nr) * wkc;
    if (per_thread < packed_a) per_thread = packed_a;
    if (!dots) {
        bufs = tls_buffer(0, (size_t)(wanted * per_thread) * sizeof(T));
        if (!bufs)
            return tg_fail("%s: out of memory for packing buffers (M=%lld, N=%lld, K=%lld)", fn, (long long)M,
                           (long long)N, (long long)K);
    }
    tg__parallel region = tg__parallel_begin(wanted);
    if (dots) {
        if (region.threads == 1) {
            NAME(gemm_dots)(impl, 0, N, M, K, alpha, A, rsA, B, csB, beta, C, rsC, csC);
        } else {
#ifdef _OPENMP
            /* Columns split in multiples of 4 between threads. */
#pragma omp parallel num_threads(region.threads)
            {
                tg__parallel_arrive(&region);
                int64_t n0, n1;
                tg__share(N, 4, omp_get_num_threads(), omp_get_thread_num(), &n0, &n1);
                NAME(gemm_dots)(impl, n0, n1, M, K, alpha, A, rsA, B, csB, beta, C, rsC, csC);
            }
            tg__parallel_end(&region);
#endif
        }
        return 0;
    }
    if (wt) {
        /* Columns split in whole tiles between threads, each packing A. */
        if (region.threads == 1) {
            NAME(gemm_wt)(impl, bufs, wkc, 0, N, M, K, alpha, A, rsA, csA, B, csB, beta, C, rsC);
        } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(region.threads)
            {
                tg__parallel_arrive(&region);
                int tid = omp_get_thread_num();
                int64_t n0, n1;
                tg__share(N, impl->NAME(blocking).mr, omp_get_num_threads(), tid, &n0, &n1);
                if (n0 < n1)
                    NAME(gemm_wt)(impl, bufs + tid * per_thread, wkc, n0, n1, M, K, alpha, A,
                                  rsA, csA, B, csB, beta, C, rsC);
            }
            tg__parallel_end(&region);
#endif
        }
        return 0;
    }
    bool direct_b = use_direct_b(M, csB);
    if (region.threads == 1) {
        NAME(gemm_block)(impl, direct_b, bufs, 1, 0, M, N, K, alpha, A, rsA, csA, B, rsB, csB, beta, C, rsC, csC,
                         bias);
    } else {
#ifdef _OPENMP
#pragma omp parallel num_threads(region.threads)
        {
            tg__parallel_arrive(&region);
            NAME(gemm_block)(impl, direct_b, bufs, omp_get_num_threads(), omp_get_thread_num(), M, N, K, alpha, A,
                             rsA, csA, B, rsB, csB, beta, C, rsC, csC, bias);
        }
        tg__parallel_end(&region);
#endif
    }
    return 0;
}

/* sums[i] += (A(i, 0) + A(i, 1) + ...), the columns added one by one from
 * zero, for the mc rows of a packed block (slivers of mr rows, k-major):
 * with K at most 256, the bits of the engine's sum of a bias gradient
 * (core/grad_sum.c, row_sum). Each run of
 * SUM_GROUP slivers keeps its sums in registers over all of k, the
 * slivers' chains of additions independent of one another; a sum read and
 * written back at every k, as a pass over the slivers per k did, cost
 * 0.6% of a GRU training step (B=64 T=50 I=H=256). A sliver's row of mr
 * values goes in vectors of 8, 4 and 2 (every mr is even), written as
 * such: left to the vectorizer, a 12-row sliver (not a multiple of its 8
 * or 16 lanes) was gathered element by element into vectors whose sums
 * lived on the stack, 1.2% of the LSTM step at B=32, I=H=128 on Zen 5
 * (0.4% now; the same bits). */
#define SUM_GROUP 4
typedef T NAME(vec8) __attribute__((vector_size(8 * sizeof(T))));
typedef T NAME(vec4) __attribute__((vector_size(4 * sizeof(T))));
typedef T NAME(vec2) __attribute__((vector_size(2 * sizeof(T))));

/* acc += the n (8, 4 or 2) values at p, as one vector. */
#define ADD_VEC(n, acc, p)                                                                 \
    do {                                                                                    \
        NAME(vec##n) x_;                                                                    \
        memcpy(&x_, (p), sizeof x_);                                                        \
        (acc) += x_;                                                                        \
    } while (0)

/* The sums of groups of g slivers of mr rows (both constants at every
 * call, so the loops unroll and the sums stay in registers), from row 0 of
 * sums and the packed block a on, for as many whole groups as rows has. A
 * sliver's row is at most one vector each of 8, 4 and 2 values. */
static inline __attribute__((always_inline)) int64_t
NAME(sums_of)(const int g, const int mr, int64_t rows, int64_t K, const T *restrict a, T *restrict sums)
{
    const bool has8 = mr >= 8, has4 = mr % 8 >= 4, has2 = mr % 4 >= 2;
    const int at4 = has8 ? 8 : 0, at2 = at4 + (has4 ? 4 : 0);
    int64_t done = 0;
    for (; rows - done >= g * mr; done += g * mr) {
        const T *ag = a + done * K;
        T *s = sums + done;
        NAME(vec8) acc8[SUM_GROUP];
        NAME(vec4) acc4[SUM_GROUP];
        NAME(vec2) acc2[SUM_GROUP];
        for (int j = 0; j < g; j++) {
            if (has8) acc8[j] = (NAME(vec8)){0};
            if (has4) acc4[j] = (NAME(vec4)){0};
            if (has2) acc2[j] = (NAME(vec2)){0};
        }
        for (int64_t k = 0; k < K; k++)
            for (int j = 0; j < g; j++) {
                const T *row = ag + (j * K + k) * mr;
                if (has8) ADD_VEC(8, acc8[j], row);
                if (has4) ADD_VEC(4, acc4[j], row + at4);
                if (has2) ADD_VEC(2, acc2[j], row + at2);
            }
        for (int j = 0; j < g; j++) {
            if (has8) ADD_VEC(8, acc8[j], s + j * mr);
            if (has4) ADD_VEC(4, acc4[j], s + j * mr + at4);
            if (has2) ADD_VEC(2, acc2[j], s + j * mr + at2);
            if (has8) memcpy(s + j * mr, &acc8[j], sizeof *acc8);
            if (has4) memcpy(s + j * mr + at4, &acc4[j], sizeof *acc4);
            if (has2) memcpy(s + j * mr + at2, &acc2[j], sizeof *acc2);
        }
    }
    return done;
}
#undef ADD_VEC

TG__VECTOR_CLONES static void NAME(add_sums)(int64_t mc, int64_t K, int mr, const T *restrict a,
                                             T *restrict sums)
{
    int64_t ir = 0, whole = full_sliver_rows(mc, mr);
#define ADD_SUMS(MR_)                                                                     \
    ir = NAME(sums_of)(SUM_GROUP, MR_, whole, K, a, sums);                                \
    ir += NAME(sums_of)(1, MR_, whole - ir, K, a + ir * K, sums + ir);                    \
    break
    switch (mr) { /* every level's tile height: 12, 8, 6 or 4 */
    case 4: ADD_SUMS(4);
    case 6: ADD_SUMS(6);
    case 8: ADD_SUMS(8);
    case 12: ADD_SUMS(12);
    default: break;
    }
#undef ADD_SUMS
    /* The rows left (the short slivers, or all of them for another
     * height): one by one, in the same order. Slivers are mr rows apart
     * in a, the short ones too. */
    for (int64_t s = ir / mr, rows; ir < mc; ir += rows, s++) {
        rows = sliver_rows(mc - ir, mr);
        for (int64_t i = 0; i < rows; i++) {
            T sum = 0;
            for (int64_t k = 0; k < K; k++) sum += a[s * mr * K + k * mr + i];
            sums[ir + i] += sum;
        }
    }
}
#undef SUM_GROUP

/* Rows [m0, m1) of every C_t = beta*C_t + A B_t on one thread, K within
 * one cache block: the B_t packed whole into buf once, then each block of
 * A packed once for all of them. Per tile, the arithmetic of gemm_serial
 * for each product alone. With sums, A's row sums are added to it from
 * each packed block. */
static void NAME(gemm_shared_a_block)(const tg_simd_impl *impl, T *buf, int64_t m0, int64_t m1, int64_t K,
                                      const T *A, int64_t rsA, int64_t csA, int n, const tg__gemm_out *out, T beta,
                                      T *sums)
{
    const tg_gemm_blocking *bl = &impl->NAME(blocking);
    const int MR = bl->mr, NR = bl->nr;
    T *abuf = buf, *b[TG__GEMM_OUTS_MAX], *bt = buf + NAME(pack_a_elems)(bl);
    for (int t = 0; t < n; t++) {
        b[t] = bt;
        NAME(pack_b)(impl, K, out[t].N, out[t].B, out[t].rsB, out[t].csB, NR, bt);
        bt += round_up(out[t].N, NR) * K;
    }
    for (int64_t ic = m0; ic < m1; ic += bl->mc) {
        int64_t mc = m1 - ic < bl->mc ? m1 - ic : bl->mc;
        NAME(pack_a)(impl, mc, K, A + ic * rsA, rsA, csA, MR, abuf);
        if (sums) NAME(add_sums)(mc, K, MR, abuf, sums + ic);
        for (int t = 0; t < n; t++)
            for (int64_t jr = 0; jr < out[t].N; jr += NR) {
                int64_t nr = out[t].N - jr < NR ? out[t].N - jr : NR;
                for (int64_t ir = 0, s = 0, mr; ir < mc; ir += mr, s++) {
                    mr = sliver_rows(mc - ir, MR);
                    T *c = (T *)out[t].C + (ic + ir) * out[t].rsC + jr;
                    NAME(tile)(impl, K, (int)mr, nr, abuf + s * MR * K, b[t] + jr * K, NR, 1, beta, c, out[t].rsC,
                               1, NULL);
                }
            }
    }
}

static int NAME(gemm_shared_a)(const char *fn, int64_t M, int64_t K, const T *A, int64_t rsA, int64_t csA, int n,
                               const tg__gemm_out *out, T beta, T *sums)
{
    if (n < 1 || n > TG__GEMM_OUTS_MAX) return tg_fail("%s: %d products, expected 1 to %d", fn, n, TG__GEMM_OUTS_MAX);
    const tg_simd_impl *impl = tg_simd_current();
    const tg_gemm_blocking *bl = &impl->NAME(blocking);
    /* One pass over A for all products where each would take the packed
     * path with K in one block: otherwise they run one after the other. */
    bool shared = M > 0 && K > 0 && K <= bl->kc;
    int64_t b_elems = 0, cols = 0;
    for (int t = 0; t < n && shared; t++) {
        shared = out[t].N > 0 && out[t].N <= bl->nc && out[t].B && out[t].C && out[t].csC == 1 &&
                 !use_dots(M, csA, out[t].rsB) &&
                 !use_wt(bl, impl->NAME(ukr_wt) != NULL, M, out[t].rsB, 1) && !use_direct_b(M, out[t].csB);
        b_elems += round_up(out[t].N, bl->nr) * K;
        cols += out[t].N;
    }
#ifdef TG_USE_BLAS
    shared = false;
#endif
    int64_t per_thread = NAME(pack_a_elems)(bl) + b_elems;
    if (!shared || per_thread > NAME(pack_elems)(bl, bl->nc)) {
        for (int t = 0; t < n; t++)
            if (NAME(gemm)(fn, M, out[t].N, K, 1, A, rsA, csA, out[t].B, out[t].rsB, out[t].csB, beta, out[t].C,
                           out[t].rsC, out[t].csC, NULL) != 0)
                return -1;
        return 0;
    }
    if (check_args(fn, M, cols, K, true, A, out[0].B, out[0].C) != 0) return -1;
    int wanted = threads_for(M, cols, K, (double)(sizeof(T) / sizeof(float)));
    T *bufs = tls_buffer(0, (size_t)(wanted * per_thread) * sizeof(T));
    if (!bufs)
        return tg_fail("%s: out of memory for packing buffers (M=%lld, K=%lld)", fn, (long long)M, (long long)K);
    tg__parallel region = tg__parallel_begin(wanted);
    if (region.threads == 1) {
        NAME(gemm_shared_a_block)(impl, bufs, 0, M, K, A, rsA, csA, n, out, beta, sums);
    } else {
#ifdef _OPENMP
        /* Rows split in equal parts between threads (as thread_block's),
         * each packing every B. */
#pragma omp parallel num_threads(region.threads)
        {
            tg__parallel_arrive(&region);
            int tid = omp_get_thread_num();
            int64_t m0, m1;
            tg__share(M, 1, omp_get_num_threads(), tid, &m0, &m1);
            if (m0 < m1)
                NAME(gemm_shared_a_block)(impl, bufs + tid * per_thread, m0, m1, K, A, rsA, csA, n, out,
                                          beta, sums);
        }
        tg__parallel_end(&region);
#endif
    }
    return sums ? 1 : 0;
}
