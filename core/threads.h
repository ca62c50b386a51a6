/* Threads. OpenMP parallelises GEMM over M/N blocks and large elementwise
 * loops; results are bit-identical for any thread count because no
 * reduction is split in a way that depends on it. */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Use n threads (n >= 1) for later parallel work; OMP_NUM_THREADS sets the
 * starting value. Returns 0, or -1 (with a message) for n < 1. Without
 * OpenMP the library is single-threaded and n > 1 is accepted but ignored. */
int tg_set_num_threads(int n);

/* The number of threads parallel work will use. */
int tg_get_num_threads(void);

#ifdef __cplusplus
}
#endif

#endif
