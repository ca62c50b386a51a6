/* Memory of a recurrent training step: the forward keeps what backward
 * reads and nothing else, and backward hands the memory of a gradient out
 * again once its node's backward has run. Sizes are counted in units of
 * one (B, H) float32 tensor, the size of a state. */
#include "support.h"

#include <stdio.h>
#include <string.h>

enum { B = 32, H = 128, I = 128, T1 = 40, T2 = 80 };
#define UNIT ((double)B * H * 4)

typedef struct {
    double forward_units, backward_units; /* per time step */
} step_memory;

typedef struct {
    size_t forward, backward; /* arena bytes */
} run_memory;

static size_t used_at_hook;

static tg_tensor *note_arena(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t, (void)grad, (void)ctx;
    used_at_hook = tg_arena_used();
    return NULL;
}

/* Arena bytes held after the forward of T steps, and taken by the
 * backward: a hook on the input runs after every node's backward, before
 * the pass ends, when the arena holds all the pass ever took (nothing
 * shrinks it before the scope ends). */
static run_memory measure_run(const tg_cell *cell, int64_t T)
{
    tg_manual_seed(5);
    tg_rnn_config config = {.input_size = I, .hidden_size = H, .dtype = TG_F32};
    tg_rnn *rnn = tg_rnn_new(cell, &config);
    tg_tensor *x = tg_requires_grad(tg_rand(TG_F32, 3, (int64_t[]){T, B, I}, -1, 1), true);
    assert_non_null(rnn);
    assert_non_null(x);
    assert_int_equal(tg_register_hook(x, note_arena, NULL), 0);
    run_memory m = {0, 0};
    for (int rep = 0; rep < 2; rep++) { /* the second sees the arena's chunks in place */
        tg_scope *s = tg_scope_begin();
        size_t before = tg_arena_used();
        tg_rnn_output out;
        assert_int_equal(tg_rnn_forward(rnn, x, 0, NULL, NULL, &out), 0);
        tg_tensor *loss = tg_sum(tg_square(out.output), 0, NULL, false);
        size_t after_forward = tg_arena_used();
        assert_int_equal(tg_backward(loss, NULL), 0);
        m.forward = after_forward - before;
        m.backward = used_at_hook - after_forward;
        tg_scope_end(s);
    }
    tg_rnn_free(rnn);
    tg_free(x);
    return m;
}

/* Memory per time step: the growth from T1 to T2 steps, so that what a
 * pass takes once (the leaves' gradients, the seed) does not count. */
static step_memory measure(const tg_cell *cell)
{
    run_memory a = measure_run(cell, T1), b = measure_run(cell, T2);
    return (step_memory){((double)b.forward - (double)a.forward) / (T2 - T1) / UNIT,
                         ((double)b.backward - (double)a.backward) / (T2 - T1) / UNIT};
}

/* LSTM, per step: kept are the fused gate expression's saved activations
 * i, f, g, o and tanh(c) (5 units), its result h and c (2), h's copy in the
 * stacked output (1) and its square (the loss, 1): 9 units and the tape's
 * few kilobytes. The projections of the input and of the state (4 units
 * each) are read by no backward and their memory is reused. Backward keeps
 * the gradients of the stacked output (1) and of x (1), 2 units and a few
 * kilobytes of headers; every other gradient is reused. */
static void test_lstm_step_memory(void **state)
{
    (void)state;
    step_memory m = measure(&tg_cell_lstm);
    print_message("LSTM per step: forward %.2f units, backward %.2f\n", m.forward_units, m.backward_units);
    assert_in_range((long)(m.forward_units * 100), 900, 960);
    assert_true(m.backward_units > 2.0);
    assert_true(m.backward_units < 2.4);
}

/* GRU: kept are the saved r, z and n (3) and the n block of the state
 * projection, which r multiplies (1: the fused expression saves it beside
 * the activations, so that the rest of the projection is not kept), h,
 * its copy and the square (3): 7 units. Both projections (3 + 3) are
 * reused. Backward keeps 1 + 1. */
static void test_gru_step_memory(void **state)
{
    (void)state;
    step_memory m = measure(&tg_cell_gru);
    print_message("GRU per step: forward %.2f units, backward %.2f\n", m.forward_units, m.backward_units);
    assert_in_range((long)(m.forward_units * 100), 700, 760);
    assert_true(m.backward_units > 2.0);
    assert_true(m.backward_units < 2.4);
}

/* A cell whose temporaries are read by backward keeps them, and its
 * gradient stays right: u = proj + proj is read by the backward of u * u
 * and kept; v = u * u (mul_scalar reads no input) and w = 0.01 v (tanh
 * reads its output) are reused by the next step. */
static tg_tensor *square_step(const tg_cell_args *a)
{
    tg_tensor *u = tg_add(a->proj[0], a->proj[0]);
    tg_tensor *v = tg_mul(u, u);
    tg_tensor *w = tg_mul_scalar(v, 0.01);
    return a->next[0] = tg_tanh(w);
}

static const tg_cell square_cell = {
    .name = "squared",
    .params = {TG_CELL_TORCH_PARAMS(1)},
    .states = {{"h", {.o = 1}}},
    .proj = {TG_CELL_TORCH_PROJ(1, true)},
    .step = square_step,
};

typedef struct {
    tg_rnn *rnn;
} cell_ctx;

static tg_tensor *run_cell(int n, tg_tensor **inputs, void *ctx)
{
    (void)n;
    tg_rnn_output out;
    if (tg_rnn_forward(((cell_ctx *)ctx)->rnn, inputs[0], 0, NULL, NULL, &out) < 0) return NULL;
    return tg_sum(tg_square(out.output), 0, NULL, false);
}

static void test_reused_memory_keeps_gradients_right(void **state)
{
    (void)state;
    tg_manual_seed(8);
    /* float64 (B, H) blocks of 4096 bytes: large enough to be reused */
    tg_rnn_config config = {.input_size = 2, .hidden_size = 128, .dtype = TG_F64};
    cell_ctx ctx = {tg_rnn_new(&square_cell, &config)};
    assert_non_null(ctx.rnn);
    tg_tensor *x = leaf_f64(3, (int64_t[]){3, 4, 2}, -1, 1);
    assert_gradcheck(run_cell, &x, 1, &ctx, "squared cell through reused memory");
    tg_rnn_free(ctx.rnn);
    tg_free(x);
}

/* Every built-in cell and variant, large enough for its step's memory to
 * be reused (float64 blocks of 4096 bytes), layer-normalised or not: the
 * gradient of the input matches central differences, so no backward read
 * memory a later step had taken back. */
static void test_every_cell_through_reused_memory(void **state)
{
    (void)state;
    const tg_cell *cells[] = {&tg_cell_rnn_tanh,      &tg_cell_rnn_relu,   &tg_cell_lstm,      &tg_cell_gru,
                              &tg_cell_lstm_peephole, &tg_cell_lstm_nig,   &tg_cell_lstm_nfg,  &tg_cell_lstm_nog,
                              &tg_cell_lstm_niaf,     &tg_cell_lstm_noaf,  &tg_cell_lstm_np,   &tg_cell_lstm_cifg,
                              &tg_cell_lstm_fgr,      &tg_cell_gru_cho,    &tg_cell_mgu,       &tg_cell_indrnn};
    for (size_t i = 0; i < sizeof cells / sizeof *cells; i++)
        for (int norm = 0; norm < 2; norm++) {
            tg_manual_seed(9 + i);
            tg_rnn_config config = {.input_size = 2, .hidden_size = 128, .dtype = TG_F64, .layer_norm = norm};
            cell_ctx ctx = {tg_rnn_new(cells[i], &config)};
            assert_non_null(ctx.rnn);
            tg_tensor *x = leaf_f64(3, (int64_t[]){3, 4, 2}, -1, 1);
            char what[96];
            snprintf(what, sizeof what, "%s%s through reused memory", cells[i]->name, norm ? " (layer norm)" : "");
            assert_gradcheck(run_cell, &x, 1, &ctx, what);
            tg_rnn_free(ctx.rnn);
            tg_free(x);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_step_memory),
        cmocka_unit_test(test_gru_step_memory),
        cmocka_unit_test(test_reused_memory_keeps_gradients_right),
        cmocka_unit_test(test_every_cell_through_reused_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
