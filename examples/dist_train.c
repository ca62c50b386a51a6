/* Data-parallel training over MPI: the Fashion-MNIST row classifier
 *
 *     GRU(28 -> 128) -> h_n -> Linear(128 -> 10),  cross-entropy, Adam
 *
 * trained on several processes. Every rank holds the whole model; each
 * global batch of B images is split into B/P images per rank (the sampler
 * of <tapegrad/dist.h>), the ranks average their gradients, clip the
 * average and step, so P ranks follow the run of one process with batch B
 * (to rounding) and reach the same accuracy:
 *
 *     mpirun -np 2 ./build/examples/dist_train --train 12000
 *     ./build/examples/dist_train --train 12000          # one process, same result
 *
 * Only rank 0 prints. Options: --dir DIR (default the Debian package
 * dataset-fashion-mnist's /usr/share/datasets/fashion-mnist), --epochs N
 * (1), --train N (first N training images; all 60000 by default), --batch B
 * (global batch, 128, a multiple of the number of ranks), --threads T
 * (OpenMP threads per rank), --seed S, --quiet (only the last epoch's
 * line). On two cores, run two ranks of one thread each (Open MPI binds each
 * rank to a core). docs/distributed.md says how to run on several machines.
 *
 * The IDX files are untrusted input: magic numbers, dims and lengths are
 * checked against the bytes actually read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tapegrad/tapegrad.h>

#include "args.h"
#include "idx.h"

#define ROWS 28
#define HIDDEN 128
#define CLASSES 10
#define MAX_NORM 5.0

/* Ends the job on every rank with the message (a rank that cannot go on
 * must not leave the others waiting in a collective). */
static int fail(const char *message)
{
    if (tg_dist_abort(message) < 0) fprintf(stderr, "%s\n", message);
    return 1;
}

typedef struct {
    tg_gru *gru;
    tg_linear_layer *head;
} model;

/* images (B, 28, 28) -> logits (B, 10) */
static tg_tensor *logits(model *m, tg_tensor *images)
{
    tg_rnn_output r;
    if (tg_gru_forward(m->gru, images, NULL, NULL, &r) < 0) return NULL;
    return tg_linear_layer_forward(m->head, tg_select(r.h_n, 0, 0));
}

/* Correct guesses on this rank's contiguous share of the test set; the
 * caller sums them over the ranks. -1 on failure. */
static int64_t correct_on_share(model *m, tg_tensor *images, tg_tensor *labels, int rank, int world)
{
    const int64_t n = images->shape[0], first = n * rank / world, last = n * (rank + 1) / world;
    int64_t correct = 0;
    bool was = tg_set_grad_enabled(false);
    for (int64_t start = first; start < last; start += 1000) {
        tg_scope *s = tg_scope_begin();
        const int64_t count = last - start < 1000 ? last - start : 1000;
        tg_tensor *guess = tg_argmax(logits(m, tg_narrow(images, 0, start, count)), 1, false);
        if (!guess) correct = -1;
        for (int64_t i = 0; guess && i < count; i++)
            correct += ((const int64_t *)tg_data(guess))[i] == ((const int64_t *)tg_data(labels))[start + i];
        tg_scope_end(s);
        if (correct < 0) break;
    }
    tg_set_grad_enabled(was);
    return correct;
}

static void usage(FILE *to, const char *argv0)
{
    fprintf(to,
            "usage: %s [--dir DIR] [--epochs N] [--train N] [--batch B] [--threads T] [--seed S] [--quiet]\n"
            "Trains a GRU row classifier on Fashion-MNIST, data-parallel over the MPI ranks (mpirun -np P).\n"
            "Defaults: --dir /usr/share/datasets/fashion-mnist --epochs 1 --train 0 (all) --batch 128\n"
            "--threads 0 (OpenMP's default). Ranges: --epochs 1..10000, --train 0..1000000000, --batch\n"
            "1..65536 (a multiple of the number of ranks), --threads 0..1024. --quiet prints only the\n"
            "last epoch's line.\n",
            argv0);
}

int main(int argc, char **argv)
{
    if (tg_dist_init(&argc, &argv) < 0) {
        fprintf(stderr, "dist_train: %s\n", tg_last_error());
        return 1;
    }
    const int rank = tg_dist_rank(), world = tg_dist_world_size();
    const char *dir = "/usr/share/datasets/fashion-mnist", *prog = "dist_train";
    int epochs = 1, threads = 0;
    int64_t limit = 0, batch = 128;
    uint64_t seed = 1;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        bool ok = true;
        if (strcmp(argv[i], "--dir") == 0) ok = arg_text(prog, argc, argv, &i, &dir);
        else if (strcmp(argv[i], "--epochs") == 0) ok = arg_int(prog, argc, argv, &i, 1, 10000, &epochs);
        else if (strcmp(argv[i], "--train") == 0) ok = arg_int64(prog, argc, argv, &i, 0, 1000000000, &limit);
        else if (strcmp(argv[i], "--batch") == 0) ok = arg_int64(prog, argc, argv, &i, 1, 65536, &batch);
        else if (strcmp(argv[i], "--threads") == 0) ok = arg_int(prog, argc, argv, &i, 0, 1024, &threads);
        else if (strcmp(argv[i], "--seed") == 0) ok = arg_seed(prog, argc, argv, &i, &seed);
        else if (strcmp(argv[i], "--quiet") == 0) quiet = true;
        else {
            bool help = strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0;
            if (rank == 0) {
                if (!help) arg_unknown(prog, argv[i]);
                usage(help ? stdout : stderr, argv[0]);
            }
            tg_dist_finalize();
            return help ? 0 : 2;
        }
        if (!ok) {
            tg_dist_finalize();
            return 2;
        }
    }
    if (threads > 0) tg_set_num_threads(threads);
    /* Everything below is freed at done:, whichever exit is taken (after a
     * failure, only if fail() found no job to end). */
    int status = 1;
    tg_dist_sampler *sampler = NULL;
    model m = {NULL, NULL};
    tg_params params = tg_params_new();
    tg_optim *opt = NULL;
    int64_t *idx = NULL;
    /* idx.h says what is wrong with a file on stderr, on every rank. */
    tg_tensor *train_x = NULL, *train_y = NULL, *test_x = NULL, *test_y = NULL;
    if (!idx_load_split("dist_train", dir, "train", limit, &train_x, &train_y) ||
        !idx_load_split("dist_train", dir, "t10k", 0, &test_x, &test_y)) {
        status = fail("dist_train: cannot read the data set");
        goto done;
    }
    const int64_t n_train = train_x->shape[0];
    /* Refuses a batch that the ranks cannot share equally. */
    sampler = tg_dist_sampler_new(n_train, rank, world, batch, seed, false);
    if (!sampler) {
        status = fail(tg_last_error());
        goto done;
    }

    /* The same seed everywhere, and rank 0's values broadcast anyway: the
     * replicas must start equal whatever the generator did. */
    tg_manual_seed(seed);
    m.gru = tg_gru_new(&(tg_gru_config){.input_size = ROWS, .hidden_size = HIDDEN, .batch_first = true});
    m.head = tg_linear_layer_new(HIDDEN, CLASSES, true, TG_F32);
    if (!m.gru || !m.head || tg_rnn_params(m.gru, &params, "gru") < 0 ||
        tg_linear_layer_params(m.head, &params, "head") < 0 || tg_dist_broadcast_params(&params) < 0) {
        status = fail(tg_last_error());
        goto done;
    }
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.002;
    opt = tg_adam(&params, 1, &adam);
    if (rank == 0 && !quiet)
        printf("GRU(%d, %d) + Linear(%d, %d): %lld parameters; %d rank%s x %d thread%s, global batch %lld (%lld per "
               "rank), %lld training and %lld test images\n",
               ROWS, HIDDEN, HIDDEN, CLASSES, (long long)tg_params_numel(&params), world, world > 1 ? "s" : "",
               tg_get_num_threads(), tg_get_num_threads() > 1 ? "s" : "", (long long)batch,
               (long long)tg_dist_sampler_batch_size(sampler), (long long)n_train, (long long)test_x->shape[0]);

    idx = malloc(sizeof *idx * (size_t)tg_dist_sampler_batch_size(sampler));
    if (!opt || !idx) {
        status = fail(opt ? "dist_train: out of memory" : tg_last_error());
        goto done;
    }
    for (int epoch = 0; epoch < epochs; epoch++) {
        tg_dist_sampler_set_epoch(sampler, epoch);
        double totals[3] = {0, 0, 0}; /* loss sum, samples, correct test guesses */
        for (int64_t k = 0; k < tg_dist_sampler_num_batches(sampler); k++) {
            const int64_t count = tg_dist_sampler_batch(sampler, k, tg_dist_sampler_batch_size(sampler), idx);
            tg_scope *s = tg_scope_begin();
            tg_tensor *index = tg_from_array(TG_I64, 1, &count, idx);
            tg_tensor *loss = tg_cross_entropy(logits(&m, tg_index_select(train_x, 0, index)),
                                               tg_index_select(train_y, 0, index), NULL);
            tg_optim_zero_grad(opt);
            /* Average, then clip: the norm is the global batch's. */
            if (!loss || tg_backward(loss, NULL) < 0 || tg_dist_average_grads(&params) < 0 ||
                tg_clip_grad_norm(&params, MAX_NORM, 2.0, NULL) != 0 || tg_optim_step(opt) < 0) {
                status = fail(tg_last_error());
                tg_scope_end(s);
                goto done;
            }
            totals[0] += tg_item(loss) * (double)count;
            totals[1] += (double)count;
            tg_scope_end(s);
        }
        const int64_t correct = correct_on_share(&m, test_x, test_y, rank, world);
        totals[2] = (double)correct;
        if (correct < 0 || tg_dist_sum(3, totals) < 0) {
            status = fail(tg_last_error());
            goto done;
        }
        if (rank == 0 && (!quiet || epoch + 1 == epochs))
            printf("epoch %d loss %.4f test accuracy %.4f\n", epoch + 1, totals[0] / totals[1],
                   totals[2] / (double)test_x->shape[0]);
    }
    status = 0;

done:
    free(idx);
    tg_dist_sampler_free(sampler);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(m.gru);
    tg_linear_layer_free(m.head);
    tg_tensor *all[] = {train_x, train_y, test_x, test_y};
    for (int i = 0; i < 4; i++) tg_free(all[i]);
    if (tg_dist_finalize() < 0 && status == 0) status = fail(tg_last_error());
    return status;
}
