/* libFuzzer harness for the public API: each input is a program of API
 * calls over a small pool of tensors — factories with extreme shapes,
 * views, elementwise ops, reductions, matrix products, indexing, losses,
 * backward, hooks, nested scopes, layers, optimizers, in-place changes
 * between forward and backward, work outside any scope, and an allocation
 * that fails at a chosen point. Calls may fail (NULL, -1 with a message); the
 * harness checks that none crashes, hangs, leaks or touches memory it does
 * not own (ASan, UBSan and the arena poisoning see to that), and that a
 * failed call leaves a message. Build and run: tests/fuzz/run.sh fuzz_api SECONDS.
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
 * memory).
 *
 * fuzz-seeds: tests/fuzz/fuzz_api_seeds/[a-z]*
 * fuzz-options: -max_len=512 -len_control=0
 * fuzz-env: ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void run(input *in)
{
    tg_scope *scopes[4];
    const int base = depth;
    for (int steps = 0; more(in) && steps < 64; steps++) {
        tg_clear_error();
        tg_tensor *a = any(in), *b = any(in), *c = any(in), *result = NULL;
        char text[256];
        switch (pick(in, 17)) {
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
        default:
            /* An allocation fails a few calls from now. */
            tg__alloc_fail_at(byte(in) < 128 ? byte(in) : -1);
            break;
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
