/* Per-op overhead: a chain of 1,000 elementwise ops on a tiny tensor (4
 * floats, so the arithmetic costs nothing and the bookkeeping is all that is
 * timed), forward and then backward, the way a small recurrent step spends
 * its time. Prints one JSON line with the median nanoseconds per op.
 *
 *   build/bench/overhead [--ops N] [--size S] [--reps R]
 *
 * bench/overhead_vs_torch.sh runs PyTorch's twin (bench/overhead_torch.py)
 * in the same run and prints the ratios. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timing.h"
#include <tapegrad/tapegrad.h>

int main(int argc, char **argv)
{
    int ops = 1000, reps = 50;
    int64_t size = 4;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--ops")) ops = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--size")) size = atoll(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--reps")) reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--ops N] [--size S] [--reps R]\n", argv[0]);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (ops < 4 || reps < 1 || reps > 10000 || size < 1) {
        fprintf(stderr, "overhead: bad arguments\n");
        return 2;
    }
    tg_set_num_threads(1);
    tg_tensor *x = tg_requires_grad(tg_rand(TG_F32, 1, (int64_t[]){size}, -1, 1), true);
    double *fwd = malloc(sizeof(double) * (size_t)reps), *bwd = malloc(sizeof(double) * (size_t)reps);
    if (!x || !fwd || !bwd) return 1;
    for (int r = -3; r < reps; r++) {
        tg_scope *s = tg_scope_begin();
        double t0 = (bench_now_s() * 1e9);
        tg_tensor *y = x;
        /* Four kinds of op in turn: unary, binary with a leaf, scalar, activation. */
        for (int i = 0; i < ops; i += 4)
            y = tg_sigmoid(tg_mul_scalar(tg_add(tg_tanh(y), x), 0.5));
        tg_tensor *loss = tg_sum(y, 0, NULL, false);
        double t1 = (bench_now_s() * 1e9);
        tg_backward(loss, NULL);
        double t2 = (bench_now_s() * 1e9);
        tg_scope_end(s);
        if (r >= 0) {
            fwd[r] = (t1 - t0) / ops;
            bwd[r] = (t2 - t1) / ops;
        }
        tg_zero_grad(1, &x);
    }
            printf("{\"ops\":%d,\"size\":%lld,\"forward_ns\":%.1f,\"backward_ns\":%.1f}\n", ops, (long long)size,
           bench_median(fwd, reps), bench_median(bwd, reps));
    free(fwd);
    free(bwd);
    tg_free(x);
    return 0;
}
