/* Cell descriptions: counting and checking them, and the built-in cells,
 * torch.nn's RNN, LSTM and GRU: their parameters in torch's order and
 * names, their states, their projections, and one step each. The driver
 * (rnn.c) checks and runs them as it runs any user's cell. */
#include <stdio.h>
#include <string.h>

#include <tapegrad/cells.h>
#include <tapegrad/elementwise.h>
#include <tapegrad/fuse.h>
#include <tapegrad/linalg.h>
#include "../core/internal.h"
#include "cells_internal.h"

int tg_cell_count_params(const tg_cell *cell)
{
    int n = 0;
    while (cell && n < TG_CELL_MAX_PARAMS && cell->params[n].name) n++;
    return n;
}

int tg_cell_count_states(const tg_cell *cell)
{
    int n = 0;
    while (cell && n < TG_CELL_MAX_STATES && cell->states[n].name) n++;
    return n;
}

int tg_cell_count_proj(const tg_cell *cell)
{
    int n = 0;
    while (cell && n < TG_CELL_MAX_PROJ && cell->proj[n].weight) n++;
    return n;
}

/* --- checking a description ------------------------------------------------------ */

int64_t tg__cell_size(tg_cell_size s, tg__layer_sizes z)
{
    int64_t terms[3], total = s.k;
    if (__builtin_mul_overflow((int64_t)s.i, z.in, &terms[0]) || __builtin_mul_overflow((int64_t)s.h, z.hidden, &terms[1]) ||
        __builtin_mul_overflow((int64_t)s.o, z.out, &terms[2]))
        return -1;
    for (int k = 0; k < 3; k++)
        if (__builtin_add_overflow(total, terms[k], &total)) return -1;
    return total;
}

static bool size_is_zero(tg_cell_size s) { return s.i == 0 && s.h == 0 && s.o == 0 && s.k == 0; }

int tg__cell_param_ndim(const tg_cell_param *p)
{
    int nd = 0;
    while (nd < TG_CELL_MAX_DIMS && !size_is_zero(p->shape[nd])) nd++;
    return nd;
}

int tg__cell_find_param(const tg_cell *cell, int n_params, const char *name)
{
    for (int k = 0; name && k < n_params; k++)
        if (strcmp(cell->params[k].name, name) == 0) return k;
    return -1;
}

static bool check_name(const char *fn, const tg_cell *cell, const char *field, int index, const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= TG_CELL_NAME_MAX)
        return TG__REJECT("%s: cell '%s': field %s[%d].name '%s' must have 1 to %d characters", fn, cell->name, field,
                          index, name, TG_CELL_NAME_MAX - 1);
    return true;
}

static bool check_init(const char *fn, const tg_cell *cell, int k)
{
    const tg_cell_init *init = &cell->params[k].init;
    const char *name = cell->params[k].name;
    if (init->kind < TG_INIT_RECURRENT || init->kind > TG_INIT_CONSTANT)
        return TG__REJECT("%s: cell '%s': field params[%d].init: unknown kind %d for '%s'", fn, cell->name, k,
                          (int)init->kind, name);
    if (init->kind == TG_INIT_UNIFORM && !(init->a <= init->b))
        return TG__REJECT("%s: cell '%s': field params[%d].init: uniform range [%g, %g) of '%s' is empty", fn,
                          cell->name, k, init->a, init->b, name);
    if (init->kind == TG_INIT_NORMAL && !(init->b >= 0))
        return TG__REJECT("%s: cell '%s': field params[%d].init: normal std %g of '%s' is negative", fn, cell->name, k,
                          init->b, name);
    return true;
}

bool tg__cell_check(const char *fn, const tg_cell *cell)
{
    if (!cell) return TG__REJECT("%s: NULL cell", fn);
    if (!cell->name || !*cell->name)
        return TG__REJECT("%s: a cell needs a name (field name is %s)", fn, cell->name ? "empty" : "NULL");
    if (!cell->step) return TG__REJECT("%s: cell '%s': field step is NULL", fn, cell->name);
    int n_params = tg_cell_count_params(cell), n_states = tg_cell_count_states(cell), n_proj = tg_cell_count_proj(cell);
    for (int k = 0; k < n_params; k++) {
        const tg_cell_param *p = &cell->params[k];
        if (!check_name(fn, cell, "params", k, p->name) || !check_init(fn, cell, k)) return false;
        if (tg__cell_find_param(cell, k, p->name) >= 0)
            return TG__REJECT("%s: cell '%s': field params[%d].name: '%s' is declared twice", fn, cell->name, k, p->name);
        if (tg__cell_param_ndim(p) == 0)
            return TG__REJECT("%s: cell '%s': field params[%d].shape: '%s' has no dims", fn, cell->name, k, p->name);
    }
    if (n_states == 0)
        return TG__REJECT("%s: cell '%s': field states is empty: a cell carries at least one state", fn, cell->name);
    for (int k = 0; k < n_states; k++) {
        const tg_cell_state *st = &cell->states[k];
        if (!check_name(fn, cell, "states", k, st->name)) return false;
        for (int j = 0; j < k; j++)
            if (strcmp(cell->states[j].name, st->name) == 0)
                return TG__REJECT("%s: cell '%s': field states[%d].name: '%s' is declared twice", fn, cell->name, k,
                                  st->name);
        if (size_is_zero(st->size))
            return TG__REJECT("%s: cell '%s': field states[%d].size of '%s' is zero", fn, cell->name, k, st->name);
        if (st->size.i != 0)
            return TG__REJECT("%s: cell '%s': field states[%d].size of '%s' depends on the input size I, which differs "
                              "between layers: a state's size is a function of H and O", fn, cell->name, k, st->name);
    }
    for (int j = 0; j < n_proj; j++) {
        const tg_cell_proj *pj = &cell->proj[j];
        int w = tg__cell_find_param(cell, n_params, pj->weight);
        if (w < 0)
            return TG__REJECT("%s: cell '%s': field proj[%d].weight: unknown parameter name '%s'", fn, cell->name, j,
                              pj->weight);
        if (cell->params[w].bias || cell->params[w].proj)
            return TG__REJECT("%s: cell '%s': field proj[%d].weight: '%s' may be left out (it is marked %s)", fn,
                              cell->name, j, pj->weight, cell->params[w].bias ? "bias" : "proj");
        if (pj->bias && tg__cell_find_param(cell, n_params, pj->bias) < 0)
            return TG__REJECT("%s: cell '%s': field proj[%d].bias: unknown parameter name '%s'", fn, cell->name, j,
                              pj->bias);
        if (pj->from < TG_FROM_INPUT || pj->from > TG_FROM_STATE(n_states - 1))
            return TG__REJECT("%s: cell '%s': field proj[%d].from is %d: neither TG_FROM_INPUT nor TG_FROM_STATE(k) of its "
                              "%d state%s", fn, cell->name, j, pj->from, n_states, n_states > 1 ? "s" : "");
        if (pj->blocks < 0)
            return TG__REJECT("%s: cell '%s': field proj[%d].blocks is %d, negative", fn, cell->name, j, pj->blocks);
        if (pj->summed && (j == 0 || pj->from == TG_FROM_INPUT || cell->proj[0].from != TG_FROM_INPUT))
            return TG__REJECT("%s: cell '%s': field proj[%d].summed: only a state projection after an input projection "
                              "proj[0] can be summed into it", fn, cell->name, j);
    }
    return true;
}

static const char *layer_words(int layer, char *buf, size_t len)
{
    snprintf(buf, len, " at layer %d", layer);
    return layer ? buf : "";
}

/* "[32,16]": parameter k's shape at the layer's sizes. */
static const char *shape_at(const tg_cell_param *p, tg__layer_sizes z, char *buf, size_t len)
{
    int used = snprintf(buf, len, "[");
    for (int d = 0; d < tg__cell_param_ndim(p) && used < (int)len; d++)
        used += snprintf(buf + used, len - (size_t)used, "%s%lld", d ? "," : "", (long long)tg__cell_size(p->shape[d], z));
    if (used < (int)len) snprintf(buf + used, len - (size_t)used, "]");
    return buf;
}

bool tg__cell_check_sizes(const char *fn, const tg_cell *cell, tg__layer_sizes z, int layer, bool with_proj)
{
    char where[32], shape[96];
    const char *at = layer_words(layer, where, sizeof where);
    int n_params = tg_cell_count_params(cell);
    for (int k = 0; k < n_params; k++) {
        const tg_cell_param *p = &cell->params[k];
        for (int d = 0; d < tg__cell_param_ndim(p); d++) {
            int64_t n = tg__cell_size(p->shape[d], z);
            if (n < 1 && (with_proj || !p->proj))
                return TG__REJECT("%s: cell '%s': field params[%d].shape: dim %d of '%s' is %lld for I = %lld, H = %lld, "
                                  "O = %lld%s", fn, cell->name, k, d, p->name, (long long)n, (long long)z.in,
                                  (long long)z.hidden, (long long)z.out, at);
        }
    }
    for (int k = 0; k < tg_cell_count_states(cell); k++) {
        int64_t n = tg__cell_size(cell->states[k].size, z);
        if (n < 1)
            return TG__REJECT("%s: cell '%s': field states[%d].size of '%s' is %lld for I = %lld, H = %lld, O = %lld", fn,
                              cell->name, k, cell->states[k].name, (long long)n, (long long)z.in, (long long)z.hidden,
                              (long long)z.out);
    }
    int w0 = tg_cell_count_proj(cell) ? tg__cell_find_param(cell, n_params, cell->proj[0].weight) : -1;
    for (int j = 0; j < tg_cell_count_proj(cell); j++) {
        const tg_cell_proj *pj = &cell->proj[j];
        const tg_cell_param *w = &cell->params[tg__cell_find_param(cell, n_params, pj->weight)];
        const tg_cell_param *b = pj->bias ? &cell->params[tg__cell_find_param(cell, n_params, pj->bias)] : NULL;
        int64_t rows = tg__cell_size(w->shape[0], z);
        int64_t width = pj->from == TG_FROM_INPUT ? z.in : tg__cell_size(cell->states[pj->from - 1].size, z);
        char source[TG_CELL_NAME_MAX + 32];
        if (pj->from == TG_FROM_INPUT) snprintf(source, sizeof source, "the layer's input");
        else snprintf(source, sizeof source, "state %d '%s'", pj->from - 1, cell->states[pj->from - 1].name);
        if (tg__cell_param_ndim(w) != 2 || tg__cell_size(w->shape[1], z) != width)
            return TG__REJECT("%s: cell '%s': field proj[%d]: weight '%s' is %s but must be (rows, %lld) to project %s "
                              "of width %lld%s", fn, cell->name, j, pj->weight, shape_at(w, z, shape, sizeof shape),
                              (long long)width, source, (long long)width, at);
        if (b && (tg__cell_param_ndim(b) != 1 || tg__cell_size(b->shape[0], z) != rows))
            return TG__REJECT("%s: cell '%s': field proj[%d]: bias '%s' is %s but must be [%lld] as weight '%s' has %lld "
                              "rows%s", fn, cell->name, j, pj->bias, shape_at(b, z, shape, sizeof shape), (long long)rows,
                              pj->weight, (long long)rows, at);
        int64_t rows0 = tg__cell_size(cell->params[w0].shape[0], z);
        if (pj->summed && rows != rows0)
            return TG__REJECT("%s: cell '%s': field proj[%d]: '%s' has %lld rows but is summed into proj[0] of %lld rows "
                              "('%s')", fn, cell->name, j, pj->weight, (long long)rows, (long long)rows0,
                              cell->proj[0].weight);
        int blocks = pj->blocks ? pj->blocks : 1;
        if (rows % blocks != 0)
            return TG__REJECT("%s: cell '%s': field proj[%d].blocks: %d blocks do not divide the %lld rows of '%s'", fn,
                              cell->name, j, blocks, (long long)rows, pj->weight);
    }
    return true;
}

/* --- the built-ins ------------------------------------------------------------------ */

/* The parameters by index in a step: torch's order (TG_CELL_TORCH_PARAMS). */
enum { W_IH, W_HH, B_IH, B_HH, W_HR };

/* h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), or relu: proj[0] holds the sum */
static tg_tensor *rnn_tanh_step(const tg_cell_args *a) { return a->next[0] = tg_tanh(a->proj[0]); }
static tg_tensor *rnn_relu_step(const tg_cell_args *a) { return a->next[0] = tg_relu(a->proj[0]); }

const tg_cell tg_cell_rnn_tanh = {
    .name = "RNN_TANH",
    .params = {TG_CELL_TORCH_PARAMS(1)},
    .states = {{"h", {.o = 1}}},
    .proj = {TG_CELL_TORCH_PROJ(1, true)},
    .step = rnn_tanh_step,
};

const tg_cell tg_cell_rnn_relu = {
    .name = "RNN_RELU",
    .params = {TG_CELL_TORCH_PARAMS(1)},
    .states = {{"h", {.o = 1}}},
    .proj = {TG_CELL_TORCH_PROJ(1, true)},
    .step = rnn_relu_step,
};

/* [i f g o] = x W_ih^T + b_ih + h W_hh^T + b_hh   (proj[0], (B, 4H))
 * c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c'),
 * then h' W_hr^T with proj_size. One fused expression (fuse.h): the gate
 * math runs as one op over the step's elements, and its backward keeps
 * only the gates and c. */
tg_tensor *tg__lstm_gates(const tg_cell_args *a)
{
    tg_tensor *gates = a->proj[0];
    tg_fuse f;
    tg_fuse_begin(&f, a->hidden_size);
    int input_gate = tg_fuse_sigmoid(&f, tg_fuse_input(&f, gates, 0));
    int forget_gate = tg_fuse_sigmoid(&f, tg_fuse_input(&f, gates, 1));
    int candidate = tg_fuse_tanh(&f, tg_fuse_input(&f, gates, 2));
    int output_gate = tg_fuse_sigmoid(&f, tg_fuse_input(&f, gates, 3));
    int cell = tg_fuse_add(&f, tg_fuse_mul(&f, forget_gate, tg_fuse_input(&f, a->state[1], 0)),
                           tg_fuse_mul(&f, input_gate, candidate));
    int hidden = tg_fuse_mul(&f, output_gate, tg_fuse_tanh(&f, cell));
    tg_tensor *out[2];
    if (tg_fuse_run(&f, 2, (int[]){hidden, cell}, out) < 0) return NULL;
    a->next[1] = out[1];
    return out[0];
}

static tg_tensor *lstm_step(const tg_cell_args *a)
{
    tg_tensor *hidden = tg__lstm_gates(a);
    return a->next[0] = hidden && a->w[W_HR] ? tg_linear(hidden, a->w[W_HR], NULL) : hidden;
}

const tg_cell tg_cell_lstm = {
    .name = "LSTM",
    .params = {TG_CELL_TORCH_PARAMS(4), {"weight_hr", {{.o = 1}, {.h = 1}}, .proj = true}},
    .states = {{"h", {.o = 1}}, {"c", {.h = 1}}},
    .proj = {TG_CELL_TORCH_PROJ(4, true)},
    .step = lstm_step,
};

/* [r z n] blocks of xW = proj[0] and hW = proj[1], each (B, 3H):
 * r, z = sigmoid(xW + hW);  n = tanh(xW_n + r hW_n);  h' = lerp(n, h, z) = (1-z) n + z h,
 * one fused expression (fuse.h) */
static tg_tensor *gru_step(const tg_cell_args *a)
{
    tg_tensor *xw = a->proj[0], *hw = a->proj[1];
    tg_fuse f;
    tg_fuse_begin(&f, a->hidden_size);
    int reset = tg_fuse_sigmoid(&f, tg_fuse_add(&f, tg_fuse_input(&f, xw, 0), tg_fuse_input(&f, hw, 0)));
    int update = tg_fuse_sigmoid(&f, tg_fuse_add(&f, tg_fuse_input(&f, xw, 1), tg_fuse_input(&f, hw, 1)));
    int candidate = tg_fuse_tanh(&f, tg_fuse_add(&f, tg_fuse_input(&f, xw, 2),
                                                 tg_fuse_mul(&f, reset, tg_fuse_input(&f, hw, 2))));
    int hidden = tg_fuse_lerp(&f, candidate, tg_fuse_input(&f, a->state[0], 0), update);
    tg_tensor *out;
    return a->next[0] = tg_fuse_run(&f, 1, &hidden, &out) < 0 ? NULL : out;
}

const tg_cell tg_cell_gru = {
    .name = "GRU",
    .params = {TG_CELL_TORCH_PARAMS(3)},
    .states = {{"h", {.o = 1}}},
    /* r scales the hidden projection of n: hW stays apart */
    .proj = {TG_CELL_TORCH_PROJ(3, false)},
    .step = gru_step,
};
