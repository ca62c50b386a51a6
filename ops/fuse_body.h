/* The evaluation of a fused expression on one piece of its elements, and
 * its reverse sweep, written once for both float dtypes: fuse.c includes
 * this file twice, with T = float, NAME(x) = x##_f32 and then T = double,
 * NAME(x) = x##_f64. A piece is row r, columns [j0, j0 + n) of every
 * value, n <= NPIECE. */

#define NPIECE ((int64_t)PIECE_BYTES / (int64_t)sizeof(T))
#define PREFETCH_ROWS 2
/* How far ahead the forward asks for the rows it will write. */
#define PREFETCH_WRITE_ROWS 4

/* d[i] = f(a[i]) for the activations, by the kernels tg_sigmoid and tg_tanh
 * use: the SIMD vector math for float, libm for double. */
static void NAME(activation)(int op, int64_t n, const T *restrict a, T *restrict d)
{
#if TG_FUSE_IS_FLOAT
    const tg_simd_impl *impl = tg_simd_current();
    if (op == TG_FUSE_SIGMOID) impl->vsigmoid_f32(n, a, d);
    else impl->vtanh_f32(n, a, d);
#else
    if (op == TG_FUSE_SIGMOID)
        for (int64_t i = 0; i < n; i++) d[i] = 1 / (1 + exp(-a[i]));
    else
        for (int64_t i = 0; i < n; i++) d[i] = tanh(a[i]);
#endif
}

/* One op of the expression into d (not a load). */
static inline __attribute__((always_inline)) void
NAME(apply)(const tg_fuse_value *x, int64_t n, const T *restrict a, const T *restrict b, const T *restrict c,
            T *restrict d)
{
    switch (x->op) {
    case TG_FUSE_ADD: for (int64_t i = 0; i < n; i++) d[i] = a[i] + b[i]; break;
    case TG_FUSE_SUB: for (int64_t i = 0; i < n; i++) d[i] = a[i] - b[i]; break;
    case TG_FUSE_MUL: for (int64_t i = 0; i < n; i++) d[i] = a[i] * b[i]; break;
    case TG_FUSE_RELU: for (int64_t i = 0; i < n; i++) d[i] = a[i] < 0 ? 0 : a[i]; break;
    case TG_FUSE_ONE_MINUS: for (int64_t i = 0; i < n; i++) d[i] = 1 - a[i]; break;
    case TG_FUSE_LERP: /* tg_lerp's two-sided form: exact at weight 0 and 1 */
        for (int64_t i = 0; i < n; i++)
            d[i] = c[i] < (T)0.5 ? a[i] + c[i] * (b[i] - a[i]) : b[i] - (b[i] - a[i]) * (1 - c[i]);
        break;
    default: NAME(activation)(x->op, n, a, d); break;
    }
}

/* Every value of the piece: val[v] points at its n elements. A load whose
 * columns are contiguous points into the input itself; everything else is
 * computed into buf[v], or into dest[v] when that is set (its place in the
 * result or among the saved activations, so that it is written once). For
 * the backward the activations are read back from saved (the piece's row
 * of the saved activations), and only the values the gradients
 * read (p->live) are computed. */
static inline __attribute__((always_inline)) void
NAME(forward_piece)(const fuse_plan *p, int64_t r, int64_t j0, int64_t n, T (*buf)[NPIECE], T *const *dest,
                    bool backward, const T *saved, const T **val)
{
    for (int v = 0; v < p->n_values; v++) {
        const tg_fuse_value *x = &p->values[v];
        if (backward && p->act_slot[v] >= 0) {
            val[v] = saved + p->act_slot[v] * p->width;
            continue;
        }
        if (backward && !p->live[v]) continue;
        T *d = dest && dest[v] ? dest[v] : buf[v];
        if (x->op == TG_FUSE_LOAD) {
            const fuse_input *in = &p->in[x->input];
            const T *src = (const T *)in->data + r * in->rs + (x->block * p->width + j0) * in->cs;
            if (in->cs == 1 && d == buf[v]) {
                val[v] = src;
                continue;
            }
            for (int64_t i = 0; i < n; i++) d[i] = src[i * in->cs];
        } else {
            NAME(apply)(x, n, val[x->a], x->b >= 0 ? val[x->b] : NULL, x->c >= 0 ? val[x->c] : NULL, d);
        }
        val[v] = d;
    }
}

/* One task of the forward: the piece's values, the activations into the
 * saved tensor's row (when the backward will need them), and the outputs
 * that were not computed in place copied into the result's row. Rows
 * below row_end are this thread's: the first piece of a row asks for the
 * saved and result rows PREFETCH_WRITE_ROWS ahead, for writing. Those are
 * new memory, and each line's first store waited for its read from
 * memory: Zen 5, 1 thread, the LSTM forward of B=32 T=100 I=H=128 took
 * 4.67 ms against 4.94, of B=64 T=50 I=H=256 15.93 against 16.45, their
 * training steps 10.97 against 11.12 and 37.64 against 37.85 (medians of
 * 9 and 7 alternating runs; 1 and 2 rows ahead did as well as 4, and the
 * same for the backward's gradient rows did nothing). */
TG__VECTOR_CLONES static void NAME(forward_task)(const fuse_plan *p, T *y, T *saved, int64_t r, int64_t row_end,
                                                 int64_t j0, int64_t n)
{
    T buf[TG_FUSE_MAX_VALUES][NPIECE];
    T *dest[TG_FUSE_MAX_VALUES];
    const T *val[TG_FUSE_MAX_VALUES];
    /* Output k is plane k of the result, (R, width). */
    int64_t plane = p->rows * p->width;
    T *row = y + r * p->width + j0;
    for (int v = 0; v < p->n_values; v++) dest[v] = NULL;
    if (j0 == 0 && r + PREFETCH_WRITE_ROWS < row_end) {
        int64_t ahead = r + PREFETCH_WRITE_ROWS, line = 64 / (int64_t)sizeof(T);
        for (int64_t i = 0; saved && i < p->n_act * p->width; i += line)
            __builtin_prefetch(saved + ahead * p->n_act * p->width + i, 1);
        for (int k = 0; k < p->n_out; k++)
            for (int64_t i = 0; i < p->width; i += line) __builtin_prefetch(y + k * plane + ahead * p->width + i, 1);
    }
    for (int v = 0; saved && v < p->n_values; v++)
        if (p->act_slot[v] >= 0) dest[v] = saved + r * p->n_act * p->width + p->act_slot[v] * p->width + j0;
    for (int k = 0; k < p->n_out; k++) {
        int v = p->out[k];
        if (p->values[v].op != TG_FUSE_LOAD && !dest[v]) dest[v] = row + k * plane;
    }
    NAME(forward_piece)(p, r, j0, n, buf, dest, false, NULL, val);
    for (int k = 0; k < p->n_out; k++)
        if (val[p->out[k]] != row + k * plane) memcpy(row + k * plane, val[p->out[k]], sizeof(T) * (size_t)n);
}

/* gv[i] (=|+=) EXPR over the piece: the first contribution to a value's
 * gradient stores, later ones add (onto the one it borrows, if it does:
 * PASS). Values whose gradient reaches no input that needs one are
 * skipped. */
#define ACC(u, EXPR)                                                                 \
    do {                                                                             \
        int u_ = (u);                                                                \
        if (!p->needed[u_]) break;                                                   \
        T *restrict d_ = gp[u_];                                                     \
        if (has[u_] && gr[u_] == d_) {                                               \
            for (int64_t i = 0; i < n; i++) d_[i] += (EXPR);                         \
        } else if (has[u_]) {                                                        \
            const T *restrict s_ = gr[u_];                                           \
            for (int64_t i = 0; i < n; i++) d_[i] = s_[i] + (EXPR);                  \
            gr[u_] = d_;                                                             \
        } else {                                                                     \
            for (int64_t i = 0; i < n; i++) d_[i] = (EXPR);                          \
            has[u_] = true;                                                          \
            gr[u_] = d_;                                                             \
        }                                                                            \
    } while (0)

/* A contribution that is src itself (the gradient handed through an add,
 * the seed of an output): a value whose gradient has none yet and
 * collects in the task's own buffer borrows src instead of copying it;
 * the next contribution, if any, writes the sum into the buffer (ACC).
 * src is never written again: it is a finished gradient or g. Four of
 * the LSTM backward's fourteen passes were such copies. */
#define PASS(u, src)                                                                 \
    do {                                                                             \
        int u2_ = (u);                                                               \
        const T *restrict src_ = (src);                                              \
        if (!p->needed[u2_]) break;                                                  \
        if (!has[u2_] && gp[u2_] == grad[u2_]) {                                     \
            gr[u2_] = src_;                                                          \
            has[u2_] = true;                                                         \
        } else {                                                                     \
            ACC(u2_, src_[i]);                                                       \
        }                                                                            \
    } while (0)

/* One task of the backward: recompute the values the gradients read,
 * seed the outputs' gradients from g[k] (R, width; NULL for an output that
 * received none), then take each op
 * in reverse and hand its operands the op's own gradient (the rule of the
 * separate op of that name), down to the loads, which go into the inputs'
 * gradients. */
TG__VECTOR_CLONES static void NAME(backward_task)(const fuse_plan *p, const T *const *g, const T *saved, T *const *dx,
                                                  int64_t r, int64_t j0, int64_t n)
{
    T buf[TG_FUSE_MAX_VALUES][NPIECE], grad[TG_FUSE_MAX_VALUES][NPIECE];
    const T *val[TG_FUSE_MAX_VALUES];
    bool has[TG_FUSE_MAX_VALUES] = {0};
    /* Where each value's gradient is read from: gp[v], or what it borrows. */
    const T *gr[TG_FUSE_MAX_VALUES];
    /* Where each value's gradient collects: a load that stores collects
     * straight into its place in the input's gradient, the rest in grad. */
    T *gp[TG_FUSE_MAX_VALUES];
    for (int v = 0; v < p->n_values; v++) {
        const tg_fuse_value *x = &p->values[v];
        gp[v] = x->op == TG_FUSE_LOAD && p->stores[v] && dx[x->input]
                    ? dx[x->input] + r * p->n_cols[x->input] + x->block * p->width + j0
                    : grad[v];
    }
    /* The saved activations of the rows PREFETCH_ROWS ahead (the first task
     * asks for all rows up to there), written by the forward long ago and
     * read here one piece at a time: ask for them now, so that they arrive
     * while the pieces between compute. One row ahead left the LSTM step
     * of B=64, H=128 waiting on them: 2 rows ahead took 2% off its time. */
    for (int64_t ahead = r ? PREFETCH_ROWS : 1; p->n_act && ahead <= PREFETCH_ROWS && r + ahead < p->rows; ahead++)
        for (int k = 0; k < p->n_act; k++)
            for (int64_t i = 0; i < n; i += 64 / (int64_t)sizeof(T))
                __builtin_prefetch(saved + ((r + ahead) * p->n_act + k) * p->width + j0 + i);
    NAME(forward_piece)(p, r, j0, n, buf, NULL, true, p->n_act ? saved + r * p->n_act * p->width + j0 : NULL, val);
    for (int k = 0; k < p->n_out; k++)
        if (g[k]) PASS(p->out[k], g[k] + r * p->width + j0);
    for (int v = p->n_values - 1; v >= 0; v--) {
        const tg_fuse_value *x = &p->values[v];
        if (x->op == TG_FUSE_LOAD) {
            /* The load that stores comes first in this sweep among loads of
             * its block (its gradient is in place already); one that
             * nothing reached stores zeros. */
            T *restrict d = dx[x->input];
            if (!d || (!has[v] && !p->stores[v])) continue;
            d += r * p->n_cols[x->input] + x->block * p->width + j0;
            if (!has[v]) memset(d, 0, sizeof(T) * (size_t)n);
            else if (!p->stores[v])
                for (int64_t i = 0; i < n; i++) d[i] += gr[v][i];
            continue;
        }
        if (!has[v]) continue;
        const T *restrict gv = gr[v], *restrict y = val[v];
        const T *restrict a = val[x->a], *restrict b = x->b >= 0 ? val[x->b] : NULL;
        const T *restrict c = x->c >= 0 ? val[x->c] : NULL;
        switch (x->op) {
        case TG_FUSE_ADD: PASS(x->a, gv); PASS(x->b, gv); break;
        case TG_FUSE_SUB: PASS(x->a, gv); ACC(x->b, -gv[i]); break;
        case TG_FUSE_MUL: ACC(x->a, gv[i] * b[i]); ACC(x->b, gv[i] * a[i]); break;
        case TG_FUSE_SIGMOID: ACC(x->a, gv[i] * (1 - y[i]) * y[i]); break;
        case TG_FUSE_TANH: ACC(x->a, gv[i] * (1 - y[i] * y[i])); break;
        case TG_FUSE_RELU: ACC(x->a, y[i] <= 0 ? 0 : gv[i]); break;
        case TG_FUSE_ONE_MINUS: ACC(x->a, -gv[i]); break;
        case TG_FUSE_LERP:
            ACC(x->a, gv[i] * (1 - c[i]));
            ACC(x->b, gv[i] * c[i]);
            ACC(x->c, gv[i] * (b[i] - a[i]));
            break;
        default: break;
        }
    }
}

#undef ACC
#undef PASS
#undef NPIECE
#undef PREFETCH_ROWS
#undef PREFETCH_WRITE_ROWS
