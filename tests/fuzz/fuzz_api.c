/* libFuzzer harness for the public API: each input is a program of API
 * calls over a small pool of tensors — factories with extreme shapes,
 * views, elementwise ops, reductions, matrix products, indexing, losses,
 * backward, hooks, nested scopes, layers, optimizers, in-place changes
 * between forward and backward, work outside any scope, and an allocation
 * that fails at a chosen point; and the wider API: tg_map with user
 * descriptors, custom ops recorded with tg_record and tg_save_for_backward
 * whose backward fails or hands gradients of the wrong shape or dtype,
 * learning-rate schedules, gradient clipping, tg_zero_grad, state files and
 * checkpoints saved to a directory of the process's own and loaded back,
 * sometimes cut short or with bytes changed, every recurrent cell and
 * user-defined ones (odd sizes, lengths, dropout, both directions),
 * tg_gradcheck, tg_graph_dot, and tg_free of the pool's tensors at any
 * point, from hooks and custom backward functions too. Calls may fail (NULL, -1 with a message); the
 * harness checks that none crashes, hangs, leaks or touches memory it does
 * not own (ASan, UBSan and the arena poisoning see to that); whether a
 * failed call leaves a message is the unit tests' to check. Build and run:
 * tests/fuzz/run.sh fuzz_api SECONDS.
 *
 * Inputs that once failed are seeds, run first: tests/fuzz/fuzz_api_seeds/
 * (repr-of-a-huge-view: tg_repr scanned every value of a huge broadcast
 * view; norm-backward-without-memory-for-a-view: the inf norm's backward
 * read the view it could not make; the others left persistent tensors
 * behind outside any scope: an LSTM that could not open its own scope, an
 * embedding's contiguous copy of a strided index, a tg_split that failed
 * part way, a log-softmax's copy of its input when its result could not be
 * allocated, a pad whose node had no memory for its geometry, and the
 * harness's own cell-layer call; hooked-leaf-freed-with-its-graph: a
 * hooked leaf that a graph outside scopes read was freed with it while its
 * hook's node still pointed at it; failed-backward-with-a-retained-grad-
 * outside-scopes: a backward failed by a hook left behind the retained
 * gradient it had made; hook-on-a-released-tensor-outside-scopes: a hook
 * registered on a tensor after a backward released its graph walked the
 * older hooks in arena memory in use again, and looped;
 * retained-grad-outliving-its-backward-scope: a retained tensor made
 * outside the scope its backward ran in got its .grad in that scope's
 * memory; cosine-schedule-with-a-huge-t_max: the cosine schedule's period
 * 2 t_max overflowed int64).
 *
 * fuzz-seeds: tests/fuzz/fuzz_api_seeds/[a-z]*
 * fuzz-options: -max_len=512 -len_control=0
 * fuzz-env: ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tapegrad/tapegrad.h>
#include "../../core/internal.h"

/* --- reading the input ----------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t size, at;
} input;

static unsigned byte(input *in) { return in->at < in->size ? in->data[in->at++] : 0; }
static bool more(const input *in) { return in->at < in->size; }
static int pick(input *in, int n) { return (int)(byte(in) % (unsigned)n); }

static int64_t extent(input *in)
{
    static const int64_t sizes[] = {0, 1, 1, 2, 2, 3, 3, 4, 5, 7, 8, 16, -1, (int64_t)1 << 31, (int64_t)1 << 40,
                                    (int64_t)1 << 62, INT64_MAX, -7};
    return sizes[pick(in, (int)(sizeof sizes / sizeof *sizes))];
}

/* Mostly small, sometimes extreme. */
static int shape_of(input *in, int64_t *shape)
{
    int ndim = pick(in, 5);
    if (byte(in) == 0xff) ndim = 9; /* one too many */
    for (int d = 0; d < ndim && d < TG_MAX_DIMS; d++) shape[d] = byte(in) < 230 ? 1 + pick(in, 4) : extent(in);
    return ndim;
}

static double scalar(input *in)
{
    static const double values[] = {0, 1, -1, 0.5, 2, -3.5, 1e-8, 1e30, NAN, INFINITY, -INFINITY, 1e300, 0x1p63};
    return values[pick(in, (int)(sizeof values / sizeof *values))];
}

static int dim_of(input *in) { return pick(in, 7) - 3; }

/* --- the pool ----------------------------------------------------------------- */

#define POOL 12
#define KEPT 64
/* Inputs above this many elements go only to ops whose work is bounded by
 * the size of their result (which allocation limits). */
#define WORK_MAX ((int64_t)1 << 18)

static tg_tensor *pool[POOL];
static int pool_depth[POOL]; /* scope depth the tensor was made at (0: persistent) */
static tg_tensor *kept[KEPT]; /* persistent tensors to free at the end */
static int n_kept;
static int depth;

static tg_tensor *any(input *in) { return pool[pick(in, POOL)]; }
static bool small(const tg_tensor *t) { return !t || tg_numel(t) <= WORK_MAX; }

static void put(input *in, tg_tensor *t)
{
    if (!t) return;
    if (t->persistent) {
        if (n_kept == KEPT) {
            tg_free(t);
            return;
        }
        kept[n_kept++] = t;
    }
    int slot = pick(in, POOL);
    pool[slot] = t;
    pool_depth[slot] = depth;
}

/* Forget the pool's tensors of scopes deeper than depth (they are dead). */
static void forget_deeper(void)
{
    for (int i = 0; i < POOL; i++)
        if (pool[i] && pool_depth[i] > depth) pool[i] = NULL;
}

/* --- the calls ------------------------------------------------------------------ */

static tg_tensor *factory(input *in)
{
    int64_t shape[TG_MAX_DIMS];
    int ndim = shape_of(in, shape);
    tg_dtype dtype = (tg_dtype)pick(in, 3);
    switch (pick(in, 8)) {
    case 0: return tg_zeros(dtype, ndim, shape);
    case 1: return tg_ones(dtype, ndim, shape);
    case 2: return tg_full(dtype, ndim, shape, scalar(in));
    case 3: return tg_rand(dtype, ndim, shape, -2, 2);
    case 4: return tg_randn(dtype, ndim, shape, 0, 1);
    case 5: return tg_randint(ndim, shape, -1, 1 + pick(in, 6));
    case 6: return tg_arange(dtype, 0, 1 + pick(in, 12), 1);
    default: return tg_requires_grad(tg_randn(dtype == TG_I64 ? TG_F64 : dtype, ndim, shape, 0, 1), true);
    }
}

static tg_tensor *view(input *in, tg_tensor *t)
{
    int64_t shape[TG_MAX_DIMS];
    int ndim;
    switch (pick(in, 11)) {
    case 0: ndim = shape_of(in, shape); return tg_view(t, ndim, shape);
    case 1: ndim = shape_of(in, shape); return tg_reshape(t, ndim, shape);
    case 2: return tg_transpose(t, dim_of(in), dim_of(in));
    case 3: return tg_narrow(t, dim_of(in), pick(in, 4) - 1, pick(in, 4));
    case 4: return tg_select(t, dim_of(in), pick(in, 4) - 1);
    case 5: ndim = shape_of(in, shape); return tg_expand(t, ndim, shape);
    case 6: return tg_squeeze(t, dim_of(in));
    case 7: return tg_unsqueeze(t, dim_of(in));
    case 8: return tg_flatten(t, dim_of(in), dim_of(in));
    case 9: return tg_detach(t);
    default: {
        tg_tensor *pieces[4];
        int n = byte(in) & 1 ? tg_chunk(t, pick(in, 5), dim_of(in), 4, pieces)
                             : tg_split(t, pick(in, 4), dim_of(in), 4, pieces);
        for (int i = 1; i < n; i++) put(in, pieces[i]);
        return n > 0 ? pieces[0] : NULL;
    }
    }
}

/* A fused expression from the input: blocks of a, b and c, ops on earlier
 * values or on indices out of range, a width that may be 0, and 0 to 5
 * outputs; the first output goes back to the pool. */
static tg_tensor *fused(input *in, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    tg_tensor *inputs[3] = {a, b, c}, *out[5] = {0};
    tg_fuse f;
    tg_fuse_begin(&f, pick(in, 6) - 1 + (byte(in) == 0xff ? 1000 : 0));
    int values = 0, steps = 1 + pick(in, 12);
    for (int k = 0; k < steps; k++) {
        int x = pick(in, values + 2) - 1, y = pick(in, values + 2) - 1, z = pick(in, values + 2) - 1;
        switch (pick(in, 9)) {
        case 0: tg_fuse_input(&f, inputs[pick(in, 3)], pick(in, 4) - 1); break;
        case 1: tg_fuse_add(&f, x, y); break;
        case 2: tg_fuse_sub(&f, x, y); break;
        case 3: tg_fuse_mul(&f, x, y); break;
        case 4: tg_fuse_sigmoid(&f, x); break;
        case 5: tg_fuse_tanh(&f, x); break;
        case 6: tg_fuse_relu(&f, x); break;
        case 7: tg_fuse_one_minus(&f, x); break;
        default: tg_fuse_lerp(&f, x, y, z); break;
        }
        values = f.n_values;
    }
    int n = pick(in, 6), which[5];
    for (int k = 0; k < 5; k++) which[k] = pick(in, values + 2) - 1;
    if (tg_fuse_run(&f, n, which, out) < 0) return NULL;
    for (int k = 1; k < n; k++) put(in, out[k]);
    return out[0];
}

static tg_tensor *elementwise(input *in, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    switch (pick(in, 19)) {
    case 0: return tg_add(a, b);
    case 1: return tg_sub(a, b);
    case 2: return tg_mul(a, b);
    case 3: return tg_div(a, b);
    case 4: return tg_pow(a, b);
    case 5: return tg_maximum(a, b);
    case 6: return tg_lt(a, b);
    case 7: return tg_where(a, b, c);
    case 8: return tg_lerp(a, b, c);
    case 9: return tg_addcmul(a, b, c, scalar(in));
    case 10: return tg_tanh(a);
    case 11: return tg_sigmoid(a);
    case 12: return tg_exp(a);
    case 13: return tg_log(a);
    case 14: return tg_clamp(a, scalar(in), scalar(in));
    case 15: return tg_cast(a, (tg_dtype)pick(in, 4));
    case 16: return byte(in) & 1 ? tg_contiguous(a) : tg_clone(a);
    case 17: return fused(in, a, b, c);
    default: return tg_dropout(a, byte(in) / 255.0, byte(in) & 1);
    }
}

/* Ops whose work grows with their input, which must stay small. */
static tg_tensor *reduction(input *in, tg_tensor *a, tg_tensor *b)
{
    int dims[2] = {dim_of(in), dim_of(in)}, nd = pick(in, 3);
    bool keep = byte(in) & 1;
    int64_t shape[TG_MAX_DIMS];
    tg_tensor *index = NULL;
    switch (pick(in, 16)) {
    case 0: return tg_sum(a, nd, dims, keep);
    case 1: return tg_mean(a, nd, dims, keep);
    case 2: return tg_var(a, nd, dims, byte(in) & 1, keep);
    case 3: {
        tg_tensor *max = tg_max_dim(a, dims[0], keep, &index);
        put(in, index);
        return max;
    }
    case 4: return tg_argmin(a, dims[0], keep);
    case 5: return tg_logsumexp(a, nd, dims, keep);
    case 6: return tg_norm(a, scalar(in), nd, dims, keep);
    case 7: return tg_softmax(a, dims[0]);
    case 8: return tg_log_softmax(a, dims[0]);
    case 9: return tg_layer_norm(a, 1 + pick(in, 2), NULL, NULL, 1e-5);
    case 10: return tg_max(a);
    case 11: return tg_sum_to(a, shape_of(in, shape), shape);
    case 12: return tg_matmul(a, b);
    case 13: return tg_linear(a, b, NULL);
    case 14: return tg_bmm(a, b);
    default: return tg_outer(a, b);
    }
}

static tg_tensor *shaping(input *in, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    int dims[2] = {dim_of(in), dim_of(in)};
    int64_t amounts[TG_MAX_DIMS];
    int n = shape_of(in, amounts);
    switch (pick(in, 10)) {
    case 0: return tg_cat(1 + pick(in, 3), (tg_tensor *[]){a, b, c}, dims[0]);
    case 1: return tg_stack(1 + pick(in, 3), (tg_tensor *[]){a, b, c}, dims[0]);
    case 2: return tg_flip(a, pick(in, 3), dims);
    case 3: return tg_repeat(a, n, amounts);
    case 4: return tg_pad(a, n - n % 2, amounts, scalar(in));
    case 5: return tg_index_select(a, dims[0], b);
    case 6: return tg_gather(a, dims[0], b);
    case 7: return tg_scatter_add(a, dims[0], b, c);
    case 8: return tg_embedding(a, b, pick(in, 3) - 1);
    default: return tg_masked_fill(a, b, scalar(in));
    }
}

static tg_tensor *loss(input *in, tg_tensor *a, tg_tensor *b)
{
    tg_reduction r = (tg_reduction)pick(in, 4);
    tg_cross_entropy_opts opts = {r, pick(in, 3) - 1, byte(in) & 1 ? 0.1 : 0.0, NULL};
    switch (pick(in, 5)) {
    case 0: return tg_mse_loss(a, b, r);
    case 1: return tg_huber_loss(a, b, r, scalar(in));
    case 2: return tg_binary_cross_entropy_with_logits(a, b, NULL, NULL, r);
    case 3: return tg_nll_loss(a, b, &opts);
    default: return tg_cross_entropy(a, b, &opts);
    }
}

/* In place, between a forward and its backward: the saved-tensor check's
 * business. Grad mode is off for tensors that require grad. */
static void modify(input *in, tg_tensor *t, tg_tensor *src)
{
    if (!t || tg_numel(t) > WORK_MAX) return;
    bool was = tg_set_grad_enabled(!(byte(in) & 1));
    switch (pick(in, 4)) {
    case 0: tg_fill_(t, scalar(in)); break;
    case 1: tg_copy_(t, src); break;
    case 2: tg_add_(t, src, scalar(in)); break;
    default: tg_mul_scalar_(t, scalar(in)); break;
    }
    tg_set_grad_enabled(was);
}

static void backward(input *in, tg_tensor *t)
{
    if (!small(t)) return;
    /* put() after the last use: it frees what the pool has no room for. */
    tg_tensor *loss = byte(in) & 1 ? tg_sum(t, 0, NULL, false) : tg_mean(t, 0, NULL, false);
    if (byte(in) & 1) {
        tg_backward(loss, NULL);
    } else {
        tg_tensor *seed = byte(in) & 1 ? NULL : tg_ones_like(t);
        tg_backward_retain(t, seed);
        put(in, seed);
    }
    put(in, loss);
}

/* A recurrent layer (sizes from the input, sometimes absurd), a forward,
 * a loss, backward and an optimizer step. */
static void recurrent(input *in)
{
    int64_t features = 1 + pick(in, 4), hidden = byte(in) == 0xff ? extent(in) : 1 + pick(in, 5);
    tg_rnn_config config = {.input_size = features, .hidden_size = hidden, .num_layers = 1 + pick(in, 2),
                            .bidirectional = byte(in) & 1, .batch_first = byte(in) & 1,
                            .dtype = byte(in) & 1 ? TG_F64 : TG_F32, .dropout = byte(in) & 1 ? 0.5 : 0};
    int mode = pick(in, 3);
    tg_rnn *rnn = mode == 0 ? tg_lstm_new(&config) : mode == 1 ? tg_gru_new(&config) : tg_rnn_new(&tg_cell_rnn_tanh, &config);
    if (!rnn) return;
    tg_params params = tg_params_new();
    tg_rnn_params(rnn, &params, "rnn");
    tg_adam_config adam = tg_adam_defaults();
    tg_optim *opt = tg_adam(&params, 1, &adam);
    tg_tensor *x = tg_randn(config.dtype, 3, (int64_t[]){1 + pick(in, 4), 1 + pick(in, 3), features}, 0, 1);
    int64_t lengths[4] = {1 + pick(in, 4), 1 + pick(in, 4), 1 + pick(in, 4), 1 + pick(in, 4)};
    tg_rnn_output out;
    if (tg_rnn_forward(rnn, byte(in) == 7 ? any(in) : x, 0, NULL, byte(in) & 1 ? lengths : NULL, &out) == 0) {
        if (byte(in) & 1) modify(in, x, any(in));
        tg_tensor *total = tg_sum(out.output, 0, NULL, false);
        if (tg_backward(total, NULL) == 0) tg_optim_step(opt);
        tg_free(total); /* outside a scope; a scope's is left to it */
        /* Detached: the graph refers to the layer's weights, freed below. */
        put(in, tg_detach(out.output));
        put(in, tg_detach(out.h_n));
        if (depth == 0) {
            tg_free(out.output);
            tg_free(out.h_n);
            tg_free(out.c_n);
        }
    }
    if (depth == 0) tg_free(x);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(rnn);
}

static void keep_detached(input *in, tg_tensor *t);

static void layers(input *in)
{
    int64_t a = byte(in) == 0xff ? extent(in) : 1 + pick(in, 6), b = 1 + pick(in, 6);
    tg_dtype dtype = byte(in) & 1 ? TG_F64 : TG_F32;
    tg_tensor *x = any(in);
    switch (pick(in, 3)) {
    case 0: {
        tg_linear_layer *l = tg_linear_layer_new(a, b, byte(in) & 1, dtype);
        if (l && small(x)) keep_detached(in, tg_linear_layer_forward(l, x));
        tg_linear_layer_free(l);
        break;
    }
    case 1: {
        tg_embedding_layer *e = tg_embedding_layer_new(a, b, pick(in, 3) - 1, dtype);
        if (e) keep_detached(in, tg_embedding_layer_forward(e, x));
        tg_embedding_layer_free(e);
        break;
    }
    default: {
        const tg_cell *const cells[] = {&tg_cell_rnn_tanh, &tg_cell_rnn_relu, &tg_cell_lstm, &tg_cell_gru};
        tg_cell_layer *cell = tg_cell_layer_new(cells[pick(in, 4)], a, b, byte(in) & 1, dtype);
        tg_tensor *next[TG_CELL_MAX_STATES] = {0};
        if (cell && small(x)) keep_detached(in, tg_cell_layer_forward(cell, x, 0, NULL, next));
        for (int k = 0; k < TG_CELL_MAX_STATES; k++) keep_detached(in, next[k]);
        tg_cell_layer_free(cell);
        break;
    }
    }
}

/* A layer's result goes to the pool without its graph, which refers to the
 * layer's parameters (freed when the call ends). */
static void keep_detached(input *in, tg_tensor *t)
{
    put(in, tg_detach(t));
    if (t && t->persistent) tg_free(t);
}

/* Persistent leaves and an optimizer over them, for the input's lifetime. */
static void optimize(input *in)
{
    tg_params params = tg_params_new();
    for (int i = 0; i < POOL; i++)
        if (pool[i] && pool[i]->persistent && !pool[i]->node && pool[i]->requires_grad) {
            char name[16];
            snprintf(name, sizeof name, "p%d", i);
            tg_params_add(&params, NULL, name, pool[i]);
        }
    tg_optim *opt = NULL;
    switch (pick(in, 3)) {
    case 0: opt = tg_sgd(&params, 1, &(tg_sgd_config){.lr = 0.1, .momentum = 0.9}); break;
    case 1: opt = tg_adam(&params, 1, &(tg_adam_config){.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .amsgrad = true}); break;
    default: opt = tg_rmsprop(&params, 1, &(tg_rmsprop_config){.lr = 0.01, .alpha = 0.9, .centered = true}); break;
    }
    if (opt) {
        tg_optim_step(opt);
        tg_optim_zero_grad(opt);
    }
    tg_optim_free(opt);
    tg_params_free(&params);
}

/* A hook that keeps the gradient, halves it, or makes one of the wrong
 * shape (which backward must refuse). */
static tg_tensor *fuzz_hook(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    switch ((int)(intptr_t)ctx) {
    case 0: return NULL;
    case 1: return tg_mul_scalar(grad, 0.5);
    default: return tg_ones(grad->dtype, 1, (int64_t[]){7});
    }
}

/* A hook or retain_grad on a tensor of the pool, a leaf or not, in
 * whatever scope is open. */
static void hook(input *in, tg_tensor *a)
{
    if (byte(in) & 1) tg_retain_grad(a);
    else tg_register_hook(a, fuzz_hook, (void *)(intptr_t)pick(in, 3));
}

/* --- the wider API: custom ops, schedules and clipping, files, cells,
 * gradcheck, graph export, and tg_free at odd moments --------------------- */

static bool frees_allowed = true; /* not while a call is still using the pool's tensors (gradcheck) */

/* Free what pool slot holds, as a caller dropping a tensor at some point:
 * the pool and the list of persistent tensors forget it. A scope's tensor
 * stays (tg_free leaves it to the scope). */
static void drop(int slot)
{
    tg_tensor *t = pool[slot % POOL];
    if (!frees_allowed || !t || !t->persistent) return;
    for (int i = 0; i < POOL; i++)
        if (pool[i] == t) pool[i] = NULL;
    for (int k = 0; k < n_kept; k++)
        if (kept[k] == t) {
            kept[k] = kept[--n_kept];
            break;
        }
    tg_free(t);
}

/* A hook that frees a tensor of the pool (the slot in ctx's upper bits). */
static tg_tensor *freeing_hook(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    drop((int)((intptr_t)ctx >> 2));
    return (intptr_t)ctx & 1 ? tg_mul_scalar(grad, 2) : NULL;
}

/* Elementwise ops for tg_map, with one, two and three inputs. */
static double map_tanh(const double *x, const double *args) { (void)args; return tanh(x[0]); }
static double map_tanh_grad(int k, const double *x, const double *args)
{
    (void)k, (void)args;
    return 1 - tanh(x[0]) * tanh(x[0]);
}
static double map_mul(const double *x, const double *args) { (void)args; return x[0] * x[1]; }
static double map_mul_grad(int k, const double *x, const double *args) { (void)args; return x[1 - k]; }
static float map_mul_f(const float *x, const double *args) { (void)args; return x[0] * x[1]; }
static float map_mul_grad_f(int k, const float *x, const double *args) { (void)args; return x[1 - k]; }
static double map_fma(const double *x, const double *args) { (void)args; return x[0] * x[1] + x[2]; }
static double map_fma_grad(int k, const double *x, const double *args)
{
    (void)args;
    return k == 0 ? x[1] : k == 1 ? x[0] : 1;
}
/* A wrong derivative (gradcheck's business) that is sometimes not finite. */
static double map_bad_grad(int k, const double *x, const double *args) { (void)k, (void)args; return 1 / x[0]; }

static const tg_map_op map_ops[] = {
    {"fuzz_tanh", 1, map_tanh, map_tanh_grad, NULL, NULL},
    {"fuzz_mul", 2, map_mul, map_mul_grad, map_mul_f, map_mul_grad_f},
    {"fuzz_fma", 3, map_fma, map_fma_grad, NULL, NULL},
    {"fuzz_bad", 1, map_tanh, map_bad_grad, NULL, NULL},
    {"fuzz_nograd", 1, map_tanh, NULL, NULL, NULL},
    {"fuzz_count", 5, map_tanh, map_tanh_grad, NULL, NULL},
};

static tg_tensor *mapped(input *in, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    tg_map_op op = map_ops[pick(in, (int)(sizeof map_ops / sizeof *map_ops))];
    tg_tensor *inputs[5] = {a, b, c};
    double args[TG_MAP_MAX_ARGS + 1];
    for (int k = 0; k <= TG_MAP_MAX_ARGS; k++) args[k] = scalar(in);
    int n = byte(in) < 240 ? op.n_inputs : pick(in, 5), n_args = pick(in, TG_MAP_MAX_ARGS + 2);
    tg_tensor *y = tg_map(byte(in) == 0xff ? NULL : &op, n, inputs, n_args, args);
    /* The node keeps a copy of the description and of args. */
    memset(&op, 0xa5, sizeof op);
    memset(args, 0xa5, sizeof args);
    return y;
}

/* A custom op recorded with tg_record: out = 2 x, with a backward that
 * computes the gradient, fails, hands a gradient of the wrong shape or
 * dtype, reads what it saved, calls backward again or frees a tensor of the
 * pool; the mode is in iarg[0]. */
static void custom_backward(tg_node *node, tg_tensor *grad)
{
    int64_t mode = node->iarg[0];
    for (int k = 0; k < node->n_inputs; k++) {
        tg_tensor *x = node->inputs[k], *g = NULL;
        switch (mode) {
        case 0: g = tg_mul_scalar(grad, 2); break;
        case 1: tg_fail("fuzz_custom: backward fails"); return;
        case 2: g = tg_ones(grad->dtype, 1, (int64_t[]){7}); break;
        case 3: g = tg_cast(grad, grad->dtype == TG_F32 ? TG_F64 : TG_F32); break;
        case 4: g = node->saved[0] ? tg_mul(grad, node->saved[0]) : grad; break;
        case 5: tg_backward(node->out, NULL); g = grad; break;
        case 6: g = NULL; break;
        default: drop((int)node->iarg[1]); g = tg_mul_scalar(grad, 2); break;
        }
        tg_accum_grad(x, g);
    }
}

static tg_tensor *custom(input *in, tg_tensor *a, tg_tensor *b)
{
    if (!a || !small(a)) return NULL;
    bool was = tg_set_grad_enabled(false);
    tg_tensor *out = byte(in) == 0xff ? a : tg_mul_scalar(a, 2);
    tg_set_grad_enabled(was);
    tg_tensor *inputs[2] = {a, b};
    tg_node *node = tg_record("fuzz_custom", custom_backward, out, 1 + pick(in, 2), inputs);
    if (node) {
        node->iarg[0] = pick(in, 8);
        node->iarg[1] = pick(in, POOL);
        for (int k = pick(in, 3); k > 0; k--) tg_save_for_backward(node, pick(in, 6) - 1, any(in));
        if (byte(in) & 1) tg_record("fuzz_custom", custom_backward, out, 1, inputs); /* twice: refused */
    }
    return out == a ? NULL : out;
}

/* Learning-rate schedules stepped with an optimizer over the pool's
 * persistent leaves, clipping, zeroing, and the schedule's state. */
static double lambda_factor(int64_t epoch, int group, void *user)
{
    (void)group;
    return *(const double *)user * (double)(epoch % 3);
}

static tg_sched *schedule_of(input *in, tg_optim *opt, double *user)
{
    int64_t milestones[4] = {pick(in, 4), pick(in, 6), pick(in, 6) - 1, extent(in)};
    switch (pick(in, 7)) {
    case 0: return tg_sched_step_lr(opt, byte(in) < 230 ? 1 + pick(in, 3) : extent(in), scalar(in));
    case 1: return tg_sched_multistep_lr(opt, pick(in, 5), milestones, scalar(in));
    case 2: return tg_sched_exponential_lr(opt, scalar(in));
    case 3: return tg_sched_cosine_lr(opt, byte(in) < 230 ? 1 + pick(in, 4) : extent(in), scalar(in));
    case 4: *user = scalar(in); return tg_sched_lambda_lr(opt, byte(in) == 0xff ? NULL : lambda_factor, user);
    case 5: return tg_sched_linear_lr(opt, scalar(in), scalar(in), byte(in) < 230 ? 1 + pick(in, 4) : extent(in));
    default: {
        tg_plateau_config cfg = tg_plateau_defaults();
        double min_lrs[2] = {scalar(in), scalar(in)};
        cfg.mode_max = byte(in) & 1;
        cfg.factor = byte(in) & 1 ? scalar(in) : 0.5;
        cfg.patience = pick(in, 3) - 1;
        cfg.threshold = scalar(in);
        cfg.threshold_abs = byte(in) & 1;
        cfg.cooldown = pick(in, 3) - 1;
        cfg.min_lrs = byte(in) & 1 ? min_lrs : NULL;
        return tg_sched_plateau(opt, &cfg);
    }
    }
}

static void persist(input *in, tg_params *params, tg_optim *opt, tg_sched *sched, tg_sched *other);

static tg_optim *optimizer_of(input *in, tg_params *params)
{
    for (int i = 0; i < POOL; i++)
        if (pool[i] && pool[i]->persistent && !pool[i]->node && pool[i]->requires_grad) {
            char name[16];
            snprintf(name, sizeof name, "p%d", i);
            tg_params_add(params, NULL, name, pool[i]);
        }
    int groups = 1 + (byte(in) == 0xff);
    switch (pick(in, 4)) {
    case 0: return tg_sgd(params, groups, (tg_sgd_config[]){{.lr = 0.1, .momentum = 0.9, .nesterov = true}, {.lr = 1}});
    case 1: return tg_adamw(params, 1, (tg_adam_config[]){tg_adamw_defaults()});
    case 2: return tg_adagrad(params, 1, (tg_adagrad_config[]){tg_adagrad_defaults()});
    default: return tg_adam(params, 1, (tg_adam_config[]){tg_adam_defaults()});
    }
}

static void schedules(input *in)
{
    static const double norms[] = {2, 1, 0, INFINITY, 0.5, 3, -1, NAN};
    tg_params params = tg_params_new();
    tg_optim *opt = optimizer_of(in, &params);
    double user[2];
    tg_sched *s = schedule_of(in, byte(in) == 0xff ? NULL : opt, &user[0]);
    tg_sched *t = byte(in) & 1 ? schedule_of(in, opt, &user[1]) : NULL;
    for (int k = pick(in, 5); k > 0 && opt; k--) {
        double total;
        switch (pick(in, 8)) {
        case 0: tg_clip_grad_norm(&params, scalar(in), norms[pick(in, 8)], byte(in) & 1 ? &total : NULL); break;
        case 1: tg_clip_grad_value(&params, scalar(in)); break;
        case 2: {
            tg_tensor *leaves[3] = {any(in), any(in), any(in)};
            int n = 0;
            for (int i = 0; i < 3; i++)
                if (leaves[i]) leaves[n++] = leaves[i];
            tg_zero_grad(n, leaves);
            break;
        }
        case 3: tg_optim_step(opt); break;
        case 4: tg_sched_step(byte(in) & 1 ? s : t); break;
        case 5: tg_sched_step_metric(byte(in) & 1 ? s : t, scalar(in)); break;
        case 6: {
            (void)tg_sched_last_lr(s, pick(in, 3) - 1);
            (void)tg_sched_last_epoch(s);
            tg_params state = tg_params_new();
            if (tg_sched_state_export(byte(in) & 1 ? s : t, &state) == 0) tg_sched_state_import(byte(in) & 1 ? s : t, &state);
            tg_params_free(&state);
            break;
        }
        default: persist(in, &params, opt, s, t); break;
        }
    }
    if (s && byte(in) & 1) persist(in, &params, opt, s, t);
    tg_sched_free(t);
    tg_sched_free(s);
    tg_optim_free(opt);
    tg_params_free(&params);
}

/* --- files: saved, sometimes damaged, loaded ------------------------------ */

static char file_dir[64];

static void cleanup_files(void)
{
    for (int k = 0; k < 2; k++) {
        char path[96];
        snprintf(path, sizeof path, "%s/f%d", file_dir, k);
        unlink(path);
    }
    rmdir(file_dir);
}

static void damage(input *in, const char *path)
{
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    int how = pick(in, 4);
    if (how == 1 && size > 0) {
        fclose(f);
        if (truncate(path, (long)(byte(in) * 257u + byte(in)) % size) != 0) return;
        return;
    }
    for (int k = how == 2 ? 1 + pick(in, 4) : 0; k > 0 && size > 0; k--) {
        /* Mostly in the header, where the lengths and offsets are. */
        long at = byte(in) & 1 ? (long)byte(in) % size : (long)(byte(in) * 257u + byte(in)) % size;
        fseek(f, at, SEEK_SET);
        int c = fgetc(f);
        fseek(f, at, SEEK_SET);
        fputc(how == 3 ? (int)byte(in) : c ^ (1 << pick(in, 8)), f);
    }
    if (how == 3) fputs("}}}", f);
    fclose(f);
}

static void persist(input *in, tg_params *params, tg_optim *opt, tg_sched *sched, tg_sched *other)
{
    char path[96];
    snprintf(path, sizeof path, "%s/f%d", file_dir, pick(in, 2));
    tg_checkpoint ck = {.params = params, .optim = byte(in) & 1 ? opt : NULL, .sched = byte(in) & 1 ? sched : NULL,
                        .step = pick(in, 3) - 1, .epoch = 7, .more_scheds = {byte(in) & 1 ? other : NULL}};
    tg_metadata_item meta[2] = {{"format", "pt"}, {"k", "v"}};
    if (byte(in) & 1) tg_state_save(path, params, pick(in, 3), meta);
    else tg_checkpoint_save(path, &ck);
    damage(in, path);
    tg_state_keys keys;
    switch (pick(in, 5)) {
    case 0:
        tg_state_load(path, params, byte(in) & 1, &keys);
        tg_state_keys_free(&keys);
        break;
    case 1:
        if (byte(in) & 1) ck.optim = byte(in) & 1 ? opt : NULL, ck.sched = byte(in) & 1 ? sched : NULL;
        tg_checkpoint_load(path, &ck);
        break;
    case 2: {
        tg_safetensors_contents contents;
        if (tg_safetensors_load(path, &contents) == 0) tg_safetensors_contents_free(&contents);
        break;
    }
    default: {
        tg_safetensors *f = tg_safetensors_open(path);
        if (!f) break;
        int n = tg_safetensors_count(f), i = pick(in, n + 2) - 1;
        (void)tg_safetensors_entry_at(f, i);
        (void)tg_safetensors_metadata(f, "format");
        if (byte(in) & 1) put(in, tg_safetensors_get(f, i));
        else if (byte(in) & 1) tg_state_load_from(f, byte(in) & 1 ? "model." : NULL, params, byte(in) & 1, NULL);
        else {
            tg_tensor *dst = any(in);
            if (small(dst)) tg_safetensors_read_into(f, i, dst);
        }
        tg_safetensors_close(f);
        break;
    }
    }
    unlink(path);
}

/* --- recurrent cells: the variants and the user's own ----------------------- */

static const int user_modes[] = {0, 1, 2, 3, 4};

/* h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) from the summed projection;
 * or a state of the wrong shape or dtype, a failure, an output of the
 * wrong shape. */
static tg_tensor *user_step(const tg_cell_args *a)
{
    tg_tensor *h = tg_tanh(a->proj[0]);
    switch (*(const int *)a->data) {
    case 0: a->next[0] = h; return h;
    case 1: a->next[0] = tg_ones(h ? h->dtype : TG_F32, 2, (int64_t[]){1, 1}); return h;
    case 2: a->next[0] = h; return tg_error("fuzz_cell: step fails");
    case 3: a->next[0] = tg_cast(h, h && h->dtype == TG_F32 ? TG_F64 : TG_F32); return h;
    default: a->next[0] = h; return tg_sum(h, 0, NULL, true);
    }
}

/* The same without projections, from a->x and the weights. */
static tg_tensor *user_step_plain(const tg_cell_args *a)
{
    tg_tensor *x = tg_linear(a->x, a->w[0], a->w[2]), *h = tg_linear(a->state[0], a->w[1], a->w[3]);
    return a->next[0] = tg_relu(tg_add(x, h));
}

#define USER_CELL(MODE) \
    {"fuzz_cell", {TG_CELL_TORCH_PARAMS(1)}, {{"h", {.h = 1}}}, {TG_CELL_TORCH_PROJ(1, true)}, user_step, &user_modes[MODE]}
static const tg_cell user_cells[] = {
    USER_CELL(0), USER_CELL(1), USER_CELL(2), USER_CELL(3), USER_CELL(4),
    {"fuzz_plain", {TG_CELL_TORCH_PARAMS(1), {"extra", {{.i = 1, .k = 1}}, {TG_INIT_NORMAL, 0, 1}}}, {{"h", {.h = 1}}},
     {{0}}, user_step_plain, NULL},
    /* Descriptions the constructor refuses. */
    {"fuzz_unknown", {TG_CELL_TORCH_PARAMS(1)}, {{"h", {.h = 1}}}, {{"nope", "bias_ih", TG_FROM_INPUT}}, user_step, &user_modes[0]},
    {"fuzz_stateless", {TG_CELL_TORCH_PARAMS(1)}, {{0}}, {TG_CELL_TORCH_PROJ(1, true)}, user_step, &user_modes[0]},
    {"fuzz_nostep", {TG_CELL_TORCH_PARAMS(1)}, {{"h", {.h = 1}}}, {TG_CELL_TORCH_PROJ(1, true)}, NULL, NULL},
    {"fuzz_twice", {TG_CELL_TORCH_PARAMS(1), {"weight_ih", {{.h = 1}}}}, {{"h", {.h = 1}}}, {TG_CELL_TORCH_PROJ(1, true)},
     user_step, &user_modes[0]},
    {"fuzz_misfit", {{"weight_ih", {{.h = 2}, {.i = 1}}}, {"weight_hh", {{.h = 1}, {.o = 1}}}}, {{"h", {.h = 1}}},
     {{"weight_ih", NULL, TG_FROM_INPUT}, {"weight_hh", NULL, TG_FROM_STATE(0), .summed = true}}, user_step,
     &user_modes[0]},
};

static void cells(input *in)
{
    const tg_cell *const builtin[] = {&tg_cell_rnn_tanh, &tg_cell_rnn_relu, &tg_cell_lstm, &tg_cell_gru,
                                      &tg_cell_lstm_peephole, &tg_cell_lstm_nig, &tg_cell_lstm_nfg, &tg_cell_lstm_nog,
                                      &tg_cell_lstm_niaf, &tg_cell_lstm_noaf, &tg_cell_lstm_np, &tg_cell_lstm_cifg,
                                      &tg_cell_lstm_fgr, &tg_cell_gru_cho, &tg_cell_mgu, &tg_cell_indrnn};
    int n_builtin = (int)(sizeof builtin / sizeof *builtin), n_user = (int)(sizeof user_cells / sizeof *user_cells);
    int which = pick(in, n_builtin + n_user);
    const tg_cell *cell = which < n_builtin ? builtin[which] : &user_cells[which - n_builtin];
    static const double dropouts[] = {0, 0.5, 1, -0.25, NAN};
    int64_t features = byte(in) < 240 ? 1 + pick(in, 3) : extent(in);
    tg_rnn_config config = {.input_size = features, .hidden_size = byte(in) < 240 ? 1 + pick(in, 4) : extent(in),
                            .num_layers = pick(in, 3), .no_bias = byte(in) & 1, .batch_first = byte(in) & 1,
                            .dropout = dropouts[pick(in, 5)], .bidirectional = byte(in) & 1,
                            .proj_size = byte(in) < 200 ? 0 : pick(in, 3), .layer_norm = byte(in) & 1,
                            .learn_init = byte(in) & 1, .dtype = byte(in) & 1 ? TG_F64 : byte(in) < 250 ? TG_F32 : TG_I64};
    tg_rnn *rnn = tg_rnn_new(cell, &config);
    if (!rnn) return;
    if (byte(in) & 1) tg_rnn_train(rnn, false);
    int64_t steps = 1 + pick(in, 4), batch = 1 + pick(in, 3);
    int64_t shape[3] = {steps, batch, features};
    if (config.batch_first) shape[0] = batch, shape[1] = steps;
    tg_tensor *mine[TG_CELL_MAX_STATES + 1] = {0};
    tg_tensor *x = byte(in) == 0xff ? any(in) : (mine[0] = tg_randn(config.dtype, 3, shape, 0, 1));
    tg_tensor *init[TG_CELL_MAX_STATES + 1] = {0};
    int n_init = pick(in, rnn->n_states + 2);
    for (int k = 0; k < n_init && k < TG_CELL_MAX_STATES; k++) {
        int64_t s[3] = {(int64_t)rnn->config.num_layers * rnn->num_directions, batch, rnn->state_size[k]};
        if (byte(in) & 1) init[k] = any(in);
        else mine[k + 1] = init[k] = tg_requires_grad(tg_randn(config.dtype, 3, s, 0, 1), byte(in) & 1);
    }
    int64_t lengths[4] = {pick(in, 6), 1 + pick(in, 4), steps, 1 + pick(in, 4)};
    tg_rnn_output out = {0};
    tg_params params = tg_params_new();
    tg_rnn_params(rnn, &params, byte(in) & 1 ? "rnn" : NULL);
    tg_optim *opt = byte(in) & 1 ? tg_sgd(&params, 1, &(tg_sgd_config){.lr = 0.1}) : NULL;
    if (tg_rnn_forward(rnn, x, n_init, init, byte(in) & 1 ? lengths : NULL, &out) == 0) {
        if (byte(in) & 1) tg_register_hook(out.output, freeing_hook, (void *)(intptr_t)(pick(in, 2) | pick(in, POOL) << 2));
        tg_tensor *sums[2] = {tg_sum(out.output, 0, NULL, false),
                              tg_sum(out.state_n[pick(in, TG_CELL_MAX_STATES)], 0, NULL, false)};
        tg_tensor *total = tg_add(sums[0], sums[1]);
        if (tg_backward(total, NULL) == 0 && opt) {
            tg_clip_grad_norm(&params, 1, 2, NULL);
            tg_optim_step(opt);
        }
        if (byte(in) & 1) persist(in, &params, opt, NULL, NULL);
        put(in, tg_detach(out.output));
        put(in, tg_detach(out.state_n[0]));
        if (depth == 0) {
            tg_free(total);
            tg_free(sums[0]);
            tg_free(sums[1]);
            tg_free(out.output);
            for (int k = 0; k < TG_CELL_MAX_STATES; k++) tg_free(out.state_n[k]);
        }
    }
    if (depth == 0)
        for (int k = 0; k <= TG_CELL_MAX_STATES; k++) tg_free(mine[k]);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(rnn);
}

/* --- gradcheck on small functions ------------------------------------------ */

static tg_tensor *checked(int n, tg_tensor **x, void *ctx)
{
    switch ((int)(intptr_t)ctx) {
    case 0: return tg_tanh(x[0]);
    case 1: return n > 1 ? tg_mul(x[0], x[1]) : NULL;
    case 2: return n > 1 ? tg_matmul(x[0], tg_transpose(x[1], 0, 1)) : NULL;
    case 3: return tg_map(&map_ops[n > 1 ? 1 : 0], n > 1 ? 2 : 1, x, 0, NULL);
    case 4: return tg_map(&map_ops[3], 1, x, 0, NULL);
    case 5: return tg_log_softmax(x[0], -1);
    case 6: return tg_norm(x[0], 2, 0, NULL, false);
    case 7: {
        tg_tensor *y = tg_mul_scalar(tg_detach(x[0]), 2);
        tg_node *node = tg_record("fuzz_custom", custom_backward, y, 1, x);
        if (node) node->iarg[0] = 0;
        return y;
    }
    default: return NULL;
    }
}

static void gradcheck(input *in)
{
    static const double eps[] = {1e-6, 1e-3, 0, -1, NAN};
    int64_t rows = 1 + pick(in, 3), cols = 1 + pick(in, 3);
    tg_tensor *x[3] = {0}, *mine[3] = {0};
    int n = 1 + pick(in, 2);
    for (int k = 0; k < n; k++) {
        if (byte(in) < 32) {
            x[k] = any(in);
            if (!x[k] || tg_numel(x[k]) > 16) x[k] = NULL;
        } else {
            mine[k] = x[k] = tg_requires_grad(tg_randn(byte(in) < 240 ? TG_F64 : TG_F32, 2, (int64_t[]){rows, cols}, 0, 1), byte(in) != 0xff);
        }
    }
    tg_gradcheck_result result;
    frees_allowed = false; /* hooks on its inputs run in its backward */
    tg_gradcheck(checked, n, x, (void *)(intptr_t)pick(in, 9), eps[pick(in, 5)], 1e-5, 1e-3, byte(in) & 1 ? &result : NULL);
    frees_allowed = true;
    if (depth == 0)
        for (int k = 0; k < 3; k++) tg_free(mine[k]);
}

static FILE *devnull;

/* The wider API, one call at a time. */
static tg_tensor *extended(input *in, tg_tensor *a, tg_tensor *b, tg_tensor *c)
{
    switch (pick(in, 9)) {
    case 0: return mapped(in, a, b, c);
    case 1: return custom(in, a, b);
    case 2: schedules(in); return NULL;
    case 3: cells(in); return NULL;
    case 4: gradcheck(in); return NULL;
    case 5: tg_graph_dot(a, byte(in) == 0xff ? NULL : devnull); return NULL;
    case 6: drop(pick(in, POOL)); return NULL;
    case 7: tg_register_hook(a, freeing_hook, (void *)(intptr_t)(pick(in, 2) | pick(in, POOL) << 2)); return NULL;
    default: {
        tg_params params = tg_params_new();
        tg_optim *opt = optimizer_of(in, &params);
        persist(in, &params, opt, NULL, NULL);
        tg_optim_free(opt);
        tg_params_free(&params);
        return NULL;
    }
    }
}

static void run(input *in)
{
    tg_scope *scopes[4];
    const int base = depth;
    for (int steps = 0; more(in) && steps < 64; steps++) {
        tg_clear_error();
        tg_tensor *a = any(in), *b = any(in), *c = any(in), *result = NULL;
        char text[256];
        /* Bytes 0 to 237 pick what they always picked (238 = 14 * 17), so
         * the seeds keep their meaning; the others the wider API. */
        unsigned what = byte(in);
        switch (what < 238 ? what % 17 : 17) {
        case 0: case 1: result = factory(in); break;
        case 2: case 3: result = view(in, a); break;
        case 4: case 5: result = elementwise(in, a, b, c); break;
        case 6: if (small(a) && small(b)) result = reduction(in, a, b); break;
        case 7: result = shaping(in, a, b, c); break;
        case 8: if (small(a) && small(b)) result = loss(in, a, b); break;
        case 9: modify(in, a, b); break;
        case 10: backward(in, a); break;
        case 11:
            if (depth - base < 4 && (scopes[depth - base] = tg_scope_begin())) depth++;
            break;
        case 12:
            if (depth > base) {
                tg_scope_end(scopes[--depth - base]);
                forget_deeper();
            }
            break;
        case 13: recurrent(in); break;
        case 14: (byte(in) & 1 ? layers : optimize)(in); break;
        case 15:
            if (byte(in) & 1) tg_repr(a, text, 1 + pick(in, (int)sizeof text));
            else hook(in, a);
            break;
        case 16:
            /* An allocation fails a few calls from now. */
            tg__alloc_fail_at(byte(in) < 128 ? byte(in) : -1);
            break;
        default: result = extended(in, a, b, c); break;
        }
        put(in, result);
    }
    while (depth > base) {
        tg_scope_end(scopes[--depth - base]);
        forget_deeper();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        tg_set_num_threads(1);
        tg__alloc_limit((size_t)16 << 20); /* as a machine with little memory: refuse, never swap */
        /* Files go to a directory of this process's own. */
        const char *tmp = getenv("TMPDIR");
        snprintf(file_dir, sizeof file_dir, "%s/fuzz_api.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(file_dir)) abort();
        atexit(cleanup_files);
        devnull = fopen("/dev/null", "w");
        ready = true;
    }
    int64_t live = tg__live_tensors();
    input in = {data, size, 0};
    memset(pool, 0, sizeof pool);
    n_kept = 0;
    tg_manual_seed(byte(&in));
    bool outside = byte(&in) & 1; /* work outside any scope too */
    bool was = tg_set_grad_enabled(!(outside && (byte(&in) & 1)));
    /* A few persistent leaves, then the program in a scope (or not). */
    for (int i = 0; i < 3; i++) put(&in, tg_requires_grad(tg_randn(TG_F32, 2, (int64_t[]){1 + i, 3}, 0, 1), true));
    tg_scope *outer = outside ? NULL : tg_scope_begin();
    depth = outer ? 1 : 0;
    run(&in);
    tg__alloc_fail_at(-1);
    if (outer) {
        tg_scope_end(outer);
        depth = 0;
        forget_deeper();
    }
    tg_set_grad_enabled(was);
    for (int i = 0; i < n_kept; i++) tg_free(kept[i]);
    tg_release_thread_memory();
    /* Persistent tensors stay reachable from the library's set of live
     * headers, where LeakSanitizer cannot call them leaks: count them. The
     * temporaries a graph recorded outside any scope keeps went with
     * tg_release_thread_memory. */
    if (tg__live_tensors() != live) {
        fprintf(stderr, "fuzz_api: %lld persistent tensors leaked\n", (long long)(tg__live_tensors() - live));
        abort();
    }
    return 0;
}
