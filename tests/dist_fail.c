/* A rank that fails in the middle of a run, for dist_fail.sh: rank 1 hits
 * an error at step 3 while rank 0 is already waiting in the next collective.
 * The mode says what rank 1 does then:
 *     abort     tg_dist_abort(tg_last_error())
 *     handler   nothing: an error handler installed at the start aborts
 *     exit      prints the message and returns 1 from main (no MPI_Finalize)
 * The job must end with a message in every case, never wait forever; rank 0
 * prints "finished" only if it got through, which it must not. */
#include <stdio.h>
#include <string.h>

#include <tapegrad/tapegrad.h>

static void abort_job(const char *message, void *user)
{
    (void)user;
    tg_dist_abort(message);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "abort") != 0 && strcmp(mode, "handler") != 0 && strcmp(mode, "exit") != 0) {
        fprintf(stderr, "usage: dist_fail abort|handler|exit\n");
        return 2;
    }
    if (tg_dist_init(&argc, &argv) < 0) {
        fprintf(stderr, "dist_fail: %s\n", tg_last_error());
        return 1;
    }
    if (strcmp(mode, "handler") == 0) tg_set_error_handler(abort_job, NULL);
    const int rank = tg_dist_rank();
    for (int step = 0; step < 10; step++) {
        double loss = step;
        if (rank == 1 && step == 3) {
            /* A shape bug that only this rank's data triggers. */
            tg_tensor *a = tg_zeros(TG_F32, 2, (int64_t[]){3, 4}), *b = tg_zeros(TG_F32, 2, (int64_t[]){5, 6});
            tg_tensor *product = tg_matmul(a, b);
            tg_free(a);
            tg_free(b);
            if (!product) {
                if (strcmp(mode, "exit") == 0) {
                    fprintf(stderr, "dist_fail: rank 1: %s\n", tg_last_error());
                    return 1;
                }
                tg_dist_abort(tg_last_error());
            }
        }
        if (tg_dist_sum(1, &loss) < 0) return 1;
    }
    if (rank == 0) printf("finished\n");
    tg_dist_finalize();
    return 0;
}
