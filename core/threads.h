/* Threads. OpenMP parallelises GEMM over M/N blocks and large elementwise
 * loops; results are bit-identical for any thread count because no
 * reduction is split in a way that depends on it. A busy machine makes the
 * library use fewer threads, never a different result. */
#ifndef TG_THREADS_H
#define TG_THREADS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Use n threads (1 <= n <= 1024) for later parallel work; OMP_NUM_THREADS
 * sets the starting value. Returns 0, or -1 (with a message) outside that
 * range. Without OpenMP the library is single-threaded and n > 1 is
 * accepted but ignored. When another process holds the cores, parallel
 * regions run on the calling thread alone for a while instead of waiting
 * for helpers the scheduler is not running (results are identical either
 * way). The count is the calling thread's, as OpenMP keeps it: the
 * threads of its own parallel regions inherit it, but a thread started
 * with pthread_create (or thrd_create) begins at OMP_NUM_THREADS or the
 * number of cores, whatever another thread set. */
int tg_set_num_threads(int n);

/* The number of threads parallel work will use. */
int tg_get_num_threads(void);

#ifdef __cplusplus
}
#endif

#endif
