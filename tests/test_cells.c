/* Cells as data: every variant of variants.h through the driver (gradcheck
 * with 2 layers, both directions and variable lengths; values against an
 * independent formula in plain loops), each variant's defining property, a
 * user's cell getting every option of the driver, and bad descriptions and
 * misbehaving steps reported with the cell, the field, the step and the
 * layer. */
#include "rnn_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tapegrad/variants.h>

enum { I = 3, H = 4, B = 2, T = 5 };

static const tg_cell *const VARIANTS[] = {
    &tg_cell_lstm_peephole, &tg_cell_lstm_nig, &tg_cell_lstm_nfg,  &tg_cell_lstm_nog, &tg_cell_lstm_niaf,
    &tg_cell_lstm_noaf,     &tg_cell_lstm_np,  &tg_cell_lstm_cifg, &tg_cell_lstm_fgr, &tg_cell_gru_cho,
    &tg_cell_mgu,           &tg_cell_indrnn,
};
#define N_VARIANTS (int)(sizeof VARIANTS / sizeof *VARIANTS)

/* --- gradcheck through the driver ------------------------------------------------------ */

static void test_variants_gradcheck(void **state)
{
    (void)state;
    tg_rnn_config cfg = {.input_size = 3, .hidden_size = 2, .num_layers = 2, .bidirectional = true, .dtype = TG_F64};
    for (int v = 0; v < N_VARIANTS; v++) {
        char what[96];
        snprintf(what, sizeof what, "%s, 2 layers, bidirectional, lengths", VARIANTS[v]->name);
        assert_rnn_gradcheck(VARIANTS[v], &cfg, (int64_t[]){3, 5}, what);
    }
}

/* --- an independent formula, in plain loops over doubles ---------------------------------- */

/* A layer's parameters and input as plain arrays (layer 0, forward). */
typedef struct {
    double x[T][B][I];
    double w_ih[4 * H][I], w_hh[4 * H][H], b_ih[4 * H], b_hh[4 * H], peep[3 * H], w_gates[3 * H][3 * H];
} plain;

static void to_array(tg_params *params, const char *name, void *out)
{
    tg_tensor *t = tg_params_find(params, name);
    assert_non_null(t);
    assert_int_equal(tg_copy_to_array(t, out), 0);
}

static double sigmoid(double v) { return 1 / (1 + exp(-v)); }

/* Row r of W x + b_ih + b_hh + R y (W (rows, I), R (rows, H)) for sequence b at time t. */
static double preact(const plain *p, int r, int t, int b, const double *y)
{
    double s = p->b_ih[r] + p->b_hh[r];
    for (int k = 0; k < I; k++) s += p->w_ih[r][k] * p->x[t][b][k];
    for (int k = 0; k < H; k++) s += p->w_hh[r][k] * y[k];
    return s;
}

typedef struct {
    bool no_i, no_f, no_o, no_in_act, no_out_act, no_peep, cifg, fgr;
} greff_flags;

/* Greff et al.'s equations for one unidirectional layer from zero states:
 * writes y (T, B, H). Gate blocks are the kept ones of [i f z o];
 * peepholes the kept ones of [i f o]. */
static void greff_reference(const plain *p, greff_flags g, double y_out[T][B][H])
{
    int blk_i = 0, blk_f = g.no_i ? 0 : 1, blk_z = blk_f + (g.no_f || g.cifg ? 0 : 1), blk_o = blk_z + 1;
    int pp_i = 0, pp_f = g.no_i ? 0 : 1, pp_o = pp_f + (g.no_f || g.cifg ? 0 : 1);
    for (int b = 0; b < B; b++) {
        double y[H] = {0}, c[H] = {0}, gates[3 * H] = {0};
        for (int t = 0; t < T; t++) {
            double yn[H], cn[H], gn[3 * H];
            for (int u = 0; u < H; u++) {
                double rec[3] = {0, 0, 0}; /* R_g [i f o]_{t-1} for gate i, f, o of unit u */
                for (int gate = 0; g.fgr && gate < 3; gate++)
                    for (int k = 0; k < 3 * H; k++) rec[gate] += p->w_gates[gate * H + u][k] * gates[k];
                double pi = g.no_peep ? 0 : p->peep[pp_i * H + u], pf = g.no_peep ? 0 : p->peep[pp_f * H + u];
                double po = g.no_peep ? 0 : p->peep[pp_o * H + u];
                double i = g.no_i ? 1 : sigmoid(preact(p, blk_i * H + u, t, b, y) + rec[0] + pi * c[u]);
                double f = g.cifg ? 1 - i : g.no_f ? 1 : sigmoid(preact(p, blk_f * H + u, t, b, y) + rec[1] + pf * c[u]);
                double z = preact(p, blk_z * H + u, t, b, y);
                z = g.no_in_act ? z : tanh(z);
                cn[u] = z * i + c[u] * f;
                double o = g.no_o ? 1 : sigmoid(preact(p, (g.no_o ? 0 : blk_o) * H + u, t, b, y) + rec[2] + po * cn[u]);
                yn[u] = (g.no_out_act ? cn[u] : tanh(cn[u])) * o;
                gn[u] = i, gn[H + u] = f, gn[2 * H + u] = o;
            }
            memcpy(y, yn, sizeof y);
            memcpy(c, cn, sizeof c);
            memcpy(gates, gn, sizeof gates);
            memcpy(y_out[t][b], y, sizeof y);
        }
    }
}

/* GRU as Cho et al. (2014), MGU (Zhou et al. 2016) and IndRNN (Li et al.
 * 2018), from h = 0. */
static void small_reference(const tg_cell *cell, const plain *p, double y_out[T][B][H])
{
    for (int b = 0; b < B; b++) {
        double h[H] = {0};
        for (int t = 0; t < T; t++) {
            double hn[H], gate[2][H], rh[H];
            for (int u = 0; u < H; u++) /* r (Cho) or f (MGU): W x + b_i + U h + b_h */
                for (int k = 0; k < 2; k++) gate[k][u] = sigmoid(preact(p, k * H + u, t, b, h));
            double *scale = gate[0];
            for (int u = 0; u < H; u++) rh[u] = scale[u] * h[u];
            int n_block = cell == &tg_cell_gru_cho ? 2 : 1;
            for (int u = 0; u < H; u++) {
                double xw = p->b_ih[u], n = p->b_ih[n_block * H + u] + p->b_hh[n_block * H + u];
                for (int k = 0; k < I; k++) xw += p->w_ih[u][k] * p->x[t][b][k];
                for (int k = 0; k < I; k++) n += p->w_ih[n_block * H + u][k] * p->x[t][b][k];
                for (int k = 0; k < H; k++) n += p->w_hh[n_block * H + u][k] * rh[k];
                n = tanh(n);
                if (cell == &tg_cell_gru_cho) hn[u] = gate[1][u] * h[u] + (1 - gate[1][u]) * n;
                else if (cell == &tg_cell_mgu) hn[u] = (1 - gate[0][u]) * h[u] + gate[0][u] * n;
                else hn[u] = fmax(0, xw + p->w_hh[0][u] * h[u]); /* IndRNN: w_hh holds u */
            }
            memcpy(h, hn, sizeof h);
            memcpy(y_out[t][b], h, sizeof h);
        }
    }
}

/* Runs cell (one layer, forward, zero states) on a random x; copies its
 * parameters and x into p and its output into y. */
static void run_plain(const tg_cell *cell, plain *p, double y[T][B][H])
{
    tg_manual_seed(31);
    memset(p, 0, sizeof *p);
    tg_rnn *rnn = tg_rnn_new(cell, &(tg_rnn_config){.input_size = I, .hidden_size = H, .dtype = TG_F64});
    assert_non_null(rnn);
    tg_params params = tg_params_new();
    assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
    to_array(&params, "weight_ih_l0", p->w_ih);
    if (cell == &tg_cell_indrnn) {
        to_array(&params, "weight_hh_l0", p->w_hh[0]); /* the vector u */
        to_array(&params, "bias_ih_l0", p->b_ih);
    } else {
        to_array(&params, "weight_hh_l0", p->w_hh);
        to_array(&params, "bias_ih_l0", p->b_ih);
        to_array(&params, "bias_hh_l0", p->b_hh);
    }
    if (tg_params_find(&params, "peephole_l0")) to_array(&params, "peephole_l0", p->peep);
    if (tg_params_find(&params, "weight_gates_l0")) to_array(&params, "weight_gates_l0", p->w_gates);
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_rand(TG_F64, 3, (int64_t[]){T, B, I}, -1, 1);
    assert_int_equal(tg_copy_to_array(x, p->x), 0);
    tg_rnn_output r;
    assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, NULL, &r), 0);
    assert_int_equal(tg_copy_to_array(r.output, y), 0);
    tg_scope_end(s);
    tg_params_free(&params);
    tg_rnn_free(rnn);
}

static void assert_same_sequence(const double a[T][B][H], const double e[T][B][H], const char *what)
{
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int u = 0; u < H; u++)
                if (fabs(a[t][b][u] - e[t][b][u]) > 1e-12)
                    fail_msg("%s: output[%d][%d][%d] is %.15g, the formula gives %.15g", what, t, b, u, a[t][b][u],
                             e[t][b][u]);
}

static void test_variants_match_their_formulas(void **state)
{
    (void)state;
    struct {
        const tg_cell *cell;
        greff_flags flags;
    } greff[] = {
        {&tg_cell_lstm_peephole, {0}},           {&tg_cell_lstm_nig, {.no_i = true}},
        {&tg_cell_lstm_nfg, {.no_f = true}},     {&tg_cell_lstm_nog, {.no_o = true}},
        {&tg_cell_lstm_niaf, {.no_in_act = true}}, {&tg_cell_lstm_noaf, {.no_out_act = true}},
        {&tg_cell_lstm_np, {.no_peep = true}},   {&tg_cell_lstm_cifg, {.cifg = true}},
        {&tg_cell_lstm_fgr, {.fgr = true}},
    };
    static plain p;
    static double got[T][B][H], want[T][B][H];
    for (size_t v = 0; v < sizeof greff / sizeof *greff; v++) {
        run_plain(greff[v].cell, &p, got);
        greff_reference(&p, greff[v].flags, want);
        assert_same_sequence(got, want, greff[v].cell->name);
    }
    const tg_cell *small[] = {&tg_cell_gru_cho, &tg_cell_mgu, &tg_cell_indrnn};
    for (int v = 0; v < 3; v++) {
        run_plain(small[v], &p, got);
        small_reference(small[v], &p, want);
        assert_same_sequence(got, want, small[v]->name);
    }
}

/* --- defining properties ---------------------------------------------------------------- */

/* Copy every parameter of src into the one of dst with the same name. */
static void copy_params(tg_rnn *dst, tg_rnn *src)
{
    tg_params d = tg_params_new(), s = tg_params_new();
    assert_int_equal(tg_rnn_params(dst, &d, NULL), 0);
    assert_int_equal(tg_rnn_params(src, &s, NULL), 0);
    assert_int_equal(d.count, s.count);
    bool was = tg_no_grad_begin();
    for (int i = 0; i < d.count; i++) {
        assert_string_equal(d.items[i].name, s.items[i].name);
        assert_int_equal(tg_copy_(d.items[i].tensor, tg_params_find(&s, d.items[i].name)), 0);
    }
    tg_no_grad_end(was);
    tg_params_free(&d);
    tg_params_free(&s);
}

/* Forward and backward of both layers on one input: outputs, final states
 * and every parameter's gradient agree within tol. */
static void assert_same_layers(tg_rnn *a, tg_rnn *b, tg_dtype dtype, const int64_t *lengths, double tol, const char *what)
{
    tg_manual_seed(41);
    tg_tensor *x = tg_requires_grad(tg_rand(dtype, 3, (int64_t[]){T, B, a->config.input_size}, -1, 1), true);
    tg_rnn *layers[2] = {a, b};
    tg_rnn_output r[2];
    tg_tensor *grad_x[2];
    tg_params params[2] = {tg_params_new(), tg_params_new()};
    for (int k = 0; k < 2; k++) {
        tg_scope *s = tg_scope_begin();
        tg_manual_seed(42); /* the same dropout masks */
        assert_int_equal(tg_rnn_forward(layers[k], x, 0, NULL, lengths, &r[k]), 0);
        tg_tensor *loss = tg_add(tg_sum(tg_square(r[k].output), 0, NULL, false), tg_sum(r[k].h_n, 0, NULL, false));
        assert_int_equal(tg_backward(loss, NULL), 0);
        r[k].output = tg_keep(r[k].output);
        r[k].h_n = tg_keep(r[k].h_n);
        grad_x[k] = tg_keep(x->grad);
        tg_zero_grad(1, &x);
        tg_scope_end(s);
        assert_int_equal(tg_rnn_params(layers[k], &params[k], NULL), 0);
    }
    char msg[320];
    snprintf(msg, sizeof msg, "%s: output", what);
    assert_close(r[0].output, r[1].output, 0, tol, msg);
    snprintf(msg, sizeof msg, "%s: h_n", what);
    assert_close(r[0].h_n, r[1].h_n, 0, tol, msg);
    snprintf(msg, sizeof msg, "%s: grad x", what);
    assert_close(grad_x[0], grad_x[1], 0, tol, msg);
    assert_int_equal(params[0].count, params[1].count);
    for (int i = 0; i < params[0].count; i++) {
        snprintf(msg, sizeof msg, "%s: grad %s", what, params[0].items[i].name);
        tg_tensor *other = tg_params_find(&params[1], params[0].items[i].name);
        assert_close(params[0].items[i].tensor->grad, other->grad, 0, tol, msg);
    }
    for (int k = 0; k < 2; k++) {
        tg_free(r[k].output);
        tg_free(r[k].h_n);
        tg_free(grad_x[k]);
        tg_params_zero_grad(&params[k]);
        tg_params_free(&params[k]);
    }
    tg_free(x);
}

/* NP is the LSTM with nothing removed but the peepholes: torch's LSTM,
 * bit for bit, names, shapes and gradients included. */
/* The built-ins declare torch's layout: weight_ih, weight_hh, bias_ih,
 * bias_hh (and the LSTM's weight_hr for proj_size), the states h (and c),
 * and two projections, the input's and the hidden state's. */
static void test_builtin_descriptions_count(void **state)
{
    (void)state;
    const tg_cell *cells[] = {&tg_cell_rnn_tanh, &tg_cell_rnn_relu, &tg_cell_gru, &tg_cell_lstm};
    for (int i = 0; i < 4; i++) {
        bool lstm = cells[i] == &tg_cell_lstm;
        assert_int_equal(tg_cell_count_params(cells[i]), lstm ? 5 : 4);
        assert_int_equal(tg_cell_count_states(cells[i]), lstm ? 2 : 1);
        assert_int_equal(tg_cell_count_proj(cells[i]), 2);
    }
    assert_int_equal(tg_cell_count_params(NULL), 0);
    assert_int_equal(tg_cell_count_proj(NULL), 0);
}

static void test_np_is_the_builtin_lstm(void **state)
{
    (void)state;
    tg_dtype dtypes[2] = {TG_F64, TG_F32};
    for (int d = 0; d < 2; d++) {
        tg_rnn_config cfg = {.input_size = I, .hidden_size = H, .num_layers = 2, .bidirectional = true, .dtype = dtypes[d]};
        tg_rnn *np = tg_rnn_new(&tg_cell_lstm_np, &cfg), *lstm = tg_lstm_new(&cfg);
        copy_params(np, lstm);
        assert_same_layers(np, lstm, dtypes[d], (int64_t[]){5, 2}, 0, "NP against the built-in LSTM");
        tg_rnn_free(np);
        tg_rnn_free(lstm);
    }
}

/* 1 - sigmoid(a) = sigmoid(-a): CIFG is the peephole LSTM whose forget gate
 * has the input gate's weights negated, so its input gate is 1 - f. */
static void test_cifg_input_gate_is_one_minus_forget(void **state)
{
    (void)state;
    tg_rnn_config cfg = {.input_size = I, .hidden_size = H, .dtype = TG_F64};
    tg_rnn *cifg = tg_rnn_new(&tg_cell_lstm_cifg, &cfg), *v = tg_rnn_new(&tg_cell_lstm_peephole, &cfg);
    tg_params pc = tg_params_new(), pv = tg_params_new();
    assert_int_equal(tg_rnn_params(cifg, &pc, NULL), 0);
    assert_int_equal(tg_rnn_params(v, &pv, NULL), 0);
    /* CIFG blocks [i z o] (3H rows), peepholes [i o]; V blocks [i f z o], peepholes [i f o] */
    assert_int_equal(tg_params_find(&pc, "weight_ih_l0")->shape[0], 3 * H);
    assert_int_equal(tg_params_find(&pc, "peephole_l0")->shape[0], 2 * H);
    tg_scope *s = tg_scope_begin();
    bool was = tg_no_grad_begin();
    const char *names[] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "peephole_l0"};
    for (int k = 0; k < 5; k++) {
        tg_tensor *from = tg_params_find(&pc, names[k]), *to = tg_params_find(&pv, names[k]);
        bool peep = k == 4;
        /* V's blocks i, f, z, o from CIFG's i, -i, z, o (peepholes i, -i, o) */
        tg_copy_(tg_narrow(to, 0, 0, H), tg_narrow(from, 0, 0, H));
        tg_copy_(tg_narrow(to, 0, H, H), tg_neg(tg_narrow(from, 0, 0, H)));
        tg_copy_(tg_narrow(to, 0, 2 * H, peep ? H : 2 * H), tg_narrow(from, 0, H, peep ? H : 2 * H));
    }
    tg_no_grad_end(was);
    tg_tensor *x = tg_rand(TG_F64, 3, (int64_t[]){T, B, I}, -1, 1);
    tg_rnn_output a, b;
    assert_int_equal(tg_rnn_forward(cifg, x, 0, NULL, NULL, &a), 0);
    assert_int_equal(tg_rnn_forward(v, x, 0, NULL, NULL, &b), 0);
    assert_close(a.output, b.output, 0, 1e-14, "CIFG is V with f = sigmoid(-i~) = 1 - i");
    assert_close(a.c_n, b.c_n, 0, 1e-14, "CIFG cell state");
    tg_scope_end(s);
    tg_params_free(&pc);
    tg_params_free(&pv);
    tg_rnn_free(cifg);
    tg_rnn_free(v);
}

/* FGR has nine more H x H recurrent matrices, from every gate to every gate,
 * and a third state; with them at zero it is the peephole LSTM. */
static void test_fgr_has_gate_recurrence(void **state)
{
    (void)state;
    tg_rnn_config cfg = {.input_size = I, .hidden_size = H, .num_layers = 2, .dtype = TG_F64};
    tg_rnn *fgr = tg_rnn_new(&tg_cell_lstm_fgr, &cfg), *v = tg_rnn_new(&tg_cell_lstm_peephole, &cfg);
    tg_params pf = tg_params_new(), pv = tg_params_new();
    assert_int_equal(tg_rnn_params(fgr, &pf, NULL), 0);
    assert_int_equal(tg_rnn_params(v, &pv, NULL), 0);
    tg_tensor *gates = tg_params_find(&pf, "weight_gates_l1");
    assert_non_null(gates);
    assert_true(gates->shape[0] == 3 * H && gates->shape[1] == 3 * H);
    assert_int_equal(tg_params_numel(&pf) - tg_params_numel(&pv), 2 * 9 * H * H);
    assert_int_equal(fgr->n_states, 3);
    tg_scope *s = tg_scope_begin();
    bool was = tg_no_grad_begin();
    for (int i = 0; i < pv.count; i++) tg_copy_(tg_params_find(&pf, pv.items[i].name), pv.items[i].tensor);
    tg_fill_(tg_params_find(&pf, "weight_gates_l0"), 0);
    tg_fill_(gates, 0);
    tg_no_grad_end(was);
    tg_tensor *x = tg_rand(TG_F64, 3, (int64_t[]){T, B, I}, -1, 1);
    tg_rnn_output a, b;
    assert_int_equal(tg_rnn_forward(fgr, x, 0, NULL, NULL, &a), 0);
    assert_int_equal(tg_rnn_forward(v, x, 0, NULL, NULL, &b), 0);
    assert_close(a.output, b.output, 0, 0, "FGR with zero gate recurrence is V");
    /* the third final state holds the last step's gates: o is y / tanh(c) */
    assert_close(tg_narrow(a.state_n[2], 2, 2 * H, H), tg_div(a.h_n, tg_tanh(a.c_n)), 1e-12, 1e-14, "gates state holds o");
    was = tg_no_grad_begin();
    tg_fill_(gates, 0.5);
    tg_no_grad_end(was);
    assert_int_equal(tg_rnn_forward(fgr, x, 0, NULL, NULL, &a), 0);
    assert_true(tg_item(tg_sum(tg_abs(tg_sub(a.output, b.output)), 0, NULL, false)) > 1e-3);
    tg_scope_end(s);
    tg_params_free(&pf);
    tg_params_free(&pv);
    tg_rnn_free(fgr);
    tg_rnn_free(v);
}

/* Cho et al.'s GRU and torch's differ only in where r applies: on the same
 * weights they give different sequences, and Cho's matches its formula
 * (test_variants_match_their_formulas). */
static void test_cho_gru_differs_from_torch(void **state)
{
    (void)state;
    tg_rnn_config cfg = {.input_size = I, .hidden_size = H, .dtype = TG_F64};
    tg_rnn *cho = tg_rnn_new(&tg_cell_gru_cho, &cfg), *torch = tg_gru_new(&cfg);
    copy_params(cho, torch);
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_rand(TG_F64, 3, (int64_t[]){T, B, I}, -1, 1);
    tg_rnn_output a, b;
    assert_int_equal(tg_rnn_forward(cho, x, 0, NULL, NULL, &a), 0);
    assert_int_equal(tg_rnn_forward(torch, x, 0, NULL, NULL, &b), 0);
    double diff = tg_item(tg_sum(tg_abs(tg_sub(a.output, b.output)), 0, NULL, false));
    print_message("Cho and torch GRU on the same weights: sum |difference| %.4f\n", diff);
    assert_true(diff > 1e-2);
    /* with b_hn = 0 and r forced to 1 (its bias at +40) the two forms agree */
    bool was = tg_no_grad_begin();
    tg_rnn *both[2] = {cho, torch};
    for (int k = 0; k < 2; k++) { /* parameters in torch's order: weight_ih, weight_hh, bias_ih, bias_hh */
        tg_fill_(tg_narrow(both[k]->weights[2], 0, 0, H), 40);
        tg_fill_(tg_narrow(both[k]->weights[3], 0, 2 * H, H), 0);
    }
    tg_no_grad_end(was);
    assert_int_equal(tg_rnn_forward(cho, x, 0, NULL, NULL, &a), 0);
    assert_int_equal(tg_rnn_forward(torch, x, 0, NULL, NULL, &b), 0);
    assert_close(a.output, b.output, 1e-12, 1e-12, "Cho and torch GRU with r = 1 and b_hn = 0");
    tg_scope_end(s);
    tg_rnn_free(cho);
    tg_rnn_free(torch);
}


/* --- a user's cell gets everything the driver offers ------------------------------------------ */

/* torch's LSTM as a user might write it: the hidden projection handed to
 * the step apart (not summed), the gates taken with tg_chunk. */
static tg_tensor *user_lstm_step(const tg_cell_args *a)
{
    tg_tensor *g[4];
    if (tg_chunk(tg_add(a->proj[0], a->proj[1]), 4, 1, 4, g) != 4) return NULL;
    tg_tensor *c = tg_add(tg_mul(tg_sigmoid(g[1]), a->state[1]), tg_mul(tg_sigmoid(g[0]), tg_tanh(g[2])));
    a->next[1] = c;
    return a->next[0] = tg_mul(tg_sigmoid(g[3]), tg_tanh(c));
}

static const tg_cell user_lstm = {
    .name = "user LSTM",
    .params = {{"weight_ih", {{.h = 4}, {.i = 1}}},
               {"weight_hh", {{.h = 4}, {.h = 1}}},
               {"bias_ih", {{.h = 4}}, .bias = true},
               {"bias_hh", {{.h = 4}}, .bias = true}},
    .states = {{"h", {.h = 1}}, {"c", {.h = 1}}},
    .proj = {{"weight_ih", "bias_ih", TG_FROM_INPUT, 4}, {"weight_hh", "bias_hh", TG_FROM_STATE(0), 4}},
    .step = user_lstm_step,
};

static void test_user_cell_gets_every_option(void **state)
{
    (void)state;
    struct {
        tg_rnn_config cfg;
        const int64_t *lengths;
        const char *what;
    } cases[] = {
        {{.input_size = I, .hidden_size = H, .num_layers = 2, .bidirectional = true, .dropout = 0.3, .learn_init = true,
          .dtype = TG_F64},
         (int64_t[]){5, 3}, "2 layers, bidirectional, dropout, learned h0 and c0, lengths"},
        {{.input_size = I, .hidden_size = H, .num_layers = 2, .batch_first = true, .layer_norm = true, .no_bias = true,
          .dtype = TG_F64},
         (int64_t[]){2, 1, 2, 2, 1}, "batch_first, layer norm, no bias, lengths"},
    };
    for (int k = 0; k < 2; k++) {
        tg_rnn *mine = tg_rnn_new(&user_lstm, &cases[k].cfg), *builtin = tg_lstm_new(&cases[k].cfg);
        assert_non_null(mine);
        copy_params(mine, builtin); /* and checks the names are torch's, in torch's order */
        tg_params a = tg_params_new(), b = tg_params_new();
        tg_rnn_params(mine, &a, NULL);
        tg_rnn_params(builtin, &b, NULL);
        assert_int_equal(tg_params_numel(&a), tg_params_numel(&b));
        assert_non_null(tg_params_find(&a, k ? "ln_weight_hh_l1" : "c0"));
        tg_params_free(&a);
        tg_params_free(&b);
        assert_same_layers(mine, builtin, TG_F64, cases[k].lengths, 1e-13, cases[k].what);
        tg_rnn_free(mine);
        tg_rnn_free(builtin);
    }
    tg_rnn_config cfg = {.input_size = 3, .hidden_size = 2, .num_layers = 2, .bidirectional = true, .learn_init = true,
                         .layer_norm = true, .dtype = TG_F64};
    assert_rnn_gradcheck(&user_lstm, &cfg, (int64_t[]){4, 2}, "user LSTM with every option");
}

/* One step of a three-state cell as a module: the driver's first step. */
static void test_cell_layer_runs_any_cell(void **state)
{
    (void)state;
    tg_manual_seed(12);
    tg_cell_layer *fgr = tg_cell_layer_new(&tg_cell_lstm_fgr, I, H, true, TG_F64);
    assert_non_null(fgr);
    tg_params params = tg_params_new();
    assert_int_equal(tg_cell_layer_params(fgr, &params, "cell"), 0);
    assert_int_equal(params.count, 6);
    assert_string_equal(params.items[5].name, "cell.weight_gates");
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_rand(TG_F64, 2, (int64_t[]){B, I}, -1, 1);
    tg_tensor *states[3] = {tg_rand(TG_F64, 2, (int64_t[]){B, H}, -1, 1), tg_rand(TG_F64, 2, (int64_t[]){B, H}, -1, 1),
                            tg_rand(TG_F64, 2, (int64_t[]){B, 3 * H}, 0, 1)};
    tg_tensor *next[3];
    tg_tensor *y = tg_cell_layer_forward(fgr, x, 3, states, next);
    assert_non_null(y);
    tg_rnn_output r;
    tg_tensor *init[3];
    for (int k = 0; k < 3; k++) init[k] = tg_unsqueeze(states[k], 0);
    assert_int_equal(tg_rnn_forward(fgr->rnn, tg_unsqueeze(x, 0), 3, init, NULL, &r), 0);
    assert_close(y, tg_select(r.output, 0, 0), 0, 0, "one step");
    for (int k = 0; k < 3; k++) assert_close(next[k], tg_select(r.state_n[k], 0, 0), 0, 0, "one step's states");
    tg_scope_end(s);
    tg_params_free(&params);
    tg_cell_layer_free(fgr);
}

/* --- bad descriptions ---------------------------------------------------------------------- */

static tg_tensor *identity_step(const tg_cell_args *a) { return a->next[0] = a->proj[0]; }

#define ELMAN_PARAMS                                                                                  \
    {"weight_ih", {{.h = 1}, {.i = 1}}}, {"weight_hh", {{.h = 1}, {.h = 1}}}, {"bias_ih", {{.h = 1}}, .bias = true}

static void expect_bad_cell(const tg_cell *cell, const char *message)
{
    tg_rnn_config cfg = {.input_size = I, .hidden_size = H, .num_layers = 2, .bidirectional = true};
    assert_null(tg_rnn_new(cell, &cfg));
    assert_error_contains(message);
    if (strstr(message, "at layer 1")) return; /* one step is one layer */
    assert_null(tg_cell_layer_new(cell, I, H, true, TG_F32));
    assert_error_contains("tg_cell_layer_new: ");
    assert_error_contains(message + strlen("tg_rnn_new: ") * (strncmp(message, "tg_rnn_new: ", 12) == 0));
}

static void test_bad_descriptions(void **state)
{
    (void)state;
    tg_cell c = {.name = "mine", .params = {ELMAN_PARAMS}, .states = {{"h", {.h = 1}}},
                 .proj = {{"weight_ih", "bias_ih"}, {"weight_hh", NULL, TG_FROM_STATE(0), .summed = true}},
                 .step = identity_step};
    tg_rnn *ok = tg_rnn_new(&c, &(tg_rnn_config){.input_size = I, .hidden_size = H, .num_layers = 2});
    assert_non_null(ok);
    tg_rnn_free(ok);

    tg_cell bad = c;
    bad.step = NULL;
    expect_bad_cell(&bad, "tg_rnn_new: cell 'mine': field step is NULL");
    bad = c;
    bad.states[0].name = NULL;
    expect_bad_cell(&bad, "tg_rnn_new: cell 'mine': field states is empty: a cell carries at least one state");
    bad = c;
    bad.name = NULL;
    expect_bad_cell(&bad, "tg_rnn_new: a cell needs a name (field name is NULL)");
    bad = c;
    bad.proj[1].weight = "weight_hx";
    expect_bad_cell(&bad, "tg_rnn_new: cell 'mine': field proj[1].weight: unknown parameter name 'weight_hx'");
    bad = c;
    bad.proj[0].bias = "bias";
    expect_bad_cell(&bad, "tg_rnn_new: cell 'mine': field proj[0].bias: unknown parameter name 'bias'");
    bad = c;
    bad.params[1].name = "weight_ih";
    expect_bad_cell(&bad, "field params[1].name: 'weight_ih' is declared twice");
    bad = c;
    bad.params[2].name = "";
    expect_bad_cell(&bad, "field params[2].name '' must have 1 to 47 characters");
    bad = c;
    bad.params[1].shape[0] = (tg_cell_size){0};
    expect_bad_cell(&bad, "field params[1].shape: 'weight_hh' has no dims");
    bad = c;
    bad.params[0].init = (tg_cell_init){TG_INIT_UNIFORM, 1, -1};
    expect_bad_cell(&bad, "field params[0].init: uniform range [1, -1) of 'weight_ih' is empty");
    bad = c;
    bad.states[0].size = (tg_cell_size){.h = 1, .k = -H};
    expect_bad_cell(&bad, "field states[0].size of 'h' is 0 for I = 3, H = 4, O = 4");
    bad = c;
    bad.states[0].size = (tg_cell_size){.i = 1};
    expect_bad_cell(&bad, "field states[0].size of 'h' depends on the input size I, which differs between layers");
    bad = c;
    bad.proj[1].from = TG_FROM_STATE(1);
    expect_bad_cell(&bad, "field proj[1].from is 2: neither TG_FROM_INPUT nor TG_FROM_STATE(k) of its 1 state");
    bad = c;
    bad.proj[0].summed = true;
    expect_bad_cell(&bad, "field proj[0].summed: only a state projection after an input projection");
    bad = c;
    bad.proj[0].weight = "bias_ih";
    expect_bad_cell(&bad, "field proj[0].weight: 'bias_ih' may be left out (it is marked bias)");
    /* inconsistent shapes, at the first layer and at the second */
    bad = c;
    bad.params[1].shape[1] = (tg_cell_size){.i = 1};
    expect_bad_cell(&bad, "cell 'mine': field proj[1]: weight 'weight_hh' is [4,3] but must be (rows, 4) to project "
                          "state 0 'h' of width 4");
    bad = c;
    bad.params[0].shape[1] = (tg_cell_size){.k = 3};
    expect_bad_cell(&bad, "weight 'weight_ih' is [4,3] but must be (rows, 8) to project the layer's input of width 8 "
                          "at layer 1");
    bad = c;
    bad.params[2].shape[0] = (tg_cell_size){.h = 2};
    expect_bad_cell(&bad, "field proj[0]: bias 'bias_ih' is [8] but must be [4] as weight 'weight_ih' has 4 rows");
    bad = c;
    bad.params[0].shape[2] = (tg_cell_size){.k = 2};
    expect_bad_cell(&bad, "field proj[0]: weight 'weight_ih' is [4,3,2] but must be (rows, 3)");
    bad = c;
    bad.params[1].shape[0] = (tg_cell_size){.h = 3};
    expect_bad_cell(&bad, "field proj[1]: 'weight_hh' has 12 rows but is summed into proj[0] of 4 rows ('weight_ih')");
    bad = c;
    bad.proj[0].blocks = 3;
    expect_bad_cell(&bad, "field proj[0].blocks: 3 blocks do not divide the 4 rows of 'weight_ih'");
    /* options the cell cannot take */
    assert_null(tg_rnn_new(&c, &(tg_rnn_config){.input_size = I, .hidden_size = H, .proj_size = 2}));
    assert_error_contains("tg_rnn_new: proj_size argument is only supported for LSTM (cells with a proj parameter), not "
                          "cell 'mine'");
    bad = c;
    memset(bad.proj, 0, sizeof bad.proj);
    bad.step = identity_step;
    assert_null(tg_rnn_new(&bad, &(tg_rnn_config){.input_size = I, .hidden_size = H, .layer_norm = true}));
    assert_error_contains("tg_rnn_new: layer_norm normalises projections, and cell 'mine' declares none");
    /* One weight in two projections is a cell, but with layer_norm both
     * gains would be listed as ln_weight_hh_l0. */
    bad = c;
    bad.proj[2] = (tg_cell_proj){.weight = "weight_hh", .from = TG_FROM_STATE(0)};
    tg_rnn *shared = tg_rnn_new(&bad, &(tg_rnn_config){.input_size = I, .hidden_size = H});
    assert_non_null(shared);
    tg_params listed = tg_params_new();
    assert_int_equal(tg_rnn_params(shared, &listed, NULL), 0);
    assert_int_equal(listed.count, 3);
    tg_params_free(&listed);
    tg_rnn_free(shared);
    assert_null(tg_rnn_new(&bad, &(tg_rnn_config){.input_size = I, .hidden_size = H, .layer_norm = true}));
    assert_error_contains("tg_rnn_new: layer_norm names each projection's gain after its weight, and cell 'mine' "
                          "projects with 'weight_hh' twice (proj[1] and proj[2])");
}

/* --- steps that misbehave ---------------------------------------------------------------- */

/* A cell that breaks on its call number `broken_call` in the way `broken_how` says. */
static int calls, broken_call;
static enum { SHORT_STATE, FLOAT32_STATE, SHORT_OUTPUT, NO_STATE, FAILED_OP, SILENT_NULL } broken_how;

static tg_tensor *broken_step(const tg_cell_args *a)
{
    tg_tensor *h = tg_tanh(tg_add(tg_narrow(a->x, 1, 0, 3), a->state[0]));
    tg_tensor *out = h;
    if (calls++ == broken_call) {
        switch (broken_how) {
        case SHORT_STATE: h = tg_narrow(h, 1, 0, 2); break;
        case FLOAT32_STATE: h = tg_cast(h, TG_F32); break;
        case SHORT_OUTPUT: out = tg_narrow(h, 1, 0, 2); break;
        case NO_STATE: h = NULL; break;
        case FAILED_OP: return tg_add(h, tg_zeros(TG_F64, 1, (int64_t[]){7}));
        case SILENT_NULL: return NULL;
        }
    }
    a->next[0] = h;
    return out;
}

/* No projections: the step gets x_t (B, I), whose first 3 columns it adds to h (B, 3). */
static const tg_cell broken = {
    .name = "broken", .states = {{"h", {.h = 1}}}, .step = broken_step,
};

static void expect_broken(int call, int how, const char *message)
{
    tg_rnn *rnn = tg_rnn_new(&broken, &(tg_rnn_config){.input_size = 3, .hidden_size = 3, .num_layers = 2,
                                                       .bidirectional = true, .dtype = TG_F64});
    assert_non_null(rnn);
    tg_scope *s = tg_scope_begin();
    calls = 0;
    broken_call = call;
    broken_how = how;
    tg_rnn_output r;
    assert_int_equal(tg_rnn_forward(rnn, tg_zeros(TG_F64, 3, (int64_t[]){4, 2, 3}), 0, NULL, NULL, &r), -1);
    assert_error_contains(message);
    assert_null(r.output);
    assert_null(r.h_n);
    tg_scope_end(s);
    tg_rnn_free(rnn);
}

static void test_misbehaving_steps(void **state)
{
    (void)state;
    /* calls 0-3: layer 0 forward, t = 0..3; 4-7: layer 0 reverse, t = 3..0; 8-11: layer 1 forward */
    expect_broken(9, SHORT_STATE, "tg_rnn_forward: cell 'broken' at time step 1 of layer 1: state 0 'h' is [2,2] "
                                  "(float64), expected [2,3] (float64)");
    expect_broken(5, FLOAT32_STATE, "tg_rnn_forward: cell 'broken' at time step 2 of layer 0 (reverse): state 0 'h' is "
                                    "[2,3] (float32), expected [2,3] (float64)");
    expect_broken(0, SHORT_OUTPUT, "cell 'broken' at time step 0 of layer 0: the output is [2,2] (float64), expected "
                                   "[2,3] (float64)");
    expect_broken(14, NO_STATE, "cell 'broken' at time step 1 of layer 1 (reverse): state 0 'h' is NULL, expected [2,3]");
    expect_broken(3, FAILED_OP, "tg_rnn_forward: cell 'broken' failed at time step 3 of layer 0: tg_add: The size of "
                                "tensor a (3) must match the size of tensor b (7)");
    /* A step that returns NULL and records nothing is not blamed for the
     * message an earlier failure left in the slot. */
    assert_null(tg_zeros(TG_F64, 1, (int64_t[]){-1}));
    expect_broken(6, SILENT_NULL, "tg_rnn_forward: cell 'broken' failed at time step 1 of layer 0 (reverse): it "
                                  "returned NULL with no message");
    calls = 0;
    broken_call = -1;
    tg_cell_layer *layer = tg_cell_layer_new(&broken, 3, 3, true, TG_F64);
    tg_scope *s = tg_scope_begin();
    broken_call = 0;
    broken_how = SHORT_STATE;
    assert_null(tg_cell_layer_forward(layer, tg_zeros(TG_F64, 2, (int64_t[]){2, 3}), 0, NULL, NULL));
    assert_error_contains("tg_cell_layer_forward: cell 'broken' at time step 0 of layer 0: state 0 'h' is [2,2]");
    tg_scope_end(s);
    tg_cell_layer_free(layer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variants_gradcheck),
        cmocka_unit_test(test_variants_match_their_formulas),
        cmocka_unit_test(test_builtin_descriptions_count),
        cmocka_unit_test(test_np_is_the_builtin_lstm),
        cmocka_unit_test(test_cifg_input_gate_is_one_minus_forget),
        cmocka_unit_test(test_fgr_has_gate_recurrence),
        cmocka_unit_test(test_cho_gru_differs_from_torch),
        cmocka_unit_test(test_user_cell_gets_every_option),
        cmocka_unit_test(test_cell_layer_runs_any_cell),
        cmocka_unit_test(test_bad_descriptions),
        cmocka_unit_test(test_misbehaving_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
