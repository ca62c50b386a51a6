/* In-place updates: tg_copy_, tg_fill_, tg_add_ and tg_mul_scalar_, with
 * PyTorch's checks of the written-to tensor (no leaf that requires grad, no
 * expanded or overlapping memory) and a transposed copy in blocks. */
#include <string.h>

#include "internal.h"

/* True if t's elements fill [first, first + numel) of its storage exactly,
 * each once (PyTorch's is_non_overlapping_and_dense). */
static bool dense(const tg_tensor *t)
{
    int64_t expected = 1;
    bool used[TG_MAX_DIMS] = {false};
    for (;;) {
        int next = -1;
        for (int d = 0; d < t->ndim; d++)
            if (!used[d] && t->shape[d] != 1 && (next < 0 || t->stride[d] < t->stride[next])) next = d;
        if (next < 0) return true;
        if (t->stride[next] != expected) return false;
        expected *= t->shape[next];
        used[next] = true;
    }
}

/* PyTorch's overlap checks for a written-to tensor: an expanded dst (stride
 * 0) would take several results in one element, and a src sharing part of
 * dst's memory would be read after some of it was overwritten; both give
 * answers that depend on the loop order. Views that are not dense are left
 * alone, as PyTorch does (their elements may interleave without meeting). */
static bool overlap_ok(const char *fn, const tg_tensor *dst, const tg_tensor *src)
{
    char s1[128], s2[128];
    if (tg_numel(dst) == 0) return true;
    const int expanded = tg__expanded_dim(dst);
    if (expanded >= 0)
        return TG__REJECT("%s: unsupported operation: more than one element of the written-to tensor "
                          "(shape %s, stride 0 in dim %d) refers to a single memory location. Please "
                          "clone() the tensor before performing the operation.",
                          fn, tg_shape_str(dst, s1, sizeof s1), expanded);
    if (!src || src == dst || src->storage != dst->storage || tg_numel(src) == 0 || !dense(dst) || !dense(src))
        return true;
    int64_t dst_end = dst->offset + tg_numel(dst), src_end = src->offset + tg_numel(src);
    bool same = dst->offset == src->offset && dst_end == src_end && dst->ndim == src->ndim &&
                memcmp(dst->stride, src->stride, sizeof(int64_t) * (size_t)dst->ndim) == 0;
    if (!same && dst->offset < src_end && src->offset < dst_end)
        return TG__REJECT("%s: unsupported operation: some elements of the input tensor (shape %s, offset %lld) "
                          "and the written-to tensor (shape %s, offset %lld) refer to a single memory location. "
                          "Please clone() the tensor before performing the operation.",
                          fn, tg_shape_str(src, s1, sizeof s1), (long long)src->offset,
                          tg_shape_str(dst, s2, sizeof s2), (long long)dst->offset);
    return true;
}

static bool inplace_ok(const char *fn, const tg_tensor *dst, const tg_tensor *src)
{
    if (!tg__check(fn, dst) || (src && !tg__check(fn, src))) return false;
    if (dst->requires_grad && tg_is_grad_enabled() && !dst->node)
        return TG__REJECT("%s: a leaf Variable that requires grad is being used in an in-place operation "
                          "(turn grad mode off first)", fn);
    /* PyTorch records such a change; the tape has no in-place ops. */
    if (dst->requires_grad && tg_is_grad_enabled())
        return TG__REJECT("%s: a tensor that requires grad (made by '%s') is being used in an in-place "
                          "operation, which autograd does not record (turn grad mode off first)",
                          fn, dst->node->op ? dst->node->op : "an op");
    if (src) {
        int nd;
        int64_t shape[TG_MAX_DIMS];
        if (tg__broadcast_shape(fn, dst, src, &nd, shape) < 0) return false;
        if (nd != dst->ndim || memcmp(shape, dst->shape, sizeof(int64_t) * (size_t)nd) != 0) {
            char s1[128], s2[128];
            return TG__REJECT("%s: source shape %s does not broadcast to destination shape %s", fn,
                              tg_shape_str(src, s1, sizeof s1), tg_shape_str(dst, s2, sizeof s2));
        }
    }
    return true;
}

typedef struct { tg_dtype dst, src; double alpha; } copy_ctx;

static void copy_row(int64_t n, char **p, const int64_t *s, void *vctx)
{
    const copy_ctx *c = vctx;
    if (c->dst == c->src && s[0] == (int64_t)tg_dtype_size(c->dst) && s[1] == s[0]) {
        memcpy(p[0], p[1], (size_t)(n * s[0]));
        return;
    }
    /* One value over a contiguous row (a broadcast made contiguous: the
     * gradient of a sum is its output's gradient expanded) in a loop the
     * compiler vectorises, where the strided loop below took a load per
     * element: 0.7% of an LSTM step whose loss sums its (T, B, H) output. */
    if (c->dst == c->src && s[1] == 0 && s[0] == (int64_t)tg_dtype_size(c->dst)) {
        if (c->dst == TG_F32) {
            float v = *(const float *)p[1], *restrict d = (float *)p[0];
            for (int64_t i = 0; i < n; i++) d[i] = v;
        } else if (c->dst == TG_F64) {
            double v = *(const double *)p[1], *restrict d = (double *)p[0];
            for (int64_t i = 0; i < n; i++) d[i] = v;
        } else {
            int64_t v = *(const int64_t *)p[1], *restrict d = (int64_t *)p[0];
            for (int64_t i = 0; i < n; i++) d[i] = v;
        }
        return;
    }
    if (c->dst == TG_F32 && c->src == TG_F32) {
        for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * s[0]) = *(const float *)(p[1] + i * s[1]);
    } else if (c->dst == TG_F64 && c->src == TG_F64) {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) = *(const double *)(p[1] + i * s[1]);
    } else {
        for (int64_t i = 0; i < n; i++) tg__store(p[0] + i * s[0], c->dst, tg__load(p[1] + i * s[1], c->src));
    }
}

typedef struct {
    bool bad;
    double value;
} range_ctx;

static void int64_range_row(int64_t n, char **p, const int64_t *s, void *vctx)
{
    range_ctx *c = vctx;
    for (int64_t i = 0; i < n && !c->bad; i++) {
        double v = tg__load(p[0] + i * s[0], c->value == 4 ? TG_F32 : TG_F64);
        if (!(v >= -0x1p63 && v < 0x1p63)) c->bad = true, c->value = v;
    }
}

bool tg__fits_int64(const char *fn, const tg_tensor *src)
{
    if (src->dtype == TG_I64) return true;
    /* value carries the element size in, the offending value out */
    range_ctx c = {false, (double)tg_dtype_size(src->dtype)};
    tg__foreach(1, &src, src->ndim, src->shape, int64_range_row, &c, false);
    if (c.bad) return TG__REJECT("%s: value cannot be converted to type int64 without overflow: %g", fn, c.value);
    return true;
}

/* dst = src for a 2-D dst with contiguous rows (contiguous, or rows padded
 * apart) and a src of its shape whose columns are contiguous (a transposed
 * matrix made contiguous, as a weight's W^T): in TILE x TILE tiles, so
 * that reads and writes both move by cache lines.
 * Row by row of dst, every element would be a line of src. */
#define TILE 32
#define COPY_TRANSPOSED(T)                                                                              \
    for (int64_t i0 = 0; i0 < rows; i0 += TILE)                                                         \
        for (int64_t j0 = 0; j0 < cols; j0 += TILE)                                                     \
            for (int64_t i = i0; i < i0 + TILE && i < rows; i++)                                       \
                for (int64_t j = j0; j < j0 + TILE && j < cols; j++)                                    \
                    ((T *)d)[i * ldd + j] = ((const T *)s)[i + j * ld]
/* The float case in 8 x 8 blocks through vector registers (the tiles of
 * TILE x TILE around them keep the lines in L1): element by element, each
 * element was a load and a store of its own. An LSTM's contiguous copies
 * of W_ih^T and W_hh^T (1024 x 256 each) took 0.8% of its B=64 T=50
 * training step. */
typedef float v8sf __attribute__((vector_size(32)));
TG__VECTOR_CLONES static void copy_transposed_f32(int64_t rows, int64_t cols, const float *s, int64_t ld,
                                                  float *d, int64_t ldd)
{
    for (int64_t i0 = 0; i0 < rows; i0 += TILE)
        for (int64_t j0 = 0; j0 < cols; j0 += TILE) {
            int64_t i1 = i0 + TILE < rows ? i0 + TILE : rows, j1 = j0 + TILE < cols ? j0 + TILE : cols;
            int64_t i8 = i0 + (i1 - i0) / 8 * 8, j8 = j0 + (j1 - j0) / 8 * 8;
            for (int64_t i = i0; i < i8; i += 8)
                for (int64_t j = j0; j < j8; j += 8) {
                    /* r[c] holds rows i..i+7 of column j + c. */
                    v8sf r[8], t[8], u[8];
                    for (int c = 0; c < 8; c++) memcpy(&r[c], s + i + (j + c) * ld, sizeof r[c]);
                    for (int c = 0; c < 8; c += 2) {
                        t[c] = __builtin_shufflevector(r[c], r[c + 1], 0, 8, 1, 9, 4, 12, 5, 13);
                        t[c + 1] = __builtin_shufflevector(r[c], r[c + 1], 2, 10, 3, 11, 6, 14, 7, 15);
                    }
                    for (int c = 0; c < 8; c += 4)
                        for (int h = 0; h < 2; h++) {
                            u[c + 2 * h] = __builtin_shufflevector(t[c + h], t[c + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
                            u[c + 2 * h + 1] = __builtin_shufflevector(t[c + h], t[c + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
                        }
                    for (int c = 0; c < 4; c++) {
                        v8sf lo = __builtin_shufflevector(u[c], u[c + 4], 0, 1, 2, 3, 8, 9, 10, 11);
                        v8sf hi = __builtin_shufflevector(u[c], u[c + 4], 4, 5, 6, 7, 12, 13, 14, 15);
                        memcpy(d + (i + c) * ldd + j, &lo, sizeof lo);
                        memcpy(d + (i + c + 4) * ldd + j, &hi, sizeof hi);
                    }
                }
            /* The tile's edges that are not whole blocks. */
            for (int64_t i = i0; i < i1; i++)
                for (int64_t j = i < i8 ? j8 : j0; j < j1; j++) d[i * ldd + j] = s[i + j * ld];
        }
}

typedef struct {
    int64_t rows, cols, ld, ldd;
    const char *s;
    char *d;
    tg_dtype dtype;
} transpose_job;

/* This thread's share of dst's row tiles: a recurrent layer's copies of
 * W^T, made once per forward before the steps, ran on one thread while
 * the other waited. LSTM step of B=64, I=H=256 on 2 threads (Zen 5): 1.0%
 * of the main thread's samples before, 0.6% of each thread's after. */
static void transpose_share(void *ctx)
{
    const transpose_job *j = ctx;
    int64_t size = (int64_t)tg_dtype_size(j->dtype), tiles = (j->rows + TILE - 1) / TILE;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; t++) {
        int64_t i0 = t * TILE, rows = j->rows - i0 < TILE ? j->rows - i0 : TILE;
        const void *s = j->s + i0 * size;
        void *d = j->d + i0 * j->ldd * size;
        int64_t cols = j->cols, ld = j->ld, ldd = j->ldd;
        if (j->dtype == TG_F32) copy_transposed_f32(rows, cols, s, ld, d, ldd);
        else COPY_TRANSPOSED(double);
    }
}

static bool copy_transposed(tg_tensor *dst, const tg_tensor *src)
{
    if (dst->ndim != 2 || src->ndim != 2 || dst->dtype != src->dtype || dst->dtype == TG_I64 ||
        dst->stride[1] != 1 || (dst->shape[0] > 1 && dst->stride[0] < dst->shape[1]) || src->stride[0] != 1 ||
        src->stride[1] < src->shape[0] || src->shape[0] != dst->shape[0] || src->shape[1] != dst->shape[1])
        return false;
    transpose_job job = {dst->shape[0], dst->shape[1], src->stride[1], dst->stride[0], tg_data(src), tg_data(dst),
                         dst->dtype};
    tg__parallel region = tg__parallel_begin(tg__threads_for(job.rows * job.cols, TG_PARALLEL_MIN));
    tg__parallel_run(&region, transpose_share, &job);
    tg__parallel_end(&region);
    return true;
}
#undef COPY_TRANSPOSED
#undef TILE

int tg_copy_(tg_tensor *dst, const tg_tensor *src)
{
    if (!src || !inplace_ok("tg_copy_", dst, src) || !overlap_ok("tg_copy_", dst, src)) return -1;
    if (dst->dtype == TG_I64 && !tg__fits_int64("tg_copy_", src)) return -1;
    dst->storage->version++;
    if (copy_transposed(dst, src)) return 0;
    copy_ctx c = {dst->dtype, src->dtype, 1.0};
    const tg_tensor *ops[2] = {dst, src};
    tg__foreach(2, ops, dst->ndim, dst->shape, copy_row, &c, true);
    return 0;
}

static void fill_row(int64_t n, char **p, const int64_t *s, void *vctx)
{
    const copy_ctx *c = vctx;
    if (c->alpha == 0.0 && !signbit(c->alpha) && s[0] == (int64_t)tg_dtype_size(c->dst)) { /* +0 is all-zero bits in every dtype */
        memset(p[0], 0, (size_t)(n * s[0]));
    } else if (c->dst == TG_F32) {
        float v = (float)c->alpha;
        for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * s[0]) = v;
    } else if (c->dst == TG_F64) {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) = c->alpha;
    } else {
        for (int64_t i = 0; i < n; i++) *(int64_t *)(p[0] + i * s[0]) = (int64_t)c->alpha;
    }
}

int tg_fill_(tg_tensor *dst, double value)
{
    if (!inplace_ok("tg_fill_", dst, NULL) || !tg__fits_dtype("tg_fill_", dst->dtype, value)) return -1;
    dst->storage->version++;
    copy_ctx c = {dst->dtype, dst->dtype, value};
    const tg_tensor *ops[1] = {dst};
    tg__foreach(1, ops, dst->ndim, dst->shape, fill_row, &c, true);
    return 0;
}

TG__VECTOR_CLONES static void axpy_row(int64_t n, char **p, const int64_t *s, void *vctx)
{
    const copy_ctx *c = vctx;
    if (c->dst == TG_F32 && c->src == TG_F32) {
        float a = (float)c->alpha;
        if (s[0] == 4 && s[1] == 4) {
            float *y = (float *)p[0];
            const float *x = (const float *)p[1];
            for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
        } else {
            for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * s[0]) += a * *(const float *)(p[1] + i * s[1]);
        }
    } else if (c->dst == TG_F64 && c->src == TG_F64) {
        if (s[0] == 8 && s[1] == 8) {
            double *y = (double *)p[0];
            const double *x = (const double *)p[1];
            for (int64_t i = 0; i < n; i++) y[i] += c->alpha * x[i];
        } else {
            for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * s[0]) += c->alpha * *(const double *)(p[1] + i * s[1]);
        }
    } else {
        for (int64_t i = 0; i < n; i++)
            tg__store(p[0] + i * s[0], c->dst, tg__load(p[0] + i * s[0], c->dst) + c->alpha * tg__load(p[1] + i * s[1], c->src));
    }
}

/* An int64 destination takes integers only, as PyTorch's in-place ops refuse
 * a float result for an integer tensor (the store would saturate NaN and
 * fractions silently). */
static bool int64_update_ok(const char *fn, const tg_tensor *dst, const tg_tensor *src, double scalar)
{
    if (dst->dtype != TG_I64) return true;
    if (src && src->dtype != TG_I64)
        return TG__REJECT("%s: result type %s can't be cast to the desired output type int64", fn,
                          tg_dtype_name(src->dtype));
    if (!(scalar >= -0x1p63 && scalar < 0x1p63) || scalar != trunc(scalar))
        return TG__REJECT("%s: an int64 tensor can only be updated with an integer scalar, got %g", fn, scalar);
    return true;
}

int tg_add_(tg_tensor *dst, const tg_tensor *src, double alpha)
{
    if (!src || !inplace_ok("tg_add_", dst, src) || !overlap_ok("tg_add_", dst, src) ||
        !int64_update_ok("tg_add_", dst, src, alpha))
        return -1;
    dst->storage->version++;
    copy_ctx c = {dst->dtype, src->dtype, alpha};
    const tg_tensor *ops[2] = {dst, src};
    /* A broadcast source adds into many places of dst, but each dst element
     * still reads only its own source element, so rows can run in parallel. */
    tg__foreach(2, ops, dst->ndim, dst->shape, axpy_row, &c, true);
    return 0;
}

static void scale_row(int64_t n, char **p, const int64_t *s, void *vctx)
{
    const copy_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++) tg__store(p[0] + i * s[0], c->dst, tg__load(p[0] + i * s[0], c->dst) * c->alpha);
}

int tg_mul_scalar_(tg_tensor *dst, double value)
{
    if (!inplace_ok("tg_mul_scalar_", dst, NULL) || !overlap_ok("tg_mul_scalar_", dst, NULL) ||
        !int64_update_ok("tg_mul_scalar_", dst, NULL, value))
        return -1;
    dst->storage->version++;
    copy_ctx c = {dst->dtype, dst->dtype, value};
    const tg_tensor *ops[1] = {dst};
    tg__foreach(1, ops, dst->ndim, dst->shape, scale_row, &c, true);
    return 0;
}
