/* Cell variants (variants.h): each is its paper's formula, a step of a few
 * ops, and a description. Steps read the step's projections, states and
 * parameters by index (tg_cell_args); back-propagation through time comes
 * from the tape. The LSTM family's gate math is a fused expression
 * (fuse.h), as the built-in LSTM's is. */
#include <tapegrad/elementwise.h>
#include <tapegrad/fuse.h>
#include <tapegrad/linalg.h>
#include <tapegrad/shape.h>
#include <tapegrad/variants.h>
#include "cells_internal.h"

/* Parameters by index: torch's four (TG_CELL_TORCH_PARAMS), then the
 * variant's own. */
enum { W_IH, W_HH, B_IH, B_HH, PEEP, W_GATES };
/* States by index. */
enum { Y, C, GATES };

/* Block k of H columns of a (B, G*H) pre-activation. */
static tg_tensor *block(tg_tensor *t, int k, int64_t H) { return tg_narrow(t, 1, k * H, H); }
/* Block k of H rows of a (G*H, .) weight or a (G*H) vector. */
static tg_tensor *rows(tg_tensor *t, int k, int64_t H) { return tg_narrow(t, 0, k * H, H); }

/* pre + p_k * c: the peephole of block k of the peephole vector p. */
static tg_tensor *peep(tg_tensor *pre, tg_tensor *p, int k, tg_tensor *c, int64_t H)
{
    return tg_addcmul(pre, rows(p, k, H), c, 1.0);
}

/* In a fused expression f over (B, H) values: sigmoid(pre~_k + p_kp * c),
 * a gate from block k of the pre-activation and block kp of the peepholes
 * p (a (P*H) vector) times the cell value c. */
static int peep_gate(tg_fuse *f, tg_tensor *pre, int k, tg_tensor *p, int kp, int c)
{
    return tg_fuse_sigmoid(f, tg_fuse_add(f, tg_fuse_input(f, pre, k), tg_fuse_mul(f, tg_fuse_input(f, p, kp), c)));
}

/* Start a step's fused expression, of (B, H) values: returns c_{t-1}. */
static int fused_begin(tg_fuse *f, const tg_cell_args *a)
{
    tg_fuse_begin(f, a->hidden_size);
    return tg_fuse_input(f, a->state[C], 0);
}

/* V's c_t = z * i + c_{t-1} * f, its gates i and f from blocks 0 and 1. */
static int v_cell(tg_fuse *f, const tg_cell_args *a, int c, int z)
{
    tg_tensor *pre = a->proj[0], *p = a->w[PEEP];
    int i = peep_gate(f, pre, 0, p, 0, c), fg = peep_gate(f, pre, 1, p, 1, c);
    return tg_fuse_add(f, tg_fuse_mul(f, fg, c), tg_fuse_mul(f, i, z));
}

/* Run f, whose values y and cell are the step's output and new cell state. */
static tg_tensor *fused_step(const tg_cell_args *a, tg_fuse *f, int y, int cell)
{
    tg_tensor *out[2];
    if (tg_fuse_run(f, 2, (int[]){y, cell}, out) < 0) return NULL;
    a->next[C] = out[1];
    return a->next[Y] = out[0];
}

/* The LSTM family's description: torch's parameters for G gate blocks,
 * P peepholes, states y and c, and R y_{t-1} summed into W x + b. */
#define GREFF(NAME, STEP, G, P)                                                                 \
    {                                                                                           \
        .name = NAME, .params = {TG_CELL_TORCH_PARAMS(G), {"peephole", {{.h = P}}}},            \
        .states = {{"h", {.h = 1}}, {"c", {.h = 1}}}, .proj = {TG_CELL_TORCH_PROJ(G, true)},    \
        .step = STEP,                                                                           \
    }

/* Peephole LSTM (Gers & Schmidhuber 2000), Greff et al.'s vanilla "V":
 *   [i f z o]~ = W x + b + R y_{t-1}                 (proj[0], (B, 4H))
 *   i = sigmoid(i~ + p_i * c_{t-1}),  f = sigmoid(f~ + p_f * c_{t-1}),  z = tanh(z~)
 *   c_t = z * i + c_{t-1} * f
 *   o = sigmoid(o~ + p_o * c_t),  y_t = tanh(c_t) * o */
static tg_tensor *peephole_step(const tg_cell_args *a)
{
    tg_fuse f;
    int c = fused_begin(&f, a);
    int cell = v_cell(&f, a, c, tg_fuse_tanh(&f, tg_fuse_input(&f, a->proj[0], 2)));
    int o = peep_gate(&f, a->proj[0], 3, a->w[PEEP], 2, cell);
    return fused_step(a, &f, tg_fuse_mul(&f, o, tg_fuse_tanh(&f, cell)), cell);
}
const tg_cell tg_cell_lstm_peephole = GREFF("peephole", peephole_step, 4, 3);

/* NIG, no input gate: i = 1.
 *   [f z o]~ = W x + b + R y_{t-1};  f = sigmoid(f~ + p_f * c_{t-1}),  z = tanh(z~)
 *   c_t = z + c_{t-1} * f;  o = sigmoid(o~ + p_o * c_t),  y_t = tanh(c_t) * o */
static tg_tensor *nig_step(const tg_cell_args *a)
{
    tg_tensor *pre = a->proj[0], *p = a->w[PEEP];
    tg_fuse f;
    int c = fused_begin(&f, a);
    int fg = peep_gate(&f, pre, 0, p, 0, c);
    int cell = tg_fuse_add(&f, tg_fuse_tanh(&f, tg_fuse_input(&f, pre, 1)), tg_fuse_mul(&f, fg, c));
    int o = peep_gate(&f, pre, 2, p, 1, cell);
    return fused_step(a, &f, tg_fuse_mul(&f, o, tg_fuse_tanh(&f, cell)), cell);
}
const tg_cell tg_cell_lstm_nig = GREFF("NIG", nig_step, 3, 2);

/* NFG, no forget gate: f = 1.
 *   [i z o]~ = W x + b + R y_{t-1};  i = sigmoid(i~ + p_i * c_{t-1}),  z = tanh(z~)
 *   c_t = z * i + c_{t-1};  o = sigmoid(o~ + p_o * c_t),  y_t = tanh(c_t) * o */
static tg_tensor *nfg_step(const tg_cell_args *a)
{
    tg_tensor *pre = a->proj[0], *p = a->w[PEEP];
    tg_fuse f;
    int c = fused_begin(&f, a);
    int i = peep_gate(&f, pre, 0, p, 0, c);
    int cell = tg_fuse_add(&f, c, tg_fuse_mul(&f, i, tg_fuse_tanh(&f, tg_fuse_input(&f, pre, 1))));
    int o = peep_gate(&f, pre, 2, p, 1, cell);
    return fused_step(a, &f, tg_fuse_mul(&f, o, tg_fuse_tanh(&f, cell)), cell);
}
const tg_cell tg_cell_lstm_nfg = GREFF("NFG", nfg_step, 3, 2);

/* NOG, no output gate: o = 1.
 *   [i f z]~ = W x + b + R y_{t-1};  i, f as V,  z = tanh(z~)
 *   c_t = z * i + c_{t-1} * f;  y_t = tanh(c_t) */
static tg_tensor *nog_step(const tg_cell_args *a)
{
    tg_fuse f;
    int c = fused_begin(&f, a);
    int cell = v_cell(&f, a, c, tg_fuse_tanh(&f, tg_fuse_input(&f, a->proj[0], 2)));
    return fused_step(a, &f, tg_fuse_tanh(&f, cell), cell);
}
const tg_cell tg_cell_lstm_nog = GREFF("NOG", nog_step, 3, 2);

/* NIAF, no input activation: z = z~ (V with g(x) = x).
 *   [i f z o]~ = W x + b + R y_{t-1};  i, f, o as V
 *   c_t = z~ * i + c_{t-1} * f;  y_t = tanh(c_t) * o */
static tg_tensor *niaf_step(const tg_cell_args *a)
{
    tg_fuse f;
    int c = fused_begin(&f, a);
    int cell = v_cell(&f, a, c, tg_fuse_input(&f, a->proj[0], 2));
    int o = peep_gate(&f, a->proj[0], 3, a->w[PEEP], 2, cell);
    return fused_step(a, &f, tg_fuse_mul(&f, o, tg_fuse_tanh(&f, cell)), cell);
}
const tg_cell tg_cell_lstm_niaf = GREFF("NIAF", niaf_step, 4, 3);

/* NOAF, no output activation: y_t = c_t * o (V with h(x) = x).
 *   [i f z o]~ = W x + b + R y_{t-1};  i, f, z, o and c_t as V */
static tg_tensor *noaf_step(const tg_cell_args *a)
{
    tg_fuse f;
    int c = fused_begin(&f, a);
    int cell = v_cell(&f, a, c, tg_fuse_tanh(&f, tg_fuse_input(&f, a->proj[0], 2)));
    int o = peep_gate(&f, a->proj[0], 3, a->w[PEEP], 2, cell);
    return fused_step(a, &f, tg_fuse_mul(&f, o, cell), cell);
}
const tg_cell tg_cell_lstm_noaf = GREFF("NOAF", noaf_step, 4, 3);

/* NP, no peepholes: torch's LSTM, the built-in cell's gate math (one fused
 * expression, cells.c).
 *   [i f z o]~ = W x + b + R y_{t-1};  i = sigmoid(i~), f = sigmoid(f~), z = tanh(z~)
 *   c_t = z * i + c_{t-1} * f;  o = sigmoid(o~),  y_t = tanh(c_t) * o */
static tg_tensor *np_step(const tg_cell_args *a) { return a->next[Y] = tg__lstm_gates(a); }
const tg_cell tg_cell_lstm_np = {
    .name = "NP",
    .params = {TG_CELL_TORCH_PARAMS(4)},
    .states = {{"h", {.h = 1}}, {"c", {.h = 1}}},
    .proj = {TG_CELL_TORCH_PROJ(4, true)},
    .step = np_step,
};

/* CIFG, coupled input and forget gate: f = 1 - i.
 *   [i z o]~ = W x + b + R y_{t-1};  i = sigmoid(i~ + p_i * c_{t-1}),  z = tanh(z~)
 *   c_t = c_{t-1} + i * (z - c_{t-1})  = z * i + c_{t-1} * (1 - i)
 *   o = sigmoid(o~ + p_o * c_t),  y_t = tanh(c_t) * o */
static tg_tensor *cifg_step(const tg_cell_args *a)
{
    tg_tensor *pre = a->proj[0], *p = a->w[PEEP];
    tg_fuse f;
    int c = fused_begin(&f, a);
    int i = peep_gate(&f, pre, 0, p, 0, c);
    int cell = tg_fuse_lerp(&f, c, tg_fuse_tanh(&f, tg_fuse_input(&f, pre, 1)), i);
    int o = peep_gate(&f, pre, 2, p, 1, cell);
    return fused_step(a, &f, tg_fuse_mul(&f, o, tg_fuse_tanh(&f, cell)), cell);
}
const tg_cell tg_cell_lstm_cifg = GREFF("CIFG", cifg_step, 3, 2);

/* FGR, full gate recurrence: V, and each gate also reads every gate of the
 * previous step through R_g, nine H x H matrices in one (3H, 3H):
 *   [i f o]~ += R_g [i f o]_{t-1}                     (proj[2], (B, 3H); proj[1] is summed into proj[0])
 *   then i, f, z, c_t, o, y_t as V; the new state gates = [i f o]_t */
static tg_tensor *fgr_step(const tg_cell_args *a)
{
    int64_t H = a->hidden_size;
    tg_tensor *pre = a->proj[0], *rec = a->proj[2], *c = a->state[C], *p = a->w[PEEP];
    tg_tensor *i = tg_sigmoid(peep(tg_add(block(pre, 0, H), block(rec, 0, H)), p, 0, c, H));
    tg_tensor *f = tg_sigmoid(peep(tg_add(block(pre, 1, H), block(rec, 1, H)), p, 1, c, H));
    tg_tensor *cell = tg_addcmul(tg_mul(f, c), i, tg_tanh(block(pre, 2, H)), 1.0);
    tg_tensor *o = tg_sigmoid(peep(tg_add(block(pre, 3, H), block(rec, 2, H)), p, 2, cell, H));
    a->next[GATES] = tg_cat(3, (tg_tensor *[]){i, f, o}, 1);
    a->next[C] = cell;
    return a->next[Y] = tg_mul(o, tg_tanh(cell));
}
const tg_cell tg_cell_lstm_fgr = {
    .name = "FGR",
    .params = {TG_CELL_TORCH_PARAMS(4), {"peephole", {{.h = 3}}}, {"weight_gates", {{.h = 3}, {.h = 3}}}},
    .states = {{"h", {.h = 1}}, {"c", {.h = 1}}, {"gates", {.h = 3}}},
    .proj = {TG_CELL_TORCH_PROJ(4, true), {"weight_gates", NULL, TG_FROM_STATE(GATES), 3}},
    .step = fgr_step,
};

/* GRU as Cho et al. (2014) wrote it: the reset gate scales h before the matmul.
 *   [r z n]~ = W x + b_i                              (proj[0], (B, 3H))
 *   r = sigmoid(r~ + W_hr h + b_hr),  z = sigmoid(z~ + W_hz h + b_hz)
 *   n = tanh(n~ + W_hn (r * h) + b_hn)
 *   h' = z * h + (1 - z) * n */
static tg_tensor *gru_cho_step(const tg_cell_args *a)
{
    int64_t H = a->hidden_size;
    tg_tensor *xw = a->proj[0], *h = a->state[Y], *w_hh = a->w[W_HH], *b_hh = a->w[B_HH];
    tg_tensor *hw_rz = tg_linear(h, tg_narrow(w_hh, 0, 0, 2 * H), b_hh ? tg_narrow(b_hh, 0, 0, 2 * H) : NULL);
    tg_tensor *rz = tg_sigmoid(tg_add(tg_narrow(xw, 1, 0, 2 * H), hw_rz));
    tg_tensor *r = block(rz, 0, H), *z = block(rz, 1, H);
    tg_tensor *hw_n = tg_linear(tg_mul(r, h), rows(w_hh, 2, H), b_hh ? rows(b_hh, 2, H) : NULL);
    tg_tensor *n = tg_tanh(tg_add(block(xw, 2, H), hw_n));
    return a->next[Y] = tg_lerp(n, h, z);
}
const tg_cell tg_cell_gru_cho = {
    .name = "GRU_Cho",
    .params = {TG_CELL_TORCH_PARAMS(3)},
    .states = {{"h", {.h = 1}}},
    .proj = {{"weight_ih", "bias_ih", TG_FROM_INPUT, 3}},
    .step = gru_cho_step,
};

/* Minimal gated unit (Zhou et al. 2016): one gate f both resets and updates.
 *   [f n]~ = W x + b_i                                (proj[0], (B, 2H))
 *   f = sigmoid(f~ + U_f h + b_hf)
 *   n = tanh(n~ + U_n (f * h) + b_hn)
 *   h' = (1 - f) * h + f * n */
static tg_tensor *mgu_step(const tg_cell_args *a)
{
    int64_t H = a->hidden_size;
    tg_tensor *xw = a->proj[0], *h = a->state[Y], *w_hh = a->w[W_HH], *b_hh = a->w[B_HH];
    tg_tensor *f = tg_sigmoid(tg_add(block(xw, 0, H), tg_linear(h, rows(w_hh, 0, H), b_hh ? rows(b_hh, 0, H) : NULL)));
    tg_tensor *hw_n = tg_linear(tg_mul(f, h), rows(w_hh, 1, H), b_hh ? rows(b_hh, 1, H) : NULL);
    tg_tensor *n = tg_tanh(tg_add(block(xw, 1, H), hw_n));
    return a->next[Y] = tg_lerp(h, n, f);
}
const tg_cell tg_cell_mgu = {
    .name = "MGU",
    .params = {TG_CELL_TORCH_PARAMS(2)},
    .states = {{"h", {.h = 1}}},
    .proj = {{"weight_ih", "bias_ih", TG_FROM_INPUT, 2}},
    .step = mgu_step,
};

/* IndRNN (Li et al. 2018): each unit has its own recurrent weight.
 *   h' = relu(W x + b + u * h)                        (W x + b: proj[0], (B, H)) */
static tg_tensor *indrnn_step(const tg_cell_args *a)
{
    return a->next[Y] = tg_relu(tg_addcmul(a->proj[0], a->w[W_HH], a->state[Y], 1.0));
}
const tg_cell tg_cell_indrnn = {
    .name = "IndRNN",
    .params = {{"weight_ih", {{.h = 1}, {.i = 1}}}, {"weight_hh", {{.h = 1}}, {TG_INIT_UNIFORM, 0, 1}},
               {"bias_ih", {{.h = 1}}, .bias = true}},
    .states = {{"h", {.h = 1}}},
    .proj = {{"weight_ih", "bias_ih", TG_FROM_INPUT, 1}},
    .step = indrnn_step,
};
