/* LSTM: a search space odyssey, small. Greff et al. (2017) trained eight
 * variants of the LSTM, each missing one part, to see which parts matter.
 * This program does the same on a task of the same kind, row-by-row
 * Fashion-MNIST: each cell reads an image as a sequence of its 28 rows and
 * classifies it from its last state,
 *
 *     cell(28 -> H) -> h_n -> Linear(H -> 10),  cross-entropy, Adam, clip 1
 *
 * with every cell given the same budget (the same images, epochs, batch,
 * learning rate and seeds), the GRU and the minimal gated unit alongside.
 * It prints a table (parameters, time per epoch, final training loss and
 * test accuracy, mean and spread over the seeds) and draws it as an SVG
 * chart. The defaults use a subset of the data so that all of it runs in a
 * few minutes on two cores; examples/odyssey/README.md says what the table
 * shows.
 *
 *     odyssey [--dir DIR] [--train N] [--test N] [--epochs E] [--seeds S]
 *             [--hidden H] [--lr LR] [--svg PATH] [--cells NP,CIFG,...] [--quiet]
 *
 * --quiet leaves out the line each run prints as it ends and the settings
 * above the table.
 *
 * The runs are independent, so they run side by side, one per OpenMP
 * thread (OMP_NUM_THREADS; each run's own ops stay on its thread): the
 * library keeps its tape, scopes, generator and errors per thread. Each
 * run is seeded on its own, so the numbers do not depend on the thread
 * count; the times per epoch are a run's wall time while the others run.
 * The data come from Debian's dataset-fashion-mnist package. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tapegrad/tapegrad.h>

#include "../args.h"
#include "../idx.h"
#include "chart.h"

#define BATCH 64
#define MAX_SEEDS 16

typedef struct {
    const tg_cell *cell;
    const char *family; /* chart colour */
} entry;

static const entry CELLS[] = {
    {&tg_cell_lstm_peephole, "LSTM"}, {&tg_cell_lstm_nig, "LSTM"},  {&tg_cell_lstm_nfg, "LSTM"},
    {&tg_cell_lstm_nog, "LSTM"},      {&tg_cell_lstm_niaf, "LSTM"}, {&tg_cell_lstm_noaf, "LSTM"},
    {&tg_cell_lstm_np, "LSTM"},       {&tg_cell_lstm_cifg, "LSTM"}, {&tg_cell_lstm_fgr, "LSTM"},
    {&tg_cell_gru, "GRU"},            {&tg_cell_mgu, "GRU"},
};
#define N_CELLS (int)(sizeof CELLS / sizeof *CELLS)

typedef struct {
    const char *dir, *svg, *only;
    int64_t train, test, hidden;
    int epochs, seeds;
    double lr;
} options;

typedef struct {
    tg_rnn *rnn;
    tg_linear_layer *head;
} model;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* images (B, 28, 28) -> logits (B, 10) from the first state at the last step */
static tg_tensor *logits(model *m, tg_tensor *images)
{
    tg_rnn_output r;
    if (tg_rnn_forward(m->rnn, images, 0, NULL, NULL, &r) < 0) return NULL;
    return tg_linear_layer_forward(m->head, tg_select(r.h_n, 0, 0));
}

/* Fraction of images whose largest logit is their label. */
static double accuracy(model *m, tg_tensor *images, tg_tensor *labels)
{
    int64_t n = images->shape[0], correct = 0;
    bool was = tg_no_grad_begin();
    for (int64_t start = 0; start < n; start += 500) {
        tg_scope *s = tg_scope_begin();
        int64_t count = n - start < 500 ? n - start : 500;
        tg_tensor *guess = tg_argmax(logits(m, tg_narrow(images, 0, start, count)), 1, false);
        const int64_t *g = tg_data(guess), *y = (const int64_t *)tg_data(labels) + start;
        for (int64_t i = 0; guess && i < count; i++) correct += g[i] == y[i];
        tg_scope_end(s);
    }
    tg_no_grad_end(was);
    return (double)correct / (double)n;
}

/* One training run: fills the run's parameters, seconds per epoch, final
 * training loss (mean over the last epoch) and test accuracy. */
static bool train(const options *o, const tg_cell *cell, uint64_t seed, tg_tensor *const data[4], chart_run *run)
{
    tg_manual_seed(seed);
    model m = {tg_rnn_new(cell, &(tg_rnn_config){.input_size = IDX_ROWS, .hidden_size = o->hidden, .batch_first = true}),
               tg_linear_layer_new(o->hidden, IDX_CLASSES, true, TG_F32)};
    tg_params params = tg_params_new();
    if (!m.rnn || !m.head || tg_rnn_params(m.rnn, &params, "rnn") < 0 || tg_linear_layer_params(m.head, &params, "head") < 0)
        return false;
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = o->lr;
    tg_optim *opt = tg_adam(&params, 1, &adam);
    int64_t n = data[0]->shape[0];
    int64_t *order = malloc(sizeof *order * (size_t)n);
    bool ok = opt && order;
    for (int64_t i = 0; ok && i < n; i++) order[i] = i;
    double seconds = 0, loss = 0;
    for (int epoch = 0; ok && epoch < o->epochs; epoch++) {
        for (int64_t i = n - 1; i > 0; i--) { /* one shuffle per epoch, the same for every cell */
            int64_t j = (int64_t)tg_rand_below((uint64_t)i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double start = now_s(), total = 0;
        int batches = 0;
        for (int64_t first = 0; ok && first < n; first += BATCH) {
            int64_t count = n - first < BATCH ? n - first : BATCH;
            tg_scope *s = tg_scope_begin();
            tg_tensor *idx = tg_from_array(TG_I64, 1, &count, order + first);
            tg_tensor *batch_loss = tg_cross_entropy(logits(&m, tg_index_select(data[0], 0, idx)),
                                                     tg_index_select(data[1], 0, idx), NULL);
            tg_optim_zero_grad(opt);
            ok = batch_loss && tg_backward(batch_loss, NULL) == 0 && tg_clip_grad_norm(&params, 1.0, 2.0, NULL) >= 0 &&
                 tg_optim_step(opt) == 0;
            if (ok) total += tg_item(batch_loss);
            batches++;
            tg_scope_end(s);
        }
        seconds += now_s() - start;
        loss = total / batches;
    }
    if (ok) {
        *run = (chart_run){.params = tg_params_numel(&params), .seconds_per_epoch = seconds / o->epochs,
                           .train_loss = loss, .test_accuracy = accuracy(&m, data[2], data[3])};
    }
    free(order);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(m.rnn);
    tg_linear_layer_free(m.head);
    return ok;
}

static bool wanted(const char *only, const char *name)
{
    if (!only) return true;
    size_t len = strlen(name);
    for (const char *p = only; (p = strstr(p, name)); p += len)
        if ((p == only || p[-1] == ',') && (p[len] == ',' || p[len] == 0)) return true;
    return false;
}

/* Every name in the comma-separated list is a cell's; else say which is
 * not, with the names there are, as for any other bad value. */
static bool known_cells(const char *only)
{
    for (const char *p = only; *p;) {
        size_t len = strcspn(p, ",");
        bool found = false;
        for (int c = 0; c < N_CELLS && !found; c++)
            found = strlen(CELLS[c].cell->name) == len && !strncmp(p, CELLS[c].cell->name, len);
        if (!found) {
            fprintf(stderr, "odyssey: --cells names no cell '%.*s'; the cells are", (int)len, p);
            for (int c = 0; c < N_CELLS; c++) fprintf(stderr, "%s %s", c ? "," : "", CELLS[c].cell->name);
            fprintf(stderr, "\n");
            return false;
        }
        p += len;
        if (*p == ',') p++;
    }
    return true;
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--dir DIR] [--train N] [--test N] [--epochs E] [--seeds S] [--hidden H] [--lr LR]\n"
            "          [--svg PATH] [--cells NAME,NAME,...] [--quiet]\n"
            "Trains LSTM variants, the GRU and the MGU on row-by-row Fashion-MNIST with one budget and\n"
            "prints a table (drawn as SVG in --svg). Defaults: --dir /usr/share/datasets/fashion-mnist\n"
            "--train 10000 --test 5000 --epochs 5 --seeds 3 --hidden 64 --lr 0.005 --svg odyssey.svg.\n"
            "Ranges: --train and --test 1..1000000000 (the first N images), --epochs 1..10000, --seeds\n"
            "1..%d, --hidden 1..4096, --lr in (0, 10]. --quiet prints only the table.\n",
            argv0, MAX_SEEDS);
}

int main(int argc, char **argv)
{
    options o = {.dir = "/usr/share/datasets/fashion-mnist", .svg = "odyssey.svg", .train = 10000, .test = 5000,
                 .hidden = 64, .epochs = 5, .seeds = 3, .lr = 0.005};
    bool quiet = false;
    const char *prog = "odyssey";
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        bool ok = true;
        if (!strcmp(k, "--dir")) ok = arg_text(prog, argc, argv, &i, &o.dir);
        else if (!strcmp(k, "--svg")) ok = arg_text(prog, argc, argv, &i, &o.svg);
        else if (!strcmp(k, "--cells")) ok = arg_text(prog, argc, argv, &i, &o.only) && known_cells(o.only);
        else if (!strcmp(k, "--train")) ok = arg_int64(prog, argc, argv, &i, 1, 1000000000, &o.train);
        else if (!strcmp(k, "--test")) ok = arg_int64(prog, argc, argv, &i, 1, 1000000000, &o.test);
        else if (!strcmp(k, "--hidden")) ok = arg_int64(prog, argc, argv, &i, 1, 4096, &o.hidden);
        else if (!strcmp(k, "--epochs")) ok = arg_int(prog, argc, argv, &i, 1, 10000, &o.epochs);
        else if (!strcmp(k, "--seeds")) ok = arg_int(prog, argc, argv, &i, 1, MAX_SEEDS, &o.seeds);
        else if (!strcmp(k, "--lr")) ok = arg_real(prog, argc, argv, &i, "(0, 10]", &o.lr);
        else if (!strcmp(k, "--quiet")) quiet = true;
        else return arg_other(prog, k, argv[0], usage);
        if (!ok) return 2;
    }
    /* The data are freed at done:, whichever exit is taken. */
    int status = 1;
    tg_tensor *data[4] = {NULL};
    if (!idx_load_split("odyssey", o.dir, "train", o.train, &data[0], &data[1]) ||
        !idx_load_split("odyssey", o.dir, "t10k", o.test, &data[2], &data[3]))
        goto done;
    if (!quiet)
        printf("Row-by-row Fashion-MNIST on a subset: the first %lld training and %lld test images (of 60000 and 10000).\n"
               "Every cell: hidden size %lld, %d epochs, batch %d, Adam lr %g, gradient norm clipped at 1, seeds 1..%d.\n\n",
               (long long)data[0]->shape[0], (long long)data[2]->shape[0], (long long)o.hidden, o.epochs, BATCH, o.lr,
               o.seeds);
    chart_series series[N_CELLS];
    const entry *cells[N_CELLS];
    int n_series = 0;
    for (int c = 0; c < N_CELLS; c++) {
        if (!wanted(o.only, CELLS[c].cell->name)) continue;
        cells[n_series] = &CELLS[c];
        series[n_series++] = (chart_series){.name = CELLS[c].cell->name, .family = CELLS[c].family, .n_runs = o.seeds};
    }
    if (n_series == 0) {
        fprintf(stderr, "odyssey: no cell matches --cells %s\n", o.only);
        status = 2;
        goto done;
    }
    fflush(stdout);
    int jobs = n_series * o.seeds, failed = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : failed)
    for (int job = 0; job < jobs; job++) {
        int c = job / o.seeds, seed = job % o.seeds + 1;
        tg_set_num_threads(1); /* this run's ops on this thread */
        chart_run *run = &series[c].runs[seed - 1];
        if (!train(&o, cells[c]->cell, (uint64_t)seed, data, run)) {
            fprintf(stderr, "odyssey: %s, seed %d: %s\n", cells[c]->cell->name, seed, tg_last_error());
            failed++;
            continue;
        }
        if (!quiet)
            fprintf(stderr, "  %-9s seed %d: test accuracy %.2f%%, %.2f s per epoch\n", cells[c]->cell->name, seed,
                    100 * run->test_accuracy, run->seconds_per_epoch);
    }
    if (failed) goto done;
    printf("%-9s %7s %9s %17s %17s\n", "cell", "params", "s/epoch", "train loss", "test accuracy %");
    for (int c = 0; c < n_series; c++) {
        chart_summary m = chart_summarise(&series[c]);
        printf("%-9s %7lld %9.2f %8.4f +- %.4f %8.2f +- %5.2f\n", series[c].name, (long long)series[c].runs[0].params,
               m.seconds_per_epoch, m.train_loss, m.train_loss_spread, 100 * m.test_accuracy, 100 * m.test_accuracy_spread);
    }
    printf("\nmean +- standard deviation over %d seeds (1..%d)\n", o.seeds, o.seeds);
    char title[160];
    snprintf(title, sizeof title, "Row-by-row Fashion-MNIST, %lld training images, %d epochs, H = %lld, %d seeds",
             (long long)data[0]->shape[0], o.epochs, (long long)o.hidden, o.seeds);
    if (chart_write_svg(o.svg, title, n_series, series) < 0) {
        fprintf(stderr, "odyssey: cannot write %s\n", o.svg);
        goto done;
    }
    printf("chart: %s\n", o.svg);
    status = 0;

done:
    for (int i = 0; i < 4; i++) tg_free(data[i]);
    return status;
}
