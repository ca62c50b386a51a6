/* tapegrad built without MPI: the collectives of dist.h say so instead of
 * doing anything (the sampler, in dist_sampler.c, works in every build). */
#include <tapegrad/dist.h>

#define WITHOUT_MPI "%s: tapegrad was built without MPI (install libopenmpi-dev and reconfigure with -Dmpi=enabled)"

bool tg_dist_available(void) { return false; }

int tg_dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return tg_fail(WITHOUT_MPI, "tg_dist_init");
}

int tg_dist_finalize(void) { return tg_fail(WITHOUT_MPI, "tg_dist_finalize"); }

int tg_dist_setup(const void *mpi_comm)
{
    (void)mpi_comm;
    return tg_fail(WITHOUT_MPI, "tg_dist_setup");
}

int tg_dist_teardown(void) { return tg_fail(WITHOUT_MPI, "tg_dist_teardown"); }
int tg_dist_rank(void) { return tg_fail(WITHOUT_MPI, "tg_dist_rank"); }
int tg_dist_world_size(void) { return tg_fail(WITHOUT_MPI, "tg_dist_world_size"); }

bool tg_dist_is_root(void)
{
    tg_fail(WITHOUT_MPI, "tg_dist_is_root");
    return false;
}

int tg_dist_broadcast_params(const tg_params *params)
{
    (void)params;
    return tg_fail(WITHOUT_MPI, "tg_dist_broadcast_params");
}

int tg_dist_average_grads(const tg_params *params)
{
    (void)params;
    return tg_fail(WITHOUT_MPI, "tg_dist_average_grads");
}

int tg_dist_sum(int n, double *values)
{
    (void)n;
    (void)values;
    return tg_fail(WITHOUT_MPI, "tg_dist_sum");
}

int tg_dist_barrier(void) { return tg_fail(WITHOUT_MPI, "tg_dist_barrier"); }

int tg_dist_abort(const char *message)
{
    (void)message;
    return tg_fail(WITHOUT_MPI, "tg_dist_abort");
}
