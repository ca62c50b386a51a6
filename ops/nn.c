/* Softmax, dropout and layer norm. Each records one node; the softmax and
 * layer-norm backward passes are single fused loops over the same lines or
 * rows as the forward. Kernels run on a contiguous copy of a strided input
 * (made with tg__contiguous, so the gradient flows back through it) and
 * accumulate in double for both float dtypes. */
#include <math.h>
#include <string.h>

#include <tapegrad/elementwise.h>
#include "map.h"
#include <tapegrad/nn.h>
#include <tapegrad/random.h>
#include <tapegrad/vmath.h>

/* Element i of a contiguous float buffer of dtype dt, as double. */
static inline double ld(const void *p, tg_dtype dt, int64_t i)
{
    return dt == TG_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

static inline void st(void *p, tg_dtype dt, int64_t i, double v)
{
    if (dt == TG_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

/* Rows are summed in 8 interleaved partial sums (two vectors of 4
 * doubles), added in a fixed order at the end: one running sum would wait
 * on every add, and the result depends on the row alone, never on the
 * thread count. GCC's vector extensions spell the vectors out. */
typedef double v4d __attribute__((vector_size(32)));
typedef double v4d_u __attribute__((vector_size(32), aligned(8), may_alias));
typedef float v4f __attribute__((vector_size(16)));
typedef float v4f_u __attribute__((vector_size(16), aligned(4), may_alias));

/* Four values from p as doubles (macros: a vector passed to a function
 * would change the ABI between the baseline and the AVX2 clones). */
#define load4_float(p) __builtin_convertvector(*(const v4f_u *)(p), v4d)
#define load4_double(p) (*(const v4d_u *)(p))
/* The 8 partial sums and a scalar tail, in a fixed order. */
#define COMBINE(lo, hi, tail) \
    ((((lo)[0] + (hi)[0]) + ((lo)[1] + (hi)[1])) + (((lo)[2] + (hi)[2]) + ((lo)[3] + (hi)[3])) + (tail))

/* Layer norm of one contiguous row of n values of type T, and its mean and
 * 1/std into stats[0], stats[1]; w and b (this row's part of the affine)
 * may be NULL. */
#define LN_FORWARD_ROW(T)                                                                                    \
    TG__VECTOR_CLONES static void ln_forward_row_##T(const T *x, const T *w, const T *b, T *y, int64_t n,   \
                                                     double eps, double *stats)                              \
    {                                                                                                        \
        v4d lo = {0}, hi = {0};                                                                              \
        double tail = 0;                                                                                     \
        int64_t j = 0;                                                                                       \
        for (; j + 8 <= n; j += 8) {                                                                         \
            lo += load4_##T(x + j);                                                                          \
            hi += load4_##T(x + j + 4);                                                                      \
        }                                                                                                    \
        for (; j < n; j++) tail += x[j];                                                                     \
        double mean = COMBINE(lo, hi, tail) / (double)n;                                                     \
        v4d m = {mean, mean, mean, mean}, dlo = {0}, dhi = {0};                                              \
        tail = 0;                                                                                            \
        for (j = 0; j + 8 <= n; j += 8) {                                                                    \
            v4d a = load4_##T(x + j) - m, c = load4_##T(x + j + 4) - m;                                      \
            dlo += a * a;                                                                                    \
            dhi += c * c;                                                                                    \
        }                                                                                                    \
        for (; j < n; j++) tail += (x[j] - mean) * (x[j] - mean);                                            \
        double rstd = 1 / sqrt(COMBINE(dlo, dhi, tail) / (double)n + eps);                                   \
        /* one loop per case, so that each runs in vectors */                                                \
        if (w && b)                                                                                          \
            for (j = 0; j < n; j++) y[j] = (T)((x[j] - mean) * rstd * w[j] + b[j]);                          \
        else if (w)                                                                                          \
            for (j = 0; j < n; j++) y[j] = (T)((x[j] - mean) * rstd * w[j]);                                 \
        else if (b)                                                                                          \
            for (j = 0; j < n; j++) y[j] = (T)((x[j] - mean) * rstd + b[j]);                                 \
        else                                                                                                 \
            for (j = 0; j < n; j++) y[j] = (T)((x[j] - mean) * rstd);                                        \
        stats[0] = mean;                                                                                     \
        stats[1] = rstd;                                                                                     \
    }
LN_FORWARD_ROW(float)
LN_FORWARD_ROW(double)

/* dx of one row: dxhat = g w (w may be NULL: 1), in double,
 * dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)). */
#define LN_BACKWARD_ROW(T)                                                                                   \
    TG__VECTOR_CLONES static void ln_backward_row_##T(const T *x, const T *g, const T *w, T *dx, int64_t n,  \
                                                      const double *stats)                                   \
    {                                                                                                        \
        double mean = stats[0], rstd = stats[1], tail = 0, tail_x = 0;                                       \
        v4d m = {mean, mean, mean, mean}, r = {rstd, rstd, rstd, rstd}, lo = {0}, hi = {0}, xlo = {0}, xhi = {0}; \
        int64_t j = 0;                                                                                       \
        for (; j + 8 <= n; j += 8) {                                                                         \
            v4d a = load4_##T(g + j), c = load4_##T(g + j + 4);                                              \
            if (w) {                                                                                         \
                a *= load4_##T(w + j);                                                                       \
                c *= load4_##T(w + j + 4);                                                                   \
            }                                                                                                \
            lo += a;                                                                                         \
            hi += c;                                                                                         \
            xlo += a * ((load4_##T(x + j) - m) * r);                                                         \
            xhi += c * ((load4_##T(x + j + 4) - m) * r);                                                     \
        }                                                                                                    \
        for (; j < n; j++) {                                                                                 \
            double dxhat = g[j] * (w ? (double)w[j] : 1);                                                    \
            tail += dxhat;                                                                                   \
            tail_x += dxhat * ((x[j] - mean) * rstd);                                                        \
        }                                                                                                    \
        double mean_dxhat = COMBINE(lo, hi, tail) / (double)n, mean_dxhat_xhat = COMBINE(xlo, xhi, tail_x) / (double)n; \
        for (j = 0; j < n; j++) {                                                                            \
            double dxhat = g[j] * (w ? (double)w[j] : 1);                                                    \
            dx[j] = (T)(rstd * (dxhat - mean_dxhat - (x[j] - mean) * rstd * mean_dxhat_xhat));               \
        }                                                                                                    \
    }
LN_BACKWARD_ROW(float)
LN_BACKWARD_ROW(double)

/* Columns [j0, j1) of the affine's gradients: with the affine repeating
 * every P elements of x (P a multiple of the row length n), dw[j] adds
 * g * xhat and db[j] adds g at j, j + P, j + 2P, ... in that order, so that
 * each sum is the same however the columns are shared among threads. dw or
 * db may be NULL. */
#define LN_AFFINE_GRAD(T)                                                                                    \
    TG__VECTOR_CLONES static void ln_affine_grad_##T(const T *x, const T *g, const double *stats, int64_t n, \
                                                     int64_t P, int64_t periods, int64_t j0, int64_t j1,     \
                                                     double *dw, double *db)                                 \
    {                                                                                                        \
        for (int64_t k = 0; k < periods; k++) {                                                              \
            const T *xk = x + k * P, *gk = g + k * P;                                                        \
            for (int64_t j = j0; j < j1;) {                                                                  \
                int64_t row = k * (P / n) + j / n, end = (j / n + 1) * n < j1 ? (j / n + 1) * n : j1;        \
                double mean = stats[2 * row], rstd = stats[2 * row + 1];                                     \
                if (dw && db)                                                                                \
                    for (int64_t i = j; i < end; i++) {                                                      \
                        dw[i] += gk[i] * ((xk[i] - mean) * rstd);                                            \
                        db[i] += gk[i];                                                                      \
                    }                                                                                        \
                else if (dw)                                                                                 \
                    for (int64_t i = j; i < end; i++) dw[i] += gk[i] * ((xk[i] - mean) * rstd);              \
                else                                                                                         \
                    for (int64_t i = j; i < end; i++) db[i] += gk[i];                                        \
                j = end;                                                                                     \
            }                                                                                                \
        }                                                                                                    \
    }
LN_AFFINE_GRAD(float)
LN_AFFINE_GRAD(double)

/* --- softmax, log_softmax ------------------------------------------------------
 * Along dim, a contiguous tensor is `outer` blocks of `n` x `inner`
 * elements: line (o, i) starts at o * n * inner + i with stride inner.
 *   softmax:      y = exp(x - max) / sum(exp(x - max))
 *                 dx = y * (g - sum(g * y))
 *   log_softmax:  y = (x - max) - log(sum(exp(x - max)))
 *                 dx = g - exp(y) * sum(g) */
typedef struct {
    int64_t outer, n, inner;
} line_layout;

static line_layout layout_along(const tg_tensor *t, int dim)
{
    line_layout l = {1, t->ndim ? t->shape[dim] : 1, 1};
    for (int d = 0; d < t->ndim; d++) {
        if (d < dim) l.outer *= t->shape[d];
        if (d > dim) l.inner *= t->shape[d];
    }
    return l;
}

/* One contiguous float32 line of n: the exponentials through the vector
 * math (vmath.h, within an ulp of libm's float exp) in pieces of a stack
 * buffer, which is where the time of a small-vocabulary softmax went.
 * Forward (g NULL): y = x - max - log(sum) or exp(x - max) / sum, summed in
 * double. Backward of log_softmax (a = y): dx = g - exp(y) sum(g); of
 * softmax it has no exponential and takes the generic loop. */
#define LINE_PIECE 256
static void softmax_line_f32(bool log_kind, const float *a, const float *g, float *out, int64_t n)
{
    float buf[LINE_PIECE];
    if (!g) {
        float max = -INFINITY;
        for (int64_t i = 0; i < n; i++) max = a[i] > max || a[i] != a[i] ? a[i] : max;
        double sum = 0;
        for (int64_t i0 = 0; i0 < n; i0 += LINE_PIECE) {
            int64_t len = n - i0 < LINE_PIECE ? n - i0 : LINE_PIECE;
            for (int64_t i = 0; i < len; i++) buf[i] = a[i0 + i] - max;
            tg_vexp_f32(len, buf, log_kind ? buf : out + i0);
            const float *e = log_kind ? buf : out + i0;
            for (int64_t i = 0; i < len; i++) sum += e[i];
        }
        double log_sum = log(sum);
        for (int64_t i = 0; i < n; i++)
            out[i] = log_kind ? (float)((double)a[i] - max - log_sum) : (float)(out[i] / sum);
        return;
    }
    double gsum = 0;
    for (int64_t i = 0; i < n; i++) gsum += g[i];
    for (int64_t i0 = 0; i0 < n; i0 += LINE_PIECE) {
        int64_t len = n - i0 < LINE_PIECE ? n - i0 : LINE_PIECE;
        tg_vexp_f32(len, a + i0, buf);
        for (int64_t i = 0; i < len; i++) out[i0 + i] = (float)(g[i0 + i] - buf[i] * gsum);
    }
}

/* Forward (g == NULL, a = x) or backward (a = y, g = dL/dy) of one kind over
 * every line, into out; all contiguous with one shape. */
static void softmax_lines(bool log_kind, const tg_tensor *a, const tg_tensor *g, tg_tensor *out, line_layout l)
{
    tg_dtype dt = out->dtype;
    const void *pa = tg_data(a), *pg = g ? tg_data(g) : NULL;
    void *po = tg_data(out);
    int64_t lines = l.outer * l.inner, s = l.inner;
    if (lines == 0 || l.n == 0) return; /* empty: no line, or lines of nothing */
    tg__parallel region = tg__parallel_begin(tg__threads_for(lines * l.n, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t line = 0; line < lines; line++) {
            int64_t base = (line / l.inner) * l.n * l.inner + line % l.inner;
            if (dt == TG_F32 && s == 1 && (!g || log_kind)) {
                softmax_line_f32(log_kind, (const float *)pa + base, g ? (const float *)pg + base : NULL,
                                 (float *)po + base, l.n);
            } else if (!g) {
                double max = -INFINITY, sum = 0;
                for (int64_t i = 0; i < l.n; i++) max = fmax(max, ld(pa, dt, base + i * s));
                for (int64_t i = 0; i < l.n; i++) sum += exp(ld(pa, dt, base + i * s) - max);
                double log_sum = log(sum);
                for (int64_t i = 0; i < l.n; i++) {
                    double shifted = ld(pa, dt, base + i * s) - max;
                    st(po, dt, base + i * s, log_kind ? shifted - log_sum : exp(shifted) / sum);
                }
            } else if (log_kind) {
                double gsum = 0;
                for (int64_t i = 0; i < l.n; i++) gsum += ld(pg, dt, base + i * s);
                for (int64_t i = 0; i < l.n; i++) {
                    int64_t k = base + i * s;
                    st(po, dt, k, ld(pg, dt, k) - exp(ld(pa, dt, k)) * gsum);
                }
            } else {
                double dot = 0;
                for (int64_t i = 0; i < l.n; i++) dot += ld(pg, dt, base + i * s) * ld(pa, dt, base + i * s);
                for (int64_t i = 0; i < l.n; i++) {
                    int64_t k = base + i * s;
                    st(po, dt, k, ld(pa, dt, k) * (ld(pg, dt, k) - dot));
                }
            }
        }
    }
    tg__parallel_end(&region);
}

static void softmax_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *dx = tg__new_like("tg_backward", g);
    if (!dx) return;
    softmax_lines(n->iarg[1] != 0, n->out, g, dx, layout_along(g, (int)n->iarg[0]));
    tg_accum_grad(n->inputs[0], dx);
}

static tg_tensor *softmax_impl(const char *fn, bool log_kind, tg_tensor *x, int dim)
{
    if (!tg__check_float(fn, x)) return NULL;
    int d = tg__dim(fn, dim, x->ndim);
    if (d < 0) return NULL;
    tg_tensor *xc = tg__contiguous(x);
    tg_tensor *y = xc ? tg__new_like(fn, xc) : NULL;
    if (!y) {
        if (xc != x) tg_free(xc); /* persistent outside a scope */
        return NULL;
    }
    softmax_lines(log_kind, xc, NULL, y, layout_along(xc, d));
    /* The backward reads y (and g), never x. */
    tg_node *node = tg__unread(tg_record(log_kind ? "log_softmax" : "softmax", softmax_backward, y, 1, &xc), 1, false);
    if (node) {
        node->iarg[0] = d;
        node->iarg[1] = log_kind;
    } else if (xc != x) {
        tg_free(xc); /* an unrecorded copy: persistent outside a scope */
    }
    return y;
}

/* Outside any scope, a recorded softmax of a non-contiguous x keeps the
 * contiguous copy its backward reads for the graph: the op brackets itself
 * (TG__BRACKET), as do dropout (its mask) and layer norm (its statistics). */
tg_tensor *tg_softmax(tg_tensor *x, int dim)
{
    TG__BRACKET(true, tg_softmax(x, dim), x);
    return softmax_impl("tg_softmax", false, x, dim);
}

tg_tensor *tg_log_softmax(tg_tensor *x, int dim)
{
    TG__BRACKET(true, tg_log_softmax(x, dim), x);
    return softmax_impl("tg_log_softmax", true, x, dim);
}

/* --- dropout ---------------------------------------------------------------------
 * y = x * m with m = 0 (probability p) or 1 / (1 - p);  dx = g * m */
KERNEL2(dropout_apply, x, mask, x * mask)

static void dropout_backward(tg_node *n, tg_tensor *g) { tg_accum_grad(n->inputs[0], tg_mul(g, n->saved[0])); }

tg_tensor *tg_dropout(tg_tensor *x, double p, bool training)
{
    const char *fn = "tg_dropout";
    TG__BRACKET(true, tg_dropout(x, p, training), x);
    if (!tg__check_float(fn, x)) return NULL;
    if (!(p >= 0 && p <= 1)) return tg_error("%s: dropout probability has to be between 0 and 1, but got %g", fn, p);
    if (!training || p == 0) return tg__alias(fn, "dropout", x);
    tg_tensor *mask = tg__new_like(fn, x);
    if (!mask) return NULL;
    /* Drawn in row-major order on this thread, so a seed fixes the mask. */
    double scale = p == 1 ? 0 : 1 / (1 - p);
    for (int64_t i = 0, n = tg_numel(mask); i < n; i++)
        st(tg_data(mask), mask->dtype, i, tg_rand_uniform() < p ? 0 : scale);
    tg_tensor *y = tg__map(fn, KERNELS(dropout_apply), 2, (tg_tensor *[]){x, mask}, NULL);
    tg_node *node = tg__unread(tg_record("dropout", dropout_backward, y, 1, &x), 1, true); /* reads the mask only */
    if (node) tg_save_for_backward(node, 0, mask);
    else tg_free(mask); /* unused: persistent outside a scope */
    return y;
}

/* --- layer norm --------------------------------------------------------------------
 * Per row of N normalised elements: xhat = (x - mean) * rstd with
 * rstd = 1 / sqrt(var + eps) (biased var), y = xhat * w + b;
 *   dxhat = g * w
 *   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
 *   dw = sum over rows of g * xhat,  db = sum over rows of g
 * The affine repeats every P elements of x: P = N for tg_layer_norm, a
 * multiple of N for tg__layer_norm_blocks, where each block of a row has
 * its own gain and bias. Row r reads them from offset (r % (P / N)) * N. */
#define AFFINE_AT(p, dt, r, N, P) \
    ((p) ? (const char *)(p) + ((r) % ((P) / (N))) * (N) * (int64_t)tg_dtype_size(dt) : NULL)

static void layer_norm_backward(tg_node *n, tg_tensor *g)
{
    tg_tensor *x = n->inputs[0], *w = n->inputs[1], *b = n->inputs[2];
    const double *stats = tg_data(n->saved[0]); /* (rows, 2): mean, rstd */
    int64_t N = n->iarg[0], P = n->iarg[1], rows = N ? tg_numel(x) / N : 0;
    tg_dtype dt = x->dtype;
    const void *px = tg_data(x), *pg = tg_data(g), *pw = w ? tg_data(w) : NULL;
    if (tg_needs_grad(x)) {
        tg_tensor *dx = tg__new_like("tg_backward", x);
        if (!dx) return;
        void *pdx = tg_data(dx);
        tg__parallel region = tg__parallel_begin(tg__threads_for(rows * N, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
        {
            tg__parallel_arrive(&region);
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                const void *wr = AFFINE_AT(pw, dt, r, N, P);
                if (dt == TG_F32)
                    ln_backward_row_float((const float *)px + r * N, (const float *)pg + r * N, wr, (float *)pdx + r * N,
                                          N, stats + 2 * r);
                else
                    ln_backward_row_double((const double *)px + r * N, (const double *)pg + r * N, wr,
                                           (double *)pdx + r * N, N, stats + 2 * r);
            }
        }
        tg__parallel_end(&region);
        tg_accum_grad(x, dx);
    }
    bool want_w = tg_needs_grad(w), want_b = tg_needs_grad(b);
    if (!want_w && !want_b) return;
    tg_tensor *sums = tg__new("tg_backward", TG_F64, 2, (int64_t[]){2, P});
    tg_tensor *dw = want_w ? tg__new_like("tg_backward", w) : NULL, *db = want_b ? tg__new_like("tg_backward", b) : NULL;
    if (!sums || (want_w && !dw) || (want_b && !db)) return;
    double *dw_sum = want_w ? tg_data(sums) : NULL, *db_sum = want_b ? (double *)tg_data(sums) + P : NULL;
    memset(tg_data(sums), 0, sizeof(double) * (size_t)(2 * P));
    /* Pieces of 64 columns on threads, each over every period. */
    int64_t periods = P ? rows * N / P : 0, pieces = (P + 63) / 64;
    tg__parallel region = tg__parallel_begin(pieces > 1 ? tg__threads_for(rows * N, TG_PARALLEL_MIN) : 1);
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t c = 0; c < pieces; c++) {
            int64_t j0 = c * 64, j1 = j0 + 64 < P ? j0 + 64 : P;
            if (dt == TG_F32) ln_affine_grad_float(px, pg, stats, N, P, periods, j0, j1, dw_sum, db_sum);
            else ln_affine_grad_double(px, pg, stats, N, P, periods, j0, j1, dw_sum, db_sum);
        }
    }
    tg__parallel_end(&region);
    for (int64_t j = 0; j < P; j++) {
        if (dw) st(tg_data(dw), dt, j, dw_sum[j]);
        if (db) st(tg_data(db), dt, j, db_sum[j]);
    }
    tg_accum_grad(w, dw);
    tg_accum_grad(b, db);
}

/* weight or bias of layer norm: NULL, or x's dtype and the normalised shape. */
static bool affine_ok(const char *fn, const char *what, const tg_tensor *p, const tg_tensor *x, int n)
{
    if (!p) return true;
    if (!tg__check_float(fn, p)) return false;
    bool ok = p->dtype == x->dtype && p->ndim == n;
    for (int d = 0; ok && d < n; d++) ok = p->shape[d] == x->shape[x->ndim - n + d];
    if (ok) return true;
    char s1[128], s2[128];
    return TG__REJECT("%s: Expected %s of the normalized shape (the last %d dims of input %s) and dtype %s, got %s %s",
                      fn, what, n, tg_shape_str(x, s1, sizeof s1), tg_dtype_name(x->dtype), tg_dtype_name(p->dtype),
                      tg_shape_str(p, s2, sizeof s2));
}

/* Layer norm of x (checked) over rows of N, with weight and bias (checked,
 * or NULL) of P elements each, P a multiple of N (see above). */
static tg_tensor *layer_norm_rows(const char *fn, tg_tensor *x, int64_t N, int64_t P, tg_tensor *weight,
                                  tg_tensor *bias, double eps)
{
    tg_tensor *xc = tg__contiguous(x);
    tg_tensor *wc = weight ? tg__contiguous(weight) : NULL, *bc = bias ? tg__contiguous(bias) : NULL;
    if (!xc || (weight && !wc) || (bias && !bc)) {
        /* The copies made are persistent outside a scope. */
        if (xc != x) tg_free(xc);
        if (wc != weight) tg_free(wc);
        if (bc != bias) tg_free(bc);
        return NULL;
    }
    int64_t rows = N ? tg_numel(x) / N : 0;
    tg_tensor *y = tg__new_like(fn, xc), *stats = y ? tg__new(fn, TG_F64, 2, (int64_t[]){rows, 2}) : NULL;
    tg_dtype dt = x->dtype;
    const void *px = tg_data(xc), *pw = wc ? tg_data(wc) : NULL, *pb = bc ? tg_data(bc) : NULL;
    void *py = tg_data(y);
    double *mean_rstd = tg_data(stats);
    if (!stats) rows = 0;
    tg__parallel region = tg__parallel_begin(tg__threads_for(rows * N, TG_PARALLEL_MIN));
#pragma omp parallel num_threads(region.threads) if (region.threads > 1)
    {
        tg__parallel_arrive(&region);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const void *wr = AFFINE_AT(pw, dt, r, N, P), *br = AFFINE_AT(pb, dt, r, N, P);
            if (dt == TG_F32)
                ln_forward_row_float((const float *)px + r * N, wr, br, (float *)py + r * N, N, eps, mean_rstd + 2 * r);
            else
                ln_forward_row_double((const double *)px + r * N, wr, br, (double *)py + r * N, N, eps,
                                      mean_rstd + 2 * r);
        }
    }
    tg__parallel_end(&region);
    tg_node *node = stats ? tg__unread(tg_record("layer_norm", layer_norm_backward, y, 3, (tg_tensor *[]){xc, wc, bc}), 4, true) : NULL;
    if (node) {
        node->iarg[0] = N;
        node->iarg[1] = P;
        tg_save_for_backward(node, 0, stats);
        return y;
    }
    /* Unrecorded temporaries are persistent outside a scope. */
    if (!stats) {
        tg_free(y);
        y = NULL;
    }
    tg_free(stats);
    if (xc != x) tg_free(xc);
    if (wc != weight) tg_free(wc);
    if (bc != bias) tg_free(bc);
    return y;
}

tg_tensor *tg_layer_norm(tg_tensor *x, int n_normalized, tg_tensor *weight, tg_tensor *bias, double eps)
{
    const char *fn = "tg_layer_norm";
    TG__BRACKET(true, tg_layer_norm(x, n_normalized, weight, bias, eps), x, weight, bias);
    if (!tg__check_float(fn, x)) return NULL;
    if (n_normalized < 1 || n_normalized > x->ndim) {
        char s[128];
        return tg_error("%s: n_normalized must be in [1, %d] for input of shape %s, got %d", fn, x->ndim,
                        tg_shape_str(x, s, sizeof s), n_normalized);
    }
    if (!affine_ok(fn, "weight", weight, x, n_normalized) || !affine_ok(fn, "bias", bias, x, n_normalized)) return NULL;
    int64_t N = 1;
    for (int d = x->ndim - n_normalized; d < x->ndim; d++) N *= x->shape[d];
    return layer_norm_rows(fn, x, N, N, weight, bias, eps);
}

tg_tensor *tg__layer_norm_blocks(tg_tensor *x, int64_t blocks, tg_tensor *weight, tg_tensor *bias, double eps)
{
    const char *fn = "tg__layer_norm_blocks";
    if (!tg__check_float(fn, x)) return NULL;
    int64_t C = x->ndim ? x->shape[x->ndim - 1] : 0;
    char s1[128], s2[128];
    if (x->ndim < 1 || blocks < 1 || C % blocks != 0)
        return tg_error("%s: the last dim of input %s does not split into %lld blocks", fn,
                        tg_shape_str(x, s1, sizeof s1), (long long)blocks);
    const tg_tensor *affine[2] = {weight, bias};
    for (int i = 0; i < 2; i++) {
        const tg_tensor *p = affine[i];
        if (p && !tg__check_float(fn, p)) return NULL;
        if (p && (p->dtype != x->dtype || p->ndim != 1 || p->shape[0] != C))
            return tg_error("%s: Expected %s of shape [%lld] and dtype %s for input %s, got %s %s", fn,
                            i ? "bias" : "weight", (long long)C, tg_dtype_name(x->dtype),
                            tg_shape_str(x, s1, sizeof s1), tg_dtype_name(p->dtype), tg_shape_str(p, s2, sizeof s2));
    }
    return layer_norm_rows(fn, x, C / blocks, C, weight, bias, eps);
}
