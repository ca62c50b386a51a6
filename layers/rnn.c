/* Multi-layer RNN, LSTM and GRU: one driver for all three. Per layer and
 * direction: one linear for the input projection of every step, then a
 * loop of h W_hh^T plus the cell's gate math on a view of that step. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include <tapegrad/elementwise.h>
#include "../core/internal.h"
#include <tapegrad/linalg.h>
#include <tapegrad/nn.h>
#include <tapegrad/rnn.h>
#include <tapegrad/shape.h>

static const char *new_name(tg_rnn_mode mode)
{
    return mode == TG_LSTM ? "tg_lstm_new" : mode == TG_GRU ? "tg_gru_new" : "tg_rnn_new";
}

static const char *forward_name(tg_rnn_mode mode)
{
    return mode == TG_LSTM ? "tg_lstm_forward" : mode == TG_GRU ? "tg_gru_forward" : "tg_rnn_forward";
}

/* --- construction ------------------------------------------------------------ */

static bool check_config(const char *fn, tg_rnn_mode mode, const tg_rnn_config *c)
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
    if (c->proj_size > 0 && mode != TG_LSTM)
        return TG__REJECT("%s: proj_size argument is only supported for LSTM, not RNN or GRU", fn);
    if (c->proj_size >= c->hidden_size && c->proj_size > 0)
        return TG__REJECT("%s: proj_size has to be smaller than hidden_size (proj_size %lld, hidden_size %lld)", fn,
                          (long long)c->proj_size, (long long)c->hidden_size);
    if (c->layer_norm && mode != TG_LSTM && mode != TG_GRU)
        return TG__REJECT("%s: layer_norm is only supported for LSTM and GRU", fn);
    if (c->relu && mode != TG_RNN_TANH && mode != TG_RNN_RELU)
        return TG__REJECT("%s: relu is only a nonlinearity of the Elman RNN", fn);
    if (c->dtype != TG_F32 && c->dtype != TG_F64) return TG__REJECT("%s: dtype must be float32 or float64", fn);
    return true;
}

/* Stops at the first parameter that cannot be made (out of memory or too
 * large, already reported). */
static bool make_weights(tg_rnn *rnn, int layer, tg_rnn_weights *w)
{
    const tg_rnn_config *c = &rnn->config;
    tg_dtype dt = c->dtype;
    int64_t hidden = c->hidden_size, rows = tg_rnn_mode_gates(rnn->mode) * hidden;
    int64_t in = layer == 0 ? c->input_size : rnn->num_directions * rnn->out_size;
    double bound = 1.0 / sqrt((double)hidden);
    if (!(w->weight_ih = tg_param_uniform(dt, 2, (int64_t[]){rows, in}, -bound, bound))) return false;
    if (!(w->weight_hh = tg_param_uniform(dt, 2, (int64_t[]){rows, rnn->out_size}, -bound, bound))) return false;
    if (!c->no_bias) {
        if (!(w->bias_ih = tg_param_uniform(dt, 1, &rows, -bound, bound))) return false;
        if (!(w->bias_hh = tg_param_uniform(dt, 1, &rows, -bound, bound))) return false;
    }
    if (c->proj_size > 0 && !(w->weight_hr = tg_param_uniform(dt, 2, (int64_t[]){c->proj_size, hidden}, -bound, bound)))
        return false;
    if (c->layer_norm) {
        if (!(w->ln_weight_ih = tg_param_full(dt, 1, &rows, 1.0))) return false;
        if (!(w->ln_weight_hh = tg_param_full(dt, 1, &rows, 1.0))) return false;
    }
    return true;
}

static tg_rnn *rnn_new(tg_rnn_mode mode, const tg_rnn_config *config)
{
    const char *fn = new_name(mode);
    if (!check_config(fn, mode, config)) return NULL;
    tg_rnn *rnn = tg__calloc(1, sizeof *rnn);
    if (!rnn) return tg_error("%s: out of memory", fn);
    rnn->mode = mode;
    rnn->config = *config;
    if (rnn->config.num_layers == 0) rnn->config.num_layers = 1;
    rnn->num_directions = config->bidirectional ? 2 : 1;
    rnn->out_size = config->proj_size > 0 ? config->proj_size : config->hidden_size;
    rnn->training = true;
    int n = rnn->config.num_layers * rnn->num_directions;
    rnn->weights = tg__calloc((size_t)n, sizeof *rnn->weights);
    bool ok = rnn->weights != NULL;
    for (int i = 0; ok && i < n; i++) ok = make_weights(rnn, i / rnn->num_directions, &rnn->weights[i]);
    if (ok && config->learn_init) {
        rnn->init_h = tg_param_full(config->dtype, 3, (int64_t[]){n, 1, rnn->out_size}, 0.0);
        ok = rnn->init_h != NULL;
        if (ok && mode == TG_LSTM) {
            rnn->init_c = tg_param_full(config->dtype, 3, (int64_t[]){n, 1, config->hidden_size}, 0.0);
            ok = rnn->init_c != NULL;
        }
    }
    if (!ok) {
        if (!rnn->weights) tg_error("%s: out of memory", fn);
        else tg_error("%s: %s", fn, tg_last_error()); /* name the function the user called */
        tg_rnn_free(rnn);
        return NULL;
    }
    return rnn;
}

tg_rnn *tg_rnn_new(const tg_rnn_config *config)
{
    return rnn_new(config && config->relu ? TG_RNN_RELU : TG_RNN_TANH, config);
}
tg_lstm *tg_lstm_new(const tg_lstm_config *config) { return rnn_new(TG_LSTM, config); }
tg_gru *tg_gru_new(const tg_gru_config *config) { return rnn_new(TG_GRU, config); }

void tg_rnn_free(tg_rnn *rnn)
{
    if (!rnn) return;
    int n = rnn->config.num_layers * rnn->num_directions;
    for (int i = 0; rnn->weights && i < n; i++) {
        tg_rnn_weights *w = &rnn->weights[i];
        tg_tensor *all[] = {w->weight_ih, w->weight_hh, w->bias_ih, w->bias_hh, w->weight_hr, w->ln_weight_ih, w->ln_weight_hh};
        for (size_t k = 0; k < sizeof all / sizeof *all; k++) tg_free(all[k]);
    }
    free(rnn->weights);
    tg_free(rnn->init_h);
    tg_free(rnn->init_c);
    free(rnn);
}

void tg_rnn_train(tg_rnn *rnn, bool training)
{
    if (rnn) rnn->training = training;
}

int tg_rnn_params(tg_rnn *rnn, tg_params *out, const char *prefix)
{
    if (!rnn || !out) return tg_fail("tg_rnn_params: NULL layer or collection");
    static const char *const kinds[] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "ln_weight_ih",
                                        "ln_weight_hh"};
    for (int i = 0; i < rnn->config.num_layers * rnn->num_directions; i++) {
        tg_rnn_weights *w = &rnn->weights[i];
        tg_tensor *all[] = {w->weight_ih, w->weight_hh, w->bias_ih, w->bias_hh, w->weight_hr, w->ln_weight_ih, w->ln_weight_hh};
        for (int k = 0; k < 7; k++) {
            if (!all[k]) continue;
            char name[64];
            snprintf(name, sizeof name, "%s_l%d%s", kinds[k], i / rnn->num_directions, i % rnn->num_directions ? "_reverse" : "");
            if (tg_params_add(out, prefix, name, all[k]) < 0) return -1;
        }
    }
    if (rnn->init_h && tg_params_add(out, prefix, "h0", rnn->init_h) < 0) return -1;
    if (rnn->init_c && tg_params_add(out, prefix, "c0", rnn->init_c) < 0) return -1;
    return 0;
}

/* --- forward ------------------------------------------------------------------ */

/* The time layout of one call. */
typedef struct {
    int tdim;            /* time dim of x and output: 0, or 1 with batch_first */
    int64_t steps, batch;
    tg_tensor *mask;     /* (T, B, 1): 1 while t < lengths[b]; NULL if all are T */
} sequence;

/* x W^T + b, or with layer norm LN_gates(x W^T) * gain + b, where LN_gates
 * normalises each of the G blocks of H columns on its own. x is (..., in). */
static tg_tensor *project(tg_tensor *x, tg_tensor *weight, tg_tensor *bias, tg_tensor *gain, int gates)
{
    if (!gain) return tg_linear(x, weight, bias);
    tg_tensor *proj = tg_linear(x, weight, NULL);
    if (!proj) return NULL;
    int64_t blocks[TG_MAX_DIMS];
    int nd = proj->ndim;
    for (int d = 0; d < nd - 1; d++) blocks[d] = proj->shape[d];
    blocks[nd - 1] = gates;
    blocks[nd] = proj->shape[nd - 1] / gates;
    tg_tensor *normed = tg_layer_norm(tg_view(proj, nd + 1, blocks), 1, NULL, NULL, TG_RNN_LN_EPS);
    normed = tg_view(normed, nd, proj->shape);
    return bias ? tg_addcmul(bias, normed, gain, 1.0) : tg_mul(normed, gain);
}

/* The state a layer and direction starts from: the given h0/c0 slice, the
 * learned one broadcast over the batch, or zeros. (B, size). */
static tg_tensor *initial_state(tg_tensor *given, tg_tensor *learned, int index, int64_t batch, int64_t size,
                                tg_dtype dtype)
{
    int64_t shape[2] = {batch, size};
    if (given) return tg_select(given, 0, index);
    if (learned) return tg_expand(tg_select(learned, 0, index), 2, shape);
    return tg_zeros(dtype, 2, shape);
}

/* One layer in one direction over in (time along sq->tdim). *hidden and
 * *cell hold the initial state on entry and the final one on return.
 * Returns the output of every step, stacked along the time dim. */
static tg_tensor *run_direction(const tg_rnn *rnn, const tg_rnn_weights *w, tg_tensor *in, bool reverse,
                                const sequence *sq, tg_tensor **hidden, tg_tensor **cell)
{
    int gates = tg_rnn_mode_gates(rnn->mode);
    /* Scope memory, like every tensor of the step: a steady loop never mallocs. */
    tg_tensor **outputs = tg__arena_alloc(sizeof *outputs * (size_t)sq->steps);
    if (!outputs) return NULL;
    /* (T, B, G*H) or (B, T, G*H): every step's input projection at once */
    tg_tensor *xproj = project(in, w->weight_ih, w->bias_ih, w->ln_weight_ih, gates);
    /* Elman and LSTM steps need only xW + b_ih + b_hh + hW: add b_hh once for
     * all steps, and each step is then one linear with xW as the added term.
     * The GRU keeps hW apart (r scales it), and layer norm normalises it. */
    bool fused = rnn->mode != TG_GRU && !w->ln_weight_hh;
    if (fused && w->bias_hh) xproj = tg_add(xproj, w->bias_hh);
    for (int64_t s = 0; s < sq->steps; s++) {
        int64_t t = reverse ? sq->steps - 1 - s : s;
        tg_tensor *xt = tg_select(xproj, sq->tdim, t); /* (B, G*H) */
        tg_tensor *hproj = NULL;
        if (fused) xt = tg_linear(*hidden, w->weight_hh, xt);
        else hproj = project(*hidden, w->weight_hh, w->bias_hh, w->ln_weight_hh, gates);
        tg_tensor *new_cell = NULL, *new_hidden;
        switch (rnn->mode) {
        case TG_LSTM: new_hidden = tg_lstm_step(xt, hproj, *cell, &new_cell); break;
        case TG_GRU: new_hidden = tg_gru_step(xt, hproj, *hidden); break;
        default: new_hidden = tg_rnn_step(xt, hproj, rnn->mode); break;
        }
        if (w->weight_hr) new_hidden = tg_linear(new_hidden, w->weight_hr, NULL);
        outputs[t] = new_hidden;
        if (sq->mask) {
            /* finished sequences keep their state */
            tg_tensor *valid = tg_select(sq->mask, 0, t); /* (B, 1) */
            *hidden = tg_where(valid, new_hidden, *hidden);
            if (*cell) *cell = tg_where(valid, new_cell, *cell);
        } else {
            *hidden = new_hidden;
            if (*cell) *cell = new_cell;
        }
    }
    return tg_stack((int)sq->steps, outputs, sq->tdim);
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
        return TG__REJECT("%s: Expected %s of size (%lld, %lld, %lld) and dtype %s, got %s (%s)", fn, name,
                          (long long)layers, (long long)batch, (long long)size, tg_dtype_name(x->dtype),
                          tg_shape_str(state, s, sizeof s), tg_dtype_name(state->dtype));
    return TG__REJECT("%s: Expected %s of size (%lld, %lld) and dtype %s for an unbatched input, got %s (%s)", fn, name,
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

static int forward_impl(tg_rnn *rnn, tg_tensor *x, tg_tensor *h0, tg_tensor *c0, const int64_t *lengths,
                        tg_rnn_output *out)
{
    if (out) *out = (tg_rnn_output){0};
    if (!rnn || !out) return tg_fail("tg_rnn_forward: NULL layer or output");
    const char *fn = forward_name(rnn->mode);
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
    bool lstm = rnn->mode == TG_LSTM, batched = x->ndim == 3;
    if (c0 && !lstm) return tg_fail("%s: only an LSTM takes an initial cell state c0", fn);
    if (!batched && lengths)
        return tg_fail("%s: lengths need a batched (3-dim) input, got %s", fn, tg_shape_str(x, s1, sizeof s1));
    sequence sq = {.tdim = cfg->batch_first && batched ? 1 : 0};
    sq.steps = x->shape[sq.tdim];
    sq.batch = batched ? x->shape[1 - sq.tdim] : 1;
    int n_states = cfg->num_layers * rnn->num_directions;
    if (sq.steps < 1 || sq.batch < 1)
        return tg_fail("%s: expected at least one time step and one sequence, got input %s", fn, tg_shape_str(x, s1, sizeof s1));
    if (!check_state(fn, "h0", h0, x, batched, n_states, sq.batch, rnn->out_size) ||
        !check_state(fn, "c0", c0, x, batched, n_states, sq.batch, cfg->hidden_size) ||
        !make_mask(fn, lengths, x->dtype, &sq))
        return -1;
    if (!batched) {
        x = tg_unsqueeze(x, 1);
        h0 = h0 ? tg_unsqueeze(h0, 1) : NULL;
        c0 = c0 ? tg_unsqueeze(c0, 1) : NULL;
    }

    tg_tensor *layer_in = x;
    tg_tensor **finals = tg__arena_alloc(sizeof *finals * 2 * (size_t)n_states); /* h_n entries, then c_n entries */
    if (!finals) return -1;
    for (int layer = 0; layer < cfg->num_layers && layer_in; layer++) {
        tg_tensor *dir_out[2];
        for (int dir = 0; dir < rnn->num_directions; dir++) {
            int i = layer * rnn->num_directions + dir;
            tg_tensor *hidden = initial_state(h0, rnn->init_h, i, sq.batch, rnn->out_size, x->dtype);
            tg_tensor *cell = lstm ? initial_state(c0, rnn->init_c, i, sq.batch, cfg->hidden_size, x->dtype) : NULL;
            dir_out[dir] = run_direction(rnn, &rnn->weights[i], layer_in, dir == 1, &sq, &hidden, &cell);
            finals[i] = hidden;
            finals[n_states + i] = cell;
        }
        layer_in = rnn->num_directions == 2 ? tg_cat(2, dir_out, -1) : dir_out[0];
        if (sq.mask) /* outputs past each sequence's end are zero */
            layer_in = tg_mul(layer_in, sq.tdim ? tg_transpose(sq.mask, 0, 1) : sq.mask);
        if (layer < cfg->num_layers - 1) layer_in = tg_dropout(layer_in, cfg->dropout, rnn->training);
    }
    tg_tensor *output = layer_in;
    tg_tensor *h_n = output ? tg_stack(n_states, finals, 0) : NULL;
    tg_tensor *c_n = output && lstm ? tg_stack(n_states, finals + n_states, 0) : NULL;
    if (!output || !h_n || (lstm && !c_n)) return -1;
    if (!batched) {
        output = tg_squeeze(output, 1);
        h_n = tg_squeeze(h_n, 1);
        c_n = c_n ? tg_squeeze(c_n, 1) : NULL;
    }
    *out = (tg_rnn_output){.output = output, .h_n = h_n, .c_n = c_n};
    return 0;
}

int tg_rnn_forward(tg_rnn *rnn, tg_tensor *x, tg_tensor *h0, tg_tensor *c0, const int64_t *lengths,
                   tg_rnn_output *out)
{
    /* Outside any scope, with nothing to record, the step tensors are
     * temporaries of this call and only the results are kept. */
    if (!out) return forward_impl(rnn, x, h0, c0, lengths, out); /* fails, naming the NULL */
    tg_tensor *inputs[4] = {x, h0, c0, rnn && rnn->weights ? rnn->weights[0].weight_ih : NULL};
    tg_scope *s = tg__autoscope(4, inputs);
    /* A step that failed (out of memory) must not pass for an absent
     * optional argument (a NULL bias, h0): any failure inside fails the call. */
    uint64_t errors = tg__error_count();
    int status = forward_impl(rnn, x, h0, c0, lengths, out);
    if (status == 0 && tg__error_count() != errors) {
        status = -1;
        *out = (tg_rnn_output){0};
    }
    if (s) {
        /* All three kept, or none. */
        tg_tensor *results[3] = {out->output, out->h_n, out->c_n};
        for (int i = 0; i < 3; i++) {
            tg_tensor *kept = results[i] ? tg_keep(results[i]) : NULL;
            if (results[i] && !kept) status = -1;
            results[i] = kept;
        }
        tg_scope_end(s);
        if (status < 0)
            for (int i = 0; i < 3; i++) tg_free(results[i]);
        *out = status < 0 ? (tg_rnn_output){0} : (tg_rnn_output){.output = results[0], .h_n = results[1], .c_n = results[2]};
    }
    return status;
}
