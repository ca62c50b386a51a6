/* How long a cache line takes to go from one core to another and back:
 * two threads, pinned to the first two CPUs this process may use, hand a
 * counter back and forth. Two-thread results depend on it as much as on
 * the kernels: every step of a recurrent layer hands rows that one thread
 * wrote to the other. On the Zen 4 VMs of this project it is about 60 ns
 * while the two vCPUs share an L3, and about 160 or 330 to 400 ns while
 * the host has put them farther apart: the Fashion-MNIST LSTM step on 2
 * threads then takes up to 8.9 ms instead of 5.5.
 *
 *   build/bench/roundtrip [--trips N]
 *
 * prints {"round_trip_ns": 58.2} (the median of 5 runs of N round trips),
 * or {"round_trip_ns": null} with fewer than two CPUs. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timing.h"

static _Alignas(64) _Atomic long counter;
static long trips = 200000;
static int cpus[2];

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

/* The other side: waits for each odd value and answers with the next. */
static void *answer(void *arg)
{
    (void)arg;
    pin(cpus[1]);
    for (long i = 0; i < 2 * trips; i += 2) {
        while (atomic_load_explicit(&counter, memory_order_acquire) != i + 1) {
        }
        atomic_store_explicit(&counter, i + 2, memory_order_release);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--trips") && i + 1 < argc) {
            trips = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: roundtrip [--trips N]\n");
            return 2;
        }
    }
    if (trips < 1 || trips > 1000000000L) {
        fprintf(stderr, "roundtrip: --trips must be in [1, 1e9]\n");
        return 2;
    }
    cpu_set_t allowed;
    int found = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
            if (CPU_ISSET(c, &allowed)) cpus[found++] = c;
    if (found < 2) {
        printf("{\"round_trip_ns\": null}\n");
        return 0;
    }
    pin(cpus[0]);
    double ns[5];
    for (int r = 0; r < 5; r++) {
        atomic_store(&counter, 0);
        pthread_t helper;
        if (pthread_create(&helper, NULL, answer, NULL) != 0) {
            fprintf(stderr, "roundtrip: cannot start a thread\n");
            return 1;
        }
        double t0 = bench_now_s();
        for (long i = 0; i < 2 * trips; i += 2) {
            atomic_store_explicit(&counter, i + 1, memory_order_release);
            while (atomic_load_explicit(&counter, memory_order_acquire) != i + 2) {
            }
        }
        ns[r] = (bench_now_s() - t0) / (double)trips * 1e9;
        pthread_join(helper, NULL);
    }
    printf("{\"round_trip_ns\": %.1f}\n", bench_median(ns, 5));
    return 0;
}
