/* What every benchmark here needs to time things: a monotonic clock and
 * the median of a set of runs (header-only, so bench/peak needs no
 * library). */
#ifndef TG_BENCH_TIMING_H
#define TG_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

/* Seconds on a clock (CLOCK_MONOTONIC for wall time,
 * CLOCK_THREAD_CPUTIME_ID for this thread's CPU time). */
static inline double bench_clock_s(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline double bench_now_s(void) { return bench_clock_s(CLOCK_MONOTONIC); }
static inline double bench_now_ms(void) { return bench_now_s() * 1e3; }

static inline int bench_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_compare);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
