/* Layers and parameters: Linear, Embedding, Dropout, LayerNorm and the
 * RNN/LSTM/GRU cells against PyTorch (forward and every gradient), their
 * initialisation, named parameter collections under prefixes, parameter
 * counts, train/eval mode, and bad input. Fixtures come from
 * tests/golden/gen_layers.py. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <tapegrad/cells.h>
#include <tapegrad/dropout.h>
#include <tapegrad/embedding.h>
#include <tapegrad/layernorm.h>
#include <tapegrad/linear.h>
#include <tapegrad/rnn.h>

#define FIXTURES "layers.txt"

static double rtol_of(tg_dtype dtype) { return dtype == TG_F64 ? 1e-12 : 1e-5; }
static double atol_of(tg_dtype dtype) { return dtype == TG_F64 ? 1e-12 : 1e-6; }

static tg_tensor *fixture(const char *prefix, const char *name, tg_dtype dtype)
{
    char full[320];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    return golden(FIXTURES, full, dtype);
}

/* Copy the fixture's parameters into the collection's tensors by name. */
static void load_params(const tg_params *params, const char *prefix, tg_dtype dtype)
{
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    for (int i = 0; i < params->count; i++)
        assert_int_equal(tg_copy_(params->items[i].tensor, fixture(prefix, params->items[i].name, dtype)), 0);
    tg_set_grad_enabled(was);
    tg_scope_end(s);
}

/* Compare every parameter's gradient with the fixture's "grad.<name>". */
static void check_param_grads(const tg_params *params, const char *prefix, tg_dtype dtype)
{
    for (int i = 0; i < params->count; i++) {
        char name[256], what[300];
        snprintf(name, sizeof name, "grad.%s", params->items[i].name);
        snprintf(what, sizeof what, "%s %s %s", prefix, tg_dtype_name(dtype), name);
        assert_close(params->items[i].tensor->grad, fixture(prefix, name, dtype), rtol_of(dtype), atol_of(dtype), what);
    }
}

/* A persistent leaf holding fixture prefix.name. */
static tg_tensor *fixture_leaf(const char *prefix, const char *name, tg_dtype dtype)
{
    char full[320];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    return golden_leaf(FIXTURES, full, dtype, true);
}

/* sum(out * w_<key>) */
static tg_tensor *weighted(const char *prefix, const char *key, tg_tensor *out, tg_dtype dtype)
{
    char name[64];
    snprintf(name, sizeof name, "w_%s", key);
    return tg_sum(tg_mul(out, fixture(prefix, name, dtype)), 0, NULL, false);
}

/* A layer type for layer_golden: void * wrappers of its functions. */
typedef struct {
    const char *prefix;
    tg_tensor *(*forward)(void *layer, tg_tensor *x);
    int (*params)(void *layer, tg_params *out, const char *prefix);
    int n_params;
    bool indices;       /* the input is prefix.indices (class indices), not a leaf prefix.x */
    double grad_x_atol; /* 0: atol_of(dtype) */
} layer_kind;

/* Loads the fixture's parameters into layer, runs it on the fixture input,
 * backpropagates sum(y * w_y) and compares y and every gradient. */
static void layer_golden(const layer_kind *k, void *layer, tg_dtype dtype)
{
    assert_non_null(layer);
    tg_params params = tg_params_new();
    assert_int_equal(k->params(layer, &params, NULL), 0);
    assert_int_equal(params.count, k->n_params);
    load_params(&params, k->prefix, dtype);
    tg_tensor *x = k->indices ? NULL : fixture_leaf(k->prefix, "x", dtype);
    tg_scope *s = tg_scope_begin();
    tg_tensor *y = k->forward(layer, x ? x : tg_cast(fixture(k->prefix, "indices", TG_F64), TG_I64));
    char what[96];
    snprintf(what, sizeof what, "%s y", k->prefix);
    assert_close(y, fixture(k->prefix, "y", dtype), rtol_of(dtype), atol_of(dtype), what);
    assert_int_equal(tg_backward(weighted(k->prefix, "y", y, dtype), NULL), 0);
    check_param_grads(&params, k->prefix, dtype);
    if (x) {
        snprintf(what, sizeof what, "%s grad x", k->prefix);
        assert_close(x->grad, fixture(k->prefix, "grad.x", dtype), rtol_of(dtype),
                     k->grad_x_atol ? k->grad_x_atol : atol_of(dtype), what);
    }
    tg_scope_end(s);
    tg_free(x);
    tg_params_free(&params);
}

/* --- Linear ------------------------------------------------------------------ */

static tg_tensor *linear_forward(void *layer, tg_tensor *x) { return tg_linear_layer_forward(layer, x); }
static int linear_params(void *layer, tg_params *out, const char *prefix)
{
    return tg_linear_layer_params(layer, out, prefix);
}

static void linear_golden(tg_dtype dtype)
{
    static const layer_kind kind = {"linear", linear_forward, linear_params, 2, false, 0};
    tg_linear_layer *layer = tg_linear_layer_new(6, 4, true, dtype);
    layer_golden(&kind, layer, dtype);
    tg_linear_layer_free(layer);
}

static void test_linear_golden(void **state)
{
    (void)state;
    linear_golden(TG_F64);
    linear_golden(TG_F32);
}

/* Every value of t lies in [lo, hi); returns their mean. */
static double check_range(const tg_tensor *t, double lo, double hi)
{
    double sum = 0;
    int64_t n = tg_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t idx[2] = {i / t->shape[t->ndim - 1], i % t->shape[t->ndim - 1]};
        double v = t->ndim == 1 ? tg_get(t, &i) : tg_get(t, idx);
        assert_true(v >= lo && v < hi);
        sum += v;
    }
    return sum / (double)n;
}

static void test_linear_init(void **state)
{
    (void)state;
    tg_manual_seed(3);
    tg_linear_layer *layer = tg_linear_layer_new(100, 50, true, TG_F32);
    double bound = 0.1; /* 1 / sqrt(100) */
    assert_true(fabs(check_range(layer->weight, -bound, bound)) < 0.01);
    check_range(layer->bias, -bound, bound);
    assert_true(layer->weight->requires_grad && layer->weight->persistent);
    /* the same seed gives the same layer */
    tg_manual_seed(3);
    tg_linear_layer *again = tg_linear_layer_new(100, 50, true, TG_F32);
    assert_memory_equal(tg_data(layer->weight), tg_data(again->weight), 100 * 50 * sizeof(float));
    tg_linear_layer *nobias = tg_linear_layer_new(3, 2, false, TG_F64);
    assert_null(nobias->bias);
    tg_params params = tg_params_new();
    assert_int_equal(tg_linear_layer_params(nobias, &params, "head"), 0);
    assert_int_equal(params.count, 1);
    assert_string_equal(params.items[0].name, "head.weight");
    tg_params_free(&params);
    /* made inside a scope, the parameters still outlive it */
    tg_scope *s = tg_scope_begin();
    tg_linear_layer *inner = tg_linear_layer_new(3, 2, true, TG_F64);
    tg_scope_end(s);
    assert_true(inner->weight->persistent);
    assert_true(isfinite(tg_get(inner->weight, (int64_t[]){1, 2})));

    assert_null(tg_linear_layer_new(0, 2, true, TG_F32));
    assert_error_contains("tg_linear_layer_new");
    assert_null(tg_linear_layer_new(2, 2, true, TG_I64));
    assert_error_contains("float32 or float64");
    s = tg_scope_begin();
    assert_null(tg_linear_layer_forward(layer, tg_zeros(TG_F32, 2, (int64_t[]){4, 99})));
    assert_error_contains("tg_linear");
    tg_scope_end(s);
    tg_linear_layer_free(inner);
    tg_linear_layer_free(nobias);
    tg_linear_layer_free(again);
    tg_linear_layer_free(layer);
}

/* --- Embedding ------------------------------------------------------------------ */

static tg_tensor *embedding_forward(void *layer, tg_tensor *indices)
{
    return tg_embedding_layer_forward(layer, indices);
}
static int embedding_params(void *layer, tg_params *out, const char *prefix)
{
    return tg_embedding_layer_params(layer, out, prefix);
}

static void embedding_golden(tg_dtype dtype)
{
    static const layer_kind kind = {"embedding", embedding_forward, embedding_params, 1, true, 0};
    tg_embedding_layer *layer = tg_embedding_layer_new(10, 4, 0, dtype);
    layer_golden(&kind, layer, dtype);
    tg_embedding_layer_free(layer);
}

static void test_embedding(void **state)
{
    (void)state;
    embedding_golden(TG_F64);
    embedding_golden(TG_F32);
    tg_manual_seed(1);
    tg_embedding_layer *layer = tg_embedding_layer_new(200, 50, 7, TG_F64);
    /* N(0, 1) except the zero padding row */
    double sum = 0, sq = 0;
    for (int64_t r = 0; r < 200; r++)
        for (int64_t c = 0; c < 50; c++) {
            double v = tg_get(layer->weight, (int64_t[]){r, c});
            if (r == 7) assert_true(v == 0.0);
            sum += v;
            sq += v * v;
        }
    double n = 199 * 50;
    assert_true(fabs(sum / n) < 0.05);
    assert_true(fabs(sq / n - 1) < 0.05);
    tg_scope *s = tg_scope_begin();
    assert_null(tg_embedding_layer_forward(layer, tg_full(TG_I64, 1, (int64_t[]){2}, 200)));
    assert_error_contains("tg_embedding");
    tg_scope_end(s);
    assert_null(tg_embedding_layer_new(10, 4, 10, TG_F32));
    assert_error_contains("padding_idx");
    assert_null(tg_embedding_layer_new(10, 0, -1, TG_F32));
    assert_error_contains("tg_embedding_layer_new");
    tg_embedding_layer_free(layer);
}

/* --- LayerNorm ------------------------------------------------------------------- */

static tg_tensor *layernorm_forward(void *layer, tg_tensor *x) { return tg_layernorm_layer_forward(layer, x); }
static int layernorm_params(void *layer, tg_params *out, const char *prefix)
{
    return tg_layernorm_layer_params(layer, out, prefix);
}

static void layernorm_golden(tg_dtype dtype)
{
    static const layer_kind kind = {"layernorm", layernorm_forward, layernorm_params, 2, false, 1e-5};
    tg_layernorm_layer *layer = tg_layernorm_layer_new(2, (int64_t[]){3, 4}, 1e-5, true, dtype);
    layer_golden(&kind, layer, dtype);
    tg_layernorm_layer_free(layer);
}

static void test_layernorm(void **state)
{
    (void)state;
    layernorm_golden(TG_F64);
    layernorm_golden(TG_F32);
    tg_layernorm_layer *layer = tg_layernorm_layer_new(1, (int64_t[]){4}, 1e-5, true, TG_F32);
    assert_true(tg_get(layer->weight, (int64_t[]){2}) == 1.0 && tg_get(layer->bias, (int64_t[]){2}) == 0.0);
    tg_scope *s = tg_scope_begin();
    assert_null(tg_layernorm_layer_forward(layer, tg_zeros(TG_F32, 2, (int64_t[]){2, 5})));
    assert_error_contains("normalized_shape=[4]");
    tg_scope_end(s);
    tg_layernorm_layer *plain = tg_layernorm_layer_new(1, (int64_t[]){4}, 1e-5, false, TG_F32);
    tg_params params = tg_params_new();
    assert_int_equal(tg_layernorm_layer_params(plain, &params, "norm"), 0);
    assert_int_equal(params.count, 0);
    tg_params_free(&params);
    assert_null(tg_layernorm_layer_new(0, (int64_t[]){4}, 1e-5, true, TG_F32));
    assert_error_contains("tg_layernorm_layer_new");
    tg_layernorm_layer_free(plain);
    tg_layernorm_layer_free(layer);
}

/* --- Dropout --------------------------------------------------------------------- */

static void test_dropout_layer(void **state)
{
    (void)state;
    tg_dropout_layer *drop = tg_dropout_layer_new(0.5);
    assert_true(drop->training);
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_ones(TG_F64, 1, (int64_t[]){10000});
    tg_tensor *y = tg_dropout_layer_forward(drop, x);
    int zeros = 0;
    for (int64_t i = 0; i < 10000; i++) {
        double v = tg_get(y, &i);
        assert_true(v == 0.0 || v == 2.0); /* survivors scaled by 1 / (1 - p) */
        zeros += v == 0.0;
    }
    assert_true(zeros > 4700 && zeros < 5300);
    tg_dropout_layer_train(drop, false);
    tg_tensor *same = tg_dropout_layer_forward(drop, x);
    assert_close(same, x, 0, 0, "dropout in eval mode");
    tg_scope_end(s);
    assert_null(tg_dropout_layer_new(1.5));
    assert_error_contains("between 0 and 1");
    tg_dropout_layer_free(drop);
}

/* --- Errors name the layer ------------------------------------------------------ */

/* A layer's forward given a bad input names itself, then quotes the op's
 * detail: the caller called the layer, not tg_linear. A NULL input (a
 * failure already reported) adds no message, as for an op. */
static void test_layer_forward_errors_name_the_layer(void **state)
{
    (void)state;
    tg_linear_layer *linear = tg_linear_layer_new(4, 3, true, TG_F32);
    tg_embedding_layer *embedding = tg_embedding_layer_new(5, 3, -1, TG_F32);
    tg_layernorm_layer *norm = tg_layernorm_layer_new(1, (int64_t[]){4}, 1e-5, true, TG_F32);
    tg_dropout_layer *drop = tg_dropout_layer_new(0.5);
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 4, .hidden_size = 3, .num_layers = 1, .dtype = TG_F32});
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = 4, .hidden_size = 3, .num_layers = 1, .dtype = TG_F32});
    tg_cell_layer *cell = tg_cell_layer_new(&tg_cell_gru, 4, 3, true, TG_F32);
    tg_scope *s = tg_scope_begin();
    tg_tensor *wide = tg_zeros(TG_F32, 2, (int64_t[]){2, 5}), *f64 = tg_zeros(TG_F64, 2, (int64_t[]){2, 4});
    tg_tensor *i64 = tg_zeros(TG_I64, 2, (int64_t[]){2, 4});

    assert_null(tg_linear_layer_forward(linear, wide));
    assert_error_contains("tg_linear_layer_forward: tg_linear: mat1 and mat2 shapes cannot be multiplied "
                          "(input [2,5], weight [3,4]: 5 != 4)");
    assert_null(tg_linear_layer_forward(linear, f64));
    assert_error_contains("tg_linear_layer_forward: tg_linear: expected input, weight and bias of one dtype, got "
                          "float64, float32 and float32");
    assert_null(tg_linear_layer_forward(linear, i64));
    assert_error_contains("tg_linear_layer_forward: tg_linear: expected a float32 or float64 tensor, got int64");

    assert_null(tg_embedding_layer_forward(embedding, tg_full(TG_I64, 1, (int64_t[]){2}, 7)));
    assert_error_contains("tg_embedding_layer_forward: tg_embedding: index 7 is out of bounds for dimension 0 "
                          "with size 5");
    assert_null(tg_embedding_layer_forward(embedding, wide));
    assert_error_contains("tg_embedding_layer_forward: tg_embedding: expected an index tensor of dtype int64, got "
                          "float32");

    assert_null(tg_layernorm_layer_forward(norm, wide));
    assert_error_contains("tg_layernorm_layer_forward: Given normalized_shape=[4], expected input with shape [*, 4], "
                          "but got input of size [2,5]");
    assert_null(tg_layernorm_layer_forward(norm, f64));
    assert_error_contains("tg_layernorm_layer_forward: tg_layer_norm: Expected weight of the normalized shape (the "
                          "last 1 dims of input [2,4]) and dtype float64, got float32 [4]");
    assert_null(tg_layernorm_layer_forward(norm, i64));
    assert_error_contains("tg_layernorm_layer_forward: tg_layer_norm: expected a float32 or float64 tensor, got int64");

    assert_null(tg_dropout_layer_forward(drop, i64));
    assert_error_contains("tg_dropout_layer_forward: tg_dropout: expected a float32 or float64 tensor, got int64");

    tg_rnn_output out;
    tg_tensor *seq_wide = tg_zeros(TG_F32, 3, (int64_t[]){2, 1, 5}), *seq_f64 = tg_zeros(TG_F64, 3, (int64_t[]){2, 1, 4});
    assert_int_equal(tg_lstm_forward(lstm, seq_wide, NULL, NULL, NULL, &out), -1);
    assert_error_contains("tg_rnn_forward: input.size(-1) must be equal to input_size. Expected 4, got 5");
    assert_int_equal(tg_gru_forward(gru, seq_f64, NULL, NULL, &out), -1);
    assert_error_contains("tg_rnn_forward: input is float64 but the layer's parameters are float32");
    assert_int_equal(tg_lstm_forward(lstm, tg_zeros(TG_I64, 3, (int64_t[]){2, 1, 4}), NULL, NULL, NULL, &out), -1);
    assert_error_contains("tg_rnn_forward: expected a float32 or float64 tensor, got int64");
    assert_null(tg_cell_layer_forward(cell, wide, 0, NULL, NULL));
    assert_error_contains("tg_cell_layer_forward: expected input of shape (batch, 4) or (4), got [2,5]");
    assert_null(tg_cell_layer_forward(cell, f64, 0, NULL, NULL));
    assert_error_contains("tg_cell_layer_forward: input is float64 but the cell's parameters are float32");
    assert_null(tg_cell_layer_forward(cell, i64, 0, NULL, NULL));
    assert_error_contains("tg_cell_layer_forward: expected a float32 or float64 tensor, got int64");

    tg_clear_error();
    assert_null(tg_linear_layer_forward(linear, NULL));
    assert_null(tg_embedding_layer_forward(embedding, NULL));
    assert_null(tg_layernorm_layer_forward(norm, NULL));
    assert_null(tg_dropout_layer_forward(drop, NULL));
    assert_string_equal(tg_last_error(), "");
    assert_null(tg_linear_layer_forward(NULL, wide));
    assert_error_contains("tg_linear_layer_forward: NULL layer");
    tg_scope_end(s);
    tg_cell_layer_free(cell);
    tg_rnn_free(gru);
    tg_rnn_free(lstm);
    tg_dropout_layer_free(drop);
    tg_layernorm_layer_free(norm);
    tg_embedding_layer_free(embedding);
    tg_linear_layer_free(linear);
}

/* --- Cells ---------------------------------------------------------------------- */

static void cell_golden(const char *name, const tg_cell *desc, tg_dtype dtype)
{
    tg_cell_layer *cell = tg_cell_layer_new(desc, 7, 5, true, dtype);
    assert_non_null(cell);
    tg_params params = tg_params_new();
    assert_int_equal(tg_cell_layer_params(cell, &params, NULL), 0);
    assert_int_equal(params.count, 4);
    load_params(&params, name, dtype);
    bool lstm = desc == &tg_cell_lstm;
    tg_tensor *x = fixture_leaf(name, "x", dtype), *h = fixture_leaf(name, "h", dtype);
    tg_tensor *c = lstm ? fixture_leaf(name, "c", dtype) : NULL;
    tg_scope *s = tg_scope_begin();
    tg_tensor *next[2] = {NULL, NULL};
    tg_tensor *h1 = tg_cell_layer_forward(cell, x, lstm ? 2 : 1, (tg_tensor *[]){h, c}, next);
    assert_close(h1, next[0], 0, 0, "output is the new h");
    char what[128];
    snprintf(what, sizeof what, "%s %s h'", name, tg_dtype_name(dtype));
    assert_close(h1, fixture(name, "h1", dtype), rtol_of(dtype), atol_of(dtype), what);
    tg_tensor *loss = weighted(name, "h1", h1, dtype);
    if (lstm) {
        assert_close(next[1], fixture(name, "c1", dtype), rtol_of(dtype), atol_of(dtype), "lstm cell c'");
        loss = tg_add(loss, weighted(name, "c1", next[1], dtype));
    }
    assert_int_equal(tg_backward(loss, NULL), 0);
    check_param_grads(&params, name, dtype);
    assert_close(x->grad, fixture(name, "grad.x", dtype), rtol_of(dtype), atol_of(dtype), "cell grad x");
    assert_close(h->grad, fixture(name, "grad.h", dtype), rtol_of(dtype), atol_of(dtype), "cell grad h");
    if (lstm) assert_close(c->grad, fixture(name, "grad.c", dtype), rtol_of(dtype), atol_of(dtype), "cell grad c");
    tg_scope_end(s);
    tg_free(x);
    tg_free(h);
    tg_free(c);
    tg_params_free(&params);
    tg_cell_layer_free(cell);
}

static const tg_cell *const BUILTIN_CELLS[] = {&tg_cell_rnn_tanh, &tg_cell_rnn_relu, &tg_cell_lstm, &tg_cell_gru};

static void test_cells_golden(void **state)
{
    (void)state;
    const char *names[] = {"rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"};
    for (int i = 0; i < 4; i++) {
        cell_golden(names[i], BUILTIN_CELLS[i], TG_F64);
        cell_golden(names[i], BUILTIN_CELLS[i], TG_F32);
    }
}

typedef struct {
    tg_cell_layer *cell;
} cell_ctx;

/* inputs: x (B, I), h (B, H), c (B, H); x enters transposed to test strides */
static tg_tensor *cell_fn(int n, tg_tensor **in, void *ctx)
{
    tg_cell_layer *cell = ((cell_ctx *)ctx)->cell;
    tg_tensor *x = tg_transpose(tg_transpose(in[0], 0, 1), 0, 1);
    tg_tensor *next[2] = {NULL, NULL};
    bool lstm = cell->cell == &tg_cell_lstm;
    tg_tensor *h1 = tg_cell_layer_forward(cell, x, lstm ? 2 : 1, in + 1, next);
    (void)n;
    return lstm ? tg_cat(2, next, 1) : h1;
}

static void test_cells_gradcheck(void **state)
{
    (void)state;
    for (int i = 0; i < 4; i++) {
        tg_manual_seed(10 + (uint64_t)i);
        cell_ctx ctx = {tg_cell_layer_new(BUILTIN_CELLS[i], 3, 2, true, TG_F64)};
        tg_tensor *in[7] = {leaf_f64(2, (int64_t[]){2, 3}, -1, 1), leaf_f64(2, (int64_t[]){2, 2}, -1, 1),
                            leaf_f64(2, (int64_t[]){2, 2}, -1, 1), tg_cell_layer_param(ctx.cell, "weight_ih"),
                            tg_cell_layer_param(ctx.cell, "weight_hh"), tg_cell_layer_param(ctx.cell, "bias_ih"),
                            tg_cell_layer_param(ctx.cell, "bias_hh")};
        /* relu's kink: keep pre-activations away from 0 by the random data */
        assert_gradcheck(cell_fn, in, 7, &ctx, "cell");
        for (int k = 0; k < 3; k++) tg_free(in[k]);
        tg_cell_layer_free(ctx.cell);
    }
}

static void test_cell_errors(void **state)
{
    (void)state;
    tg_cell_layer *lstm = tg_cell_layer_new(&tg_cell_lstm, 7, 5, true, TG_F32);
    tg_cell_layer *gru = tg_cell_layer_new(&tg_cell_gru, 7, 5, false, TG_F32);
    assert_null(tg_cell_layer_param(gru, "bias_ih"));
    assert_null(tg_cell_layer_param(gru, "no_such_name"));
    tg_scope *s = tg_scope_begin();
    tg_tensor *x = tg_zeros(TG_F32, 2, (int64_t[]){3, 7});
    tg_tensor *next[2];
    assert_null(tg_cell_layer_forward(lstm, tg_zeros(TG_F32, 2, (int64_t[]){3, 6}), 0, NULL, next));
    assert_error_contains("tg_cell_layer_forward: expected input of shape (batch, 7)");
    assert_null(tg_cell_layer_forward(lstm, x, 1, (tg_tensor *[]){tg_zeros(TG_F32, 2, (int64_t[]){3, 4})}, next));
    assert_error_contains("expected state 0 'h' of shape [3,5] (float32), got [3,4] (float32)");
    assert_null(next[0]);
    assert_null(tg_cell_layer_forward(lstm, x, 0, NULL, NULL));
    assert_error_contains("cell 'LSTM' has 2 states: pass next");
    assert_null(tg_cell_layer_forward(gru, x, 2, (tg_tensor *[]){NULL, tg_zeros(TG_F32, 2, (int64_t[]){3, 5})}, NULL));
    assert_error_contains("cell 'GRU' has 1 state, got 2");
    assert_null(tg_cell_layer_forward(lstm, x, 2, NULL, next));
    assert_error_contains("cell 'LSTM' has 2 states, got 2 in a NULL array");
    assert_null(tg_cell_layer_forward(gru, tg_zeros(TG_F64, 2, (int64_t[]){3, 7}), 0, NULL, NULL));
    assert_error_contains("float64");
    /* unbatched, zero state */
    tg_tensor *h1 = tg_cell_layer_forward(lstm, tg_zeros(TG_F32, 1, (int64_t[]){7}), 0, NULL, next);
    assert_non_null(h1);
    assert_int_equal(h1->ndim, 1);
    assert_int_equal(next[1]->ndim, 1);
    assert_int_equal(next[1]->shape[0], 5);
    tg_scope_end(s);
    assert_null(tg_cell_layer_new(&tg_cell_gru, 0, 5, true, TG_F32));
    assert_error_contains("tg_cell_layer_new: input_size and hidden_size must be positive");
    tg_cell_layer_free(gru);
    tg_cell_layer_free(lstm);
}

/* --- parameter collections -------------------------------------------------------- */

/* A user model made of several layers, listed under prefixes. */
typedef struct {
    tg_embedding_layer *embed;
    tg_lstm *encoder;
    tg_linear_layer *decoder;
} seq_model;

static int seq_model_params(seq_model *m, tg_params *out)
{
    if (tg_embedding_layer_params(m->embed, out, "embed") < 0) return -1;
    if (tg_rnn_params(m->encoder, out, "encoder") < 0) return -1;
    return tg_linear_layer_params(m->decoder, out, "decoder");
}

static void test_params_under_prefixes(void **state)
{
    (void)state;
    seq_model m = {
        tg_embedding_layer_new(30, 10, -1, TG_F32),
        tg_lstm_new(&(tg_lstm_config){.input_size = 10, .hidden_size = 20, .num_layers = 2, .bidirectional = true,
                                      .proj_size = 7}),
        tg_linear_layer_new(14, 3, true, TG_F32),
    };
    tg_params params = tg_params_new();
    assert_int_equal(seq_model_params(&m, &params), 0);
    const char *expected[] = {
        "embed.weight",
        "encoder.weight_ih_l0", "encoder.weight_hh_l0", "encoder.bias_ih_l0", "encoder.bias_hh_l0",
        "encoder.weight_hr_l0",
        "encoder.weight_ih_l0_reverse", "encoder.weight_hh_l0_reverse", "encoder.bias_ih_l0_reverse",
        "encoder.bias_hh_l0_reverse", "encoder.weight_hr_l0_reverse",
        "encoder.weight_ih_l1", "encoder.weight_hh_l1", "encoder.bias_ih_l1", "encoder.bias_hh_l1",
        "encoder.weight_hr_l1",
        "encoder.weight_ih_l1_reverse", "encoder.weight_hh_l1_reverse", "encoder.bias_ih_l1_reverse",
        "encoder.bias_hh_l1_reverse", "encoder.weight_hr_l1_reverse",
        "decoder.weight", "decoder.bias",
    };
    assert_int_equal(params.count, (int)(sizeof expected / sizeof *expected));
    for (int i = 0; i < params.count; i++) assert_string_equal(params.items[i].name, expected[i]);
    /* torch shapes: weight_ih_l1 (4H, 2*proj), weight_hh (4H, proj), weight_hr (proj, H) */
    tg_tensor *w = tg_params_find(&params, "encoder.weight_ih_l1_reverse");
    assert_true(w->shape[0] == 80 && w->shape[1] == 14);
    w = tg_params_find(&params, "encoder.weight_hh_l0");
    assert_true(w->shape[0] == 80 && w->shape[1] == 7);
    w = tg_params_find(&params, "encoder.weight_hr_l1");
    assert_true(w->shape[0] == 7 && w->shape[1] == 20);
    tg_scope *s = tg_scope_begin();
    int64_t encoder = (int64_t)tg_item(golden(FIXTURES, "count_lstm_10_20_proj7_l2_bi", TG_F64));
    tg_scope_end(s);
    assert_int_equal(tg_params_numel(&params), 300 + encoder + 14 * 3 + 3);
    /* listing the same layer twice under one prefix is a duplicate */
    assert_int_equal(tg_linear_layer_params(m.decoder, &params, "decoder"), -1);
    assert_error_contains("duplicate parameter name 'decoder.weight'");
    tg_params_free(&params);
    tg_embedding_layer_free(m.embed);
    tg_rnn_free(m.encoder);
    tg_linear_layer_free(m.decoder);
}

static void test_param_counts_match_torch(void **state)
{
    (void)state;
    struct {
        const char *fixture;
        const tg_cell *cell;
        tg_rnn_config cfg;
    } cases[] = {
        {"count_lstm_10_20_l2", &tg_cell_lstm, {.input_size = 10, .hidden_size = 20, .num_layers = 2, .batch_first = true}},
        {"count_lstm_10_20_bi", &tg_cell_lstm, {.input_size = 10, .hidden_size = 20, .bidirectional = true}},
        {"count_gru_10_20_l3_bi_nobias", &tg_cell_gru,
         {.input_size = 10, .hidden_size = 20, .num_layers = 3, .bidirectional = true, .no_bias = true}},
        {"count_lstm_10_20_proj7_l2_bi", &tg_cell_lstm,
         {.input_size = 10, .hidden_size = 20, .num_layers = 2, .bidirectional = true, .proj_size = 7}},
        {"count_rnn_10_20_l2", &tg_cell_rnn_tanh, {.input_size = 10, .hidden_size = 20, .num_layers = 2}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tg_rnn *rnn = tg_rnn_new(cases[i].cell, &cases[i].cfg);
        tg_params params = tg_params_new();
        assert_int_equal(tg_rnn_params(rnn, &params, NULL), 0);
        tg_scope *s = tg_scope_begin();
        assert_int_equal(tg_params_numel(&params), (int64_t)tg_item(golden(FIXTURES, cases[i].fixture, TG_F64)));
        tg_scope_end(s);
        tg_params_free(&params);
        tg_rnn_free(rnn);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_golden),        cmocka_unit_test(test_linear_init),
        cmocka_unit_test(test_embedding),            cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_dropout_layer),        cmocka_unit_test(test_cells_golden),
        cmocka_unit_test(test_cells_gradcheck),      cmocka_unit_test(test_cell_errors),
        cmocka_unit_test(test_params_under_prefixes), cmocka_unit_test(test_param_counts_match_torch),
        cmocka_unit_test(test_layer_forward_errors_name_the_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
