/* The engine's one reduction: a gradient summed down to the shape of the
 * input it belongs to (PyTorch's sum_to_size), for tg_accum_grad. */
#include "internal.h"

/* A gradient g shaped like the broadcast result of x is summed down to x's
 * shape (PyTorch's sum_to_size): dst[i] += sum over the broadcast positions
 * of g. dst is walked as a view expanded to g's shape (stride 0 on the summed
 * dims), each element's rows in order (threads take columns), so the order
 * of the sums never depends on threads.
 * A row that folds into one element is summed in double. */
static void sum_into_row(int64_t n, char **p, const int64_t *step, void *ctx)
{
    tg_dtype dtype = *(const tg_dtype *)ctx;
    if (step[0] == 0) {
        double total = 0;
        for (int64_t i = 0; i < n; i++) total += tg__load(p[1] + i * step[1], dtype);
        tg__store(p[0], dtype, tg__load(p[0], dtype) + total);
    } else if (dtype == TG_F32 && step[0] == 4 && step[1] == 4) { /* rows of a bias gradient: vectorised */
        float *restrict dst = (float *)p[0];
        const float *restrict src = (const float *)p[1];
        for (int64_t i = 0; i < n; i++) dst[i] += src[i];
    } else if (dtype == TG_F32) {
        for (int64_t i = 0; i < n; i++) *(float *)(p[0] + i * step[0]) += *(const float *)(p[1] + i * step[1]);
    } else {
        for (int64_t i = 0; i < n; i++) *(double *)(p[0] + i * step[0]) += *(const double *)(p[1] + i * step[1]);
    }
}

/* The common case, a bias's gradient: g contiguous, viewed as (rows, cols),
 * summed down its rows into a contiguous dst of cols values (its shape g's
 * trailing dims, after any 1s). Added one by one in float, a sum of n rows
 * is off by about n/2 ulp at worst (1.4e-5 relative at a million rows);
 * here rows are summed SUM_BLOCK at a time from zero, those partial sums
 * SUM_BLOCK at a time, and their totals added to dst in order: n/65536 +
 * 512 additions deep. The order depends on the shape alone, so threads
 * (taking pieces of the columns) leave the bits alone. At most SUM_BLOCK
 * rows give the bits the GEMM gives a bias sum from a packed g^T
 * (gemm_driver.h, add_sums): a partial sum from zero, added to dst. */
#define SUM_BLOCK 256
#define SUM_PIECE 256 /* columns per piece of the work, at most */
#define DEFINE_ROW_SUM(T)                                                                        \
    static void row_sum_##T(const T *restrict g, T *restrict dst, int64_t rows, int64_t cols, int64_t width) \
    {                                                                                            \
        T part[SUM_PIECE], total[SUM_PIECE];                                                     \
        int partials = 0;                                                                        \
        for (int64_t j = 0; j < width; j++) total[j] = 0;                                        \
        for (int64_t r0 = 0; r0 < rows; r0 += SUM_BLOCK) {                                      \
            int64_t r1 = rows - r0 < SUM_BLOCK ? rows : r0 + SUM_BLOCK;                         \
            for (int64_t j = 0; j < width; j++) part[j] = 0;                                     \
            for (int64_t r = r0; r < r1; r++)                                                    \
                for (int64_t j = 0; j < width; j++) part[j] += g[r * cols + j];                  \
            for (int64_t j = 0; j < width; j++) total[j] += part[j];                             \
            if (++partials < SUM_BLOCK) continue;                                                \
            for (int64_t j = 0; j < width; j++) dst[j] += total[j], total[j] = 0;                \
            partials = 0;                                                                        \
        }                                                                                        \
        if (partials)                                                                            \
            for (int64_t j = 0; j < width; j++) dst[j] += total[j];                              \
    }
DEFINE_ROW_SUM(float)
DEFINE_ROW_SUM(double)
#undef DEFINE_ROW_SUM

typedef struct {
    const char *g;
    char *dst;
    int64_t rows, cols, piece;
    tg_dtype dtype;
} row_sum_job;

static void row_sum_share(void *ctx)
{
    const row_sum_job *j = ctx;
    int64_t pieces = (j->cols + j->piece - 1) / j->piece, size = (int64_t)tg_dtype_size(j->dtype);
#pragma omp for schedule(static)
    for (int64_t k = 0; k < pieces; k++) {
        int64_t c0 = k * j->piece, width = j->cols - c0 < j->piece ? j->cols - c0 : j->piece;
        if (j->dtype == TG_F32)
            row_sum_float((const float *)(j->g + c0 * size), (float *)(j->dst + c0 * size), j->rows, j->cols, width);
        else
            row_sum_double((const double *)(j->g + c0 * size), (double *)(j->dst + c0 * size), j->rows, j->cols,
                           width);
    }
}

/* Whether dst (already checked to reduce g) takes g's rows summed as one
 * (rows, cols) matrix, with both counts at least 2: the fold of a row into
 * one element keeps its sum in double (sum_into_row). */
static bool row_sum_shape(const tg_tensor *dst, const tg_tensor *g, int64_t *rows, int64_t *cols)
{
    if (g->dtype == TG_I64 || !tg_is_contiguous(g) || !tg_is_contiguous(dst)) return false;
    int lead = g->ndim - dst->ndim, first = g->ndim;
    while (first > lead && dst->shape[first - 1 - lead] == g->shape[first - 1]) first--;
    for (int d = lead; d < first; d++)
        if (dst->shape[d - lead] != 1) return false;
    *rows = *cols = 1;
    for (int d = 0; d < g->ndim; d++) *(d < first ? rows : cols) *= g->shape[d];
    return *rows > 1 && *cols > 1;
}

int tg__sum_into(tg_tensor *dst, const tg_tensor *g)
{
    int lead = g->ndim - dst->ndim;
    bool ok = lead >= 0 && g->dtype == dst->dtype;
    for (int d = lead; ok && d < g->ndim; d++) ok = dst->shape[d - lead] == g->shape[d] || dst->shape[d - lead] == 1;
    if (!ok) {
        char a[128], b[128];
        return tg_fail("tg_accum_grad: a gradient of shape %s (%s) does not reduce to shape %s (%s)",
                       tg_shape_str(g, a, sizeof a), tg_dtype_name(g->dtype),
                       tg_shape_str(dst, b, sizeof b), tg_dtype_name(dst->dtype));
    }
    int64_t rows, cols;
    if (row_sum_shape(dst, g, &rows, &cols)) {
        int threads = tg__threads_for(rows * cols, TG_PARALLEL_MIN);
        int64_t piece = ((cols + threads - 1) / threads + 15) / 16 * 16;
        row_sum_job job = {tg_data(g), tg_data(dst), rows, cols, piece < SUM_PIECE ? piece : SUM_PIECE, g->dtype};
        tg__parallel region = tg__parallel_begin(threads);
        tg__parallel_run(&region, row_sum_share, &job);
        tg__parallel_end(&region);
        return 0;
    }
    tg_tensor spread = tg__spread(dst, g->ndim, g->shape);
    tg__foreach_columns(2, (const tg_tensor *[]){&spread, g}, g->ndim, g->shape, sum_into_row, &spread.dtype);
    return 0;
}
