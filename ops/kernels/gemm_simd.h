/* The GEMM micro-kernels, the packing of a transposed B and the
 * dot-product kernel, written once for every SIMD level and float dtype.
 * Each level's file (gemm_avx512.c, gemm_avx2.c), compiled with its own -m
 * flags, includes this file once per dtype after defining
 *   ISA     the level's name suffix (avx512), MR its tile rows
 *   VW      its intrinsic prefix (_mm512)
 *   T, V    the element and vector types (float, __m512)
 *   VS      the intrinsic suffix of that dtype (ps), and DT its tag (f32)
 *   mask_<VS>, tail_mask_<VS>(rem), masked_load_<VS>(p, mask)
 *           the mask of lanes [0, rem) (none if rem <= 0, all lanes if
 *           rem >= LANES) and a load of those lanes that reads nothing
 *           beyond them (zeros)
 *   head_load_<VS>(p, n), head_store_<VS>(p, n, v)
 *           a load (zeros beyond) and a store of the first n lanes
 *           (0 <= n <= LANES), touching nothing beyond them: mask registers
 *           where masked stores are fast, pieces of 128, 64 and 32 bits
 *           where they are not (AVX2's vmaskmovps on AMD)
 *   transpose_regs_<VS>(V r[LANES])  a transpose in registers: r[c]
 *           becomes column c of the block whose rows were r[0..LANES)
 *   hsum_<VS>(v)  the sum of v's lanes
 * and gets tg_ukr_<DT>_<ISA>, tg_ukr_cols_<DT>_<ISA>, tg_ukr_wt_<DT>_<ISA>,
 * tg_pack_bt_<DT>_<ISA> and tg_dots_<DT>_<ISA> (see kern_simd.h for their
 * contracts). A row of the tile is two vectors: NR = 2 * LANES. */

#define TG_CAT_(a, b) a##b
#define TG_CAT(a, b) TG_CAT_(a, b)
/* VOP(fmadd) is _mm512_fmadd_ps for VW = _mm512, VS = ps. */
#define VOP(op) TG_CAT(TG_CAT(VW, _##op##_), VS)
/* NAME(x): this dtype's static helpers; KNAME(x): the exported kernels. */
#define NAME(x) TG_CAT(x##_, DT)
#define KNAME(x) TG_CAT(TG_CAT(tg_##x##_, DT), TG_CAT(_, ISA))
#define LANES ((int)(sizeof(V) / sizeof(T)))
#define NR (2 * LANES)

/* The kernel body for a compile-time row count m (1..MR): every call site
 * below passes a constant, so the loops unroll (16 >= any MR) and the
 * accumulator arrays become registers; rows beyond m cost nothing. Per k:
 * two loads of B, m broadcasts of A and 2m independent FMA chains. */
static inline __attribute__((always_inline)) void
NAME(ukr_rows)(const int m, const bool masked, int64_t nr, int64_t kc, const T *a, const T *b, int64_t ldb, T *c,
               int64_t rsc, T alpha, T beta, const T *bias)
{
    V acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int i = 0; i < m; i++) {
        acc0[i] = VOP(setzero)();
        acc1[i] = VOP(setzero)();
        /* Each 64-byte line of this row of C, so the stores below hit L1. */
        for (int p = 0; p < NR; p += 64 / (int)sizeof(T))
            _mm_prefetch((const char *)(c + i * rsc + p), _MM_HINT_T0);
    }
    for (int64_t k = 0; k < kc; k++) {
        V b0 = VOP(loadu)(b), b1 = VOP(loadu)(b + LANES);
#pragma GCC unroll 16
        for (int i = 0; i < m; i++) {
            V ai = VOP(set1)(a[i]);
            acc0[i] = VOP(fmadd)(ai, b0, acc0[i]);
            acc1[i] = VOP(fmadd)(ai, b1, acc1[i]);
        }
        a += MR;
        b += ldb;
    }
    /* alpha * acc is acc itself when alpha is 1 (the usual case): skipping
     * the multiply gives the same bits and spares 2m operations a tile. */
    if (alpha != 1) {
        V va = VOP(set1)(alpha);
#pragma GCC unroll 16
        for (int i = 0; i < m; i++) {
            acc0[i] = VOP(mul)(va, acc0[i]);
            acc1[i] = VOP(mul)(va, acc1[i]);
        }
    }
    V vb = VOP(set1)(beta);
    if (masked) {
        /* Only columns [0, nr) of this tile exist in C. */
        int n0 = nr < LANES ? (int)nr : LANES, n1 = nr > LANES ? (int)nr - LANES : 0;
#pragma GCC unroll 16
        for (int i = 0; i < m; i++) {
            T *row = c + i * rsc;
            V r0 = acc0[i], r1 = acc1[i];
            if (beta != 0) {
                r0 = VOP(fmadd)(vb, TG_CAT(head_load_, VS)(row, n0), r0);
                r1 = VOP(fmadd)(vb, TG_CAT(head_load_, VS)(row + LANES, n1), r1);
            }
            TG_CAT(head_store_, VS)(row, n0, r0);
            TG_CAT(head_store_, VS)(row + LANES, n1, r1);
        }
        return;
    }
    if (bias) {
        /* C = 1 * bias + acc, the operation (and bits) of beta 1 onto a C
         * holding the bias, with C left unread. */
        V one = VOP(set1)(1), b0 = VOP(loadu)(bias), b1 = VOP(loadu)(bias + LANES);
#pragma GCC unroll 16
        for (int i = 0; i < m; i++) {
            VOP(storeu)(c + i * rsc, VOP(fmadd)(one, b0, acc0[i]));
            VOP(storeu)(c + i * rsc + LANES, VOP(fmadd)(one, b1, acc1[i]));
        }
    } else if (beta == 0) {
#pragma GCC unroll 16
        for (int i = 0; i < m; i++) {
            VOP(storeu)(c + i * rsc, acc0[i]);
            VOP(storeu)(c + i * rsc + LANES, acc1[i]);
        }
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < m; i++) {
            T *row = c + i * rsc;
            VOP(storeu)(row, VOP(fmadd)(vb, VOP(loadu)(row), acc0[i]));
            VOP(storeu)(row + LANES, VOP(fmadd)(vb, VOP(loadu)(row + LANES), acc1[i]));
        }
    }
}

/* One case per row count, each an instance of the body with m constant:
 * ROW_CASES(ROWS) switches on mr to ROWS(1) ... ROWS(MR). */
#if MR == 12
#define ROW_CASES_ABOVE_7(ROWS) \
    case 8: ROWS(8); break;     \
    case 9: ROWS(9); break;     \
    case 10: ROWS(10); break;   \
    case 11: ROWS(11); break;
#elif MR == 6 || MR == 8
#define ROW_CASES_ABOVE_7(ROWS)
#else
#error "the row cases cover MR = 6, 8 and 12"
#endif
#if MR >= 8
#define ROW_CASES_6_7(ROWS) \
    case 6: ROWS(6); break; \
    case 7: ROWS(7); break;
#else
#define ROW_CASES_6_7(ROWS)
#endif
#define ROW_CASES(ROWS)                                             \
    switch (mr) {                                                   \
    case 1: ROWS(1); break;                                         \
    case 2: ROWS(2); break;                                         \
    case 3: ROWS(3); break;                                         \
    case 4: ROWS(4); break;                                         \
    case 5: ROWS(5); break;                                         \
    ROW_CASES_6_7(ROWS)                                             \
    ROW_CASES_ABOVE_7(ROWS)                                         \
    default: ROWS(MR); break;                                       \
    }

void KNAME(ukr)(int64_t kc, int mr, const T *a, const T *b, int64_t ldb, T *c, int64_t rsc,
                T alpha, T beta)
{
#define ROWS(m) NAME(ukr_rows)(m, false, NR, kc, a, b, ldb, c, rsc, alpha, beta, NULL)
    ROW_CASES(ROWS)
#undef ROWS
}

/* The full kernel with C = acc + bias (NR values, the tile's columns)
 * instead of beta * C: a product's first K block adding a layer's bias. */
void KNAME(ukr_bias)(int64_t kc, int mr, const T *a, const T *b, int64_t ldb, T *c, int64_t rsc, const T *bias)
{
#define ROWS(m) NAME(ukr_rows)(m, false, NR, kc, a, b, ldb, c, rsc, 1, 1, bias)
    ROW_CASES(ROWS)
#undef ROWS
}

/* The kernel for a tile of which only columns [0, nr) exist in C (nr < NR,
 * C's columns contiguous): the same arithmetic as ukr (B's sliver is
 * packed with zero columns beyond nr), with the stores, and the loads of C
 * for beta, of the existing columns alone (head_store). It spares the edge
 * tiles of a product with few columns (a weight gradient of 28 inputs, a
 * head of 10 classes) a round trip through a private tile. */
void KNAME(ukr_cols)(int64_t kc, int mr, int64_t nr, const T *a, const T *b, int64_t ldb, T *c, int64_t rsc,
                     T alpha, T beta)
{
#define ROWS(m) NAME(ukr_rows)(m, true, nr, kc, a, b, ldb, c, rsc, alpha, beta, NULL)
    ROW_CASES(ROWS)
#undef ROWS
}

/* The kernel for C = A B with B transposed (B(k,j) = w[j*lda + k], the
 * weight of x W^T) read in place, and A's rows packed as the B operand of
 * the transposed product C^T = W A^T: per k it broadcasts one value of each
 * of m <= MR rows of W and multiplies the packed sliver of NR rows of A
 * (b[k*NR + i]), so the accumulators hold C^T. The tile is then stored
 * transposed, LANES x LANES blocks (the last one padded with zero rows
 * when MR is not a multiple of LANES) through register transposes, to rows
 * [0, nr) and columns [0, m) of C. With few rows of A, this spares packing
 * W, which costs as much as the product (see gemm_wt in gemm_driver.h). */
static inline __attribute__((always_inline)) void
NAME(ukr_wt_rows)(const int m, int64_t kc, int nr, const T *w, int64_t lda, const T *b, T *c, int64_t rsc,
                  T alpha, T beta)
{
    V acc0[MR], acc1[MR];
#pragma GCC unroll 16
    for (int j = 0; j < MR; j++) acc0[j] = acc1[j] = VOP(setzero)();
    for (int64_t k = 0; k < kc; k++) {
        V b0 = VOP(loadu)(b), b1 = VOP(loadu)(b + LANES);
#pragma GCC unroll 16
        for (int j = 0; j < m; j++) {
            V wj = VOP(set1)(w[j * lda + k]);
            acc0[j] = VOP(fmadd)(wj, b0, acc0[j]);
            acc1[j] = VOP(fmadd)(wj, b1, acc1[j]);
        }
        b += NR;
    }
    V va = VOP(set1)(alpha), vb = VOP(set1)(beta);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) {
#pragma GCC unroll 4
        for (int p = 0; p * LANES < m; p++) {
            /* Rows p*LANES.. of C^T over C's rows h*LANES..: after the
             * transpose, blk[l] is row h*LANES + l of C at columns p*LANES.. */
            V blk[LANES];
#pragma GCC unroll 16
            for (int l = 0; l < LANES; l++) {
                /* MR need not be a multiple of LANES: zeros pad the block. */
                int j = p * LANES + l;
                blk[l] = j >= MR ? VOP(setzero)() : h ? acc1[j] : acc0[j];
            }
            TG_CAT(transpose_regs_, VS)(blk);
            const int cols = m - p * LANES < LANES ? m - p * LANES : LANES;
#pragma GCC unroll 16
            for (int l = 0; l < LANES; l++) {
                if (h * LANES + l >= nr) break;
                T *row = c + (h * LANES + l) * rsc + p * LANES;
                V r = VOP(mul)(va, blk[l]);
                if (beta != 0) r = VOP(fmadd)(vb, TG_CAT(head_load_, VS)(row, cols), r);
                TG_CAT(head_store_, VS)(row, cols, r);
            }
        }
    }
}

void KNAME(ukr_wt)(int64_t kc, int mr, int nr, const T *w, int64_t lda, const T *b, T *c, int64_t rsc,
                   T alpha, T beta)
{
#define ROWS(m) NAME(ukr_wt_rows)(m, kc, nr, w, lda, b, c, rsc, alpha, beta)
    ROW_CASES(ROWS)
#undef ROWS
}
#undef ROW_CASES
#undef ROW_CASES_6_7
#undef ROW_CASES_ABOVE_7

/* Packing a transposed B (B(k,j) = src[j*ld + k]: the weight of x W^T)
 * into a sliver dst[k*NR + j] is a transpose; done one element at a time it
 * costs as much as a small product, so full slivers go through the
 * level's register transposes, LANES x LANES blocks at a time. Ragged edges
 * (k beyond a multiple of LANES, or fewer than NR columns) are copied
 * element by element. */
/* dst[c*ldd + j] = src[j*ld + c] for j, c < LANES, through registers. */
static inline __attribute__((always_inline)) void NAME(transpose)(const T *src, int64_t ld, T *dst, int64_t ldd)
{
    V r[LANES];
#pragma GCC unroll 16
    for (int j = 0; j < LANES; j++) r[j] = VOP(loadu)(src + j * ld);
    TG_CAT(transpose_regs_, VS)(r);
#pragma GCC unroll 16
    for (int c = 0; c < LANES; c++) VOP(storeu)(dst + c * ldd, r[c]);
}

void KNAME(pack_bt)(int64_t kc, int64_t cols, const T *src, int64_t ld, T *dst)
{
    int64_t k0 = 0;
    if (cols == NR)
        for (; k0 + LANES <= kc; k0 += LANES)
            for (int half = 0; half < 2; half++)
                NAME(transpose)(src + half * LANES * ld + k0, ld,
                                       dst + k0 * NR + half * LANES, NR);
    for (int64_t k = k0; k < kc; k++)
        for (int64_t j = 0; j < NR; j++) dst[k * NR + j] = j < cols ? src[j * ld + k] : 0;
}

/* Packing a sliver of a row-major A (A(i,k) = src[i*ld + k], i < rows <=
 * MR) into dst[k*MR + i], rows rows..MR-1 zero, is a transpose too
 * (element by element, the scattered stores stall): LANES values of k at a
 * time, the sliver's rows go through the register transposes in blocks of
 * LANES rows, the rows past the last real one loaded as zeros, and each
 * column of a block (its rows' values at one k) is stored as far as the
 * sliver's rows go. Ragged k is copied element by element. A partial
 * sliver (the last 8 of a batch of 32 with MR = 12) went element by
 * element before: 2.2% of the LSTM step at B=32, I=H=128 on Zen 5. */
void KNAME(pack_a)(int64_t kc, int rows, const T *src, int64_t ld, T *dst)
{
    int64_t k0 = 0;
    for (; k0 + LANES <= kc; k0 += LANES)
#pragma GCC unroll 2
        for (int part = 0; part * LANES < MR; part++) {
            const int lanes = MR - part * LANES < LANES ? MR - part * LANES : LANES;
            const int real = rows - part * LANES;
            const T *block = src + part * LANES * ld + k0;
            V r[LANES];
#pragma GCC unroll 16
            for (int j = 0; j < LANES; j++) r[j] = j < real ? VOP(loadu)(block + j * ld) : VOP(setzero)();
            TG_CAT(transpose_regs_, VS)(r);
#pragma GCC unroll 16
            for (int c = 0; c < LANES; c++) TG_CAT(head_store_, VS)(dst + (k0 + c) * MR + part * LANES, lanes, r[c]);
        }
    for (int64_t k = k0; k < kc; k++)
        for (int i = 0; i < MR; i++) dst[k * MR + i] = i < rows ? src[i * ld + k] : 0;
}

/* Dot products for a few rows of A against rows of a transposed B (a
 * weight W with B(k,j) = W[j*ldw + k]): out[i*4 + j] = sum_k a_i[k] w_j[k]
 * for i < m, j < 4. Both operands are read in place along k, LANES at a
 * time, and each accumulator is summed across lanes at the end. This is
 * the path for a batch of one to a few rows, where packing W would cost
 * more than the product. */
static inline __attribute__((always_inline)) void
NAME(dots_rows)(const int m, int64_t K, const T *const *a, const T *const *w, T *out)
{
    V acc[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[i][j] = VOP(setzero)();
    /* Whole vectors, then the tail through masks (zeros beyond K add
     * nothing): the same sums as masking every step, without making a
     * mask per step. */
    int64_t k = 0;
    for (; k + LANES <= K; k += LANES) {
        V wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) wv[j] = VOP(loadu)(w[j] + k);
#pragma GCC unroll 4
        for (int i = 0; i < m; i++) {
            V av = VOP(loadu)(a[i] + k);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[i][j] = VOP(fmadd)(av, wv[j], acc[i][j]);
        }
    }
    if (k < K) {
        TG_CAT(mask_, VS) mask = TG_CAT(tail_mask_, VS)(K - k);
        V wv[4];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) wv[j] = TG_CAT(masked_load_, VS)(w[j] + k, mask);
#pragma GCC unroll 4
        for (int i = 0; i < m; i++) {
            V av = TG_CAT(masked_load_, VS)(a[i] + k, mask);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) acc[i][j] = VOP(fmadd)(av, wv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < m; i++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) out[i * 4 + j] = TG_CAT(hsum_, VS)(acc[i][j]);
}

void KNAME(dots)(int64_t K, int m, const T *const *a, const T *const *w, T *out)
{
    switch (m) {
    case 1: NAME(dots_rows)(1, K, a, w, out); break;
    case 2: NAME(dots_rows)(2, K, a, w, out); break;
    case 3: NAME(dots_rows)(3, K, a, w, out); break;
    default: NAME(dots_rows)(4, K, a, w, out); break;
    }
}

#undef TG_CAT_
#undef TG_CAT
#undef VOP
#undef NAME
#undef KNAME
#undef LANES
#undef NR
#undef T
#undef V
#undef VS
#undef DT
