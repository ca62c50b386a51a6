/* Recurrent cells from ops: the gate math of one step, and the cell modules
 * that compute both projections and call it. */
#include <math.h>
#include <stdlib.h>

#include <tapegrad/cells.h>
#include <tapegrad/elementwise.h>
#include "../core/internal.h"
#include <tapegrad/linalg.h>

int tg_rnn_mode_gates(tg_rnn_mode mode)
{
    switch (mode) {
    case TG_LSTM: return 4;
    case TG_GRU: return 3;
    default: return 1;
    }
}

/* xproj and hproj are (..., G*H) of one shape and dtype, and state (if
 * given) is (..., H). Returns H, or -1 with a message. */
static int64_t check_gates(const char *fn, int gates, const tg_tensor *xproj, const tg_tensor *hproj,
                           const tg_tensor *state)
{
    if (!tg__check_float(fn, xproj) || !tg__check_float(fn, hproj)) return -1;
    char s1[128], s2[128];
    int64_t width = xproj->ndim ? xproj->shape[xproj->ndim - 1] : 0;
    if (!tg_same_shape(xproj, hproj) || xproj->dtype != hproj->dtype || width % gates != 0 || width == 0)
        return tg_fail("%s: expected input and hidden projections of one shape (..., %d*H) and dtype, got %s and %s", fn,
                       gates, tg_shape_str(xproj, s1, sizeof s1), tg_shape_str(hproj, s2, sizeof s2));
    int64_t hidden = width / gates;
    if (state) {
        if (!tg__check_float(fn, state)) return -1;
        bool ok = state->ndim == xproj->ndim && state->dtype == xproj->dtype;
        for (int d = 0; ok && d < state->ndim; d++)
            ok = state->shape[d] == (d == state->ndim - 1 ? hidden : xproj->shape[d]);
        if (!ok)
            return tg_fail("%s: expected a state of shape (..., %lld) matching projections %s, got %s", fn,
                           (long long)hidden, tg_shape_str(xproj, s1, sizeof s1), tg_shape_str(state, s2, sizeof s2));
    }
    return hidden;
}

/* Outside any scope and with nothing to record, a step's temporaries live
 * in a scope of its own and only its results are kept (tg__autoscope). */

/* h' = act(xW + hW) */
static tg_tensor *rnn_step(tg_tensor *xproj, tg_tensor *hproj, tg_rnn_mode mode)
{
    if (check_gates("tg_rnn_step", 1, xproj, hproj ? hproj : xproj, NULL) < 0) return NULL;
    if (mode != TG_RNN_TANH && mode != TG_RNN_RELU)
        return tg_error("tg_rnn_step: mode must be TG_RNN_TANH or TG_RNN_RELU, got %d", (int)mode);
    tg_tensor *pre = hproj ? tg_add(xproj, hproj) : xproj;
    return mode == TG_RNN_RELU ? tg_relu(pre) : tg_tanh(pre);
}

/* [i f g o] = xW + hW;  c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c') */
static tg_tensor *lstm_step(tg_tensor *xproj, tg_tensor *hproj, tg_tensor *c, tg_tensor **c_out)
{
    if (c_out) *c_out = NULL;
    int64_t hidden = check_gates("tg_lstm_step", 4, xproj, hproj ? hproj : xproj, c);
    if (hidden < 0) return NULL;
    if (!c || !c_out) return tg_error("tg_lstm_step: NULL cell state or c_out");
    tg_tensor *pre = hproj ? tg_add(xproj, hproj) : xproj;
    /* i and f are adjacent blocks: one sigmoid over both. */
    tg_tensor *in_forget = tg_sigmoid(tg_narrow(pre, -1, 0, 2 * hidden));
    tg_tensor *input_gate = tg_narrow(in_forget, -1, 0, hidden);
    tg_tensor *forget_gate = tg_narrow(in_forget, -1, hidden, hidden);
    tg_tensor *candidate = tg_tanh(tg_narrow(pre, -1, 2 * hidden, hidden));
    tg_tensor *output_gate = tg_sigmoid(tg_narrow(pre, -1, 3 * hidden, hidden));
    tg_tensor *cell = tg_addcmul(tg_mul(forget_gate, c), input_gate, candidate, 1.0);
    *c_out = cell;
    return tg_mul(output_gate, tg_tanh(cell));
}

/* [r z n] blocks;  r, z = sigmoid(xW + hW);  n = tanh(xW_n + r hW_n);  h' = lerp(n, h, z) = (1-z) n + z h */
static tg_tensor *gru_step(tg_tensor *xproj, tg_tensor *hproj, tg_tensor *h)
{
    int64_t hidden = check_gates("tg_gru_step", 3, xproj, hproj, h);
    if (hidden < 0) return NULL;
    if (!h) return tg_error("tg_gru_step: NULL hidden state");
    tg_tensor *reset_update = tg_sigmoid(tg_add(tg_narrow(xproj, -1, 0, 2 * hidden), tg_narrow(hproj, -1, 0, 2 * hidden)));
    tg_tensor *reset = tg_narrow(reset_update, -1, 0, hidden);
    tg_tensor *update = tg_narrow(reset_update, -1, hidden, hidden);
    tg_tensor *candidate = tg_tanh(tg_addcmul(tg_narrow(xproj, -1, 2 * hidden, hidden), reset,
                                              tg_narrow(hproj, -1, 2 * hidden, hidden), 1.0));
    return tg_lerp(candidate, h, update);
}

tg_tensor *tg_rnn_step(tg_tensor *xproj, tg_tensor *hproj, tg_rnn_mode mode)
{
    tg_scope *s = tg__autoscope(2, (tg_tensor *[]){xproj, hproj});
    return tg__autoscope_keep(s, rnn_step(xproj, hproj, mode));
}

tg_tensor *tg_lstm_step(tg_tensor *xproj, tg_tensor *hproj, tg_tensor *c, tg_tensor **c_out)
{
    tg_scope *s = tg__autoscope(3, (tg_tensor *[]){xproj, hproj, c});
    return tg__autoscope_keep2(s, lstm_step(xproj, hproj, c, c_out), c_out);
}

tg_tensor *tg_gru_step(tg_tensor *xproj, tg_tensor *hproj, tg_tensor *h)
{
    tg_scope *s = tg__autoscope(3, (tg_tensor *[]){xproj, hproj, h});
    return tg__autoscope_keep(s, gru_step(xproj, hproj, h));
}

/* --- cell modules ------------------------------------------------------------ */

tg_cell *tg_cell_new(tg_rnn_mode mode, int64_t input_size, int64_t hidden_size, bool bias, tg_dtype dtype)
{
    const char *fn = "tg_cell_new";
    if (mode < TG_RNN_TANH || mode > TG_GRU) return tg_error("%s: unknown mode %d", fn, (int)mode);
    if (input_size < 1 || hidden_size < 1)
        return tg_error("%s: input_size and hidden_size must be positive, got %lld and %lld", fn,
                        (long long)input_size, (long long)hidden_size);
    if (input_size > TG_MAX_NUMEL || hidden_size > TG_MAX_NUMEL) /* 4 * hidden_size must not wrap */
        return tg_error("%s: input_size %lld or hidden_size %lld is too large", fn, (long long)input_size,
                        (long long)hidden_size);
    if (dtype != TG_F32 && dtype != TG_F64) return tg_error("%s: dtype must be float32 or float64", fn);
    tg_cell *cell = tg__calloc(1, sizeof *cell);
    if (!cell) return tg_error("%s: out of memory", fn);
    *cell = (tg_cell){.mode = mode, .input_size = input_size, .hidden_size = hidden_size};
    int64_t rows = tg_rnn_mode_gates(mode) * hidden_size;
    double bound = 1.0 / sqrt((double)hidden_size);
    /* Stop at the first failure, naming this function before the cause. */
    bool ok = (cell->weight_ih = tg_param_uniform(dtype, 2, (int64_t[]){rows, input_size}, -bound, bound)) &&
              (cell->weight_hh = tg_param_uniform(dtype, 2, (int64_t[]){rows, hidden_size}, -bound, bound)) &&
              (!bias || ((cell->bias_ih = tg_param_uniform(dtype, 1, &rows, -bound, bound)) &&
                         (cell->bias_hh = tg_param_uniform(dtype, 1, &rows, -bound, bound))));
    if (!ok) {
        tg_cell_free(cell);
        return tg_error("%s: %s", fn, tg_last_error());
    }
    return cell;
}

void tg_cell_free(tg_cell *cell)
{
    if (!cell) return;
    tg_free(cell->weight_ih);
    tg_free(cell->weight_hh);
    tg_free(cell->bias_ih);
    tg_free(cell->bias_hh);
    free(cell);
}

static tg_tensor *cell_forward(tg_cell *cell, tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor **c_out)
{
    const char *fn = "tg_cell_forward";
    if (c_out) *c_out = NULL;
    if (!cell) return tg_error("%s: NULL cell", fn);
    if (!tg__check_float(fn, x) || (h && !tg__check_float(fn, h)) || (c && !tg__check_float(fn, c))) return NULL;
    char s1[128], s2[128];
    if ((x->ndim != 1 && x->ndim != 2) || x->shape[x->ndim - 1] != cell->input_size)
        return tg_error("%s: expected input of shape (batch, %lld) or (%lld), got %s", fn, (long long)cell->input_size,
                        (long long)cell->input_size, tg_shape_str(x, s1, sizeof s1));
    if (x->dtype != cell->weight_ih->dtype)
        return tg_error("%s: input is %s but the cell's parameters are %s", fn, tg_dtype_name(x->dtype),
                        tg_dtype_name(cell->weight_ih->dtype));
    bool lstm = cell->mode == TG_LSTM;
    if (lstm && !c_out) return tg_error("%s: an LSTM cell needs c_out for the new cell state", fn);
    if (!lstm && c) return tg_error("%s: only an LSTM cell takes a cell state", fn);
    int64_t state_shape[2] = {x->shape[0], cell->hidden_size};
    int state_ndim = x->ndim;
    if (state_ndim == 1) state_shape[0] = cell->hidden_size;
    tg_tensor *states[2] = {h, c};
    for (int k = 0; k < 2; k++) {
        tg_tensor *s = states[k];
        if (!s) continue;
        bool ok = s->ndim == state_ndim && s->dtype == x->dtype;
        for (int d = 0; ok && d < state_ndim; d++) ok = s->shape[d] == state_shape[d];
        if (!ok && state_ndim == 1)
            return tg_error("%s: expected %s of shape [%lld] (%s), got %s (%s)", fn, k ? "cell state" : "hidden state",
                            (long long)cell->hidden_size, tg_dtype_name(x->dtype), tg_shape_str(s, s2, sizeof s2),
                            tg_dtype_name(s->dtype));
        if (!ok)
            return tg_error("%s: expected %s of shape [%lld,%lld] (%s), got %s (%s)", fn, k ? "cell state" : "hidden state",
                            (long long)state_shape[0], (long long)cell->hidden_size, tg_dtype_name(x->dtype),
                            tg_shape_str(s, s2, sizeof s2), tg_dtype_name(s->dtype));
    }
    if (!h) h = tg_zeros(x->dtype, state_ndim, state_shape);
    if (lstm && !c) c = tg_zeros(x->dtype, state_ndim, state_shape);
    tg_tensor *xproj = tg_linear(x, cell->weight_ih, cell->bias_ih);
    tg_tensor *hproj = tg_linear(h, cell->weight_hh, cell->bias_hh);
    if (!xproj || !hproj) return NULL; /* not an absent projection: a failure */
    switch (cell->mode) {
    case TG_LSTM: return lstm_step(xproj, hproj, c, c_out);
    case TG_GRU: return gru_step(xproj, hproj, h);
    default: return rnn_step(xproj, hproj, cell->mode);
    }
}

tg_tensor *tg_cell_forward(tg_cell *cell, tg_tensor *x, tg_tensor *h, tg_tensor *c, tg_tensor **c_out)
{
    tg_tensor *in[5] = {x, h, c, cell ? cell->weight_ih : NULL, cell ? cell->weight_hh : NULL};
    tg_scope *s = tg__autoscope(5, in);
    return tg__autoscope_keep2(s, cell_forward(cell, x, h, c, c_out), c_out);
}

int tg_cell_params(tg_cell *cell, tg_params *out, const char *prefix)
{
    if (!cell || !out) return tg_fail("tg_cell_params: NULL cell or collection");
    if (tg_params_add(out, prefix, "weight_ih", cell->weight_ih) < 0 ||
        tg_params_add(out, prefix, "weight_hh", cell->weight_hh) < 0)
        return -1;
    if (cell->bias_ih && (tg_params_add(out, prefix, "bias_ih", cell->bias_ih) < 0 ||
                          tg_params_add(out, prefix, "bias_hh", cell->bias_hh) < 0))
        return -1;
    return 0;
}
