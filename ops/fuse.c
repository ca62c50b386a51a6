/* Fused elementwise expressions (fuse.h): the builder, which checks each
 * call as it comes, and one op whose forward and backward go through the
 * elements in pieces of PIECE_BYTES per value, small enough that every
 * value of a piece stays in L1 cache. Rows and pieces run on threads; each
 * element is computed alone by the same code whatever the split, so results
 * do not depend on the thread count. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <tapegrad/fuse.h>
#include <tapegrad/shape.h>
#include "../core/internal.h"
#include "kernels/kern_simd.h"

#define PIECE_BYTES 1024

/* An input as the kernels see it: its first element of the expression's
 * row 0 and its element strides (rs 0 for a row that broadcasts). */
typedef struct {
    const void *data;
    int64_t rs, cs;
} fuse_input;

/* What the forward and the backward need: the expression, the inputs'
 * geometry, where each activation is saved, which values the backward
 * computes again, which values' gradients matter and which loads store
 * theirs. */
typedef struct {
    int64_t width, rows;
    int n_values, n_out, n_inputs, n_act;
    tg_fuse_value values[TG_FUSE_MAX_VALUES];
    int out[TG_FUSE_MAX_OUTPUTS];
    fuse_input in[TG_FUSE_MAX_INPUTS];
    int64_t n_cols[TG_FUSE_MAX_INPUTS];
    int act_slot[TG_FUSE_MAX_VALUES];
    bool live[TG_FUSE_MAX_VALUES], needed[TG_FUSE_MAX_VALUES], stores[TG_FUSE_MAX_VALUES];
} fuse_plan;

#define T float
#define NAME(x) x##_f32
#define TG_FUSE_IS_FLOAT 1
#include "fuse_body.h"
#undef T
#undef NAME
#undef TG_FUSE_IS_FLOAT

#define T double
#define NAME(x) x##_f64
#define TG_FUSE_IS_FLOAT 0
#include "fuse_body.h"
#undef T
#undef NAME
#undef TG_FUSE_IS_FLOAT

/* --- the builder ------------------------------------------------------------ */

/* The first failure's message, then -1 for this and every later call. */
#define FAIL(f, ...) ((f)->failed ? -1 : ((void)tg_error(__VA_ARGS__), (f)->failed = true, -1))

void tg_fuse_begin(tg_fuse *f, int64_t width)
{
    if (!f) {
        tg_error("tg_fuse_begin: NULL expression");
        return;
    }
    memset(f, 0, sizeof *f);
    f->width = width;
    f->rows = 1;
    if (width < 1) FAIL(f, "tg_fuse_begin: width %lld must be at least 1", (long long)width);
}

static int add_value(tg_fuse *f, const char *fn, tg_fuse_value x)
{
    if (!f || f->failed) return -1;
    if (f->n_values == TG_FUSE_MAX_VALUES)
        return FAIL(f, "%s: the expression already has %d values, the most it can hold", fn, TG_FUSE_MAX_VALUES);
    f->values[f->n_values] = x;
    return f->n_values++;
}

/* False, failing f with a message, unless each of the n operands is a
 * value made earlier (a failed call's -1 fails quietly: it left its own). */
static bool operands(tg_fuse *f, const char *fn, int n, const int *v)
{
    if (!f) {
        tg_fail("%s: NULL expression", fn);
        return false;
    }
    if (f->failed) return false;
    for (int k = 0; k < n; k++)
        if (v[k] < 0 || v[k] >= f->n_values) {
            FAIL(f, "%s: operand %d is not a value of this expression (it has %d values)", fn, v[k], f->n_values);
            return false;
        }
    return true;
}

int tg_fuse_input(tg_fuse *f, tg_tensor *x, int64_t block)
{
    const char *fn = "tg_fuse_input";
    if (!f) return tg_fail("%s: NULL expression", fn);
    if (f->failed) return -1;
    if (!x) { /* NULL propagates: the call that made it left the message */
        f->failed = true;
        return -1;
    }
    if (!tg__check_float(fn, x)) {
        f->failed = true;
        return -1;
    }
    char s[128];
    if (x->ndim < 1 || x->ndim > 2)
        return FAIL(f, "%s: input of shape %s must be (R, C), (1, C) or (C)", fn, tg_shape_str(x, s, sizeof s));
    if (f->n_inputs > 0 && x->dtype != f->inputs[0]->dtype)
        return FAIL(f, "%s: input of dtype %s, but the expression's first input is %s", fn, tg_dtype_name(x->dtype),
                    tg_dtype_name(f->inputs[0]->dtype));
    int64_t cols = x->shape[x->ndim - 1], rows = x->ndim == 2 ? x->shape[0] : 1;
    if (block < 0 || block > INT32_MAX || cols < f->width || block > (cols - f->width) / f->width)
        return FAIL(f, "%s: block %lld of width %lld is outside the %lld columns of the input of shape %s", fn,
                    (long long)block, (long long)f->width, (long long)cols, tg_shape_str(x, s, sizeof s));
    if (rows != 1 && f->rows != 1 && rows != f->rows)
        return FAIL(f, "%s: input of shape %s has %lld rows, but an earlier input has %lld", fn,
                    tg_shape_str(x, s, sizeof s), (long long)rows, (long long)f->rows);
    int slot = 0;
    while (slot < f->n_inputs && f->inputs[slot] != x) slot++;
    if (slot == TG_FUSE_MAX_INPUTS)
        return FAIL(f, "%s: more than %d distinct input tensors", fn, TG_FUSE_MAX_INPUTS);
    tg_fuse_value v = {.op = TG_FUSE_LOAD, .a = -1, .b = -1, .c = -1, .input = (int8_t)slot, .block = (int32_t)block};
    int id = add_value(f, fn, v);
    if (id < 0) return -1;
    if (slot == f->n_inputs) f->inputs[f->n_inputs++] = x;
    if (rows != 1) f->rows = rows;
    return id;
}

static int op(tg_fuse *f, const char *fn, tg_fuse_op op, int n, int a, int b, int c)
{
    int v[3] = {a, b, c};
    if (!operands(f, fn, n, v)) return -1;
    return add_value(f, fn, (tg_fuse_value){.op = (uint8_t)op, .a = (int8_t)a, .b = (int8_t)(n > 1 ? b : -1),
                                            .c = (int8_t)(n > 2 ? c : -1)});
}

int tg_fuse_add(tg_fuse *f, int a, int b) { return op(f, "tg_fuse_add", TG_FUSE_ADD, 2, a, b, -1); }
int tg_fuse_sub(tg_fuse *f, int a, int b) { return op(f, "tg_fuse_sub", TG_FUSE_SUB, 2, a, b, -1); }
int tg_fuse_mul(tg_fuse *f, int a, int b) { return op(f, "tg_fuse_mul", TG_FUSE_MUL, 2, a, b, -1); }
int tg_fuse_sigmoid(tg_fuse *f, int a) { return op(f, "tg_fuse_sigmoid", TG_FUSE_SIGMOID, 1, a, -1, -1); }
int tg_fuse_tanh(tg_fuse *f, int a) { return op(f, "tg_fuse_tanh", TG_FUSE_TANH, 1, a, -1, -1); }
int tg_fuse_relu(tg_fuse *f, int a) { return op(f, "tg_fuse_relu", TG_FUSE_RELU, 1, a, -1, -1); }
int tg_fuse_one_minus(tg_fuse *f, int a) { return op(f, "tg_fuse_one_minus", TG_FUSE_ONE_MINUS, 1, a, -1, -1); }
int tg_fuse_lerp(tg_fuse *f, int start, int end, int weight)
{
    return op(f, "tg_fuse_lerp", TG_FUSE_LERP, 3, start, end, weight);
}

/* --- running it --------------------------------------------------------------- */

/* The inputs' geometry for the kernels, from the tensors as they are now. */
static void plan_inputs(fuse_plan *p, tg_tensor *const *inputs)
{
    for (int j = 0; j < p->n_inputs; j++) {
        const tg_tensor *x = inputs[j];
        int64_t rows = x->ndim == 2 ? x->shape[0] : 1;
        p->in[j] = (fuse_input){tg_data(x), rows == 1 ? 0 : x->stride[0], x->stride[x->ndim - 1]};
        p->n_cols[j] = x->shape[x->ndim - 1];
    }
}

typedef struct {
    const fuse_plan *p;
    void *saved;           /* the activations, (R, n_act * width); NULL in a forward that records nothing */
    void *y;               /* forward: the result, (n_out, R, width) */
    const void *g[TG_FUSE_MAX_OUTPUTS]; /* backward: each output's gradient, (R, width), or NULL */
    void *const *dx;       /* backward: the inputs' gradients, NULL where not needed */
    const tg_node *next;   /* backward: the next fused node of the pass, whose memory to prefetch, or NULL */
    tg_dtype dtype;
} fuse_job;

/* Elements of a piece. */
static int64_t piece_of(tg_dtype dtype) { return PIECE_BYTES / (int64_t)tg_dtype_size(dtype); }

/* Task `task`, of a thread whose rows end at row_end. */
static void run_task(const fuse_job *job, int64_t task, int64_t row_end)
{
    const fuse_plan *p = job->p;
    int64_t piece = piece_of(job->dtype), pieces_per_row = (p->width + piece - 1) / piece;
    int64_t r = task / pieces_per_row, j0 = task % pieces_per_row * piece;
    int64_t n = p->width - j0 < piece ? p->width - j0 : piece;
    if (job->dtype == TG_F32) {
        if (job->y) forward_task_f32(p, job->y, job->saved, r, row_end, j0, n);
        else backward_task_f32(p, (const float *const *)job->g, job->saved, (float *const *)job->dx, r, j0, n);
    } else {
        if (job->y) forward_task_f64(p, job->y, job->saved, r, row_end, j0, n);
        else backward_task_f64(p, (const double *const *)job->g, job->saved, (double *const *)job->dx, r, j0, n);
    }
}

/* In a backward: rows [r0, r1) of what the next fused node's backward
 * reads, the rows this thread's tasks had here (the same static schedule
 * gives it the same ones there), asked for while the products between
 * the two run: its saved activations, and the span of its inputs' rows
 * that it reads (a recurrent cell's state from the step before: the
 * rows of that step's output, whose other half, the hidden state, the
 * product between reads for the weight's gradient). */
static void prefetch_next(const tg_node *next, int64_t r0, int64_t r1)
{
    const fuse_plan *q = next->ctx;
    const tg_tensor *s = next->saved[0];
    int64_t size = (int64_t)tg_dtype_size(s->dtype), row_bytes = q->n_act * q->width * size;
    tg__prefetch_later(0, (const char *)tg_data(s) + r0 * row_bytes, (size_t)((r1 - r0) * row_bytes));
    const char *lo = NULL, *hi = NULL;
    int64_t read = 0;
    for (int v = 0; v < q->n_values; v++) {
        const tg_fuse_value *x = &q->values[v];
        const tg_tensor *in = x->op == TG_FUSE_LOAD && q->live[v] && q->act_slot[v] < 0 ? next->inputs[x->input] : NULL;
        if (!in || in->ndim != 2 || in->shape[0] != q->rows || in->stride[1] != 1) continue;
        const char *a = (const char *)tg_data(in) + (r0 * in->stride[0] + x->block * q->width) * size;
        const char *b = (const char *)tg_data(in) + ((r1 - 1) * in->stride[0] + (x->block + 1) * q->width) * size;
        lo = lo && lo < a ? lo : a;
        hi = hi && hi > b ? hi : b;
        read += (r1 - r0) * q->width * size;
    }
    /* Rows far apart (a strided view) are not worth the lines between. */
    if (lo && hi - lo <= 4 * read) tg__prefetch_later(1, lo, (size_t)(hi - lo));
    /* Then the first operand with these rows that the node that made an
     * input of the next node reads in its backward (the step's input x_t,
     * the first operand of the product that made the gates): that
     * product's backward, right after the next node's, packs it for the
     * weight's gradient. Zen 5, LSTM B=32 H=128: that packing from 1.9% of
     * the training step's samples to 1.25%. (Rows far apart are skipped:
     * Fashion-MNIST's batch-first epoch on 2 threads took 5% longer with
     * the lines between a step's rows asked for too.) */
    for (int j = 0; j < next->n_inputs; j++) {
        const tg_node *m = next->inputs[j]->node;
        for (int k = 0; m && k < m->n_inputs; k++) {
            const tg_tensor *in = m->inputs[k];
            if (!in || !tg__reads_input(m, k) || in->ndim != 2 || in->shape[0] != q->rows || in->stride[1] != 1)
                continue;
            tg__prefetch_rows_later(2, in, r0, r1);
            return;
        }
    }
}

/* This thread's share of the (row, piece) tasks: a run of them, as
 * OpenMP's static schedule splits a loop. */
static void run_share(void *ctx)
{
    const fuse_job *job = ctx;
    int64_t piece = piece_of(job->dtype), pieces_per_row = (job->p->width + piece - 1) / piece;
    int64_t tasks = job->p->rows * pieces_per_row, first = 0, end = tasks;
#ifdef _OPENMP
    tg__share(tasks, 1, omp_get_num_threads(), omp_get_thread_num(), &first, &end);
#endif
    int64_t row_end = end > first ? (end - 1) / pieces_per_row + 1 : 0;
    for (int64_t t = first; t < end; t++) run_task(job, t, row_end);
    if (job->y) return;
    if (job->next && end > first)
        prefetch_next(job->next, first / pieces_per_row, row_end);
    else
        tg__prefetch_later(0, NULL, 0);
}

/* Every (row, piece) task, on threads when there is enough work. */
static void run_all(const fuse_job *job)
{
    tg__parallel region = tg__parallel_begin(tg__threads_for(job->p->rows * job->p->width, TG_PARALLEL_MIN));
    tg__parallel_run(&region, run_share, (void *)job);
    tg__parallel_end(&region);
}

static void fuse_backward(tg_node *node, tg_tensor *g);

/* The fused node that made one of node's inputs (directly or through one
 * view: the state of the step before, a narrow of its output), when its
 * saved activations have node's geometry: a recurrent layer's next step
 * in the backward pass, whose memory is prefetched while the products
 * between the two run (prefetch_next). */
static const tg_node *next_fused(const tg_node *node)
{
    const fuse_plan *p = node->ctx;
    for (int j = 0; p->n_act && j < node->n_inputs; j++) {
        const tg_node *n = node->inputs[j]->node;
        if (n && n->backward != fuse_backward && n->n_inputs == 1) n = n->inputs[0]->node;
        if (!n || n->backward != fuse_backward || n->released || !n->saved[0]) continue;
        const fuse_plan *q = n->ctx;
        const tg_tensor *s = n->saved[0];
        if (q->rows == p->rows && q->n_act == p->n_act && q->width == p->width && s->dtype == node->saved[0]->dtype)
            return n;
    }
    return NULL;
}

static void fuse_backward(tg_node *node, tg_tensor *g)
{
    fuse_plan *p = node->ctx;
    plan_inputs(p, node->inputs);
    void *dx[TG_FUSE_MAX_INPUTS] = {0};
    tg_tensor *grads[TG_FUSE_MAX_INPUTS] = {0};
    for (int j = 0; j < p->n_inputs; j++) {
        tg_tensor *x = node->inputs[j];
        if (!tg_needs_grad(x)) continue;
        /* (R, C) even for a row that broadcasts: tg_accum_grad sums it down. */
        grads[j] = tg__new("tg_backward", x->dtype, 2, (int64_t[]){p->rows, p->n_cols[j]});
        if (!grads[j]) return;
        dx[j] = tg_data(grads[j]);
    }
    /* A load stores its gradient when it is the first (in the reverse
     * sweep) of its block's loads and the input's blocks cover its columns
     * with no broadcast row summed into them; otherwise the input's gradient
     * starts at zero and every load adds. */
    for (int j = 0; j < p->n_inputs; j++) {
        if (!dx[j]) continue;
        int64_t blocks = p->n_cols[j] / p->width;
        bool covered = p->n_cols[j] % p->width == 0 && blocks <= TG_FUSE_MAX_VALUES;
        for (int64_t b = 0; covered && b < blocks; b++) {
            bool seen = false;
            for (int v = p->n_values - 1; v >= 0; v--) {
                const tg_fuse_value *x = &p->values[v];
                if (x->op != TG_FUSE_LOAD || x->input != j || x->block != b) continue;
                p->stores[v] = !seen;
                seen = true;
            }
            covered = seen;
        }
        if (!covered) {
            for (int v = 0; v < p->n_values; v++)
                if (p->values[v].op == TG_FUSE_LOAD && p->values[v].input == j) p->stores[v] = false;
            memset(dx[j], 0, (size_t)tg_numel(grads[j]) * tg_dtype_size(grads[j]->dtype));
        }
    }
    /* A value's gradient is computed only when it reaches an input that
     * needs one. */
    for (int v = 0; v < p->n_values; v++) {
        const tg_fuse_value *x = &p->values[v];
        p->needed[v] = x->op == TG_FUSE_LOAD ? dx[x->input] != NULL
                                             : p->needed[x->a] || (x->b >= 0 && p->needed[x->b]) ||
                                                   (x->c >= 0 && p->needed[x->c]);
    }
    fuse_job job = {.p = p, .saved = p->n_act ? tg_data(node->saved[0]) : NULL, .dx = dx, .next = next_fused(node),
                    .dtype = g->dtype};
    /* One output's gradient is g; several hand theirs over as parts. */
    for (int k = 0; k < p->n_out; k++) {
        const tg_tensor *part = p->n_out == 1 ? g : node->grad_parts ? node->grad_parts[k] : NULL;
        job.g[k] = part ? tg_data(part) : NULL;
    }
    run_all(&job);
    for (int j = 0; j < p->n_inputs; j++)
        if (grads[j]) tg_accum_grad(node->inputs[j], grads[j]);
}

/* Output k of an expression with several: plane k of the fused node's
 * result, whose gradient goes to that node's backward as it is. */
static void output_backward(tg_node *n, tg_tensor *g)
{
    tg_node *fused = n->inputs[0]->node;
    if (!fused || fused->backward != fuse_backward) {
        tg_error("tg_backward: output %lld of a fused expression lost the node that made it", (long long)n->iarg[0]);
        return;
    }
    tg__grad_part(fused, (int)n->iarg[0], g);
}

/* Output k: plane k of y (n, R, width), recorded with output_backward. */
static tg_tensor *output_view(tg_tensor *y, int k)
{
    tg_tensor *v = tg__view_of("tg_fuse_run", y, 2, y->shape + 1, y->stride + 1, y->offset + k * y->stride[0]);
    tg_node *node = v ? tg__unread(tg_record("fuse_output", output_backward, v, 1, &y), 1, true) : NULL;
    if (node) node->iarg[0] = k;
    return v;
}

/* Value v is a load of input `input` that the backward reads. */
static bool live_load_of(const fuse_plan *p, int v, int input)
{
    return p->values[v].op == TG_FUSE_LOAD && p->values[v].input == input && p->live[v];
}

/* The live loads of an input made by another op in scope memory (not a
 * leaf, nor a view of memory that outlives the scope), row by row, of
 * which the backward reads some blocks but not all (a GRU's hidden
 * projection hW: its n block, which r multiplies, and not its r and z
 * blocks), get slots among the saved activations: the forward copies them
 * there, and the input becomes one the backward never reads, whose memory
 * a recurrent layer reuses at its next step (tg__recycle_step). The GRU
 * step keeps 7 (B, H) tensors a step where it kept 9 (tests/test_memory.c);
 * Zen 5, 1 thread, GRU B=64 T=50 I=H=256: peak RSS 36.8 MB against 42.8,
 * the training step 28.18 ms against 28.54 (medians of 9 alternating
 * runs; the forward, which copies the block, about 1% slower). */
static void save_partial_loads(fuse_plan *p, tg_tensor *const *inputs)
{
    for (int j = 0; j < p->n_inputs; j++) {
        if (!inputs[j]->node || inputs[j]->storage->persistent || p->in[j].rs == 0) continue;
        uint64_t blocks = 0; /* the live blocks, up to 64 of them (all 64 past that) */
        for (int v = 0; v < p->n_values; v++)
            if (live_load_of(p, v, j)) blocks |= p->values[v].block < 64 ? 1ull << p->values[v].block : ~0ull;
        if (!blocks || (int64_t)__builtin_popcountll(blocks) * p->width >= p->n_cols[j]) continue;
        for (int v = 0; v < p->n_values; v++)
            if (live_load_of(p, v, j)) p->act_slot[v] = p->n_act++;
    }
}

/* The activations (sigmoid, tanh) are saved by the forward, as the
 * separate ops save their outputs: recomputing them would double their
 * cost, the most of an expression's. Everything else is recomputed by the
 * backward where a gradient reads it: the operands of products and lerps,
 * a relu's output, and what those are made from. The blocks the backward
 * reads of an input it reads only in part are saved too (save_partial_loads).
 * Returns the mask of the inputs the backward never reads. */
static unsigned plan_backward(fuse_plan *p, tg_tensor *const *inputs)
{
    for (int v = 0; v < p->n_values; v++) {
        uint8_t op = p->values[v].op;
        p->act_slot[v] = op == TG_FUSE_SIGMOID || op == TG_FUSE_TANH ? p->n_act++ : -1;
        p->live[v] = false;
    }
    for (int v = p->n_values - 1; v >= 0; v--) {
        const tg_fuse_value *x = &p->values[v];
        int8_t ops[3] = {x->a, x->b, x->c};
        bool reads_operands = x->op == TG_FUSE_MUL || x->op == TG_FUSE_LERP;
        if (x->op == TG_FUSE_RELU) p->live[v] = true;
        bool computed = p->live[v] && x->op != TG_FUSE_LOAD && p->act_slot[v] < 0;
        for (int k = 0; k < 3; k++)
            if (ops[k] >= 0 && (reads_operands || computed)) p->live[ops[k]] = true;
    }
    save_partial_loads(p, inputs);
    unsigned unread = (1u << p->n_inputs) - 1;
    for (int v = 0; v < p->n_values; v++)
        if (p->values[v].op == TG_FUSE_LOAD && p->live[v] && p->act_slot[v] < 0)
            unread &= ~(1u << p->values[v].input);
    return unread;
}

/* Operands each op reads: a; a, b; or a, b, c. */
static int arity(uint8_t op)
{
    switch (op) {
    case TG_FUSE_LOAD: return 0;
    case TG_FUSE_ADD: case TG_FUSE_SUB: case TG_FUSE_MUL: return 2;
    case TG_FUSE_LERP: return 3;
    default: return 1;
    }
}

/* The expression as the builder makes it. The tg_fuse is the caller's and
 * its fields are public, so one set or copied by hand (or never begun) is
 * checked here before a kernel follows an index in it: counts within
 * capacity, known ops, operands that are earlier values (-1 where unused),
 * loads of inputs it holds, within their columns, with its rows. */
static bool expression_ok(const char *fn, const tg_fuse *f)
{
    if (f->width < 1 || f->rows < 0 || f->n_inputs < 1 || f->n_inputs > TG_FUSE_MAX_INPUTS || f->n_values < 1 ||
        f->n_values > TG_FUSE_MAX_VALUES)
        return TG__REJECT("%s: not an expression made by tg_fuse_begin and its builders: width %lld, %lld rows, %d "
                          "inputs, %d values", fn, (long long)f->width, (long long)f->rows, f->n_inputs, f->n_values);
    char s[128];
    for (int j = 0; j < f->n_inputs; j++) {
        const tg_tensor *x = f->inputs[j];
        if (!x) return TG__REJECT("%s: input %d of the expression is NULL", fn, j);
        if (!tg__check_float(fn, x)) return false;
        int64_t rows = x->ndim == 2 ? x->shape[0] : 1;
        if (x->ndim < 1 || x->ndim > 2 || x->dtype != f->inputs[0]->dtype || (rows != 1 && rows != f->rows))
            return TG__REJECT("%s: input %d of shape %s (%s) does not fit the expression's %lld rows of %s", fn, j,
                              tg_shape_str(x, s, sizeof s), tg_dtype_name(x->dtype), (long long)f->rows,
                              tg_dtype_name(f->inputs[0]->dtype));
    }
    for (int v = 0; v < f->n_values; v++) {
        const tg_fuse_value *x = &f->values[v];
        if (x->op > TG_FUSE_LERP) return TG__REJECT("%s: value %d has unknown op %d", fn, v, (int)x->op);
        int8_t ops[3] = {x->a, x->b, x->c};
        for (int k = 0; k < 3; k++)
            if (k < arity(x->op) ? ops[k] < 0 || ops[k] >= v : ops[k] != -1)
                return TG__REJECT("%s: value %d: operand %d is %d, %s", fn, v, k, (int)ops[k],
                                  k < arity(x->op) ? "not an earlier value" : "where its op takes none (-1)");
        if (x->op != TG_FUSE_LOAD) continue;
        if (x->input < 0 || x->input >= f->n_inputs)
            return TG__REJECT("%s: value %d loads input %d, but the expression has %d", fn, v, (int)x->input,
                              f->n_inputs);
        const tg_tensor *in = f->inputs[x->input];
        int64_t cols = in->shape[in->ndim - 1];
        if (x->block < 0 || cols < f->width || x->block > (cols - f->width) / f->width)
            return TG__REJECT("%s: value %d loads block %d of width %lld, outside the %lld columns of input %d", fn, v,
                              (int)x->block, (long long)f->width, (long long)cols, (int)x->input);
    }
    return true;
}

int tg_fuse_run(tg_fuse *f, int n, const int *values, tg_tensor **out)
{
    const char *fn = "tg_fuse_run";
    for (int k = 0; out && k < n; k++) out[k] = NULL; /* out has n entries, however many are allowed */
    if (!f || !out || !values) return tg_fail("%s: NULL expression, values or out", fn);
    if (f->failed) return -1;
    if (n < 1 || n > TG_FUSE_MAX_OUTPUTS)
        return tg_fail("%s: %d outputs asked for, expected 1 to %d", fn, n, TG_FUSE_MAX_OUTPUTS);
    if (f->n_inputs == 0) return tg_fail("%s: the expression has no input", fn);
    if (!expression_ok(fn, f)) return -1;
    for (int k = 0; k < n; k++)
        if (values[k] < 0 || values[k] >= f->n_values)
            return tg_fail("%s: output %d is value %d, but the expression has %d values", fn, k, values[k],
                           f->n_values);
    fuse_plan plan = {.width = f->width, .rows = f->rows, .n_values = f->n_values, .n_out = n,
                      .n_inputs = f->n_inputs};
    memcpy(plan.values, f->values, sizeof(tg_fuse_value) * (size_t)f->n_values);
    memcpy(plan.out, values, sizeof(int) * (size_t)n);
    plan_inputs(&plan, f->inputs);
    unsigned unread = plan_backward(&plan, f->inputs);

    tg_scope *s = tg__autoscope(f->n_inputs, f->inputs);
    /* The backward's copy of the plan, in the memory the node will live in,
     * and the activations it reads. */
    bool records = tg_is_grad_enabled() && tg__any_requires_grad(f->n_inputs, f->inputs);
    tg_dtype dtype = f->inputs[0]->dtype;
    fuse_plan *kept = records ? tg__arena_alloc(sizeof *kept) : NULL;
    tg_tensor *saved = kept && plan.n_act ? tg__new(fn, dtype, 2, (int64_t[]){f->rows, plan.n_act * f->width}) : NULL;
    bool ready = !records || (kept && (saved || !plan.n_act));
    /* Output k is plane k of y: each output is contiguous, and with one
     * node of its own (output_view) hands its gradient to the fused
     * node's backward as it is. As narrow views of one (R, n * width)
     * result, their gradients were copied, zero-filled and added into one
     * gradient of it: 1.7% of the LSTM step's samples at B=32 H=128. */
    tg_tensor *y = !ready ? NULL
                   : n == 1 ? tg__new(fn, dtype, 2, (int64_t[]){f->rows, f->width})
                            : tg__new(fn, dtype, 3, (int64_t[]){n, f->rows, f->width});
    if (y) {
        fuse_job job = {.p = &plan, .saved = saved ? tg_data(saved) : NULL, .y = tg_data(y), .dtype = dtype};
        run_all(&job);
        tg_node *node = tg__unread(tg_record("fuse", fuse_backward, y, f->n_inputs, f->inputs), unread, true);
        if (node) {
            *kept = plan;
            node->ctx = kept;
            if (saved && tg_save_for_backward(node, 0, saved) < 0) y = NULL;
        }
    }
    int status = y ? 0 : -1;
    for (int k = 0; k < n && y; k++) {
        out[k] = n == 1 ? y : output_view(y, k);
        if (!out[k]) status = -1;
    }
    if (status < 0)
        for (int k = 0; k < n; k++) out[k] = NULL;
    if (tg__autoscope_keep_n(s, n, out) < 0) status = -1;
    return status;
}
