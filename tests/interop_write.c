/* tapegrad to PyTorch, the writing half: train a tapegrad LSTM a few Adam
 * steps and write, into the directory given,
 *     lstm.safetensors      its state (PyTorch's names), with its
 *                           configuration as metadata
 *     lstm_io.safetensors   an input x and what the model gives for it:
 *                           output, h_n, c_n
 * tests/golden/check_torch_load.py runs this, loads the state into
 * torch.nn.LSTM with load_state_dict(strict=True) and compares outputs.
 *
 *     interop_write DIR */
#include <stdio.h>
#include <string.h>

#include <tapegrad/tapegrad.h>

#define STEPS 5

static int fail(void)
{
    fprintf(stderr, "interop_write: %s\n", tg_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char state_path[4096], io_path[4096];
    snprintf(state_path, sizeof state_path, "%s/lstm.safetensors", argv[1]);
    snprintf(io_path, sizeof io_path, "%s/lstm_io.safetensors", argv[1]);
    tg_manual_seed(7);
    /* Every kind of name torch.nn.LSTM has: layers, _reverse, weight_hr. */
    tg_lstm_config cfg = {
        .input_size = 3, .hidden_size = 6, .num_layers = 2, .bidirectional = true, .proj_size = 4, .batch_first = true};
    tg_lstm *lstm = tg_lstm_new(&cfg);
    tg_params params = tg_params_new();
    if (!lstm || tg_rnn_params(lstm, &params, NULL) < 0) return fail();
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.05;
    tg_optim *opt = tg_adam(&params, 1, &adam);
    for (int step = 0; step < STEPS; step++) {
        tg_scope *s = tg_scope_begin();
        tg_rnn_output r;
        tg_tensor *x = tg_randn(TG_F32, 3, (int64_t[]){4, 5, 3}, 0, 1);
        tg_tensor *target = tg_randn(TG_F32, 3, (int64_t[]){4, 5, 8}, 0, 1);
        tg_optim_zero_grad(opt);
        if (tg_lstm_forward(lstm, x, NULL, NULL, NULL, &r) < 0 ||
            tg_backward(tg_mse_loss(r.output, target, TG_REDUCTION_MEAN), NULL) < 0 || tg_optim_step(opt) < 0)
            return fail();
        tg_scope_end(s);
    }
    const tg_metadata_item config[] = {{"input_size", "3"},       {"hidden_size", "6"}, {"num_layers", "2"},
                                       {"bidirectional", "true"}, {"proj_size", "4"},   {"batch_first", "true"}};
    if (tg_state_save(state_path, &params, 6, config) < 0) return fail();

    tg_scope *s = tg_scope_begin();
    tg_rnn_output r;
    tg_tensor *x = tg_randn(TG_F32, 3, (int64_t[]){3, 5, 3}, 0, 1);
    bool was = tg_set_grad_enabled(false);
    if (tg_lstm_forward(lstm, x, NULL, NULL, NULL, &r) < 0) return fail();
    tg_set_grad_enabled(was);
    tg_named_tensor outputs[] = {{"x", x}, {"output", r.output}, {"h_n", r.h_n}, {"c_n", r.c_n}};
    if (tg_safetensors_save(io_path, 4, outputs, 0, NULL) < 0) return fail();
    tg_scope_end(s);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(lstm);
    printf("wrote %s and %s\n", state_path, io_path);
    return 0;
}
