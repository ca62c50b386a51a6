#include <tapegrad/threads.h>
#include <tapegrad/error.h>
#ifdef _OPENMP
#include <omp.h>
#endif

int tg_set_num_threads(int n)
{
    if (n < 1) return tg_fail("tg_set_num_threads: n must be >= 1, got %d", n);
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
    return 0;
}

int tg_get_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
