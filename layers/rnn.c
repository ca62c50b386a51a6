/* The multi-layer driver for any cell description. Per layer and
 * direction: one linear per input projection for every step at once, then
 * a loop that computes the state projections and calls the cell's step on
 * views of that step. It checks a description in full when a layer is
 * made, and each step's results as they come. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad/elementwise.h>
#include "../core/internal.h"
#include "cells_internal.h"
#include <tapegrad/linalg.h>
#include <tapegrad/nn.h>
#include <tapegrad/rnn.h>
#include <tapegrad/shape.h>

/* --- construction ------------------------------------------------------------ */

static bool check_config(const char *fn, const tg_cell *cell, const tg_rnn_config *c)
{
    if (!c) return TG__REJECT("%s: NULL config", fn);
    if (c->input_size < 1 || c->hidden_size < 1)
        return TG__REJECT("%s: input_size and hidden_size must be positive, got %lld and %lld", fn,
                          (long long)c->input_size, (long long)c->hidden_size);
    /* Products of sizes (4 * hidden_size, 2 * hidden_size) must not wrap. */
    if (c->input_size > TG_MAX_NUMEL || c->hidden_size > TG_MAX_NUMEL || c->num_layers > INT_MAX / 2)
        return TG__REJECT("%s: input_size %lld, hidden_size %lld or num_layers %d is too large", fn,
                          (long long)c->input_size, (long long)c->hidden_size, c->num_layers);
    if (c->num_layers < 0) return TG__REJECT("%s: num_layers must be positive, got %d", fn, c->num_layers);
    if (!(c->dropout >= 0 && c->dropout <= 1))
        return TG__REJECT("%s: dropout should be a number in range [0, 1] representing the probability of an "
                          "element being zeroed, got %g", fn, c->dropout);
    if (c->proj_size < 0) return TG__REJECT("%s: proj_size should be a positive integer or zero to disable projections, got %lld", fn,
                                            (long long)c->proj_size);
    bool has_proj = false;
    for (int k = 0; k < tg_cell_count_params(cell); k++) has_proj = has_proj || cell->params[k].proj;
    if (c->proj_size > 0 && !has_proj)
        return TG__REJECT("%s: proj_size argument is only supported for LSTM (cells with a proj parameter), not cell '%s'",
                          fn, cell->name);
    if (c->proj_size >= c->hidden_size && c->proj_size > 0)
        return TG__REJECT("%s: proj_size has to be smaller than hidden_size (proj_size %lld, hidden_size %lld)", fn,
                          (long long)c->proj_size, (long long)c->hidden_size);
    if (c->layer_norm && tg_cell_count_proj(cell) == 0)
        return TG__REJECT("%s: layer_norm normalises projections, and cell '%s' declares none", fn, cell->name);
    /* A projection's gain is named after its weight (ln_weight_hh_l0): two
     * projections by one weight would list two parameters under one name. */
    for (int j = 1; c->layer_norm && j < tg_cell_count_proj(cell); j++)
        for (int i = 0; i < j; i++)
            if (strcmp(cell->proj[i].weight, cell->proj[j].weight) == 0)
                return TG__REJECT("%s: layer_norm names each projection's gain after its weight, and cell '%s' "
                                  "projects with '%s' twice (proj[%d] and proj[%d])", fn, cell->name,
                                  cell->proj[j].weight, i, j);
    if (!tg__float_dtype(fn, "dtype", c->dtype)) return false;
    return true;
}

static tg_tensor *make_param(const tg_cell_param *p, tg__layer_sizes z, tg_dtype dtype)
{
    int64_t shape[TG_CELL_MAX_DIMS];
    int nd = tg__cell_param_ndim(p);
    for (int d = 0; d < nd; d++) shape[d] = tg__cell_size(p->shape[d], z);
    double bound = 1.0 / sqrt((double)z.hidden);
    switch (p->init.kind) {
    case TG_INIT_UNIFORM: return tg_param_uniform(dtype, nd, shape, p->init.a, p->init.b);
    case TG_INIT_NORMAL: return tg_param_normal(dtype, nd, shape, p->init.a, p->init.b);
    case TG_INIT_CONSTANT: return tg_param_full(dtype, nd, shape, p->init.a);
    default: return tg_param_uniform(dtype, nd, shape, -bound, bound);
    }
}

/* The parameters of layer and direction i, then their layer-norm gains;
 * stops at the first that cannot be made (out of memory, already reported). */
static bool make_layer(tg_rnn *rnn, int i, tg__layer_sizes z)
{
    const tg_rnn_config *c = &rnn->config;
    tg_tensor **w = rnn->weights + i * rnn->n_params;
    bool ok = true;
    for (int k = 0; ok && k < rnn->n_params; k++) {
        const tg_cell_param *p = &rnn->cell->params[k];
        if ((p->bias && c->no_bias) || (p->proj && c->proj_size == 0)) continue;
        w[k] = make_param(p, z, c->dtype);
        ok = ok && w[k];
    }
    for (int j = 0; ok && rnn->ln_gains && j < rnn->n_proj; j++) { /* each the size of its weight's rows */
        tg_tensor *weight = w[tg__cell_find_param(rnn->cell, rnn->n_params, rnn->cell->proj[j].weight)];
        rnn->ln_gains[i * rnn->n_proj + j] = tg_param_full(c->dtype, 1, weight->shape, 1.0);
        ok = ok && rnn->ln_gains[i * rnn->n_proj + j];
    }
    return ok;
}

static tg_rnn *rnn_new(const char *fn, const tg_cell *cell, const tg_rnn_config *config)
{
    if (!tg__cell_check(fn, cell) || !check_config(fn, cell, config)) return NULL;
    int layers = config->num_layers ? config->num_layers : 1, dirs = config->bidirectional ? 2 : 1;
    int64_t out = config->proj_size > 0 ? config->proj_size : config->hidden_size;
    for (int layer = 0; layer < layers && layer < 2; layer++) { /* the first two layers cover every input size */
        tg__layer_sizes z = {layer == 0 ? config->input_size : dirs * out, config->hidden_size, out};
        if (!tg__cell_check_sizes(fn, cell, z, layer, config->proj_size > 0)) return NULL;
    }
    tg_rnn *rnn = tg__calloc(1, sizeof *rnn);
    if (!rnn) return tg_error("%s: out of memory", fn);
    *rnn = (tg_rnn){.cell = cell, .config = *config, .num_directions = dirs, .out_size = out, .training = true,
                    .n_params = tg_cell_count_params(cell), .n_states = tg_cell_count_states(cell),
                    .n_proj = tg_cell_count_proj(cell)};
    rnn->config.num_layers = layers;
    int n = layers * dirs;
    rnn->weights = tg__calloc((size_t)(n * rnn->n_params + 1), sizeof *rnn->weights);
    if (config->layer_norm) rnn->ln_gains = tg__calloc((size_t)(n * rnn->n_proj), sizeof *rnn->ln_gains);
    if (!rnn->weights || (config->layer_norm && !rnn->ln_gains)) {
        tg_error("%s: out of memory", fn);
        tg_rnn_free(rnn);
        return NULL;
    }
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        tg__layer_sizes z = {i < dirs ? config->input_size : dirs * out, config->hidden_size, out};
        ok = make_layer(rnn, i, z);
    }
    tg__layer_sizes z = {0, config->hidden_size, out}; /* states do not depend on I */
    for (int k = 0; k < rnn->n_states; k++) rnn->state_size[k] = tg__cell_size(cell->states[k].size, z);
    for (int k = 0; ok && config->learn_init && k < rnn->n_states; k++) {
        rnn->init[k] = tg_param_full(config->dtype, 3, (int64_t[]){n, 1, rnn->state_size[k]}, 0.0);
        ok = rnn->init[k] != NULL;
    }
    if (!ok) {
        tg_error("%s: %s", fn, tg_last_error()); /* name the function the user called */
        tg_rnn_free(rnn);
        return NULL;
    }
    return rnn;
}

tg_rnn *tg_rnn_new(const tg_cell *cell, const tg_rnn_config *config) { return rnn_new("tg_rnn_new", cell, config); }
tg_lstm *tg_lstm_new(const tg_lstm_config *config) { return rnn_new("tg_lstm_new", &tg_cell_lstm, config); }
tg_gru *tg_gru_new(const tg_gru_config *config) { return rnn_new("tg_gru_new", &tg_cell_gru, config); }

void tg_rnn_free(tg_rnn *rnn)
{
    if (!rnn) return;
    int n = rnn->config.num_layers * rnn->num_directions;
    for (int i = 0; rnn->weights && i < n * rnn->n_params; i++) tg_free(rnn->weights[i]);
    for (int i = 0; rnn->ln_gains && i < n * rnn->n_proj; i++) tg_free(rnn->ln_gains[i]);
    for (int k = 0; k < rnn->n_states; k++) tg_free(rnn->init[k]);
    free(rnn->weights);
    free(rnn->ln_gains);
    free(rnn);
}

void tg_rnn_train(tg_rnn *rnn, bool training)
{
    if (rnn) rnn->training = training;
}

int tg_rnn_params(tg_rnn *rnn, tg_params *out, const char *prefix)
{
    if (!rnn || !out) return tg_fail("tg_rnn_params: NULL layer or collection");
    char name[TG_PARAM_NAME_MAX];
    for (int i = 0; i < rnn->config.num_layers * rnn->num_directions; i++) {
        const char *suffix = i % rnn->num_directions ? "_reverse" : "";
        int layer = i / rnn->num_directions;
        for (int k = 0; k < rnn->n_params; k++) {
            tg_tensor *w = rnn->weights[i * rnn->n_params + k];
            snprintf(name, sizeof name, "%s_l%d%s", rnn->cell->params[k].name, layer, suffix);
            if (w && tg_params_add(out, prefix, name, w) < 0) return -1;
        }
        for (int j = 0; rnn->ln_gains && j < rnn->n_proj; j++) {
            snprintf(name, sizeof name, "ln_%s_l%d%s", rnn->cell->proj[j].weight, layer, suffix);
            if (tg_params_add(out, prefix, name, rnn->ln_gains[i * rnn->n_proj + j]) < 0) return -1;
        }
    }
    for (int k = 0; k < rnn->n_states; k++) {
        snprintf(name, sizeof name, "%s0", rnn->cell->states[k].name);
        if (rnn->init[k] && tg_params_add(out, prefix, name, rnn->init[k]) < 0) return -1;
    }
    return 0;
}

/* --- forward ------------------------------------------------------------------ */

/* The time layout of one call. */
typedef struct {
    const char *fn;      /* the public function, for messages */
    int tdim;            /* time dim of x and output: 0, or 1 with batch_first */
    int64_t steps, batch;
    tg_tensor *mask;     /* (T, B, 1): 1 while t < lengths[b]; NULL if all are T */
} sequence;

/* x W^T + b, or with layer norm LN_blocks(x W^T) * gain + b, where LN_blocks
 * normalises each of the blocks of columns on its own. x is (..., in);
 * weight_t is NULL or a contiguous copy of W^T for the product. */
static tg_tensor *project(tg_tensor *x, tg_tensor *weight, tg_tensor *weight_t, tg_tensor *bias, tg_tensor *gain,
                          int blocks)
{
    if (!gain) return tg__linear_t(x, weight, weight_t, bias);
    return tg__layer_norm_blocks(tg__linear_t(x, weight, weight_t, NULL), blocks ? blocks : 1, gain, bias,
                                 TG_RNN_LN_EPS);
}

/* Batches above this many rows multiply by contiguous copies of W^T made
 * once per sequence: the GEMM then reads them in place, where W itself
 * would be transposed into a packed copy at every step (Zen 4, 1 thread,
 * LSTM B=64 T=50 I=H=256: training step 90.0 ms against 91.6, forward 36.9
 * against 38.5, medians of three alternating runs). Up to this many, the
 * GEMM's dot products read W in place already (ops/kernels/gemm.c). */
#define TRANSPOSED_WEIGHT_MIN_BATCH 8

/* Batches of at most this many rows project each step's input inside the
 * loop, as the state is; larger ones project every step's input at once
 * before the loop, in one product over T * B rows. At these batch sizes
 * the steps' products (B x I times I x G*H, read in place from W^T) run as
 * fast as the one big product, and the step's projection is still in
 * cache when the step adds the state's and reads the sum, where a (T, B,
 * G*H) projection made before the loop is read back from memory, and its
 * gradient (as large) is zeroed, accumulated step by step and read again
 * for the weight's gradient. Zen 4, 1 thread, LSTM B=64 T=50 I=H=256:
 * training step 95.3 ms against 97.4 (medians of three alternating runs),
 * peak memory 43 MB against 68. With more rows the steps' products pack
 * W^T at every step, and one product wins (B=128 I=H=512: 537 against 556
 * ms). */
#define STEP_INPUT_MAX_BATCH 64

/* Without a backward to feed (grad mode off, or nothing that requires
 * grad), batches of at least this many rows project each step's input in
 * the loop too: the packing of W^T each step's product repeats is then a
 * few percent of it, and the (T, B, G*H) projection that nothing keeps is
 * never made. Zen 5, 1 thread, LSTM forward without grad (medians of 20):
 * B=1000 T=28 I=28 H=128 (Fashion-MNIST's evaluation of 1000 images at
 * once) 27.8 ms against 30.0 and peak RSS 61 MB against 121; B=512 T=35
 * I=H=512 349 to 358 ms against 349 to 353, 143 MB less. At B=128 T=35
 * I=H=512 it cost 10 to 16% (96 against 88 ms). */
#define STEP_INPUT_MIN_BATCH_NO_GRAD 512

/* The row pitch, in elements, of a copy of W^T with `cols` columns: one
 * cache line more than the row when rows of that length would start a
 * multiple of 1 KB apart. The GEMM reads a sliver of 16 columns of every
 * row in place; rows 4 KB apart all fall in one set of the L1 cache, which
 * holds 8 of them, so the sliver went back to L2 for each of the tiles
 * that use it. Zen 4, 1 thread, LSTM B=64 T=50 I=H=256 (W^T rows of 4 KB):
 * training step 86.7 ms against 87.3, B=64 T=28 I=28 H=128 9.60 against
 * 9.71 (medians of 9 and 7 alternating runs); the GRU (rows of 3 KB) the
 * same. */
static int64_t padded_pitch(int64_t cols, tg_dtype dtype)
{
    int64_t size = (int64_t)tg_dtype_size(dtype);
    return cols * size % 1024 == 0 ? cols + 64 / size : cols;
}

/* The copy of W^T (rows contiguous, padded apart), a constant of the
 * forward (no node: the product's gradient goes to W). NULL for a small
 * batch, or with a message. */
static tg_tensor *transposed_weight(tg_tensor *weight, int64_t batch)
{
    if (batch <= TRANSPOSED_WEIGHT_MIN_BATCH) return NULL;
    bool was = tg_set_grad_enabled(false);
    int64_t in = weight->shape[1], out = weight->shape[0], pitch = padded_pitch(out, weight->dtype);
    tg_tensor *rows = tg_empty(weight->dtype, 2, (int64_t[]){in, pitch});
    tg_tensor *t = rows ? tg_narrow(rows, 1, 0, out) : NULL;
    if (t && tg_copy_(t, tg_transpose(weight, 0, 1)) != 0) t = NULL;
    tg_set_grad_enabled(was);
    return t;
}

/* The state a layer and direction starts from: the given initial state's
 * slice, the learned one broadcast over the batch, or zeros. (B, size). */
static tg_tensor *initial_state(tg_tensor *given, tg_tensor *learned, int index, int64_t batch, int64_t size,
                                tg_dtype dtype)
{
    int64_t shape[2] = {batch, size};
    if (given) return tg_select(given, 0, index);
    if (learned) return tg_expand(tg_select(learned, 0, index), 2, shape);
    return tg_zeros(dtype, 2, shape);
}

/* A step's result (state k, or the output for k = -1) must be (B, size)
 * of dtype: false with a message naming the cell, the step, the layer and
 * the shapes. Runs every step: the message is made only on failure. */
static bool check_result(const tg_rnn *rnn, const sequence *sq, int64_t t, int i, int k, const tg_tensor *result,
                         int64_t size, tg_dtype dtype)
{
    if (result && result->magic == TG_MAGIC && result->ndim == 2 && result->shape[0] == sq->batch &&
        result->shape[1] == size && result->dtype == dtype)
        return true;
    char got[160] = "NULL", what[TG_CELL_NAME_MAX + 16] = "the output";
    if (k >= 0) snprintf(what, sizeof what, "state %d '%s'", k, rnn->cell->states[k].name);
    if (result && result->magic == TG_MAGIC) {
        char s[128];
        snprintf(got, sizeof got, "%s (%s)", tg_shape_str(result, s, sizeof s), tg_dtype_name(result->dtype));
    }
    return TG__REJECT("%s: cell '%s' at time step %lld of layer %d%s: %s is %s, expected [%lld,%lld] (%s)", sq->fn,
                      rnn->cell->name, (long long)t, i / rnn->num_directions, i % rnn->num_directions ? " (reverse)" : "",
                      what, got, (long long)sq->batch, (long long)size, tg_dtype_name(dtype));
}

/* A step that returned no output failed in an op: say where, then what.
 * reported: whether a message was recorded during the step; without one
 * the message in the slot is an older one, not this failure's cause. */
static tg_tensor *step_failed(const tg_rnn *rnn, const sequence *sq, int64_t t, int i, bool reported)
{
    char cause[512];
    snprintf(cause, sizeof cause, "%s", reported ? tg_last_error() : "it returned NULL with no message");
    return tg_error("%s: cell '%s' failed at time step %lld of layer %d%s: %s", sq->fn, rnn->cell->name, (long long)t,
                    i / rnn->num_directions, i % rnn->num_directions ? " (reverse)" : "", cause);
}

/* Step t's input, asked for a few lines per tile of the products of the
 * step before (tg__prefetch_later), so that the packing of x_t for its
 * product does not wait on each line from memory: Zen 5, 1 thread, LSTM
 * B=32 T=100 I=H=128, that packing from 1.15% of the training step's
 * samples to 0.75%. */
static void prefetch_step_input(const tg_tensor *in, int tdim, int64_t t)
{
    tg_tensor x = tg__selected(in, tdim, t);
    tg__prefetch_rows_later(2, &x, 0, x.shape[0]);
}

/* Layer and direction i over in (time along sq->tdim). state holds the
 * initial states on entry and the final ones on return; bit k of
 * zero_states says state k starts at zeros. Returns the output of every
 * step, stacked along the time dim. */
static tg_tensor *run_direction(const tg_rnn *rnn, int i, tg_tensor *in, const sequence *sq, tg_tensor **state,
                                unsigned zero_states)
{
    const tg_cell *cell = rnn->cell;
    bool reverse = i % rnn->num_directions == 1;
    tg_tensor *const *w = rnn->weights + i * rnn->n_params;
    tg_tensor *const *gains = rnn->ln_gains ? rnn->ln_gains + i * rnn->n_proj : NULL;
    tg_tensor *weight[TG_CELL_MAX_PROJ] = {0}, *bias[TG_CELL_MAX_PROJ] = {0}, *gain[TG_CELL_MAX_PROJ] = {0};
    tg_tensor *weight_t[TG_CELL_MAX_PROJ] = {0};
    /* (T, B, rows) or (B, T, rows): every step's input projections at once,
     * unless each step makes its own */
    tg_tensor *hoisted[TG_CELL_MAX_PROJ] = {0};
    bool records = tg_is_grad_enabled() && (tg__any_requires_grad(rnn->n_params, w) || in->requires_grad ||
                                            tg__any_requires_grad(rnn->n_states, state) ||
                                            (gains && tg__any_requires_grad(rnn->n_proj, gains)));
    /* A state's weight that meets only a zero initial state (one step)
     * still takes part, so that its gradient is zeros, as PyTorch's is,
     * rather than absent (an optimizer would skip its decay and step). */
    if (records && sq->steps == 1) zero_states = 0;
    bool per_step = sq->batch <= STEP_INPUT_MAX_BATCH || (!records && sq->batch >= STEP_INPUT_MIN_BATCH_NO_GRAD);
    for (int j = 0; j < rnn->n_proj; j++) {
        const tg_cell_proj *pj = &cell->proj[j];
        weight[j] = w[tg__cell_find_param(cell, rnn->n_params, pj->weight)];
        bias[j] = pj->bias ? w[tg__cell_find_param(cell, rnn->n_params, pj->bias)] : NULL;
        gain[j] = gains ? gains[j] : NULL;
        if (pj->from != TG_FROM_INPUT || per_step) {
            weight_t[j] = transposed_weight(weight[j], sq->batch);
            if (sq->batch > TRANSPOSED_WEIGHT_MIN_BATCH && !weight_t[j]) return NULL;
        }
    }
    /* A summed projection's bias joins projection 0's, added with it, and
     * each step's matmul adds the rest (layer norm normalises it apart).
     * Summing the bias vectors first saves a pass over the projection and
     * the memory of a second one. */
    bool in_sum[TG_CELL_MAX_PROJ] = {false}; /* summed into projection 0 by the matmul */
    tg_tensor *bias0 = bias[0];
    int summed = 1;
    for (int j = 1; j < rnn->n_proj; j++) {
        in_sum[j] = cell->proj[j].summed && !gain[j];
        summed += in_sum[j];
        if (in_sum[j] && bias[j]) bias0 = bias0 ? tg_add(bias0, bias[j]) : bias[j];
    }
    /* Each step's input projection and the projections summed into it
     * (without layer norm) are one product node: one result, the bias
     * copied once (tg__linear_sum). */
    bool merged = per_step && rnn->n_proj > 0 && cell->proj[0].from == TG_FROM_INPUT && !gain[0] &&
                  summed <= TG__LINEAR_SUM_MAX;
    bool has_input_proj = false;
    for (int j = 0; j < rnn->n_proj; j++) {
        const tg_cell_proj *pj = &cell->proj[j];
        if (pj->from != TG_FROM_INPUT) continue;
        if (!per_step) hoisted[j] = project(in, weight[j], NULL, j == 0 ? bias0 : bias[j], gain[j], pj->blocks);
        has_input_proj = true;
    }
    /* Scope memory, like every tensor of the step: a steady loop never mallocs. */
    tg_tensor **outputs = tg__arena_alloc(sizeof *outputs * (size_t)sq->steps);
    if (!outputs) return NULL;
    /* The stacked output, each step's copied in as it is made (in cache). */
    int64_t out_shape[3] = {sq->steps, sq->batch, rnn->out_size};
    if (sq->tdim == 1) out_shape[0] = sq->batch, out_shape[1] = sq->steps;
    tg_tensor *stacked = tg__new(sq->fn, in->dtype, 3, out_shape);
    if (!stacked) return NULL;
    for (int64_t s = 0; s < sq->steps; s++) {
        int64_t t = reverse ? sq->steps - 1 - s : s;
        if (per_step && s + 1 < sq->steps) prefetch_step_input(in, sq->tdim, reverse ? t - 1 : t + 1);
        uint64_t errors = tg__error_count();
        const tg_node *tape_mark = tg__tape_tail();
        const tg_tensor *tensor_mark = tg__scope_newest();
        uint64_t storage_mark = tg__storage_serial();
        tg_tensor *proj[TG_CELL_MAX_PROJ] = {0}, *next[TG_CELL_MAX_STATES] = {0};
        for (int j = 0; j < rnn->n_proj; j++) {
            const tg_cell_proj *pj = &cell->proj[j];
            /* The first step's zero states add nothing to a product: it is
             * left out (a projection of one is its bias). */
            bool zero = pj->from != TG_FROM_INPUT && s == 0 && (zero_states >> (pj->from - 1) & 1) && !gain[j];
            if (j == 0 && merged) { /* (B, rows): the input's projection and the summed ones, one node */
                tg_tensor *xs[TG_CELL_MAX_PROJ] = {tg_select(in, sq->tdim, t)}, *ws[TG_CELL_MAX_PROJ] = {weight[0]};
                tg_tensor *wts[TG_CELL_MAX_PROJ] = {weight_t[0]};
                int terms = 1;
                for (int k = 1; k < rnn->n_proj; k++)
                    if (in_sum[k] && !(s == 0 && (zero_states >> (cell->proj[k].from - 1) & 1)))
                        xs[terms] = state[cell->proj[k].from - 1], ws[terms] = weight[k], wts[terms++] = weight_t[k];
                proj[0] = tg__linear_sum(terms, xs, ws, wts, bias0);
            } else if (merged && in_sum[j]) {
                continue; /* in proj[0] already */
            } else if (pj->from == TG_FROM_INPUT && per_step) /* (B, rows) */
                proj[j] = project(tg_select(in, sq->tdim, t), weight[j], weight_t[j], j == 0 ? bias0 : bias[j], gain[j],
                                  pj->blocks);
            else if (pj->from == TG_FROM_INPUT) proj[j] = tg_select(hoisted[j], sq->tdim, t);
            else if (zero && pj->summed)
                continue; /* proj[0] as it is */
            else if (zero) {
                int64_t shape[2] = {sq->batch, weight[j]->shape[0]};
                proj[j] = bias[j] ? tg_expand(bias[j], 2, shape) : tg_zeros(in->dtype, 2, shape);
            } else if (!pj->summed)
                proj[j] = project(state[pj->from - 1], weight[j], weight_t[j], bias[j], gain[j], pj->blocks);
            else if (gain[j])
                proj[0] = tg_add(proj[0], project(state[pj->from - 1], weight[j], weight_t[j], bias[j], gain[j],
                                                  pj->blocks));
            else proj[0] = tg__linear_t(state[pj->from - 1], weight[j], weight_t[j], proj[0]);
        }
        tg_cell_args args = {.x = has_input_proj ? NULL : tg_select(in, sq->tdim, t), .proj = proj, .state = state,
                             .w = w, .next = next, .hidden_size = rnn->config.hidden_size, .data = cell->data};
        tg_tensor *output = cell->step(&args);
        if (!output) return step_failed(rnn, sq, t, i, tg__error_count() != errors);
        if (!check_result(rnn, sq, t, i, -1, output, rnn->out_size, in->dtype)) return NULL;
        for (int k = 0; k < rnn->n_states; k++)
            if (!check_result(rnn, sq, t, i, k, next[k], rnn->state_size[k], in->dtype)) return NULL;
        outputs[t] = output;
        tg_tensor place = tg__selected(stacked, sq->tdim, t);
        bool was = tg_set_grad_enabled(false);
        int copied = tg_copy_(&place, output);
        tg_set_grad_enabled(was);
        if (copied < 0) return NULL;
        /* What the step made and no backward reads (the gate pre-activations,
         * say) is dead now: the next step's tensors reuse its memory. */
        tg_tensor *keep[1 + TG_CELL_MAX_STATES] = {output};
        for (int k = 0; k < rnn->n_states; k++) keep[1 + k] = next[k];
        tg__recycle_step(tape_mark, tensor_mark, storage_mark, 1 + rnn->n_states, keep);
        /* finished sequences keep their state */
        tg_tensor *valid = sq->mask ? tg_select(sq->mask, 0, t) : NULL; /* (B, 1) */
        for (int k = 0; k < rnn->n_states; k++) state[k] = valid ? tg_where(valid, next[k], state[k]) : next[k];
    }
    return tg__stacked((int)sq->steps, outputs, sq->tdim, stacked);
}

/* state must be (D*L, B, size), or (D*L, size) for an unbatched input. */
static bool check_state(const char *fn, const char *name, const tg_tensor *state, const tg_tensor *x, bool batched,
                        int64_t layers, int64_t batch, int64_t size)
{
    if (!state) return true;
    if (!tg__check_float(fn, state)) return false;
    bool ok = state->dtype == x->dtype &&
              (batched ? state->ndim == 3 && state->shape[0] == layers && state->shape[1] == batch && state->shape[2] == size
                       : state->ndim == 2 && state->shape[0] == layers && state->shape[1] == size);
    if (ok) return true;
    char s[128];
    if (batched)
        return TG__REJECT("%s: Expected %s0 of size (%lld, %lld, %lld) and dtype %s, got %s (%s)", fn, name,
                          (long long)layers, (long long)batch, (long long)size, tg_dtype_name(x->dtype),
                          tg_shape_str(state, s, sizeof s), tg_dtype_name(state->dtype));
    return TG__REJECT("%s: Expected %s0 of size (%lld, %lld) and dtype %s for an unbatched input, got %s (%s)", fn, name,
                      (long long)layers, (long long)size, tg_dtype_name(x->dtype), tg_shape_str(state, s, sizeof s),
                      tg_dtype_name(state->dtype));
}

/* Validates lengths and builds the (T, B, 1) mask in sq (NULL when every
 * sequence has all T steps). */
static bool make_mask(const char *fn, const int64_t *lengths, tg_dtype dtype, sequence *sq)
{
    sq->mask = NULL;
    if (!lengths) return true;
    bool full = true;
    for (int64_t b = 0; b < sq->batch; b++) {
        if (lengths[b] < 1)
            return TG__REJECT("%s: lengths[%lld] is %lld: Length of all samples has to be greater than 0", fn,
                              (long long)b, (long long)lengths[b]);
        if (lengths[b] > sq->steps)
            return TG__REJECT("%s: lengths[%lld] is %lld, longer than the input's %lld time steps", fn, (long long)b,
                              (long long)lengths[b], (long long)sq->steps);
        full = full && lengths[b] == sq->steps;
    }
    if (full) return true;
    sq->mask = tg_empty(dtype, 3, (int64_t[]){sq->steps, sq->batch, 1});
    if (!sq->mask) return false;
    for (int64_t t = 0; t < sq->steps; t++)
        for (int64_t b = 0; b < sq->batch; b++)
            tg__store((char *)tg_data(sq->mask) + (t * sq->batch + b) * (int64_t)tg_dtype_size(dtype), dtype,
                      t < lengths[b]);
    return true;
}

static int forward_impl(const char *fn, tg_rnn *rnn, tg_tensor *x, int n_init, tg_tensor *const *init_given,
                        const int64_t *lengths, tg_rnn_output *out)
{
    const tg_rnn_config *cfg = &rnn->config;
    if (!tg__check_float(fn, x)) return -1;
    char s1[128];
    if (x->ndim != 2 && x->ndim != 3)
        return tg_fail("%s: expected input of 3 dims %s or 2 dims (seq, feature) unbatched, got %s", fn,
                       cfg->batch_first ? "(batch, seq, feature)" : "(seq, batch, feature)", tg_shape_str(x, s1, sizeof s1));
    if (x->shape[x->ndim - 1] != cfg->input_size)
        return tg_fail("%s: input.size(-1) must be equal to input_size. Expected %lld, got %lld (input %s)", fn,
                       (long long)cfg->input_size, (long long)x->shape[x->ndim - 1], tg_shape_str(x, s1, sizeof s1));
    if (x->dtype != cfg->dtype)
        return tg_fail("%s: input is %s but the layer's parameters are %s", fn, tg_dtype_name(x->dtype),
                       tg_dtype_name(cfg->dtype));
    if (n_init < 0 || n_init > rnn->n_states || (n_init > 0 && !init_given))
        return tg_fail("%s: cell '%s' has %d state%s (%s%s%s), got %d initial states%s", fn, rnn->cell->name, rnn->n_states,
                       rnn->n_states > 1 ? "s" : "", rnn->cell->states[0].name, rnn->n_states > 1 ? ", " : "",
                       rnn->n_states > 1 ? rnn->cell->states[1].name : "", n_init,
                       n_init > 0 && !init_given ? " in a NULL array" : "");
    bool batched = x->ndim == 3;
    if (!batched && lengths)
        return tg_fail("%s: lengths need a batched (3-dim) input, got %s", fn, tg_shape_str(x, s1, sizeof s1));
    sequence sq = {.fn = fn, .tdim = cfg->batch_first && batched ? 1 : 0};
    sq.steps = x->shape[sq.tdim];
    sq.batch = batched ? x->shape[1 - sq.tdim] : 1;
    int n_dirs_layers = cfg->num_layers * rnn->num_directions;
    if (sq.steps < 1)
        return tg_fail("%s: Expected sequence length to be larger than 0 in RNN, got input %s", fn, tg_shape_str(x, s1, sizeof s1));
    tg_tensor *init[TG_CELL_MAX_STATES] = {0};
    for (int k = 0; k < rnn->n_states; k++) {
        init[k] = k < n_init ? init_given[k] : NULL;
        if (!check_state(fn, rnn->cell->states[k].name, init[k], x, batched, n_dirs_layers, sq.batch,
                         rnn->state_size[k]))
            return -1;
        if (init[k] && !batched) init[k] = tg_unsqueeze(init[k], 1);
    }
    if (!make_mask(fn, lengths, x->dtype, &sq)) return -1;
    if (!batched) x = tg_unsqueeze(x, 1);
    /* (T, B, 1) or (B, T, 1), as x. The padded steps read zeros, not what
     * the padding holds: a NaN or inf there (which PyTorch's packed
     * sequences never read) would reach the weights' gradients through the
     * zero gradient that the masking sends back into it (0 * NaN). */
    tg_tensor *mask = sq.mask && sq.tdim ? tg_transpose(sq.mask, 0, 1) : sq.mask;
    if (mask) x = tg_where(mask, x, tg_scalar(x->dtype, 0));

    tg_tensor *layer_in = x;
    /* final states: [k * n_dirs_layers + i] */
    tg_tensor **finals = tg__arena_alloc(sizeof *finals * (size_t)(rnn->n_states * n_dirs_layers));
    if (!finals) return -1;
    for (int layer = 0; layer < cfg->num_layers && layer_in; layer++) {
        tg_tensor *dir_out[2];
        for (int dir = 0; dir < rnn->num_directions; dir++) {
            int i = layer * rnn->num_directions + dir;
            tg_tensor *state[TG_CELL_MAX_STATES];
            unsigned zero_states = 0; /* bit k: state k starts at zeros */
            for (int k = 0; k < rnn->n_states; k++) {
                state[k] = initial_state(init[k], rnn->init[k], i, sq.batch, rnn->state_size[k], x->dtype);
                if (!init[k] && !rnn->init[k]) zero_states |= 1u << k;
            }
            dir_out[dir] = run_direction(rnn, i, layer_in, &sq, state, zero_states);
            if (!dir_out[dir]) return -1;
            for (int k = 0; k < rnn->n_states; k++) finals[k * n_dirs_layers + i] = state[k];
        }
        layer_in = rnn->num_directions == 2 ? tg_cat(2, dir_out, -1) : dir_out[0];
        if (mask) /* outputs past each sequence's end are zero */
            layer_in = tg_where(mask, layer_in, tg_scalar(x->dtype, 0));
        if (layer < cfg->num_layers - 1) layer_in = tg_dropout(layer_in, cfg->dropout, rnn->training);
    }
    tg_tensor *output = layer_in;
    if (!output) return -1;
    if (!batched) output = tg_squeeze(output, 1);
    out->output = output;
    for (int k = 0; k < rnn->n_states; k++) {
        tg_tensor *final = tg_stack(n_dirs_layers, finals + k * n_dirs_layers, 0);
        if (!final) return -1;
        out->state_n[k] = batched ? final : tg_squeeze(final, 1);
    }
    out->h_n = out->state_n[0];
    out->c_n = out->state_n[1];
    return 0;
}

/* A parameter of the layer that requires grad, or NULL: whether there is
 * one decides if a call records (any of them may be frozen alone). */
static tg_tensor *trained_param(const tg_rnn *rnn)
{
    int n = rnn->config.num_layers * rnn->num_directions;
    for (int k = 0; k < n * rnn->n_params; k++)
        if (rnn->weights[k] && rnn->weights[k]->requires_grad) return rnn->weights[k];
    for (int k = 0; rnn->ln_gains && k < n * rnn->n_proj; k++)
        if (rnn->ln_gains[k] && rnn->ln_gains[k]->requires_grad) return rnn->ln_gains[k];
    for (int k = 0; k < TG_CELL_MAX_STATES; k++)
        if (rnn->init[k] && rnn->init[k]->requires_grad) return rnn->init[k];
    return NULL;
}

int tg_rnn_forward(tg_rnn *rnn, tg_tensor *x, int n_init, tg_tensor *const *init, const int64_t *lengths,
                   tg_rnn_output *out)
{
    if (out) *out = (tg_rnn_output){0};
    if (!rnn || !out) return tg_fail("tg_rnn_forward: NULL layer or output");
    /* Outside any scope, with nothing to record, the step tensors are
     * temporaries of this call and only the results are kept. */
    tg_tensor *inputs[TG_CELL_MAX_STATES + 2] = {x, trained_param(rnn)};
    for (int k = 0; init && k < n_init && k < TG_CELL_MAX_STATES; k++) inputs[k + 2] = init[k];
    tg_scope *s = tg__autoscope(TG_CELL_MAX_STATES + 2, inputs);
    /* A step that failed (out of memory) must not pass for an absent
     * optional argument (a NULL bias or initial state): any failure inside
     * fails the call. */
    uint64_t errors = tg__error_count();
    int status = forward_impl("tg_rnn_forward", rnn, x, n_init, init, lengths, out);
    if (status == 0 && tg__error_count() != errors) status = -1;
    if (status < 0) *out = (tg_rnn_output){0};
    tg_tensor *results[TG_CELL_MAX_STATES + 1] = {out->output};
    for (int k = 0; k < TG_CELL_MAX_STATES; k++) results[k + 1] = out->state_n[k];
    if (tg__autoscope_keep_n(s, TG_CELL_MAX_STATES + 1, results) < 0) status = -1;
    if (s && status == 0) {
        *out = (tg_rnn_output){.output = results[0]};
        for (int k = 0; k < TG_CELL_MAX_STATES; k++) out->state_n[k] = results[k + 1];
        out->h_n = out->state_n[0];
        out->c_n = out->state_n[1];
    }
    return status;
}

/* --- one step as a module ------------------------------------------------------ */

tg_cell_layer *tg_cell_layer_new(const tg_cell *cell, int64_t input_size, int64_t hidden_size, bool bias, tg_dtype dtype)
{
    const char *fn = "tg_cell_layer_new";
    tg_rnn_config config = {.input_size = input_size, .hidden_size = hidden_size, .no_bias = !bias, .dtype = dtype};
    tg_rnn *rnn = rnn_new(fn, cell, &config);
    if (!rnn) return NULL;
    tg_cell_layer *layer = tg__malloc(sizeof *layer);
    if (!layer) {
        tg_rnn_free(rnn);
        return tg_error("%s: out of memory", fn);
    }
    *layer = (tg_cell_layer){.cell = cell, .input_size = input_size, .hidden_size = hidden_size, .rnn = rnn};
    return layer;
}

void tg_cell_layer_free(tg_cell_layer *layer)
{
    if (!layer) return;
    tg_rnn_free(layer->rnn);
    free(layer);
}

tg_tensor *tg_cell_layer_param(const tg_cell_layer *layer, const char *name)
{
    if (!layer) return NULL;
    int k = tg__cell_find_param(layer->cell, layer->rnn->n_params, name);
    return k < 0 ? NULL : layer->rnn->weights[k];
}

int tg_cell_layer_params(tg_cell_layer *layer, tg_params *out, const char *prefix)
{
    if (!layer || !out) return tg_fail("tg_cell_layer_params: NULL layer or collection");
    for (int k = 0; k < layer->rnn->n_params; k++) {
        tg_tensor *w = layer->rnn->weights[k];
        if (w && tg_params_add(out, prefix, layer->cell->params[k].name, w) < 0) return -1;
    }
    return 0;
}

/* x (B, I) or (I) and the states, checked here with this function's name;
 * then one step of the driver over a sequence of length 1. */
static tg_tensor *cell_step(const char *fn, tg_cell_layer *layer, tg_tensor *x, int n, tg_tensor *const *states,
                            tg_tensor **next)
{
    tg_rnn *rnn = layer->rnn;
    if (!tg__check_float(fn, x)) return NULL;
    char s1[128], s2[128];
    if ((x->ndim != 1 && x->ndim != 2) || x->shape[x->ndim - 1] != layer->input_size)
        return tg_error("%s: expected input of shape (batch, %lld) or (%lld), got %s", fn, (long long)layer->input_size,
                        (long long)layer->input_size, tg_shape_str(x, s1, sizeof s1));
    if (x->dtype != rnn->config.dtype)
        return tg_error("%s: input is %s but the cell's parameters are %s", fn, tg_dtype_name(x->dtype),
                        tg_dtype_name(rnn->config.dtype));
    if (n < 0 || n > rnn->n_states || (n > 0 && !states))
        return tg_error("%s: cell '%s' has %d state%s, got %d%s", fn, layer->cell->name, rnn->n_states,
                        rnn->n_states > 1 ? "s" : "", n, n > 0 && !states ? " in a NULL array" : "");
    if (!next && rnn->n_states > 1)
        return tg_error("%s: cell '%s' has %d states: pass next to receive the new ones", fn, layer->cell->name,
                        rnn->n_states);
    tg_tensor *init[TG_CELL_MAX_STATES] = {0};
    for (int k = 0; k < n; k++) {
        tg_tensor *st = states[k];
        if (!st) continue;
        if (!tg__check_float(fn, st)) return NULL;
        int64_t size = rnn->state_size[k];
        bool ok = st->ndim == x->ndim && st->dtype == x->dtype && st->shape[st->ndim - 1] == size &&
                  (x->ndim == 1 || st->shape[0] == x->shape[0]);
        if (!ok && x->ndim == 1)
            return tg_error("%s: expected state %d '%s' of shape [%lld] (%s), got %s (%s)", fn, k,
                            layer->cell->states[k].name, (long long)size, tg_dtype_name(x->dtype),
                            tg_shape_str(st, s2, sizeof s2), tg_dtype_name(st->dtype));
        if (!ok)
            return tg_error("%s: expected state %d '%s' of shape [%lld,%lld] (%s), got %s (%s)", fn, k,
                            layer->cell->states[k].name, (long long)x->shape[0], (long long)size, tg_dtype_name(x->dtype),
                            tg_shape_str(st, s2, sizeof s2), tg_dtype_name(st->dtype));
        init[k] = tg_unsqueeze(st, 0); /* (D*L = 1, B, size) or (1, size) */
    }
    tg_rnn_output r = {0};
    if (forward_impl(fn, rnn, tg_unsqueeze(x, 0), rnn->n_states, init, NULL, &r) < 0) return NULL;
    for (int k = 0; next && k < rnn->n_states; k++) next[k] = tg_select(r.state_n[k], 0, 0);
    return tg_select(r.output, 0, 0);
}

tg_tensor *tg_cell_layer_forward(tg_cell_layer *layer, tg_tensor *x, int n, tg_tensor *const *states, tg_tensor **next)
{
    const char *fn = "tg_cell_layer_forward";
    if (!layer) return tg_error("%s: NULL layer", fn);
    for (int k = 0; next && k < layer->rnn->n_states; k++) next[k] = NULL;
    tg_tensor *inputs[TG_CELL_MAX_STATES + 2] = {x, trained_param(layer->rnn)};
    for (int k = 0; states && k < n && k < TG_CELL_MAX_STATES; k++) inputs[k + 2] = states[k];
    tg_scope *s = tg__autoscope(TG_CELL_MAX_STATES + 2, inputs);
    /* As in tg_rnn_forward, an op that failed inside (out of memory) must
     * not pass for an absent optional argument: a view of a state that
     * came back NULL ran the step from zeros, a sum of biases that did
     * without them. */
    uint64_t errors = tg__error_count();
    tg_tensor *results[TG_CELL_MAX_STATES + 1] = {cell_step(fn, layer, x, n, states, next)};
    if (tg__error_count() != errors) results[0] = NULL;
    if (!results[0]) {
        for (int k = 0; next && k < layer->rnn->n_states; k++) next[k] = NULL;
        tg__autoscope_keep_n(s, 0, NULL);
        return NULL;
    }
    for (int k = 0; next && k < layer->rnn->n_states; k++) results[k + 1] = next[k];
    if (tg__autoscope_keep_n(s, layer->rnn->n_states + 1, results) < 0) {
        for (int k = 0; next && k < layer->rnn->n_states; k++) next[k] = NULL;
        return NULL;
    }
    for (int k = 0; next && k < layer->rnn->n_states; k++) next[k] = results[k + 1];
    return results[0];
}
