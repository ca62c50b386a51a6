/* A build without MPI (-Dmpi=disabled): every tg_dist_* collective fails
 * with a message saying so, and the sampler, plain arithmetic, still works. */
#include "support.h"

#include <tapegrad/dist.h>

#define WITHOUT ": tapegrad was built without MPI (install libopenmpi-dev and reconfigure with -Dmpi=enabled)"

static void expect_without_mpi(int result, const char *fn)
{
    char expected[200];
    snprintf(expected, sizeof expected, "%s%s", fn, WITHOUT);
    assert_int_equal(result, -1);
    assert_error_contains(expected);
}

static void test_every_function_says_so(void **state)
{
    (void)state;
    tg_params params = tg_params_new();
    double value = 1;
    int argc = 0;
    assert_false(tg_dist_available());
    expect_without_mpi(tg_dist_init(&argc, NULL), "tg_dist_init");
    expect_without_mpi(tg_dist_setup(NULL), "tg_dist_setup");
    expect_without_mpi(tg_dist_rank(), "tg_dist_rank");
    expect_without_mpi(tg_dist_world_size(), "tg_dist_world_size");
    expect_without_mpi(tg_dist_is_root() ? 0 : -1, "tg_dist_is_root");
    expect_without_mpi(tg_dist_broadcast_params(&params), "tg_dist_broadcast_params");
    expect_without_mpi(tg_dist_average_grads(&params), "tg_dist_average_grads");
    expect_without_mpi(tg_dist_sum(1, &value), "tg_dist_sum");
    expect_without_mpi(tg_dist_barrier(), "tg_dist_barrier");
    expect_without_mpi(tg_dist_abort("not reached"), "tg_dist_abort");
    expect_without_mpi(tg_dist_teardown(), "tg_dist_teardown");
    expect_without_mpi(tg_dist_finalize(), "tg_dist_finalize");
    assert_true(value == 1);
}

/* A single process takes the sampler as rank 0 of world size 1: every
 * index once per epoch, in batches of the global batch. */
static void test_sampler_works(void **state)
{
    (void)state;
    tg_dist_sampler *s = tg_dist_sampler_new(10, 0, 1, 4, 3, false);
    assert_non_null(s);
    assert_int_equal(tg_dist_sampler_num_batches(s), 3);
    int64_t out[4];
    int seen[10] = {0};
    for (int64_t k = 0; k < 3; k++) {
        const int64_t n = tg_dist_sampler_batch(s, k, 4, out);
        assert_int_equal(n, k < 2 ? 4 : 2);
        for (int64_t j = 0; j < n; j++) seen[out[j]]++;
    }
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    tg_dist_sampler_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_function_says_so),
        cmocka_unit_test(test_sampler_works),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
