/* Data-parallel training-step benchmark: the step of examples/dist_train
 * (GRU(28 -> 128) + Linear(128 -> 10) over 28 rows of 28 pixels,
 * cross-entropy, gradient averaging, clipping, Adam) on random images, so
 * that it needs no data set; the work does not depend on the pixel values.
 *
 *   [mpirun -np P] build/bench/dist_step [--batch B] [--threads T] [--steps S]
 *
 * B is the global batch (128): each of the P ranks runs B/P images. After
 * three warm-up steps, each of S steps (20) is timed in four parts:
 *   compute  forward, loss and backward
 *   wait     a barrier: the time this rank waits for the slowest one
 *   reduce   tg_dist_average_grads (the agreement, the all-reduce, the
 *            division), which then finds every rank ready
 *   update   clipping and the Adam step
 * and rank 0 prints one JSON line with the medians of each part and of the
 * whole step in milliseconds, and the gradient size; the *_cpu_ms entries
 * are this thread's CPU time in compute, reduce and update, which on a
 * shared machine estimate what one thread takes on a core of its own
 * (with T > 1 threads they miss the other threads' work). The barrier splits
 * waiting from communicating; without it the reduction would absorb the
 * wait. bench/dist_scaling.sh runs the configurations and the scaling model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"
#include <tapegrad/tapegrad.h>

#define ROWS 28
#define HIDDEN 128
#define CLASSES 10

/* CPU time of this thread: on a shared machine, what the work would take
 * on a core of its own (with one thread, all the work runs here). */
static double cpu_ms(void) { return bench_clock_s(CLOCK_THREAD_CPUTIME_ID) * 1e3; }

static int fail(const char *message)
{
    if (tg_dist_abort(message) < 0) fprintf(stderr, "%s\n", message);
    return 1;
}

/* wall: compute, wait, reduce, update, step; CPU: compute, reduce, update */
enum { PARTS = 8 };

int main(int argc, char **argv)
{
    if (tg_dist_init(&argc, &argv) < 0) {
        fprintf(stderr, "dist_step: %s\n", tg_last_error());
        return 1;
    }
    const int rank = tg_dist_rank(), world = tg_dist_world_size();
    int64_t batch = 128;
    int threads = 1, steps = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--batch")) batch = atoll(v);
        else if (!strcmp(k, "--threads")) threads = atoi(v);
        else if (!strcmp(k, "--steps")) steps = atoi(v);
        else return fail("dist_step: unknown option (use --batch B --threads T --steps S)");
    }
    if (steps < 1 || steps > 10000 || tg_set_num_threads(threads) < 0)
        return fail("dist_step: bad --steps or --threads");
    /* The sampler refuses a batch the ranks cannot share equally. */
    tg_dist_sampler *shares = tg_dist_sampler_new(batch, rank, world, batch, 0, false);
    if (!shares) return fail(tg_last_error());
    const int64_t local = tg_dist_sampler_batch_size(shares);
    tg_dist_sampler_free(shares);

    tg_manual_seed(1 + (uint64_t)rank);
    tg_tensor *images = tg_rand(TG_F32, 3, (int64_t[]){local, ROWS, ROWS}, 0, 1);
    tg_tensor *labels = tg_randint(1, &local, 0, CLASSES);
    tg_manual_seed(1);
    tg_gru *gru = tg_gru_new(&(tg_gru_config){.input_size = ROWS, .hidden_size = HIDDEN, .batch_first = true});
    tg_linear_layer *head = tg_linear_layer_new(HIDDEN, CLASSES, true, TG_F32);
    tg_params params = tg_params_new();
    if (!images || !labels || !gru || !head || tg_rnn_params(gru, &params, "gru") < 0 ||
        tg_linear_layer_params(head, &params, "head") < 0 || tg_dist_broadcast_params(&params) < 0)
        return fail(tg_last_error());
    tg_adam_config adam = tg_adam_defaults();
    tg_optim *opt = tg_adam(&params, 1, &adam);
    double *times = malloc(sizeof *times * PARTS * (size_t)steps);
    if (!opt || !times) return fail("dist_step: out of memory");

    for (int step = -3; step < steps; step++) { /* three warm-up steps fill the arena and caches */
        tg_scope *s = tg_scope_begin();
        const double t0 = bench_now_ms(), c0 = cpu_ms();
        tg_optim_zero_grad(opt);
        tg_rnn_output r;
        if (tg_gru_forward(gru, images, NULL, NULL, &r) < 0) return fail(tg_last_error());
        tg_tensor *loss = tg_cross_entropy(tg_linear_layer_forward(head, tg_select(r.h_n, 0, 0)), labels, NULL);
        if (!loss || tg_backward(loss, NULL) < 0) return fail(tg_last_error());
        const double t1 = bench_now_ms(), c1 = cpu_ms();
        tg_dist_barrier();
        const double t2 = bench_now_ms(), c2 = cpu_ms();
        if (tg_dist_average_grads(&params) < 0) return fail(tg_last_error());
        const double t3 = bench_now_ms(), c3 = cpu_ms();
        if (tg_clip_grad_norm(&params, 5.0, 2.0, NULL) != 0 || tg_optim_step(opt) < 0) return fail(tg_last_error());
        const double t4 = bench_now_ms(), c4 = cpu_ms();
        tg_scope_end(s);
        if (step < 0) continue;
        const double part[PARTS] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, c1 - c0, c3 - c2, c4 - c3};
        for (int p = 0; p < PARTS; p++) times[p * steps + step] = part[p];
    }
    double med[PARTS];
    for (int p = 0; p < PARTS; p++) med[p] = bench_median(times + p * steps, steps);
    if (rank == 0)
        printf("{\"ranks\": %d, \"threads\": %d, \"global_batch\": %lld, \"rank_batch\": %lld, \"steps\": %d, "
               "\"grad_bytes\": %lld, \"step_ms\": %.4f, \"compute_ms\": %.4f, \"wait_ms\": %.4f, "
               "\"reduce_ms\": %.4f, \"update_ms\": %.4f, \"compute_cpu_ms\": %.4f, \"reduce_cpu_ms\": %.4f, "
               "\"update_cpu_ms\": %.4f}\n",
               world, tg_get_num_threads(), (long long)batch, (long long)local, steps,
               (long long)tg_params_numel(&params) * 4, med[4], med[0], med[1], med[2], med[3], med[5], med[6],
               med[7]);

    free(times);
    tg_optim_free(opt);
    tg_params_free(&params);
    tg_rnn_free(gru);
    tg_linear_layer_free(head);
    tg_free(images);
    tg_free(labels);
    return tg_dist_finalize() < 0 ? fail(tg_last_error()) : 0;
}
