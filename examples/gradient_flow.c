/* Why gated cells: measure the gradient flowing back through time.
 *
 * The adding problem (Hochreiter & Schmidhuber 1997): a sequence of T steps,
 * each step a pair (value uniform in [0, 1], marker 0 or 1); two steps are
 * marked, one in each half, and the target is the sum of their two values.
 * The answer depends on inputs up to T steps back, so the error signal must
 * travel back that far. Predicting the mean, 1.0, gives an MSE of 1/6
 * (0.167): a network that cannot carry the gradient stays there.
 *
 * An Elman RNN (tanh), an LSTM and a GRU of the same hidden size read the
 * sequence one step at a time with the library's cells (tg_cell_layer_forward)
 * and a linear head reads the last hidden state. A hook on every hidden
 * state h_t (tg_register_hook) records ||dL/dh_t|| during backward, at
 * initialisation and after training at T = --plot-t; --plot draws those
 * norms against t on a log scale. Each cell is then trained at T = 50, 100
 * and 200 with the same budget (steps, batch, Adam, clipping) and a table
 * compares the final test MSE with the 0.167 baseline. Last, an RNN whose
 * recurrent weights start large shows the opposite failure, an exploding
 * gradient, trained with plain SGD with and without tg_clip_grad_norm.
 *
 *     gradient_flow [--hidden H] [--steps N] [--batch B] [--lr LR] [--lengths 50,100,200]
 *                   [--plot-t T] [--plot FILE] [--explode-scale S] [--seed S] [--quiet]
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad/tapegrad.h>

#include "args.h"
#include "progress.h"
#include "svgplot.h"

#define N_CELLS 3
#define MAX_LENGTHS 8
#define MAX_T 10000 /* the test set alone is 1000 sequences of T steps */
#define TEST_SIZE 1000

static const struct {
    const char *name;
    const tg_cell *cell;
} cells[N_CELLS] = {{"RNN", &tg_cell_rnn_tanh}, {"LSTM", &tg_cell_lstm}, {"GRU", &tg_cell_gru}};

typedef struct {
    tg_cell_layer *cell;
    int n_states; /* h; or h and c */
    tg_linear_layer *head;
    tg_params params;
} model;

static bool model_new(model *m, const tg_cell *cell, int64_t hidden)
{
    m->cell = tg_cell_layer_new(cell, 2, hidden, true, TG_F32);
    m->n_states = tg_cell_count_states(cell);
    m->head = tg_linear_layer_new(hidden, 1, true, TG_F32);
    m->params = tg_params_new();
    return m->cell && m->head && tg_cell_layer_params(m->cell, &m->params, "cell") == 0 &&
           tg_linear_layer_params(m->head, &m->params, "head") == 0;
}

static void model_free(model *m)
{
    tg_params_free(&m->params);
    tg_cell_layer_free(m->cell);
    tg_linear_layer_free(m->head);
}

/* A batch of the adding problem in the current scope: x (T, B, 2), y (B, 1). */
static void adding_batch(int64_t T, int64_t B, tg_tensor **x, tg_tensor **y)
{
    *x = tg_zeros(TG_F32, 3, (int64_t[]){T, B, 2});
    *y = tg_empty(TG_F32, 2, (int64_t[]){B, 1});
    if (!*x || !*y) { /* too large: NULL propagates, the caller reports tg_last_error() */
        tg_free(*x);
        tg_free(*y);
        *x = *y = NULL;
        return;
    }
    float *xs = tg_data(*x), *ys = tg_data(*y);
    for (int64_t b = 0; b < B; b++) {
        for (int64_t t = 0; t < T; t++) xs[(t * B + b) * 2] = (float)tg_rand_uniform();
        int64_t first = (int64_t)tg_rand_below((uint64_t)(T / 2));
        int64_t second = T / 2 + (int64_t)tg_rand_below((uint64_t)(T - T / 2));
        xs[(first * B + b) * 2 + 1] = 1;
        xs[(second * B + b) * 2 + 1] = 1;
        ys[b] = xs[(first * B + b) * 2] + xs[(second * B + b) * 2];
    }
}

/* The hook: record ||grad|| into *ctx and leave the gradient as it is. */
static tg_tensor *record_norm(tg_tensor *t, tg_tensor *grad, void *ctx)
{
    (void)t;
    *(double *)ctx = tg_item(tg_norm(grad, 2, 0, NULL, false));
    return NULL;
}

/* x (T, B, 2) -> prediction (B, 1) from the last hidden state. With norms
 * (T entries), a hook on each h_t writes ||dL/dh_t|| into norms[t - 1] when
 * backward runs. */
static tg_tensor *predict(model *m, tg_tensor *x, double *norms)
{
    /* state[0] is h_t, the state the next step and the head read (the
     * step's output is the same values, a tensor nothing else reads). */
    tg_tensor *state[TG_CELL_MAX_STATES] = {0};
    if (!x) return NULL;
    for (int64_t t = 0; t < x->shape[0]; t++) {
        tg_tensor *next[TG_CELL_MAX_STATES] = {0};
        if (!tg_cell_layer_forward(m->cell, tg_select(x, 0, t), m->n_states, state, next)) return NULL;
        for (int k = 0; k < m->n_states; k++) state[k] = next[k];
        if (norms) tg_register_hook(state[0], record_norm, &norms[t]);
    }
    return tg_linear_layer_forward(m->head, state[0]);
}

/* ||dL/dh_t|| for t = 1..T on one batch of `batch` sequences. */
static int gradient_norms(model *m, int64_t T, int64_t batch, double *norms)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *x, *y;
    adding_batch(T, batch, &x, &y);
    for (int64_t t = 0; t < T; t++) norms[t] = NAN;
    tg_params_zero_grad(&m->params);
    int status = tg_backward(tg_mse_loss(predict(m, x, norms), y, TG_REDUCTION_MEAN), NULL);
    tg_params_zero_grad(&m->params);
    tg_scope_end(s);
    return status;
}

static double test_mse(model *m, tg_tensor *x, tg_tensor *y)
{
    tg_scope *s = tg_scope_begin();
    bool was = tg_no_grad_begin();
    double mse = tg_item(tg_mse_loss(predict(m, x, NULL), y, TG_REDUCTION_MEAN));
    tg_no_grad_end(was);
    tg_scope_end(s);
    return mse;
}

/* One optimizer step on a fresh batch; returns the loss (NaN on failure)
 * and writes the gradient norm before clipping (clip <= 0: no clipping). */
static double train_step(model *m, tg_optim *opt, int64_t T, int64_t batch, double clip, double *grad_norm)
{
    tg_scope *s = tg_scope_begin();
    tg_tensor *x, *y;
    adding_batch(T, batch, &x, &y);
    tg_tensor *loss = tg_mse_loss(predict(m, x, NULL), y, TG_REDUCTION_MEAN);
    tg_optim_zero_grad(opt);
    double value = NAN;
    if (loss && tg_backward(loss, NULL) == 0) {
        value = tg_item(loss);
        /* With clip <= 0 only the norm is wanted: an infinite max_norm scales by 1. */
        int clipped = tg_clip_grad_norm(&m->params, clip > 0 ? clip : INFINITY, 2.0, grad_norm);
        if (clipped == 0 && tg_optim_step(opt) < 0) value = NAN;
    }
    tg_scope_end(s);
    return value;
}

/* The exploding gradient: an Elman RNN whose recurrent weights start normal
 * with std scale / sqrt(H) (chaotic for scale > 1), trained with plain SGD,
 * without and with clipping; prints the loss and gradient norm as it goes. */
static int exploding_demo(int64_t hidden, int64_t T, double scale, int steps)
{
    const double lr = 0.05, max_norm = 1.0;
    double loss[2][64], norm[2][64];
    int every = steps / 8 > 0 ? steps / 8 : 1, rows = 0;
    for (int clip = 0; clip < 2; clip++) {
        tg_manual_seed(7);
        model m;
        if (!model_new(&m, &tg_cell_rnn_tanh, hidden)) {
            model_free(&m);
            return -1;
        }
        bool was = tg_no_grad_begin();
        tg_tensor *weight_hh = tg_cell_layer_param(m.cell, "weight_hh");
        tg_tensor *w = tg_randn(TG_F32, 2, weight_hh->shape, 0, scale / sqrt((double)hidden));
        tg_copy_(weight_hh, w);
        tg_free(w);
        tg_no_grad_end(was);
        tg_sgd_config sgd = tg_sgd_defaults(lr);
        tg_optim *opt = tg_sgd(&m.params, 1, &sgd);
        rows = 0;
        for (int step = 1; step <= steps && opt; step++) {
            double g = NAN, l = train_step(&m, opt, T, 64, clip ? max_norm : 0, &g);
            if ((step == 1 || step % every == 0) && rows < 64) {
                loss[clip][rows] = l;
                norm[clip][rows++] = g;
            }
        }
        tg_optim_free(opt);
        model_free(&m);
    }
    printf("\nExploding gradient: Elman RNN, T = %lld, W_hh ~ N(0, %g^2 / H), SGD lr %g, batch 64\n", (long long)T,
           scale, lr);
    printf("%6s  %14s %14s  %14s %14s\n", "step", "loss", "grad norm", "loss (clip 1)", "grad norm");
    for (int r = 0; r < rows; r++)
        printf("%6d  %14.4g %14.4g  %14.4g %14.4g\n", r == 0 ? 1 : r * every, fabs(loss[0][r]), fabs(norm[0][r]),
               loss[1][r], norm[1][r]);
    fflush(stdout);
    return 0;
}

/* --lengths: 1 to MAX_LENGTHS whole numbers in 2..MAX_T, separated by commas. */
static bool parse_lengths(const char *text, int64_t *lengths, int *n)
{
    *n = 0;
    for (const char *p = text;; p++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (*p < '0' || *p > '9' || errno == ERANGE || v < 2 || v > MAX_T || *n == MAX_LENGTHS || (*end && *end != ','))
            return false;
        lengths[(*n)++] = v;
        if (!*end) return true;
        p = end;
    }
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--hidden H] [--steps N] [--batch B] [--lr LR] [--lengths 50,100,200] [--plot-t T]\n"
            "          [--plot FILE] [--explode-scale S] [--seed S] [--quiet]\n"
            "Trains an Elman RNN, an LSTM and a GRU on the adding problem at each length with the same\n"
            "budget, prints their test MSE against the 0.167 of always answering 1.0, and records\n"
            "||dL/dh_t|| for every step t at initialisation and after training at length --plot-t\n"
            "(drawn on a log scale with --plot FILE, as SVG). Then shows an exploding gradient (an RNN\n"
            "with W_hh ~ N(0, S^2/H)) trained with SGD with and without clipping.\n"
            "Defaults: --hidden 64 --steps 1500 --batch 64 --lr 0.005 --lengths 50,100,200 --plot-t 100\n"
            "--explode-scale 2. Ranges: --hidden 1..4096, --steps 1..1000000, --batch 1..4096, --lr in\n"
            "(0, 10], --lengths 1 to 8 lengths and --plot-t in 2..10000, --explode-scale in [0, 100].\n",
            argv0);
}

int main(int argc, char **argv)
{
    const char *prog = "gradient_flow";
    int64_t hidden = 64, batch = 64, plot_t = 100;
    int steps = 1500, n_lengths = 3;
    int64_t lengths[MAX_LENGTHS] = {50, 100, 200};
    double lr = 0.005, explode_scale = 2.0;
    const char *plot = NULL, *length_list;
    uint64_t seed = 1;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (strcmp(argv[i], "--hidden") == 0) ok = arg_int64(prog, argc, argv, &i, 1, 4096, &hidden);
        else if (strcmp(argv[i], "--steps") == 0) ok = arg_int(prog, argc, argv, &i, 1, 1000000, &steps);
        else if (strcmp(argv[i], "--batch") == 0) ok = arg_int64(prog, argc, argv, &i, 1, 4096, &batch);
        else if (strcmp(argv[i], "--lr") == 0) ok = arg_real(prog, argc, argv, &i, "(0, 10]", &lr);
        else if (strcmp(argv[i], "--plot-t") == 0) ok = arg_int64(prog, argc, argv, &i, 2, MAX_T, &plot_t);
        else if (strcmp(argv[i], "--plot") == 0) ok = arg_text(prog, argc, argv, &i, &plot);
        else if (strcmp(argv[i], "--explode-scale") == 0)
            ok = arg_real(prog, argc, argv, &i, "[0, 100]", &explode_scale);
        else if (strcmp(argv[i], "--seed") == 0) ok = arg_seed(prog, argc, argv, &i, &seed);
        else if (strcmp(argv[i], "--quiet") == 0) quiet = true;
        else if (strcmp(argv[i], "--lengths") == 0) {
            ok = arg_text(prog, argc, argv, &i, &length_list);
            if (ok && !parse_lengths(length_list, lengths, &n_lengths)) {
                fprintf(stderr, "%s: --lengths must be 1 to %d whole numbers in 2..%d separated by commas, not '%s'\n",
                        prog, MAX_LENGTHS, MAX_T, length_list);
                ok = false;
            }
        } else {
            return arg_other(prog, argv[i], argv[0], usage);
        }
        if (!ok) return 2;
    }

    /* Everything below is freed at done:, whichever exit is taken; a
     * run's model, optimizer and test set are NULL between runs. */
    int status = 1;
    model m = {0};
    tg_optim *opt = NULL;
    tg_tensor *test_x = NULL, *test_y = NULL;
    /* Gradient norms at initialisation and after training at plot_t. */
    double *norms[N_CELLS][2] = {{NULL}};
    for (int c = 0; c < N_CELLS; c++)
        for (int k = 0; k < 2; k++) norms[c][k] = malloc(sizeof(double) * (size_t)plot_t);
    double mse[MAX_LENGTHS][N_CELLS];
    bool plot_t_trained = false;
    int n_runs = n_lengths * N_CELLS, run = 0;
    progress bar = progress_new(quiet, "seq");
    bar.label = "run";
    if (!quiet)
        printf("Adding problem, hidden size %lld, %d steps of batch %lld, Adam lr %g, clip_grad_norm 1\n",
               (long long)hidden, steps, (long long)batch, lr);
    fflush(stdout);
    for (int k = 0; k < n_lengths; k++) {
        int64_t T = lengths[k];
        tg_manual_seed(seed + 1000);
        adding_batch(T, TEST_SIZE, &test_x, &test_y); /* persistent: no scope is open */
        if (!test_x) {
            fprintf(stderr, "gradient_flow: %s\n", tg_last_error());
            goto done;
        }
        for (int c = 0; c < N_CELLS; c++) {
            tg_manual_seed(seed);
            tg_adam_config adam = tg_adam_defaults();
            adam.lr = lr;
            opt = model_new(&m, cells[c].cell, hidden) ? tg_adam(&m.params, 1, &adam) : NULL;
            if (!opt || (T == plot_t && gradient_norms(&m, T, batch, norms[c][0]) < 0)) {
                fprintf(stderr, "gradient_flow: %s\n", tg_last_error());
                goto done;
            }
            progress_begin(&bar, ++run, n_runs, steps);
            for (int step = 0; step < steps; step++) {
                double grad_norm, loss = train_step(&m, opt, T, batch, 1.0, &grad_norm);
                if (isnan(loss)) {
                    fprintf(stderr, "gradient_flow: %s\n", tg_last_error());
                    goto done;
                }
                progress_step(&bar, batch, loss);
            }
            mse[k][c] = test_mse(&m, test_x, test_y);
            progress_end(&bar, "%s T=%lld: test MSE %.4f", cells[c].name, (long long)T, mse[k][c]);
            if (T == plot_t && gradient_norms(&m, T, batch, norms[c][1]) == 0) plot_t_trained = true;
            tg_optim_free(opt);
            model_free(&m);
            opt = NULL;
            m = (model){0};
        }
        tg_free(test_x);
        tg_free(test_y);
        test_x = test_y = NULL;
    }

    printf("\nFinal test MSE on %d sequences (predicting 1.0 always gives 0.167)\n", TEST_SIZE);
    printf("%6s", "T");
    for (int c = 0; c < N_CELLS; c++) printf("  %8s", cells[c].name);
    printf("  %8s\n", "baseline");
    for (int k = 0; k < n_lengths; k++) {
        printf("%6lld", (long long)lengths[k]);
        for (int c = 0; c < N_CELLS; c++) printf("  %8.4f", mse[k][c]);
        printf("  %8.4f\n", 1.0 / 6);
    }
    if (plot_t_trained) {
        printf("\n||dL/dh_t|| at T = %lld: t = 1, %lld, %lld (at initialisation -> after training)\n", (long long)plot_t,
               (long long)plot_t / 2, (long long)plot_t);
        for (int c = 0; c < N_CELLS; c++)
            printf("%6s  %9.3g %9.3g %9.3g  ->  %9.3g %9.3g %9.3g\n", cells[c].name, norms[c][0][0],
                   norms[c][0][plot_t / 2 - 1], norms[c][0][plot_t - 1], norms[c][1][0], norms[c][1][plot_t / 2 - 1],
                   norms[c][1][plot_t - 1]);
    }
    fflush(stdout);
    if (exploding_demo(hidden, 50, explode_scale, steps < 200 ? steps : 200) < 0) {
        fprintf(stderr, "gradient_flow: %s\n", tg_last_error());
        goto done;
    }

    status = 0;
    if (plot && !plot_t_trained) {
        fprintf(stderr, "gradient_flow: --plot needs --plot-t to be one of the --lengths\n");
        status = 1;
    } else if (plot) {
        double *t_axis = malloc(sizeof(double) * (size_t)plot_t);
        for (int64_t t = 0; t < plot_t; t++) t_axis[t] = (double)(t + 1);
        char title[128], name[64];
        snprintf(title, sizeof title, "Gradient flowing back through time, adding problem, T = %lld", (long long)plot_t);
        svg_chart *chart = svg_chart_new(title, "time step t", "||dL/dh_t|| (log scale)");
        svg_chart_log_y(chart, true);
        for (int c = 0; c < N_CELLS; c++)
            for (int k = 0; k < 2; k++) {
                snprintf(name, sizeof name, "%s, %s", cells[c].name, k ? "trained" : "at init");
                svg_chart_line(chart, name, (int)plot_t, t_axis, norms[c][k]);
                svg_chart_style(chart, c, k == 0);
            }
        if (svg_chart_write(chart, plot) < 0) {
            fprintf(stderr, "gradient_flow: cannot write --plot '%s': %s\n", plot, strerror(errno));
            status = 1;
        }
        svg_chart_free(chart);
        free(t_axis);
    }

done:
    tg_optim_free(opt);
    model_free(&m);
    tg_free(test_x);
    tg_free(test_y);
    for (int c = 0; c < N_CELLS; c++)
        for (int k = 0; k < 2; k++) free(norms[c][k]);
    return status;
}
