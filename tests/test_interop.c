/* PyTorch to tapegrad: state_dicts of models trained in PyTorch
 * (tests/golden/gen_interop.py, written with json and struct) load strictly
 * into tapegrad layers of the same configuration, which then give
 * PyTorch's outputs. The other direction is tests/golden/check_torch_load.py. */
#include "files.h"

#include <tapegrad/state.h>

/* Tensor name of a golden io file, in the current scope. */
static tg_tensor *io(tg_safetensors *f, const char *name)
{
    int i = tg_safetensors_find(f, name);
    if (i < 0) fail_msg("no tensor '%s' in %s", name, tg_safetensors_path(f));
    return tg_safetensors_get(f, i);
}

static void load_strict(const char *file, tg_params *params)
{
    tg_state_keys keys;
    if (tg_state_load(golden_file(file), params, true, &keys) < 0) fail_msg("%s", tg_last_error());
    assert_int_equal(keys.n_missing + keys.n_unexpected, 0);
    tg_state_keys_free(&keys);
}

/* LSTM(3, 8, batch_first=True) + Linear(8, 2), names lstm.* and head.*. */
static void test_lstm_linear_from_pytorch(void **state)
{
    (void)state;
    tg_lstm *lstm = tg_lstm_new(&(tg_lstm_config){.input_size = 3, .hidden_size = 8, .batch_first = true});
    tg_linear_layer *head = tg_linear_layer_new(8, 2, true, TG_F32);
    tg_params params = tg_params_new();
    tg_rnn_params(lstm, &params, "lstm");
    tg_linear_layer_params(head, &params, "head");
    load_strict("lstm_linear.safetensors", &params);

    tg_scope *s = tg_scope_begin();
    tg_safetensors *f = tg_safetensors_open(golden_file("lstm_linear_io.safetensors"));
    tg_rnn_output r;
    assert_int_equal(tg_lstm_forward(lstm, io(f, "x"), NULL, NULL, NULL, &r), 0);
    assert_close(r.output, io(f, "output"), 1e-5, 1e-7, "output");
    assert_close(r.h_n, io(f, "h_n"), 1e-5, 1e-7, "h_n");
    assert_close(r.c_n, io(f, "c_n"), 1e-5, 1e-7, "c_n");
    assert_close(tg_linear_layer_forward(head, r.output), io(f, "y"), 1e-5, 1e-7, "head(output)");
    tg_safetensors_close(f);
    tg_scope_end(s);
    tg_params_free(&params);
    tg_rnn_free(lstm);
    tg_linear_layer_free(head);
}

/* GRU(4, 6, num_layers=2, bidirectional=True), time-major, with h0. */
static void test_bidirectional_gru_from_pytorch(void **state)
{
    (void)state;
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = 4, .hidden_size = 6, .num_layers = 2, .bidirectional = true});
    tg_params params = tg_params_new();
    tg_rnn_params(gru, &params, NULL);
    load_strict("gru_bi2.safetensors", &params);

    tg_scope *s = tg_scope_begin();
    tg_safetensors *f = tg_safetensors_open(golden_file("gru_bi2_io.safetensors"));
    tg_rnn_output r;
    assert_int_equal(tg_gru_forward(gru, io(f, "x"), io(f, "h0"), NULL, &r), 0);
    assert_close(r.output, io(f, "output"), 1e-5, 1e-7, "output");
    assert_close(r.h_n, io(f, "h_n"), 1e-5, 1e-7, "h_n");
    tg_safetensors_close(f);
    tg_scope_end(s);
    tg_params_free(&params);
    tg_rnn_free(gru);
}

/* A layer of another configuration is refused with the offending names. */
static void test_wrong_configuration(void **state)
{
    (void)state;
    tg_gru *one_way = tg_gru_new(&(tg_gru_config){.input_size = 4, .hidden_size = 6, .num_layers = 2});
    tg_params params = tg_params_new();
    tg_rnn_params(one_way, &params, NULL);
    assert_int_equal(tg_state_load(golden_file("gru_bi2.safetensors"), &params, true, NULL), -1);
    assert_error_contains("Unexpected key(s) in state_dict: \"weight_ih_l0_reverse\", \"weight_hh_l0_reverse\"");
    assert_error_contains("size mismatch for weight_ih_l1: copying a param with shape [18,12] from checkpoint, the shape "
                          "in current model is [18,6].");
    tg_params_free(&params);
    tg_rnn_free(one_way);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lstm_linear_from_pytorch),
        cmocka_unit_test(test_bidirectional_gru_from_pytorch),
        cmocka_unit_test(test_wrong_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
