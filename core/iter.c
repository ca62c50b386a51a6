/* Argument checks, broadcasting and the strided loop driver. */
#include <string.h>

#include "internal.h"

bool tg__check(const char *fn, const tg_tensor *t)
{
    if (!t) return false;
    if (t->magic != TG_MAGIC)
        return TG__REJECT("%s: tensor used after its scope ended (or not a tensor)", fn);
    return true;
}

bool tg__check_float(const char *fn, const tg_tensor *t)
{
    if (!tg__check(fn, t)) return false;
    if (t->dtype != TG_F32 && t->dtype != TG_F64)
        return TG__REJECT("%s: expected a float32 or float64 tensor, got %s", fn, tg_dtype_name(t->dtype));
    return true;
}

bool tg__float_dtype(const char *fn, const char *what, tg_dtype dtype)
{
    if (dtype == TG_F32 || dtype == TG_F64) return true;
    if (dtype == TG_I64) return TG__REJECT("%s: %s must be float32 or float64, got int64", fn, what);
    return TG__REJECT("%s: %s must be float32 or float64, got the value %d, which is no dtype", fn, what, (int)dtype);
}

int tg__expanded_dim(const tg_tensor *t)
{
    for (int d = 0; d < t->ndim; d++)
        if (t->stride[d] == 0 && t->shape[d] > 1) return d;
    return -1;
}

int tg__dim(const char *fn, int dim, int ndim)
{
    int lo = ndim > 0 ? -ndim : -1, hi = ndim > 0 ? ndim - 1 : 0;
    if (dim < lo || dim > hi)
        return tg_fail("%s: Dimension out of range (expected to be in range of [%d, %d], but got %d)",
                       fn, lo, hi, dim);
    return dim < 0 ? dim + (ndim > 0 ? ndim : 1) : dim;
}

int tg__broadcast_shape(const char *fn, const tg_tensor *a, const tg_tensor *b,
                        int *ndim, int64_t *out)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < n; i++) {
        int ia = a->ndim - n + i, ib = b->ndim - n + i;
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char s1[128], s2[128];
            return tg_fail("%s: The size of tensor a (%lld) must match the size of tensor b (%lld) "
                           "at non-singleton dimension %d (shapes %s and %s)",
                           fn, (long long)sa, (long long)sb, i, tg_shape_str(a, s1, sizeof s1),
                           tg_shape_str(b, s2, sizeof s2));
        }
        out[i] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return 0;
}

double tg__load(const void *p, tg_dtype dtype)
{
    switch (dtype) {
    case TG_F32: return *(const float *)p;
    case TG_F64: return *(const double *)p;
    default: return (double)*(const int64_t *)p;
    }
}

void tg__store(void *p, tg_dtype dtype, double v)
{
    switch (dtype) {
    case TG_F32: *(float *)p = (float)v; break;
    case TG_F64: *(double *)p = v; break;
    /* Out of range (NaN included) saturates as x86 converts, never UB;
     * conversions users ask for check the range first (tg__fits_int64). */
    default: *(int64_t *)p = v >= -0x1p63 && v < 0x1p63 ? (int64_t)v : (v > 0 ? INT64_MAX : INT64_MIN); break;
    }
}

bool tg__any_requires_grad(int n, tg_tensor *const *ts)
{
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->requires_grad) return true;
    return false;
}

#define MAX_OPS 4

typedef struct {
    int nops, ndim;                    /* ndim after merging, >= 1 */
    int64_t shape[TG_MAX_DIMS];
    int64_t step[MAX_OPS][TG_MAX_DIMS]; /* bytes */
    char *base[MAX_OPS];
} loop_plan;

/* Align every operand to shape (stride 0 where broadcast), then merge
 * neighbouring dims that are contiguous for all operands, innermost last. */
static void plan_loop(loop_plan *p, int nops, const tg_tensor *const *ops, int ndim,
                      const int64_t *shape)
{
    int64_t step[MAX_OPS][TG_MAX_DIMS];
    int64_t sh[TG_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue; /* size-1 dims never move a pointer */
        sh[n] = shape[d];
        for (int i = 0; i < nops; i++) {
            const tg_tensor *t = ops[i];
            int td = t->ndim - ndim + d;
            size_t es = tg_dtype_size(t->dtype);
            step[i][n] = (td >= 0 && t->shape[td] != 1) ? t->stride[td] * (int64_t)es : 0;
        }
        n++;
    }
    p->nops = nops;
    p->ndim = 0;
    for (int d = 0; d < n; d++) {
        int m = p->ndim;
        bool merge = m > 0;
        for (int i = 0; merge && i < nops; i++)
            merge = p->step[i][m - 1] == step[i][d] * sh[d];
        if (merge) {
            p->shape[m - 1] *= sh[d];
            for (int i = 0; i < nops; i++) p->step[i][m - 1] = step[i][d];
        } else {
            p->shape[m] = sh[d];
            for (int i = 0; i < nops; i++) p->step[i][m] = step[i][d];
            p->ndim++;
        }
    }
    if (p->ndim == 0) { /* a single element */
        p->ndim = 1;
        p->shape[0] = 1;
        for (int i = 0; i < nops; i++) p->step[i][0] = 0;
    }
    for (int i = 0; i < nops; i++)
        p->base[i] = (char *)ops[i]->storage->data + ops[i]->offset * (int64_t)tg_dtype_size(ops[i]->dtype);
}

/* Run rows [row_begin, row_end) of the outer index space. */
static void run_rows(const loop_plan *p, int64_t row_begin, int64_t row_end, tg_row_fn fn, void *ctx)
{
    int inner = p->ndim - 1;
    int64_t steps[MAX_OPS];
    char *ptrs[MAX_OPS];
    for (int i = 0; i < p->nops; i++) steps[i] = p->step[i][inner];
    for (int64_t row = row_begin; row < row_end; row++) {
        int64_t rem = row;
        for (int i = 0; i < p->nops; i++) ptrs[i] = p->base[i];
        for (int d = inner - 1; d >= 0; d--) {
            int64_t idx = rem % p->shape[d];
            rem /= p->shape[d];
            for (int i = 0; i < p->nops; i++) ptrs[i] += idx * p->step[i][d];
        }
        fn(p->shape[inner], ptrs, steps, ctx);
    }
}

/* The plan of a walk over shape and its number of rows; *numel is the
 * number of elements (0: nothing to walk, and no plan). */
static int64_t plan_rows(loop_plan *p, int nops, const tg_tensor *const *ops, int ndim, const int64_t *shape,
                         int64_t *numel)
{
    *numel = 1;
    for (int d = 0; d < ndim; d++) *numel *= shape[d];
    if (*numel == 0) return 0;
    plan_loop(p, nops, ops, ndim, shape);
    return *numel / p->shape[p->ndim - 1];
}

typedef struct {
    const loop_plan *p;
    int64_t rows, piece; /* piece 0: a row at a time */
    tg_row_fn fn;
    void *ctx;
} share_job;

/* This thread's share: rows, or pieces of the innermost dim each walked
 * over every row. */
static void run_share(void *ctx)
{
    const share_job *j = ctx;
    const loop_plan *p = j->p;
    if (!j->piece) {
#pragma omp for schedule(static)
        for (int64_t r = 0; r < j->rows; r++) run_rows(p, r, r + 1, j->fn, j->ctx);
        return;
    }
    int inner = p->ndim - 1;
    int64_t n = p->shape[inner], pieces = (n + j->piece - 1) / j->piece;
#pragma omp for schedule(static)
    for (int64_t k = 0; k < pieces; k++) {
        loop_plan q = *p;
        q.shape[inner] = n - k * j->piece < j->piece ? n - k * j->piece : j->piece;
        for (int i = 0; i < p->nops; i++) q.base[i] += k * j->piece * p->step[i][inner];
        run_rows(&q, 0, j->rows, j->fn, j->ctx);
    }
}

/* The innermost dim cut into pieces of `piece` elements (the last may be
 * shorter), each walked over every row, the pieces shared among threads;
 * or with piece 0, the rows shared. */
static void run_pieces(const loop_plan *p, int64_t rows, int64_t piece, int threads, tg_row_fn fn, void *ctx)
{
    share_job job = {p, rows, piece, fn, ctx};
    tg__parallel region = tg__parallel_begin(threads);
    tg__parallel_run(&region, run_share, &job);
    tg__parallel_end(&region);
}

void tg__foreach(int nops, const tg_tensor *const *ops, int ndim, const int64_t *shape,
                 tg_row_fn fn, void *ctx, bool parallel)
{
    loop_plan p;
    int64_t numel, rows = plan_rows(&p, nops, ops, ndim, shape, &numel);
    if (numel == 0) return;
    if (!parallel || numel < TG_PARALLEL_MIN) {
        run_rows(&p, 0, rows, fn, ctx);
        return;
    }
    if (rows == 1) {
        /* One long row: cut it into pieces of a fixed size (independent of
         * the thread count, so the arithmetic is the same for any count).
         * Small pieces share a recurrent state evenly: a (64, 192) state
         * cut at 8192 gave one thread two thirds of it, a (64, 128) one
         * left the second thread nothing. */
        run_pieces(&p, rows, 2048, tg_get_num_threads(), fn, ctx);
        return;
    }
    run_pieces(&p, rows, 0, tg_get_num_threads(), fn, ctx);
}

void tg__foreach_columns(int nops, const tg_tensor *const *ops, int ndim, const int64_t *shape, tg_row_fn fn,
                         void *ctx)
{
    loop_plan p;
    int64_t numel, rows = plan_rows(&p, nops, ops, ndim, shape, &numel);
    if (numel == 0) return;
    int inner = p.ndim - 1;
    int64_t n = p.shape[inner];
    /* Operand 0 standing still along the row folds the row into one
     * element: that sum stays whole, on one thread. */
    int threads = numel < TG_PARALLEL_MIN || n < 32 || p.step[0][inner] == 0 ? 1 : tg_get_num_threads();
    if (threads == 1) {
        run_rows(&p, 0, rows, fn, ctx);
        return;
    }
    /* Column pieces, a multiple of 16 elements each: every element still
     * takes its rows in order, whatever the piece a thread gets. */
    run_pieces(&p, rows, ((n + threads - 1) / threads + 15) / 16 * 16, threads, fn, ctx);
}
