/* A first real model: an LSTM learns to predict the next value of a sine
 * wave from a window of the 10 values before it.
 *
 *     LSTM(1 -> 50) -> last hidden state -> Linear(50 -> 1),  MSE loss, Adam
 *
 * The wave is made here, no files: sin(0.1 k) for k = 0..N-1, cut into
 * every window of 10 values followed by the value to predict. The first 80%
 * of the windows train the model, the last 20% (later in time) test it.
 * Prints the mean training loss per epoch and the final test MSE, and exits
 * with status 1 if the test MSE is not below 1e-3 (the bar the README's first
 * command checks: above it, the model has not learned the wave, and the run
 * says so).
 *
 *     sine [--epochs N] [--seed S] [--plot FILE] [--quiet] [--save FILE] [--load FILE]
 *
 * --save writes the trained model to FILE (safetensors, PyTorch's names:
 * lstm.weight_ih_l0, ..., head.bias; `tapegrad-inspect FILE` lists them);
 * --load reads a saved model and only predicts, without training.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad/tapegrad.h>
#include <tapegrad/linear.h>
#include <tapegrad/nn.h>
#include <tapegrad/optim.h>
#include <tapegrad/rnn.h>
#include <tapegrad/state.h>

#include "args.h"
#include "progress.h"
#include "svgplot.h"

#define WINDOW 10
#define SAMPLES 1200
#define HIDDEN 50
#define BATCH 32
#define MSE_BAR 1e-3

typedef struct {
    tg_lstm *lstm;
    tg_linear_layer *head;
} model;

/* x (B, WINDOW, 1) -> prediction (B, 1) from the last hidden state. */
static tg_tensor *predict(model *m, tg_tensor *x)
{
    tg_rnn_output r;
    if (tg_lstm_forward(m->lstm, x, NULL, NULL, NULL, &r) < 0) return NULL;
    return tg_linear_layer_forward(m->head, tg_select(r.h_n, 0, 0));
}

/* Windows [first, first + count) of the wave: inputs (count, WINDOW, 1) and
 * targets (count, 1), persistent. */
static void make_windows(const double *wave, int first, int count, tg_tensor **inputs, tg_tensor **targets)
{
    float *x = malloc(sizeof *x * (size_t)count * WINDOW), *y = malloc(sizeof *y * (size_t)count);
    for (int i = 0; i < count; i++) {
        for (int k = 0; k < WINDOW; k++) x[i * WINDOW + k] = (float)wave[first + i + k];
        y[i] = (float)wave[first + i + WINDOW];
    }
    *inputs = tg_from_array(TG_F32, 3, (int64_t[]){count, WINDOW, 1}, x);
    *targets = tg_from_array(TG_F32, 2, (int64_t[]){count, 1}, y);
    free(x);
    free(y);
}

/* Mean squared error of the model on every window, without recording. */
static double evaluate(model *m, tg_tensor *inputs, tg_tensor *targets)
{
    tg_scope *s = tg_scope_begin();
    bool was = tg_set_grad_enabled(false);
    double mse = tg_item(tg_mse_loss(predict(m, inputs), targets, TG_REDUCTION_MEAN));
    tg_set_grad_enabled(was);
    tg_scope_end(s);
    return mse;
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--epochs N] [--seed S] [--plot FILE] [--quiet] [--save FILE] [--load FILE]\n"
            "Trains an LSTM to predict sin(0.1 k) from the 10 values before it; exits 1 if the\n"
            "test MSE is not below %g. --epochs N in 1..1000000 (default 20); --plot writes the train\n"
            "and test loss per epoch as SVG; --save writes the trained model (safetensors); --load\n"
            "predicts with a saved one.\n",
            argv0, MSE_BAR);
}

int main(int argc, char **argv)
{
    int epochs = 20;
    uint64_t seed = 1;
    const char *plot = NULL, *save = NULL, *load = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (strcmp(argv[i], "--epochs") == 0) ok = arg_int("sine", argc, argv, &i, 1, 1000000, &epochs);
        else if (strcmp(argv[i], "--seed") == 0) ok = arg_seed("sine", argc, argv, &i, &seed);
        else if (strcmp(argv[i], "--plot") == 0) ok = arg_text("sine", argc, argv, &i, &plot);
        else if (strcmp(argv[i], "--quiet") == 0) quiet = true;
        else if (strcmp(argv[i], "--save") == 0) ok = arg_text("sine", argc, argv, &i, &save);
        else if (strcmp(argv[i], "--load") == 0) ok = arg_text("sine", argc, argv, &i, &load);
        else return arg_other("sine", argv[i], argv[0], usage);
        if (!ok) return 2;
    }
    tg_manual_seed(seed);

    double wave[SAMPLES];
    for (int k = 0; k < SAMPLES; k++) wave[k] = sin(0.1 * k);
    int windows = SAMPLES - WINDOW, n_train = windows * 8 / 10, n_test = windows - n_train;
    tg_tensor *train_x, *train_y, *test_x, *test_y;
    make_windows(wave, 0, n_train, &train_x, &train_y);
    make_windows(wave, n_train, n_test, &test_x, &test_y);

    /* Everything below is freed at done:, whichever exit is taken. */
    int status = 1;
    double *train_loss = NULL, *test_loss = NULL;
    int64_t *order = NULL;
    tg_optim *opt = NULL;
    model m = {
        tg_lstm_new(&(tg_lstm_config){.input_size = 1, .hidden_size = HIDDEN, .batch_first = true}),
        tg_linear_layer_new(HIDDEN, 1, true, TG_F32),
    };
    tg_params params = tg_params_new();
    if (!m.lstm || !m.head || tg_rnn_params(m.lstm, &params, "lstm") < 0 ||
        tg_linear_layer_params(m.head, &params, "head") < 0) {
        fprintf(stderr, "sine: %s\n", tg_last_error());
        goto done;
    }
    if (load) {
        /* Strict: the file must hold exactly this model's parameters. */
        if (tg_state_load(load, &params, true, NULL) < 0) {
            fprintf(stderr, "sine: %s\n", tg_last_error());
            goto done;
        }
        printf("loaded %s\n", load);
        epochs = 0; /* predict only */
    }
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.01;
    opt = tg_adam(&params, 1, &adam);
    if (!quiet)
        printf("LSTM(1, %d) + Linear(%d, 1): %lld parameters, %d training and %d test windows\n", HIDDEN, HIDDEN,
               (long long)tg_params_numel(&params), n_train, n_test);
    progress bar = progress_new(quiet, "win");
    train_loss = malloc(sizeof(double) * (size_t)(epochs + 1));
    test_loss = malloc(sizeof(double) * (size_t)(epochs + 1));
    order = malloc(sizeof *order * (size_t)n_train);
    for (int i = 0; i < n_train; i++) order[i] = i;
    for (int epoch = 1; epoch <= epochs; epoch++) {
        for (int i = n_train - 1; i > 0; i--) { /* shuffle */
            int j = (int)tg_rand_below((uint64_t)i + 1);
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        progress_begin(&bar, epoch, epochs, (n_train + BATCH - 1) / BATCH);
        for (int start = 0; start < n_train; start += BATCH) {
            int64_t count = n_train - start < BATCH ? n_train - start : BATCH;
            tg_scope *s = tg_scope_begin();
            tg_tensor *idx = tg_from_array(TG_I64, 1, &count, order + start);
            tg_tensor *loss = tg_mse_loss(predict(&m, tg_index_select(train_x, 0, idx)),
                                          tg_index_select(train_y, 0, idx), TG_REDUCTION_MEAN);
            tg_optim_zero_grad(opt);
            if (!loss || tg_backward(loss, NULL) < 0 || tg_optim_step(opt) < 0) {
                fprintf(stderr, "sine: %s\n", tg_last_error());
                tg_scope_end(s);
                goto done;
            }
            progress_step(&bar, count, tg_item(loss));
            tg_scope_end(s);
        }
        test_loss[epoch - 1] = evaluate(&m, test_x, test_y);
        train_loss[epoch - 1] = progress_end(&bar, "test mse %.4g", test_loss[epoch - 1]);
    }
    double mse = epochs > 0 ? test_loss[epochs - 1] : evaluate(&m, test_x, test_y);
    if (!(mse < MSE_BAR)) /* NaN too: a model of NaN weights (a damaged file) has not learned */
        printf("the test MSE %.3g is not below %g: the model has not learned the wave (exit status 1)\n", mse,
               MSE_BAR);
    printf("test mse: %.6g\n", mse);
    const tg_metadata_item about[] = {{"model", "sine: LSTM(1, 50, batch_first=True) + Linear(50, 1)"}};
    if (save && tg_state_save(save, &params, 1, about) < 0) {
        fprintf(stderr, "sine: %s\n", tg_last_error());
        goto done;
    }
    if (save) printf("saved the model to %s\n", save);
    status = mse < MSE_BAR ? 0 : 1;
    if (plot && epochs > 0) {
        double *axis = malloc(sizeof(double) * (size_t)epochs);
        for (int e = 0; e < epochs; e++) axis[e] = e + 1;
        svg_chart *chart = svg_chart_new("Sine wave: LSTM(1, 50), next value from 10", "epoch", "MSE (log scale)");
        svg_chart_line(chart, "train", epochs, axis, train_loss);
        svg_chart_line(chart, "test", epochs, axis, test_loss);
        svg_chart_log_y(chart, true);
        if (svg_chart_write(chart, plot) < 0) {
            fprintf(stderr, "sine: cannot write --plot '%s': %s\n", plot, strerror(errno));
            status = 1;
        }
        svg_chart_free(chart);
        free(axis);
    }

done:
    free(train_loss);
    free(test_loss);
    free(order);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(m.lstm);
    tg_linear_layer_free(m.head);
    tg_free(train_x);
    tg_free(train_y);
    tg_free(test_x);
    tg_free(test_y);
    return status;
}
