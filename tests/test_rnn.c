/* Multi-layer RNN, LSTM and GRU: PyTorch parity (outputs, states and every
 * gradient), gradcheck through deep bidirectional layers, shapes, variable
 * lengths, truncated BPTT, learnable initial states, layer norm, and bad
 * input. Fixtures come from tests/golden/gen_rnn.py. */
#include "rnn_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tapegrad/linear.h>
#include <tapegrad/nn.h>
#include <tapegrad/optim.h>
#include <tapegrad/rnn.h>

#define I 7
#define H 5
#define B 3
#define T 4
#define P 3

static const int64_t LENGTHS[B] = {3, 1, 2};

typedef struct {
    const char *name;
    const tg_cell *cell;
    int64_t proj;
} mode_case;

static const mode_case MODES[] = {
    {"rnn_tanh", &tg_cell_rnn_tanh, 0}, {"rnn_relu", &tg_cell_rnn_relu, 0}, {"lstm", &tg_cell_lstm, 0},
    {"lstm_proj", &tg_cell_lstm, P},    {"gru", &tg_cell_gru, 0},
};

static tg_tensor *fixture(const char *fmt, const char *case_name, tg_dtype dtype)
{
    char name[128];
    snprintf(name, sizeof name, fmt, case_name);
    return golden("rnn.txt", name, dtype);
}

/* Copy the fixture's weights into the layer by name; check the count. */
static void load_weights(tg_params *params, const char *case_name, tg_dtype dtype)
{
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    for (int i = 0; i < params->count; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s.%s", case_name, params->items[i].name);
        assert_int_equal(tg_copy_(params->items[i].tensor, golden("rnn.txt", name, dtype)), 0);
    }
    tg_set_grad_enabled(was);
    assert_int_equal(tg_params_numel(params), (int64_t)tg_item(fixture("%s.count", case_name, TG_F64)));
    tg_scope_end(s);
}

static void parity_case(const mode_case *m, int layers, bool bidirectional, bool variable, bool batch_first,
                        tg_dtype dtype)
{
    char case_name[64], what[320];
    snprintf(case_name, sizeof case_name, "%s_l%d_%s_%s", m->name, layers, bidirectional ? "bi" : "uni",
             variable ? "var" : "eq");
    double rtol = dtype == TG_F64 ? 1e-10 : 1e-5, atol = dtype == TG_F64 ? 1e-12 : 1e-6;
    tg_rnn_config cfg = {.input_size = I, .hidden_size = H, .num_layers = layers, .bidirectional = bidirectional,
                         .batch_first = batch_first, .proj_size = m->proj, .dtype = dtype};
    tg_rnn *rnn = tg_rnn_new(m->cell, &cfg);
    assert_non_null(rnn);
    tg_params params = tg_params_new();
    assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
    load_weights(&params, case_name, dtype);
    bool lstm = m->cell == &tg_cell_lstm;
    char name[256];
    snprintf(name, sizeof name, "%s.x", case_name);
    tg_tensor *x = golden_leaf("rnn.txt", name, dtype, true);
    snprintf(name, sizeof name, "%s.h0", case_name);
    tg_tensor *h0 = golden_leaf("rnn.txt", name, dtype, true);
    tg_tensor *c0 = NULL;
    if (lstm) {
        snprintf(name, sizeof name, "%s.c0", case_name);
        c0 = golden_leaf("rnn.txt", name, dtype, true);
    }

    tg_scope *s = tg_scope_begin();
    /* batch_first runs on a transposed view: a non-contiguous input */
    tg_tensor *input = batch_first ? tg_transpose(x, 0, 1) : x;
    tg_rnn_output r;
    assert_int_equal(tg_rnn_forward(rnn, input, lstm ? 2 : 1, (tg_tensor *[]){h0, c0}, variable ? LENGTHS : NULL, &r), 0);
    tg_tensor *output = batch_first ? tg_transpose(r.output, 0, 1) : r.output;
    snprintf(what, sizeof what, "%s %s%s output", case_name, tg_dtype_name(dtype), batch_first ? " batch_first" : "");
    assert_close(output, fixture("%s.output", case_name, dtype), rtol, atol, what);
    snprintf(what, sizeof what, "%s %s%s h_n", case_name, tg_dtype_name(dtype), batch_first ? " batch_first" : "");
    assert_close(r.h_n, fixture("%s.h_n", case_name, dtype), rtol, atol, what);
    tg_tensor *loss = tg_add(tg_sum(tg_mul(output, fixture("%s.w_out", case_name, dtype)), 0, NULL, false),
                             tg_sum(tg_mul(r.h_n, fixture("%s.w_h", case_name, dtype)), 0, NULL, false));
    if (lstm) {
        snprintf(what, sizeof what, "%s %s c_n", case_name, tg_dtype_name(dtype));
        assert_close(r.c_n, fixture("%s.c_n", case_name, dtype), rtol, atol, what);
        loss = tg_add(loss, tg_sum(tg_mul(r.c_n, fixture("%s.w_c", case_name, dtype)), 0, NULL, false));
    } else {
        assert_null(r.c_n);
    }
    assert_int_equal(tg_backward(loss, NULL), 0);
    for (int i = 0; i < params.count; i++) {
        snprintf(name, sizeof name, "%s.grad.%s", case_name, params.items[i].name);
        snprintf(what, sizeof what, "%s %s%s grad %s", case_name, tg_dtype_name(dtype),
                 batch_first ? " batch_first" : "", params.items[i].name);
        assert_close(params.items[i].tensor->grad, golden("rnn.txt", name, dtype), rtol, atol, what);
    }
    snprintf(what, sizeof what, "%s %s grad x", case_name, tg_dtype_name(dtype));
    assert_close(x->grad, fixture("%s.grad.x", case_name, dtype), rtol, atol, what);
    snprintf(what, sizeof what, "%s %s grad h0", case_name, tg_dtype_name(dtype));
    assert_close(h0->grad, fixture("%s.grad.h0", case_name, dtype), rtol, atol, what);
    if (lstm) {
        snprintf(what, sizeof what, "%s %s grad c0", case_name, tg_dtype_name(dtype));
        assert_close(c0->grad, fixture("%s.grad.c0", case_name, dtype), rtol, atol, what);
    }
    tg_scope_end(s);
    tg_free(x);
    tg_free(h0);
    tg_free(c0);
    tg_params_free(&params);
    tg_rnn_free(rnn);
}

static void parity_mode(const mode_case *m)
{
    for (int layers = 1; layers <= 2; layers++)
        for (int bi = 0; bi < 2; bi++)
            for (int var = 0; var < 2; var++)
                for (int bf = 0; bf < 2; bf++) {
                    parity_case(m, layers, bi, var, bf, TG_F64);
                    parity_case(m, layers, bi, var, bf, TG_F32);
                }
}

static void test_parity_rnn_tanh(void **state) { (void)state; parity_mode(&MODES[0]); }
static void test_parity_rnn_relu(void **state) { (void)state; parity_mode(&MODES[1]); }
static void test_parity_lstm(void **state) { (void)state; parity_mode(&MODES[2]); }
static void test_parity_lstm_proj(void **state) { (void)state; parity_mode(&MODES[3]); }
static void test_parity_gru(void **state) { (void)state; parity_mode(&MODES[4]); }

/* --- gradcheck through deep bidirectional layers ------------------------------------ */

static void test_gradcheck_lstm_2layer_bi(void **state)
{
    (void)state;
    tg_rnn_config cfg = {.input_size = 3, .hidden_size = 2, .num_layers = 2, .bidirectional = true, .dtype = TG_F64};
    assert_rnn_gradcheck(&tg_cell_lstm, &cfg, NULL, "2-layer bidirectional LSTM");
    cfg.batch_first = true;
    assert_rnn_gradcheck(&tg_cell_lstm, &cfg, (int64_t[]){3, 5}, "2-layer bidirectional LSTM, batch_first, lengths");
    cfg.proj_size = 1;
    assert_rnn_gradcheck(&tg_cell_lstm, &cfg, (int64_t[]){5, 2}, "2-layer bidirectional LSTM with projection");
}

static void test_gradcheck_gru_2layer_bi(void **state)
{
    (void)state;
    tg_rnn_config cfg = {.input_size = 3, .hidden_size = 2, .num_layers = 2, .bidirectional = true, .dtype = TG_F64};
    assert_rnn_gradcheck(&tg_cell_gru, &cfg, NULL, "2-layer bidirectional GRU");
    assert_rnn_gradcheck(&tg_cell_gru, &cfg, (int64_t[]){2, 4}, "2-layer bidirectional GRU, lengths");
}

/* --- shapes, unbatched input, defaults --------------------------------------------------- */

static void test_shapes_from_the_issue(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_randn(TG_F32, 3, (int64_t[]){32, 15, 10}, 0, 1);
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 10, .hidden_size = 20, .num_layers = 2, .batch_first = true});
    tg_rnn_output r;
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, NULL, NULL, &r), 0);
    char buf[64];
    assert_string_equal(tg_shape_str(r.output, buf, sizeof buf), "[32,15,20]");
    assert_string_equal(tg_shape_str(r.h_n, buf, sizeof buf), "[2,32,20]");
    assert_string_equal(tg_shape_str(r.c_n, buf, sizeof buf), "[2,32,20]");
    tg_rnn_free(lstm);
    lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 10, .hidden_size = 20, .bidirectional = true, .batch_first = true});
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, NULL, NULL, &r), 0);
    assert_string_equal(tg_shape_str(r.output, buf, sizeof buf), "[32,15,40]");
    assert_string_equal(tg_shape_str(r.h_n, buf, sizeof buf), "[2,32,20]");
    /* the last step of the forward half and the first of the reverse half are h_n */
    assert_close(tg_narrow(tg_select(r.output, 1, 14), 1, 0, 20), tg_select(r.h_n, 0, 0), 0, 0, "forward h_n");
    assert_close(tg_narrow(tg_select(r.output, 1, 0), 1, 20, 20), tg_select(r.h_n, 0, 1), 0, 0, "reverse h_n");
    tg_rnn_free(lstm);
    tg_scope_end(s);
}

static void test_unbatched_and_defaults(void **state)
{
    (void)state;
    tg_scope *s = tg_scope_begin();
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = I, .hidden_size = H, .num_layers = 2, .dtype = TG_F64});
    tg_tensor *x = tg_randn(TG_F64, 3, (int64_t[]){T, 1, I}, 0, 1);
    tg_rnn_output batched, single, zeros;
    assert_int_equal(tg_gru_forward(gru, x, NULL, NULL, &batched), 0);
    /* unbatched (T, I) gives the batch of one without its batch dim */
    assert_int_equal(tg_gru_forward(gru, tg_select(x, 1, 0), NULL, NULL, &single), 0);
    assert_close(single.output, tg_select(batched.output, 1, 0), 0, 0, "unbatched output");
    assert_close(single.h_n, tg_select(batched.h_n, 1, 0), 0, 0, "unbatched h_n");
    /* no h0 means zeros, full lengths mean no lengths */
    tg_tensor *h0 = tg_zeros(TG_F64, 3, (int64_t[]){2, 1, H});
    assert_int_equal(tg_gru_forward(gru, x, h0, (int64_t[]){T}, &zeros), 0);
    assert_close(zeros.output, batched.output, 0, 0, "zero h0");
    assert_true(gru->training);
    tg_rnn_free(gru);
    tg_scope_end(s);
}

/* --- truncated BPTT ------------------------------------------------------------------ */

/* Running T = 6 in two chunks of 3 with the state carried by tg_keep gives
 * the values of one run over 6 steps, and each backward stops at its chunk. */
static void test_truncated_bptt(void **state)
{
    (void)state;
    tg_manual_seed(5);
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = I, .hidden_size = H, .num_layers = 2, .dtype = TG_F64});
    tg_tensor *x = leaf_f64(3, (int64_t[]){6, B, I}, -1, 1);
    tg_scope *s = tg_scope_begin();
    tg_rnn_output whole;
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, NULL, NULL, &whole), 0);
    tg_tensor *expected = tg_detach(whole.output);
    tg_tensor *h = NULL, *c = NULL; /* persistent carries */
    for (int chunk = 0; chunk < 2; chunk++) {
        tg_scope *inner = tg_scope_begin();
        tg_rnn_output r;
        assert_int_equal(tg_lstm_forward(lstm, tg_narrow(x, 0, 3 * chunk, 3), h, c, NULL, &r), 0);
        assert_close(r.output, tg_narrow(expected, 0, 3 * chunk, 3), 1e-14, 1e-14, "chunked output");
        tg_zero_grad(1, &x);
        assert_int_equal(tg_backward(tg_sum(r.output, 0, NULL, false), NULL), 0);
        /* the gradient reaches this chunk's inputs only */
        double before = 0, inside = 0;
        for (int64_t t = 0; t < 6; t++) {
            double g = fabs(tg_get(x->grad, (int64_t[]){t, 1, 2}));
            if (t / 3 == chunk) inside += g; else before += g;
        }
        assert_true(before == 0.0 && inside > 0.0);
        tg_free(h);
        tg_free(c);
        h = tg_keep(r.h_n);
        c = tg_keep(r.c_n);
        assert_false(h->requires_grad);
        tg_scope_end(inner);
    }
    tg_free(h);
    tg_free(c);
    tg_scope_end(s);
    tg_free(x);
    tg_rnn_free(lstm);
}

/* The first step leaves a zero initial state out of its products: no
 * initial state gives the very bits of explicit zeros, in outputs, final
 * states and every gradient, for the LSTM (state summed into the input's
 * projection) and the GRU (state projection apart), both directions, with
 * batches on both sides of the per-step input projection's bound. */
static void test_zero_initial_state_left_out(void **state)
{
    (void)state;
    const tg_cell *cells[2] = {&tg_cell_lstm, &tg_cell_gru};
    int64_t batches[2] = {3, 70};
    for (int c = 0; c < 2; c++)
        for (int b = 0; b < 2; b++) {
            tg_manual_seed(8);
            tg_rnn_config config = {.input_size = I, .hidden_size = H, .num_layers = 2, .bidirectional = true,
                                    .dtype = TG_F32};
            tg_rnn *rnn = tg_rnn_new(cells[c], &config);
            tg_tensor *x = tg_requires_grad(tg_rand(TG_F32, 3, (int64_t[]){5, batches[b], I}, -1, 1), true);
            tg_params params = tg_params_new();
            assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
            tg_tensor *out[2], *h_n[2], *grads[2][33];
            assert_true(params.count <= 32);
            for (int run = 0; run < 2; run++) {
                tg_scope *s = tg_scope_begin();
                tg_params_zero_grad(&params);
                tg_zero_grad(1, &x);
                tg_tensor *init[TG_CELL_MAX_STATES] = {0};
                for (int k = 0; run == 1 && k < rnn->n_states; k++)
                    init[k] = tg_zeros(TG_F32, 3, (int64_t[]){4, batches[b], H});
                tg_rnn_output r;
                assert_int_equal(tg_rnn_forward(rnn, x, run == 1 ? rnn->n_states : 0, init, NULL, &r), 0);
                tg_tensor *loss = tg_add(tg_sum(tg_square(r.output), 0, NULL, false), tg_sum(r.h_n, 0, NULL, false));
                assert_int_equal(tg_backward(loss, NULL), 0);
                out[run] = tg_keep(r.output);
                h_n[run] = tg_keep(r.h_n);
                for (int i = 0; i < params.count; i++) grads[run][i] = tg_keep(tg_clone(params.items[i].tensor->grad));
                grads[run][params.count] = tg_keep(tg_clone(x->grad));
                tg_scope_end(s);
            }
            assert_memory_equal(tg_data(out[0]), tg_data(out[1]), (size_t)tg_numel(out[0]) * 4);
            assert_memory_equal(tg_data(h_n[0]), tg_data(h_n[1]), (size_t)tg_numel(h_n[0]) * 4);
            for (int i = 0; i <= params.count; i++) {
                assert_memory_equal(tg_data(grads[0][i]), tg_data(grads[1][i]), (size_t)tg_numel(grads[0][i]) * 4);
                tg_free(grads[0][i]);
                tg_free(grads[1][i]);
            }
            for (int run = 0; run < 2; run++) tg_free(out[run]), tg_free(h_n[run]);
            tg_params_free(&params);
            tg_free(x);
            tg_rnn_free(rnn);
        }
}

/* What the padding of a variable-length batch holds is never read, as
 * PyTorch's packed sequences never read it: NaN, inf or zeros there give
 * the same bits in outputs (zeros past each end), final states and every
 * gradient (the input's zeros in the padding), for each built-in cell,
 * two bidirectional layers, both layouts. */
static void test_padding_never_read(void **state)
{
    (void)state;
    const double fills[3] = {0.0, NAN, INFINITY};
    for (size_t m = 0; m < sizeof MODES / sizeof *MODES; m++)
        for (int batch_first = 0; batch_first < 2; batch_first++) {
            tg_manual_seed(12);
            tg_rnn_config config = {.input_size = I, .hidden_size = H, .num_layers = 2, .bidirectional = true,
                                    .batch_first = batch_first, .proj_size = MODES[m].proj, .dtype = TG_F64};
            tg_rnn *rnn = tg_rnn_new(MODES[m].cell, &config);
            assert_non_null(rnn);
            tg_params params = tg_params_new();
            assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
            tg_tensor *x = leaf_f64(3, batch_first ? (int64_t[]){B, T, I} : (int64_t[]){T, B, I}, -1, 1);
            tg_tensor *first[4 + 64] = {0};
            int n = 0;
            for (int f = 0; f < 3; f++) {
                for (int64_t b = 0; b < B; b++)
                    for (int64_t t = LENGTHS[b]; t < T; t++)
                        for (int64_t k = 0; k < I; k++)
                            ((double *)tg_data(x))[(batch_first ? b * T + t : t * B + b) * I + k] = fills[f];
                tg_scope *s = tg_scope_begin();
                tg_params_zero_grad(&params);
                tg_zero_grad(1, &x);
                tg_rnn_output r;
                assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, LENGTHS, &r), 0);
                tg_manual_seed(14); /* the same weights in every run */
                tg_tensor *w = tg_rand(TG_F64, r.output->ndim, r.output->shape, -1, 1);
                tg_tensor *loss = tg_add(tg_sum(tg_mul(r.output, w), 0, NULL, false), tg_sum(r.h_n, 0, NULL, false));
                assert_int_equal(tg_backward(loss, NULL), 0);
                tg_tensor *got[4 + 64] = {r.output, r.h_n, x->grad};
                n = 3;
                assert_true(params.count <= 64);
                for (int i = 0; i < params.count; i++) got[n++] = params.items[i].tensor->grad;
                for (int i = 0; i < n; i++) {
                    char what[160];
                    snprintf(what, sizeof what, "%s, batch_first %d, padding %g: result %d", MODES[m].name,
                             batch_first, fills[f], i);
                    assert_non_null(got[i]);
                    if (f == 0) first[i] = tg_keep(tg_clone(got[i]));
                    else assert_close(got[i], first[i], 0, 0, what);
                }
                /* outputs past each sequence's end are zero */
                for (int64_t b = 0; f == 0 && b < B; b++)
                    for (int64_t t = LENGTHS[b]; t < T; t++)
                        assert_true(tg_get(r.output, batch_first ? (int64_t[]){b, t, 0} : (int64_t[]){t, b, 0}) == 0.0);
                tg_scope_end(s);
            }
            for (int i = 0; i < n; i++) tg_free(first[i]);
            tg_params_free(&params);
            tg_free(x);
            tg_rnn_free(rnn);
        }
}

/* One step with no initial state: the state's weight meets only zeros, and
 * its gradient is zeros, as PyTorch's, not absent (an optimizer skips a
 * parameter without one), with the bits of an explicit zero state. */
static void test_one_step_state_weight_has_zero_grad(void **state)
{
    (void)state;
    for (size_t m = 0; m < sizeof MODES / sizeof *MODES; m++) {
        tg_tensor *kept[2] = {0};
        for (int run = 0; run < 2; run++) { /* a new layer each run: no gradient yet */
            tg_manual_seed(13);
            tg_rnn_config config = {.input_size = I, .hidden_size = H, .proj_size = MODES[m].proj, .dtype = TG_F64};
            tg_rnn *rnn = tg_rnn_new(MODES[m].cell, &config);
            tg_params params = tg_params_new();
            assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
            tg_tensor *x = leaf_f64(3, (int64_t[]){1, B, I}, -1, 1);
            tg_scope *s = tg_scope_begin();
            tg_tensor *init[TG_CELL_MAX_STATES] = {0};
            for (int k = 0; run == 1 && k < rnn->n_states; k++)
                init[k] = tg_zeros(TG_F64, 3, (int64_t[]){1, B, rnn->state_size[k]});
            tg_rnn_output r;
            assert_int_equal(tg_rnn_forward(rnn, x, run == 1 ? rnn->n_states : 0, init, NULL, &r), 0);
            assert_int_equal(tg_backward(tg_sum(tg_square(r.output), 0, NULL, false), NULL), 0);
            tg_tensor *whh = tg_params_find(&params, "weight_hh_l0");
            assert_non_null(whh->grad);
            assert_true(tg_item(tg_sum(tg_abs(whh->grad), 0, NULL, false)) == 0.0);
            kept[run] = tg_keep(tg_clone(tg_params_find(&params, "weight_ih_l0")->grad));
            tg_scope_end(s);
            tg_params_free(&params);
            tg_free(x);
            tg_rnn_free(rnn);
        }
        assert_close(kept[0], kept[1], 0, 0, MODES[m].name);
        tg_free(kept[0]);
        tg_free(kept[1]);
    }
    /* the same for one step as a module, as torch.nn.LSTMCell with no hx */
    tg_cell_layer *cell = tg_cell_layer_new(&tg_cell_lstm, I, H, true, TG_F64);
    tg_scope *s = tg_scope_begin();
    tg_tensor *next[2];
    tg_tensor *h = tg_cell_layer_forward(cell, tg_ones(TG_F64, 2, (int64_t[]){B, I}), 0, NULL, next);
    assert_int_equal(tg_backward(tg_sum(tg_add(h, next[1]), 0, NULL, false), NULL), 0);
    tg_tensor *whh = tg_cell_layer_param(cell, "weight_hh");
    assert_non_null(whh->grad);
    assert_true(tg_item(tg_sum(tg_abs(whh->grad), 0, NULL, false)) == 0.0);
    assert_true(tg_item(tg_sum(tg_abs(tg_cell_layer_param(cell, "weight_ih")->grad), 0, NULL, false)) > 0.0);
    tg_scope_end(s);
    tg_cell_layer_free(cell);
}

/* Batches above 8 rows multiply by a copy of W^T whose rows are padded
 * apart when they would start a multiple of 1 KB apart (4H = 256 floats
 * here); 8 rows read W in place. Rows of a batch are independent, so the
 * first 8 rows of a 9-row batch must give what the 8 rows give alone: the
 * outputs, the final states and the input's gradient, for LSTM and GRU
 * (3H = 192 floats: unpadded) in both dtypes. */
static void test_padded_weight_copy(void **state)
{
    (void)state;
    const tg_cell *cells[2] = {&tg_cell_lstm, &tg_cell_gru};
    tg_dtype dtypes[2] = {TG_F32, TG_F64};
    for (int c = 0; c < 2; c++)
        for (int d = 0; d < 2; d++) {
            tg_manual_seed(9);
            tg_rnn_config config = {.input_size = 64, .hidden_size = 64, .dtype = dtypes[d]};
            tg_rnn *rnn = tg_rnn_new(cells[c], &config);
            tg_tensor *x9 = tg_requires_grad(tg_rand(dtypes[d], 3, (int64_t[]){4, 9, 64}, -1, 1), true);
            bool was = tg_set_grad_enabled(false);
            tg_tensor *rows = tg_narrow(x9, 1, 0, 8);
            tg_tensor *x8 = tg_requires_grad(tg_contiguous(rows), true);
            tg_free(rows);
            tg_set_grad_enabled(was);
            tg_scope *s = tg_scope_begin();
            tg_rnn_output r9, r8;
            assert_int_equal(tg_rnn_forward(rnn, x9, 0, NULL, NULL, &r9), 0);
            assert_int_equal(tg_rnn_forward(rnn, x8, 0, NULL, NULL, &r8), 0);
            assert_int_equal(tg_backward(tg_sum(tg_square(r9.output), 0, NULL, false), NULL), 0);
            assert_int_equal(tg_backward(tg_sum(tg_square(r8.output), 0, NULL, false), NULL), 0);
            double tol = dtypes[d] == TG_F32 ? 1e-5 : 1e-12;
            assert_close(tg_narrow(r9.output, 1, 0, 8), r8.output, tol, tol, "output");
            assert_close(tg_narrow(r9.h_n, 1, 0, 8), r8.h_n, tol, tol, "h_n");
            assert_close(tg_narrow(x9->grad, 1, 0, 8), x8->grad, tol, tol, "input gradient");
            tg_scope_end(s);
            tg_free(x8);
            tg_free(x9);
            tg_rnn_free(rnn);
        }
}

/* Arena bytes a forward without grad of (steps, batch, input) takes. */
static size_t no_grad_forward_bytes(tg_rnn *rnn, int64_t steps, int64_t batch, int64_t input)
{
    tg_scope *s = tg_scope_begin();
    bool was = tg_no_grad_begin();
    tg_tensor *x = tg_zeros(TG_F32, 3, (int64_t[]){steps, batch, input});
    size_t before = tg_arena_used();
    tg_rnn_output out;
    assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, NULL, &out), 0);
    size_t used = tg_arena_used() - before;
    tg_no_grad_end(was);
    tg_scope_end(s);
    return used;
}

/* Without grad, a batch of 512 rows or more projects each step's input in
 * the loop instead of all steps at once before it (rnn.c): the outputs are
 * those of the recorded forward, which projects them all at once, for the
 * LSTM and the GRU, with two layers (the second's input is the first's
 * output), and the forward made no node. The (T, B, G*H) projection is
 * never made: 512 rows take less memory than 511, which project before
 * the loop. */
static void test_no_grad_projects_per_step(void **state)
{
    (void)state;
    const tg_cell *cells[2] = {&tg_cell_lstm, &tg_cell_gru};
    for (int c = 0; c < 2; c++) {
        tg_manual_seed(11);
        tg_rnn_config config = {.input_size = 5, .hidden_size = 6, .num_layers = 2};
        tg_rnn *rnn = tg_rnn_new(cells[c], &config);
        tg_tensor *x = tg_rand(TG_F32, 3, (int64_t[]){3, 512, 5}, -1, 1);
        tg_scope *s = tg_scope_begin();
        tg_rnn_output recorded, plain;
        assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, NULL, &recorded), 0);
        assert_non_null(recorded.output->node);
        bool was = tg_no_grad_begin();
        assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, NULL, &plain), 0);
        tg_no_grad_end(was);
        assert_null(plain.output->node);
        assert_close(plain.output, recorded.output, 1e-6, 1e-6, "output");
        assert_close(plain.h_n, recorded.h_n, 1e-6, 1e-6, "h_n");
        tg_scope_end(s);
        assert_true(no_grad_forward_bytes(rnn, 8, 512, 5) < no_grad_forward_bytes(rnn, 8, 511, 5));
        tg_free(x);
        tg_rnn_free(rnn);
    }
}

/* A weight gradient a pass makes at a step's product is stored there
 * (beta = 0); one that already holds a gradient from elsewhere in the
 * pass is added onto. With sum(W_hh) in the loss, W_hh's gradient arrives
 * before the steps' and W_ih's does not: W_ih gets the same values as
 * without it, W_hh those plus one, for the LSTM (both weights in one
 * product) and the GRU (apart). */
static void test_weight_gradient_stored_or_added(void **state)
{
    (void)state;
    const tg_cell *cells[2] = {&tg_cell_lstm, &tg_cell_gru};
    for (int c = 0; c < 2; c++) {
        tg_manual_seed(12);
        tg_rnn_config config = {.input_size = I, .hidden_size = H, .dtype = TG_F64};
        tg_rnn *rnn = tg_rnn_new(cells[c], &config);
        tg_tensor *x = tg_rand(TG_F64, 3, (int64_t[]){6, 4, I}, -1, 1);
        tg_params params = tg_params_new();
        assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
        tg_tensor *w_ih = tg_params_find(&params, "weight_ih_l0"), *w_hh = tg_params_find(&params, "weight_hh_l0");
        tg_tensor *g_ih[2], *g_hh[2];
        for (int run = 0; run < 2; run++) {
            tg_scope *s = tg_scope_begin();
            tg_params_zero_grad(&params);
            tg_rnn_output r;
            assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, NULL, &r), 0);
            tg_tensor *loss = tg_sum(tg_square(r.output), 0, NULL, false);
            if (run == 1) loss = tg_add(loss, tg_sum(w_hh, 0, NULL, false));
            assert_int_equal(tg_backward(loss, NULL), 0);
            g_ih[run] = tg_keep(tg_clone(w_ih->grad));
            g_hh[run] = tg_keep(tg_clone(w_hh->grad));
            tg_scope_end(s);
        }
        for (int64_t i = 0; i < tg_numel(g_ih[0]); i++)
            assert_true(((double *)tg_data(g_ih[0]))[i] == ((double *)tg_data(g_ih[1]))[i]);
        for (int64_t i = 0; i < tg_numel(g_hh[0]); i++)
            assert_near(((double *)tg_data(g_hh[0]))[i] + 1, ((double *)tg_data(g_hh[1]))[i], 1e-12);
        for (int run = 0; run < 2; run++) tg_free(g_ih[run]), tg_free(g_hh[run]);
        tg_params_free(&params);
        tg_free(x);
        tg_rnn_free(rnn);
    }
}

/* A training step of the LSTM and the GRU gives the same bits on 1 and 2
 * threads: its output, final states and every parameter's gradient. The
 * shapes are large enough for the products and the fused cells to split
 * between threads (B x H = 8192 elements), with each step's input
 * projected in the step (B = 64) and before the loop (B = 96). */
static void test_same_bits_on_one_and_two_threads(void **state)
{
    (void)state;
    int before = tg_get_num_threads();
    const tg_cell *cells[2] = {&tg_cell_lstm, &tg_cell_gru};
    const int64_t batches[2] = {64, 96};
    for (int c = 0; c < 2; c++)
        for (int b = 0; b < 2; b++) {
            tg_manual_seed(31);
            tg_rnn_config config = {.input_size = 32, .hidden_size = 128, .dtype = TG_F32};
            tg_rnn *rnn = tg_rnn_new(cells[c], &config);
            tg_tensor *x = tg_rand(TG_F32, 3, (int64_t[]){4, batches[b], 32}, -1, 1);
            tg_params params = tg_params_new();
            assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
            tg_tensor *kept[2][8] = {{NULL}};
            assert_true(2 + params.count <= 8);
            int n_kept = 0;
            for (int t = 0; t < 2; t++) {
                assert_int_equal(tg_set_num_threads(t + 1), 0);
                tg_scope *s = tg_scope_begin();
                tg_params_zero_grad(&params);
                tg_rnn_output r;
                assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, NULL, &r), 0);
                if (tg_backward(tg_sum(tg_square(r.output), 0, NULL, false), NULL) != 0)
                    fail_msg("%s B=%lld: backward: %s", cells[c]->name, (long long)batches[b], tg_last_error());
                n_kept = 0;
                kept[t][n_kept++] = tg_keep(tg_clone(r.output));
                kept[t][n_kept++] = tg_keep(tg_clone(r.h_n));
                for (int k = 0; k < params.count; k++) kept[t][n_kept++] = tg_keep(tg_clone(params.items[k].tensor->grad));
                tg_scope_end(s);
            }
            for (int k = 0; k < n_kept; k++) {
                assert_true(tg_numel(kept[0][k]) == tg_numel(kept[1][k]));
                if (memcmp(tg_data(kept[0][k]), tg_data(kept[1][k]), sizeof(float) * (size_t)tg_numel(kept[0][k])))
                    fail_msg("%s B=%lld: result %d differs between 1 and 2 threads", cells[c]->name,
                             (long long)batches[b], k);
                tg_free(kept[0][k]);
                tg_free(kept[1][k]);
            }
            tg_params_free(&params);
            tg_free(x);
            tg_rnn_free(rnn);
        }
    tg_set_num_threads(before);
}

/* --- options beyond PyTorch ----------------------------------------------------------- */

static void test_learnable_initial_state(void **state)
{
    (void)state;
    tg_lstm_config cfg = {.input_size = I, .hidden_size = H, .bidirectional = true, .learn_init = true, .dtype = TG_F64};
    tg_lstm *lstm = tg_lstm_new(&cfg);
    tg_params params = tg_params_new();
    assert_int_equal(tg_rnn_params(lstm, &params, "enc"), 0);
    tg_tensor *h0 = tg_params_find(&params, "enc.h0"), *c0 = tg_params_find(&params, "enc.c0");
    assert_non_null(h0);
    assert_non_null(c0);
    assert_true(h0->shape[0] == 2 && h0->shape[1] == 1 && h0->shape[2] == H);
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    tg_copy_(h0, tg_randn(TG_F64, 3, (int64_t[]){2, 1, H}, 0, 1));
    tg_copy_(c0, tg_randn(TG_F64, 3, (int64_t[]){2, 1, H}, 0, 1));
    tg_set_grad_enabled(was);
    tg_tensor *x = tg_randn(TG_F64, 3, (int64_t[]){T, B, I}, 0, 1);
    tg_rnn_output learned, given;
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, NULL, NULL, &learned), 0);
    tg_tensor *loss = tg_sum(tg_mul(learned.output, learned.output), 0, NULL, false);
    assert_int_equal(tg_backward(loss, NULL), 0);
    /* the learned state is the given state broadcast over the batch: same
     * values, and its gradient is the given state's summed over the batch */
    tg_tensor *h_given = tg_requires_grad(tg_keep(tg_expand(h0, 3, (int64_t[]){2, B, H})), true);
    tg_tensor *c_given = tg_requires_grad(tg_keep(tg_expand(c0, 3, (int64_t[]){2, B, H})), true);
    assert_int_equal(tg_lstm_forward(lstm, x, h_given, c_given, NULL, &given), 0);
    assert_close(learned.output, given.output, 1e-14, 0, "learned initial state");
    assert_int_equal(tg_backward(tg_sum(tg_mul(given.output, given.output), 0, NULL, false), NULL), 0);
    assert_close(h0->grad, tg_sum(h_given->grad, 1, (int[]){1}, true), 1e-12, 1e-14, "h0 gradient");
    assert_close(c0->grad, tg_sum(c_given->grad, 1, (int[]){1}, true), 1e-12, 1e-14, "c0 gradient");
    tg_scope_end(s);
    tg_free(h_given);
    tg_free(c_given);
    tg_params_free(&params);
    tg_rnn_free(lstm);
}

/* Scale the rows of gate block `gate` of weight (G*H, in) by factor. */
static void scale_gate_rows(tg_tensor *weight, int gate, double factor)
{
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    tg_mul_scalar_(tg_narrow(weight, 0, gate * H, H), factor);
    tg_set_grad_enabled(was);
    tg_scope_end(s);
}

/* Layer norm normalises each gate block of each projection on its own:
 * scaling one block's rows of W_ih or W_hh changes nothing. */
static void test_layer_norm_option(void **state)
{
    (void)state;
    const tg_cell *cells[3] = {&tg_cell_lstm, &tg_cell_gru, &tg_cell_rnn_tanh};
    for (int m = 0; m < 3; m++) {
        tg_manual_seed(8);
        tg_rnn_config cfg = {.input_size = I, .hidden_size = H, .num_layers = 2, .layer_norm = true, .dtype = TG_F64};
        tg_rnn *rnn = tg_rnn_new(cells[m], &cfg);
        assert_non_null(rnn);
        tg_params params = tg_params_new();
        assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
        tg_tensor *gain = tg_params_find(&params, "ln_weight_hh_l1");
        assert_non_null(gain);
        tg_tensor *w_ih = tg_params_find(&params, "weight_ih_l0"), *w_hh = tg_params_find(&params, "weight_hh_l1");
        assert_true(gain->shape[0] == w_hh->shape[0] && tg_get(gain, (int64_t[]){0}) == 1.0);
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_randn(TG_F64, 3, (int64_t[]){T, B, I}, 0, 1);
        tg_tensor *h0 = tg_randn(TG_F64, 3, (int64_t[]){2, B, H}, 0, 1);
        /* rows scaled by 100, then by 10^4, so that eps is negligible in both */
        tg_rnn_output before, after;
        int gate = w_ih->shape[0] > H; /* the second gate block where there is one */
        scale_gate_rows(w_ih, gate, 100.0);
        scale_gate_rows(w_hh, 0, 100.0);
        assert_int_equal(tg_rnn_forward(rnn, x, 1, &h0, NULL, &before), 0);
        scale_gate_rows(w_ih, gate, 100.0);
        scale_gate_rows(w_hh, 0, 100.0);
        assert_int_equal(tg_rnn_forward(rnn, x, 1, &h0, NULL, &after), 0);
        assert_close(after.output, before.output, 1e-5, 1e-6, "layer norm per gate block");
        tg_scope_end(s);
        tg_params_free(&params);
        tg_rnn_free(rnn);
    }
    /* and gradients are right through the normalisation */
    tg_rnn_config cfg = {.input_size = 3, .hidden_size = 2, .bidirectional = true, .layer_norm = true, .dtype = TG_F64};
    assert_rnn_gradcheck(&tg_cell_lstm, &cfg, (int64_t[]){5, 3}, "layer-normalised LSTM");
    assert_rnn_gradcheck(&tg_cell_gru, &cfg, NULL, "layer-normalised GRU");
    assert_rnn_gradcheck(&tg_cell_rnn_tanh, &cfg, (int64_t[]){2, 5}, "layer-normalised Elman RNN");
}

static void test_dropout_between_layers(void **state)
{
    (void)state;
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = I, .hidden_size = H, .num_layers = 2, .dropout = 0.5,
                                              .dtype = TG_F64});
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_randn(TG_F64, 3, (int64_t[]){T, B, I}, 0, 1);
    tg_rnn_output train1, train2, eval1, eval2;
    assert_int_equal(tg_gru_forward(gru, x, NULL, NULL, &train1), 0);
    assert_int_equal(tg_gru_forward(gru, x, NULL, NULL, &train2), 0);
    tg_rnn_train(gru, false);
    assert_int_equal(tg_gru_forward(gru, x, NULL, NULL, &eval1), 0);
    assert_int_equal(tg_gru_forward(gru, x, NULL, NULL, &eval2), 0);
    assert_close(eval1.output, eval2.output, 0, 0, "eval mode is deterministic");
    double diff = tg_item(tg_sum(tg_abs(tg_sub(train1.output, train2.output)), 0, NULL, false));
    assert_true(diff > 1e-3); /* different masks */
    /* the first layer has no dropout after it in eval mode, so its h_n agrees */
    assert_close(tg_select(train1.h_n, 0, 0), tg_select(eval1.h_n, 0, 0), 0, 0, "first layer untouched");
    tg_scope_end(s);
    tg_rnn_free(gru);
}

/* An empty batch runs as in torch 1.13: empty outputs and final states, and
 * every weight gets a zero gradient (it was refused as "no sequence"). */
static void test_empty_batch(void **state)
{
    (void)state;
    const tg_cell *cells[] = {&tg_cell_rnn_tanh, &tg_cell_lstm, &tg_cell_gru};
    for (int c = 0; c < 3; c++) {
        tg_rnn *rnn = tg_rnn_new(cells[c], &(tg_rnn_config){.input_size = I, .hidden_size = H, .num_layers = 2,
                                                            .bidirectional = true, .batch_first = true});
        assert_non_null(rnn);
        tg_params params = tg_params_new();
        assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_requires_grad(tg_zeros(TG_F32, 3, (int64_t[]){0, T, I}), true);
        tg_tensor *h0 = tg_requires_grad(tg_zeros(TG_F32, 3, (int64_t[]){4, 0, H}), true);
        tg_rnn_output r;
        tg_clear_error();
        assert_int_equal(tg_rnn_forward(rnn, x, 1, &h0, (int64_t[]){T}, &r), 0);
        assert_string_equal(tg_last_error(), "");
        assert_int_equal(r.output->ndim, 3);
        assert_true(r.output->shape[0] == 0 && r.output->shape[1] == T && r.output->shape[2] == 2 * H);
        for (int k = 0; k < rnn->n_states; k++)
            assert_true(r.state_n[k]->ndim == 3 && r.state_n[k]->shape[0] == 4 && r.state_n[k]->shape[1] == 0 &&
                        r.state_n[k]->shape[2] == H);
        tg_tensor *loss = tg_sum(r.output, 0, NULL, false);
        for (int k = 0; k < rnn->n_states; k++) loss = tg_add(loss, tg_sum(r.state_n[k], 0, NULL, false));
        assert_int_equal(tg_backward(loss, NULL), 0);
        assert_true(tg_same_shape(x->grad, x) && tg_same_shape(h0->grad, h0));
        for (int i = 0; i < params.count; i++) {
            tg_tensor *g = params.items[i].tensor->grad;
            assert_non_null(g);
            assert_true(tg_same_shape(g, params.items[i].tensor));
            assert_true(tg_item(tg_sum(tg_abs(g), 0, NULL, false)) == 0);
        }
        tg_scope_end(s);
        tg_params_free(&params);
        tg_rnn_free(rnn);

        tg_cell_layer *cell = tg_cell_layer_new(cells[c], I, H, true, TG_F64);
        assert_non_null(cell);
        s = tg_scope_begin();
        tg_tensor *next[2];
        tg_tensor *y = tg_cell_layer_forward(cell, tg_zeros(TG_F64, 2, (int64_t[]){0, I}), 0, NULL, next);
        assert_non_null(y);
        assert_true(y->ndim == 2 && y->shape[0] == 0 && y->shape[1] == H);
        assert_true(next[0]->ndim == 2 && next[0]->shape[0] == 0);
        tg_scope_end(s);
        tg_cell_layer_free(cell);
    }
}

/* --- bad input ------------------------------------------------------------------------ */

static void test_bad_input(void **state)
{
    (void)state;
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = I, .hidden_size = H, .num_layers = 2});
    tg_scope *s = tg_scope_begin();
    tg_rnn_output r;
    tg_tensor *x = tg_zeros(TG_F32, 3, (int64_t[]){T, B, I});
    assert_int_equal(tg_lstm_forward(lstm, tg_zeros(TG_F32, 4, (int64_t[]){T, B, I, 1}), NULL, NULL, NULL, &r), -1);
    assert_error_contains("tg_rnn_forward: expected input of 3 dims (seq, batch, feature)");
    assert_null(r.output);
    assert_int_equal(tg_lstm_forward(lstm, tg_zeros(TG_F32, 3, (int64_t[]){T, B, 8}), NULL, NULL, NULL, &r), -1);
    assert_error_contains("input.size(-1) must be equal to input_size. Expected 7, got 8");
    assert_int_equal(tg_lstm_forward(lstm, tg_zeros(TG_F64, 3, (int64_t[]){T, B, I}), NULL, NULL, NULL, &r), -1);
    assert_error_contains("input is float64 but the layer's parameters are float32");
    assert_int_equal(tg_lstm_forward(lstm, x, tg_zeros(TG_F32, 3, (int64_t[]){2, B, 6}), NULL, NULL, &r), -1);
    assert_error_contains("Expected h0 of size (2, 3, 5)");
    assert_error_contains("got [2,3,6]");
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, tg_zeros(TG_F32, 3, (int64_t[]){1, B, H}), NULL, &r), -1);
    assert_error_contains("Expected c0 of size (2, 3, 5)");
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, NULL, (int64_t[]){3, 5, 1}, &r), -1);
    assert_error_contains("lengths[1] is 5, longer than the input's 4 time steps");
    assert_int_equal(tg_lstm_forward(lstm, x, NULL, NULL, (int64_t[]){3, 0, 1}, &r), -1);
    assert_error_contains("lengths[1] is 0: Length of all samples has to be greater than 0");
    assert_int_equal(tg_lstm_forward(lstm, tg_zeros(TG_F32, 2, (int64_t[]){T, I}), NULL, NULL, (int64_t[]){2}, &r), -1);
    assert_error_contains("lengths need a batched");
    assert_int_equal(tg_lstm_forward(lstm, tg_zeros(TG_F32, 3, (int64_t[]){0, B, I}), NULL, NULL, NULL, &r), -1);
    assert_error_contains("tg_rnn_forward: Expected sequence length to be larger than 0 in RNN, got input [0,3,7]");
    tg_clear_error();
    assert_int_equal(tg_lstm_forward(lstm, NULL, NULL, NULL, NULL, &r), -1); /* NULL propagates quietly */
    assert_string_equal(tg_last_error(), "");
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = I, .hidden_size = H});
    assert_int_equal(tg_rnn_forward(gru, x, 2, (tg_tensor *[]){NULL, tg_zeros(TG_F32, 3, (int64_t[]){1, B, H})}, NULL, &r), -1);
    assert_error_contains("tg_rnn_forward: cell 'GRU' has 1 state (h), got 2 initial states");
    assert_int_equal(tg_rnn_forward(gru, x, 1, NULL, NULL, &r), -1);
    assert_error_contains("got 1 initial states in a NULL array");
    assert_int_equal(tg_rnn_forward(lstm, x, -1, NULL, NULL, &r), -1);
    assert_error_contains("tg_rnn_forward: cell 'LSTM' has 2 states (h, c), got -1 initial states");
    tg_rnn_free(gru);
    tg_scope_end(s);
    tg_rnn_free(lstm);

    assert_null(tg_lstm_new(&(tg_lstm_config){.input_size = I, .hidden_size = H, .proj_size = H}));
    assert_error_contains("tg_lstm_new: proj_size has to be smaller than hidden_size");
    assert_null(tg_gru_new(&(tg_gru_config){.input_size = I, .hidden_size = H, .proj_size = 2}));
    assert_error_contains("tg_gru_new: proj_size argument is only supported for LSTM (cells with a proj parameter), "
                          "not cell 'GRU'");
    assert_null(tg_rnn_new(&tg_cell_rnn_tanh, &(tg_rnn_config){.input_size = I, .hidden_size = H, .dropout = 1.5}));
    assert_error_contains("dropout should be a number in range [0, 1]");
    assert_null(tg_rnn_new(&tg_cell_rnn_tanh, &(tg_rnn_config){.input_size = 0, .hidden_size = H}));
    assert_error_contains("tg_rnn_new: input_size and hidden_size must be positive");
    assert_null(tg_rnn_new(NULL, &(tg_rnn_config){.input_size = I, .hidden_size = H}));
    assert_error_contains("tg_rnn_new: NULL cell");
    assert_null(tg_rnn_new(&tg_cell_gru, &(tg_rnn_config){.input_size = I, .hidden_size = H, .dtype = TG_I64}));
    assert_error_contains("tg_rnn_new: dtype must be float32 or float64, got int64");
    assert_null(tg_cell_layer_new(&tg_cell_lstm, I, H, true, (tg_dtype)7));
    assert_error_contains("tg_cell_layer_new: dtype must be float32 or float64, got the value 7, which is no dtype");
    assert_null(tg_lstm_new(NULL));
    assert_error_contains("tg_lstm_new: NULL config");
}

/* --- a user-defined cell trains with no backward code ------------------------------------ */

/* A minimal gated unit (Zhou et al. 2016), written with ops in the test:
 *   f = sigmoid(W_fx x + b_f + W_fh h)
 *   n = tanh(W_nx x + b_n + W_nh (f * h))
 *   h' = (1 - f) * h + f * n
 * Its input projection for every step is one linear, as in the built-ins. */
typedef struct {
    tg_tensor *w_x, *b_x; /* (2H, 1), (2H): [f n] blocks */
    tg_tensor *w_fh, *w_nh; /* (H, H) */
    tg_linear_layer *readout;
} mgu;

enum { MGU_H = 8, MGU_T = 6, MGU_B = 32 };

/* x (T, B, 1) -> prediction (B, 1) from the last state */
static tg_tensor *mgu_forward(mgu *m, tg_tensor *x)
{
    tg_tensor *xproj = tg_linear(x, m->w_x, m->b_x); /* (T, B, 2H) */
    tg_tensor *h = tg_zeros(x->dtype, 2, (int64_t[]){x->shape[1], MGU_H});
    for (int64_t t = 0; t < x->shape[0]; t++) {
        tg_tensor *xt = tg_select(xproj, 0, t);
        tg_tensor *forget = tg_sigmoid(tg_add(tg_narrow(xt, 1, 0, MGU_H), tg_linear(h, m->w_fh, NULL)));
        tg_tensor *candidate = tg_tanh(tg_add(tg_narrow(xt, 1, MGU_H, MGU_H), tg_linear(tg_mul(forget, h), m->w_nh, NULL)));
        h = tg_lerp(h, candidate, forget);
    }
    return tg_linear_layer_forward(m->readout, h);
}

/* Every recurrent weight and bias starts uniform in [-1/sqrt(H), 1/sqrt(H)),
 * as torch.nn: all inside the bound, and the mean and variance of a uniform
 * distribution (0 and bound^2 / 3). */
static void test_recurrent_init(void **state)
{
    (void)state;
    tg_manual_seed(17);
    const int64_t hidden = 64;
    const double bound = 1.0 / 8.0;
    tg_rnn *layers[3] = {
        tg_lstm_new(&(tg_lstm_config){.input_size = 10, .hidden_size = hidden, .num_layers = 2, .bidirectional = true}),
        tg_gru_new(&(tg_gru_config){.input_size = 10, .hidden_size = hidden}),
        tg_rnn_new(&tg_cell_rnn_relu, &(tg_rnn_config){.input_size = 10, .hidden_size = hidden}),
    };
    for (int l = 0; l < 3; l++) {
        tg_params params = tg_params_new();
        assert_int_equal(tg_rnn_params(layers[l], &params, NULL), 0);
        double sum = 0, sq = 0;
        int64_t count = 0;
        for (int i = 0; i < params.count; i++) {
            const tg_tensor *t = params.items[i].tensor;
            const float *v = tg_data(t);
            for (int64_t k = 0; k < tg_numel(t); k++) {
                assert_true(v[k] >= -bound && v[k] < bound);
                sum += v[k];
                sq += (double)v[k] * v[k];
            }
            count += tg_numel(t);
        }
        assert_near(sum / (double)count, 0.0, 0.05 * bound); /* several standard errors */
        assert_near(sq / (double)count, bound * bound / 3, 0.06 * bound * bound / 3);
        tg_params_free(&params);
        tg_rnn_free(layers[l]);
    }
}

/* The task: output the first value of a sequence of uniform noise, which
 * takes remembering it through T - 1 steps. */
static void test_custom_cell_trains(void **state)
{
    (void)state;
    tg_manual_seed(4);
    double bound = 1.0 / sqrt(MGU_H);
    mgu m = {
        tg_param_uniform(TG_F64, 2, (int64_t[]){2 * MGU_H, 1}, -bound, bound),
        tg_param_uniform(TG_F64, 1, (int64_t[]){2 * MGU_H}, -bound, bound),
        tg_param_uniform(TG_F64, 2, (int64_t[]){MGU_H, MGU_H}, -bound, bound),
        tg_param_uniform(TG_F64, 2, (int64_t[]){MGU_H, MGU_H}, -bound, bound),
        tg_linear_layer_new(MGU_H, 1, true, TG_F64),
    };
    tg_params params = tg_params_new();
    tg_params_add(&params, "mgu", "w_x", m.w_x);
    tg_params_add(&params, "mgu", "b_x", m.b_x);
    tg_params_add(&params, "mgu", "w_fh", m.w_fh);
    tg_params_add(&params, "mgu", "w_nh", m.w_nh);
    assert_int_equal(tg_linear_layer_params(m.readout, &params, "readout"), 0);
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.03;
    tg_optim *opt = tg_adam(&params, 1, &adam);
    assert_non_null(opt);
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        tg_scope *s = tg_scope_begin();
        tg_tensor *x = tg_rand(TG_F64, 3, (int64_t[]){MGU_T, MGU_B, 1}, -1, 1);
        tg_tensor *loss = tg_mse_loss(mgu_forward(&m, x), tg_select(x, 0, 0), TG_REDUCTION_MEAN);
        tg_optim_zero_grad(opt);
        assert_int_equal(tg_backward(loss, NULL), 0);
        assert_int_equal(tg_optim_step(opt), 0);
        if (step < 10) first += tg_item(loss) / 10;
        if (step >= 290) last += tg_item(loss) / 10;
        tg_scope_end(s);
    }
    print_message("minimal gated unit: loss %.4f over the first 10 steps, %.5f over the last 10\n", first, last);
    assert_true(first > 0.2);  /* about var(x0) = 1/3 before training */
    assert_true(last < 0.01);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_free(m.w_x);
    tg_free(m.b_x);
    tg_free(m.w_fh);
    tg_free(m.w_nh);
    tg_linear_layer_free(m.readout);
}

/* Frozen weights (none requires grad): the products read no step's input
 * for a weight's gradient, so a step recycles more of its memory, and x's
 * gradient is the same, bit for bit, as with trainable weights. */
static void test_frozen_weights_same_input_gradient(void **state)
{
    (void)state;
    for (int gru = 0; gru < 2; gru++) {
        tg_tensor *grads[2];
        for (int frozen = 0; frozen < 2; frozen++) {
            tg_manual_seed(7);
            tg_tensor *x = tg_requires_grad(tg_randn(TG_F32, 3, (int64_t[]){5, 2, 3}, 0, 1), true);
            tg_params ps = tg_params_new();
            tg_lstm *l = gru ? NULL : tg_lstm_new(&(tg_lstm_config){.input_size = 3, .hidden_size = 4, .num_layers = 2});
            tg_gru *g = gru ? tg_gru_new(&(tg_gru_config){.input_size = 3, .hidden_size = 4, .num_layers = 2}) : NULL;
            assert_int_equal(tg_rnn_params(gru ? g : l, &ps, "rnn"), 0);
            for (int i = 0; frozen && i < ps.count; i++) tg_requires_grad(ps.items[i].tensor, false);
            tg_scope *s = tg_scope_begin();
            tg_rnn_output out;
            assert_int_equal(gru ? tg_gru_forward(g, x, NULL, NULL, &out) : tg_lstm_forward(l, x, NULL, NULL, NULL, &out),
                             0);
            assert_int_equal(tg_backward(tg_sum(tg_mul(out.output, out.output), 0, NULL, false), NULL), 0);
            tg_scope_end(s);
            grads[frozen] = tg_keep(x->grad);
            for (int i = 0; i < ps.count; i++) assert_true((ps.items[i].tensor->grad == NULL) == frozen);
            tg_params_free(&ps);
            tg_rnn_free(gru ? g : l);
            tg_free(x);
        }
        assert_int_equal(tg_numel(grads[0]), 30);
        assert_memory_equal(tg_data(grads[0]), tg_data(grads[1]), 30 * sizeof(float));
        tg_free(grads[0]);
        tg_free(grads[1]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_rnn_tanh), cmocka_unit_test(test_parity_rnn_relu),
        cmocka_unit_test(test_parity_lstm),     cmocka_unit_test(test_parity_lstm_proj),
        cmocka_unit_test(test_parity_gru),
        cmocka_unit_test(test_gradcheck_lstm_2layer_bi), cmocka_unit_test(test_gradcheck_gru_2layer_bi),
        cmocka_unit_test(test_shapes_from_the_issue),    cmocka_unit_test(test_unbatched_and_defaults),
        cmocka_unit_test(test_truncated_bptt),           cmocka_unit_test(test_learnable_initial_state),
        cmocka_unit_test(test_layer_norm_option),        cmocka_unit_test(test_dropout_between_layers),
        cmocka_unit_test(test_bad_input),                cmocka_unit_test(test_custom_cell_trains),
        cmocka_unit_test(test_recurrent_init),         cmocka_unit_test(test_zero_initial_state_left_out),
        cmocka_unit_test(test_padding_never_read),       cmocka_unit_test(test_one_step_state_weight_has_zero_grad),
        cmocka_unit_test(test_padded_weight_copy),       cmocka_unit_test(test_weight_gradient_stored_or_added),
        cmocka_unit_test(test_no_grad_projects_per_step),  cmocka_unit_test(test_empty_batch),
        cmocka_unit_test(test_same_bits_on_one_and_two_threads),
        cmocka_unit_test(test_frozen_weights_same_input_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
