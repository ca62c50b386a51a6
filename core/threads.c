/* Threads: the count, and parallel regions that give way on a busy machine
 * (the policy is described in core/internal.h). */
#include <tapegrad/threads.h>

#include <string.h>

#include "internal.h"

#ifdef _OPENMP
#include <omp.h>
static double now(void) { return omp_get_wtime(); }
#else
static double now(void) { return 0; }
#endif

/* More threads than this is a mistake, not a machine (the OpenMP runtime
 * itself fails far below 100000). */
#define TG_MAX_THREADS 1024

int tg_set_num_threads(int n)
{
    if (n < 1 || n > TG_MAX_THREADS)
        return tg_fail("tg_set_num_threads: n must be in [1, %d], got %d", TG_MAX_THREADS, n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    return 0;
}

int tg_get_num_threads(void)
{
#ifdef _OPENMP
    int n = omp_get_max_threads();
    return n < TG_MAX_THREADS ? n : TG_MAX_THREADS;
#else
    return 1;
#endif
}

int tg__threads_for(int64_t work, int64_t min_work)
{
    return work < min_work ? 1 : tg_get_num_threads();
}

void tg__share(int64_t n, int64_t unit, int nt, int tid, int64_t *lo, int64_t *hi)
{
    int64_t units = (n + unit - 1) / unit;
    *lo = units * tid / nt * unit;
    *hi = units * (tid + 1) / nt * unit;
    if (*hi > n) *hi = n;
    if (*lo > n) *lo = n;
}

_Thread_local tg__prefetch_range tg__prefetching;

void tg__prefetch_rows_later(int k, const tg_tensor *x, int64_t r0, int64_t r1)
{
    if (x->ndim != 2 || x->stride[1] != 1 || r1 <= r0) return;
    int64_t span = (r1 - r0 - 1) * x->stride[0] + x->shape[1];
    if (span > 4 * (r1 - r0) * x->shape[1]) return;
    int64_t size = (int64_t)tg_dtype_size(x->dtype);
    tg__prefetch_later(k, (const char *)tg_data(x) + r0 * x->stride[0] * size, (size_t)(span * size));
}

/* What the calling thread has seen of the machine's load. */
static _Thread_local struct {
    double lateness;      /* decaying count of regions whose helpers started late */
    double demoted_until; /* run regions alone until then */
    double backoff;       /* the next demotion's length */
    double last_demotion_end;
} load;

void tg__parallel_forget_load(void) { memset(&load, 0, sizeof load); }

#define DEMOTE_FIRST 0.010
#define DEMOTE_MAX 1.0

tg__parallel tg__parallel_begin(int wanted)
{
    /* Only the helpers' slots of a region on threads are cleared: zeroing
     * all of them, 0.5 KB, for every region of one thread was 4.7% of a
     * tiny recurrent step (B=1 H=8). */
    tg__parallel r;
    r.threads = wanted;
    r.start = 0;
    if (wanted > 1) {
        r.start = now();
        if (r.start < load.demoted_until) r.threads = 1;
        int slots = r.threads < TG__PARALLEL_SLOTS ? r.threads : TG__PARALLEL_SLOTS;
        for (int i = 0; i < slots; i++) r.arrive[i] = 0;
    }
    return r;
}

void tg__parallel_arrive(tg__parallel *r)
{
#ifdef _OPENMP
    int tid = omp_get_thread_num();
    if (r->threads > 1 && tid > 0 && tid < TG__PARALLEL_SLOTS) r->arrive[tid] = now();
#else
    (void)r;
#endif
}

void tg__parallel_run(tg__parallel *r, void (*fn)(void *), void *ctx)
{
#ifdef _OPENMP
    if (r->threads > 1) {
#pragma omp parallel num_threads(r->threads)
        {
            tg__parallel_arrive(r);
            fn(ctx);
        }
        return;
    }
    /* Called from inside the caller's own parallel region (a model per
     * thread, as examples/odyssey trains them), fn's orphaned loops and
     * shares would bind to the caller's team: each thread did its share of
     * its own loop and skipped the rest, or waited forever at a loop that
     * the other threads never reached. A team of one of its own. */
    if (omp_in_parallel()) {
#pragma omp parallel num_threads(1)
        fn(ctx);
        return;
    }
#endif
    fn(ctx);
}

void tg__parallel_end(tg__parallel *r)
{
    if (r->threads < 2) return;
    double end = now(), delay = 0;
    int slots = r->threads < TG__PARALLEL_SLOTS ? r->threads : TG__PARALLEL_SLOTS;
    for (int i = 1; i < slots; i++)
        if (r->arrive[i] - r->start > delay) delay = r->arrive[i] - r->start;
    /* Late: a helper started after a wait that cost a third of the region or
     * more (a spinning helper starts within microseconds, a sleeping one
     * woken by the runtime within tens of them, one the scheduler gave to
     * another process after milliseconds). Counting wake-ups as late made
     * a model whose steps pause between small regions (Fashion-MNIST's
     * row LSTM) run alone a third of the time on a quiet machine. */
    bool late = delay > 200e-6 && delay * 3 > end - r->start;
    /* What is left of a late region after 17 on-time ones (under a
     * hundredth) counts as none: otherwise a single late region that
     * followed would push the count past 1 on its own, where it takes two
     * in a row from a clean count. */
    load.lateness = load.lateness * 0.75 + (late ? 1.0 : 0.0);
    if (load.lateness < 0.01) load.lateness = 0;
    if (load.lateness <= 1.0) return;
    /* Demoted again soon after the last demotion ended: the load persists. */
    bool persists = load.backoff > 0 && end - load.last_demotion_end < 0.1;
    load.backoff = persists ? (load.backoff * 2 < DEMOTE_MAX ? load.backoff * 2 : DEMOTE_MAX) : DEMOTE_FIRST;
    load.demoted_until = end + load.backoff;
    load.last_demotion_end = load.demoted_until;
    load.lateness = 0;
}
