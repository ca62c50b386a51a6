/* Data-parallel training over MPI, run by `meson test` under
 * `mpirun -np 2` (any number of ranks from 2 works): set-up and teardown,
 * broadcast, gradient averaging, sums, parameter lists that differ between
 * ranks and bad arguments on one rank (every rank fails with the same
 * message, nothing hangs), the sampler against torch's DistributedSampler,
 * and the point of it all: P ranks with batch B/P train an LSTM + Linear
 * with Adam and gradient clipping to the parameters one process reaches
 * with batch B. */
#include "support.h"

#include <math.h>
#include <string.h>

#include <mpi.h>

#include <tapegrad/dist.h>
#include "../core/internal.h"

#define FIXTURE "dist.txt"

static int rank, world;

static int setup_world(void **state)
{
    (void)state;
    return tg_dist_setup(NULL);
}

static int teardown_world(void **state)
{
    (void)state;
    return tg_dist_teardown();
}

/* --- set-up, teardown, state errors ------------------------------------------ */

/* Run before MPI_Init. */
static void test_before_mpi_init(void **state)
{
    (void)state;
    assert_true(tg_dist_available());
    assert_int_equal(tg_dist_setup(NULL), -1);
    assert_error_contains("tg_dist_setup: MPI is not initialized: call MPI_Init first, or use tg_dist_init");
    assert_int_equal(tg_dist_rank(), -1);
    assert_error_contains("tg_dist_rank: called before tg_dist_setup or tg_dist_init");
}

/* result is -1 and the message "fn: what". */
static void expect_not_ready(int result, const char *fn, const char *what)
{
    char expected[160];
    snprintf(expected, sizeof expected, "%s: %s", fn, what);
    assert_int_equal(result, -1);
    assert_error_contains(expected);
}

/* Every function that needs a set-up group fails with fn: what. */
static void assert_not_ready(const char *what)
{
    tg_params params = tg_params_new();
    double value = 1;
    expect_not_ready(tg_dist_rank(), "tg_dist_rank", what);
    expect_not_ready(tg_dist_world_size(), "tg_dist_world_size", what);
    expect_not_ready(tg_dist_is_root() ? 0 : -1, "tg_dist_is_root", what);
    expect_not_ready(tg_dist_broadcast_params(&params), "tg_dist_broadcast_params", what);
    expect_not_ready(tg_dist_average_grads(&params), "tg_dist_average_grads", what);
    expect_not_ready(tg_dist_sum(1, &value), "tg_dist_sum", what);
    expect_not_ready(tg_dist_barrier(), "tg_dist_barrier", what);
    expect_not_ready(tg_dist_abort("not reached"), "tg_dist_abort", what);
    expect_not_ready(tg_dist_teardown(), "tg_dist_teardown", what);
    expect_not_ready(tg_dist_finalize(), "tg_dist_finalize", what);
    assert_true(value == 1);
}

static void test_before_setup(void **state)
{
    (void)state;
    assert_not_ready("called before tg_dist_setup or tg_dist_init");
}

static void test_setup_world(void **state)
{
    (void)state;
    assert_int_equal(tg_dist_setup(NULL), 0);
    assert_int_equal(tg_dist_rank(), rank);
    assert_int_equal(tg_dist_world_size(), world);
    assert_true(tg_dist_is_root() == (rank == 0));
    assert_int_equal(tg_dist_setup(NULL), -1);
    assert_error_contains("tg_dist_setup: already set up; call tg_dist_teardown first");
    assert_int_equal(tg_dist_init(NULL, NULL), -1);
    assert_error_contains("tg_dist_init: already set up; call tg_dist_finalize first");
    assert_int_equal(tg_dist_barrier(), 0);
    assert_int_equal(tg_dist_teardown(), 0);
    assert_not_ready("called after tg_dist_teardown or tg_dist_finalize");
}

/* A communicator the caller passes: each rank alone (world size 1). */
static void test_setup_own_communicator(void **state)
{
    (void)state;
    MPI_Comm alone;
    MPI_Comm_split(MPI_COMM_WORLD, rank, 0, &alone);
    assert_int_equal(tg_dist_setup(&alone), 0);
    assert_int_equal(tg_dist_world_size(), 1);
    assert_int_equal(tg_dist_rank(), 0);
    assert_true(tg_dist_is_root());
    double value = rank + 1;
    assert_int_equal(tg_dist_sum(1, &value), 0);
    assert_true(value == rank + 1); /* summed over this rank alone */
    assert_int_equal(tg_dist_teardown(), 0);
    MPI_Comm_free(&alone);

    MPI_Comm null = MPI_COMM_NULL;
    assert_int_equal(tg_dist_setup(&null), -1);
    assert_error_contains("tg_dist_setup: the communicator is MPI_COMM_NULL");

    /* Even and odd ranks as the two sides of an intercommunicator. */
    MPI_Comm side, inter;
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, rank, &side);
    MPI_Intercomm_create(side, 0, MPI_COMM_WORLD, rank % 2 ? 0 : 1, 7, &inter);
    assert_int_equal(tg_dist_setup(&inter), -1);
    assert_error_contains("tg_dist_setup: an intercommunicator cannot be used; pass an intracommunicator");
    MPI_Comm_free(&inter);
    MPI_Comm_free(&side);
}

/* tg_dist_init when the program already initialised MPI: it sets up on
 * MPI_COMM_WORLD, and tg_dist_finalize leaves MPI to the program. */
static void test_init_when_mpi_is_initialized(void **state)
{
    (void)state;
    assert_int_equal(tg_dist_init(NULL, NULL), 0);
    assert_int_equal(tg_dist_world_size(), world);
    assert_int_equal(tg_dist_finalize(), 0);
    int finalized = 1;
    MPI_Finalized(&finalized);
    assert_false(finalized);
    assert_int_equal(tg_dist_rank(), -1);
    assert_error_contains("tg_dist_rank: called after tg_dist_teardown or tg_dist_finalize");
}

/* Run after MPI_Finalize. */
static void test_after_mpi_finalize(void **state)
{
    (void)state;
    assert_int_equal(tg_dist_setup(NULL), -1);
    assert_error_contains("tg_dist_setup: MPI is already finalized");
    assert_int_equal(tg_dist_init(NULL, NULL), -1);
    assert_error_contains("tg_dist_init: MPI is already finalized and cannot start again in this process");
}

/* --- parameter lists ------------------------------------------------------------- */

typedef struct {
    const char *name;
    tg_dtype dtype;
    int64_t size;
    bool requires_grad;
} entry_spec;

typedef struct {
    tg_params params;
    tg_tensor *tensors[8];
    int count;
} plist;

/* Persistent 1-D tensors filled with value + position, listed in order. */
static plist make_list(int n, const entry_spec *specs, double value)
{
    plist l = {.params = tg_params_new(), .count = n};
    for (int i = 0; i < n; i++) {
        l.tensors[i] = tg_arange(specs[i].dtype, value, value + (double)specs[i].size, 1);
        if (specs[i].requires_grad) tg_requires_grad(l.tensors[i], true);
        assert_int_equal(tg_params_add(&l.params, NULL, specs[i].name, l.tensors[i]), 0);
    }
    return l;
}

static void free_list(plist *l)
{
    for (int i = 0; i < l->count; i++) tg_free(l->tensors[i]);
    tg_params_free(&l->params);
}

static const entry_spec base_list[3] = {
    {"a", TG_F32, 3, true},
    {"b", TG_F32, 4, true},
    {"c", TG_F64, 2, true},
};

static void test_broadcast(void **state)
{
    (void)state;
    const entry_spec specs[4] = {base_list[0], base_list[1], base_list[2], {"steps", TG_I64, 2, false}};
    plist l = make_list(4, specs, 10.0 * rank);
    assert_int_equal(tg_dist_broadcast_params(&l.params), 0);
    for (int i = 0; i < 4; i++)
        for (int64_t j = 0; j < specs[i].size; j++) assert_true(tg_get(l.tensors[i], &j) == (double)j);
    free_list(&l);
}

/* Gradient g on rank r is (r + 1) * base, so the mean is base * (P + 1) / 2. */
static void test_average(void **state)
{
    (void)state;
    const entry_spec specs[6] = {
        base_list[0], base_list[1], base_list[2],
        {"frozen", TG_F32, 2, false},   /* has a .grad but no requires_grad: skipped */
        {"on_rank_1", TG_F64, 3, true}, /* a gradient on rank 1 only */
        {"unused", TG_F32, 2, true},    /* no gradient anywhere */
    };
    plist l = make_list(6, specs, 1.0);
    for (int i = 0; i < 4; i++) {
        l.tensors[i]->grad = tg_arange(specs[i].dtype, 1, 1 + (double)specs[i].size, 1);
        tg_mul_scalar_(l.tensors[i]->grad, rank + 1);
    }
    if (rank == 1) l.tensors[4]->grad = tg_full(TG_F64, 1, (int64_t[]){3}, 6.0);
    assert_int_equal(tg_dist_average_grads(&l.params), 0);
    const double mean_factor = (world + 1) / 2.0;
    for (int i = 0; i < 3; i++)
        for (int64_t j = 0; j < specs[i].size; j++)
            assert_near(tg_get(l.tensors[i]->grad, &j), (double)(j + 1) * mean_factor, 1e-6 * (double)(j + 1));
    for (int64_t j = 0; j < 2; j++) assert_true(tg_get(l.tensors[3]->grad, &j) == (double)(j + 1) * (rank + 1));
    assert_non_null(l.tensors[4]->grad);
    for (int64_t j = 0; j < 3; j++) assert_near(tg_get(l.tensors[4]->grad, &j), 6.0 / world, 1e-15);
    assert_null(l.tensors[5]->grad);
    free_list(&l);
}

/* Ranks in different collective calls all fail, naming the calls, where
 * they waited for each other forever; the ranks then go on together. */
static void test_different_collectives(void **state)
{
    (void)state;
    double values[1] = {1};
    int status = rank == 0 ? tg_dist_barrier() : tg_dist_sum(1, values);
    assert_int_equal(status, -1);
    assert_error_contains("the ranks called different collectives: tg_dist_barrier on rank 0 but tg_dist_sum on rank 1");
    assert_int_equal(tg_dist_sum(1, values), 0);
    assert_true(values[0] == world);
    plist l = make_list(3, base_list, 1.0);
    status = rank == 0 ? tg_dist_broadcast_params(&l.params) : tg_dist_average_grads(&l.params);
    assert_int_equal(status, -1);
    assert_error_contains("tg_dist_broadcast_params on rank 0 but tg_dist_average_grads on rank 1");
    assert_int_equal(tg_dist_barrier(), 0);
    free_list(&l);
}

/* Broadcast writes the parameters in place: a backward that saved one
 * before refuses it, as after any in-place write. */
static void test_broadcast_is_an_inplace_write(void **state)
{
    (void)state;
    const entry_spec specs[1] = {base_list[0]};
    plist l = make_list(1, specs, 1.0 + rank);
    tg_tensor *w = l.tensors[0];
    tg_scope *s = tg_scope_begin();
    tg_tensor *loss = tg_sum(tg_mul(w, w), 0, NULL, false);
    assert_int_equal(tg_dist_broadcast_params(&l.params), 0);
    if (rank == 0) {
        assert_int_equal(tg_backward(loss, NULL), 0); /* the root's own values are unchanged */
    } else {
        assert_int_equal(tg_backward(loss, NULL), -1);
        assert_error_contains("modified by an inplace operation");
    }
    tg_scope_end(s);
    free_list(&l);
}

static void test_sum(void **state)
{
    (void)state;
    double values[2] = {rank + 1, 10};
    assert_int_equal(tg_dist_sum(2, values), 0);
    assert_true(values[0] == world * (world + 1) / 2.0);
    assert_true(values[1] == 10.0 * world);
    assert_int_equal(tg_dist_sum(0, NULL), 0);

    assert_int_equal(tg_dist_sum(rank == 1 ? 3 : 2, values), -1);
    assert_error_contains("tg_dist_sum: the ranks passed different counts: n = 2 on rank 0 but 3 on rank 1");
    assert_int_equal(tg_dist_sum(rank == 1 ? -1 : 2, values), -1);
    assert_error_contains("tg_dist_sum: n must be >= 0, got -1 (on rank 1 of");
    assert_int_equal(tg_dist_sum(2, rank == 0 ? NULL : values), -1);
    assert_error_contains("tg_dist_sum: NULL values for n = 2 (on rank 0 of");
    /* The group is still usable. */
    values[0] = 1;
    assert_int_equal(tg_dist_sum(1, values), 0);
    assert_true(values[0] == world);
}

/* Rank 1 lists `other` instead of base_list: broadcast and average both
 * fail on every rank with expected, and nothing is written. */
static void assert_lists_differ(int n_other, const entry_spec *other, const char *expected)
{
    plist l = rank == 1 ? make_list(n_other, other, 100) : make_list(3, base_list, 0);
    for (int i = 0; i < l.count; i++)
        if (l.tensors[i]->requires_grad) l.tensors[i]->grad = tg_full(l.tensors[i]->dtype, 1, l.tensors[i]->shape, 1);
    char message[400];
    assert_int_equal(tg_dist_broadcast_params(&l.params), -1);
    snprintf(message, sizeof message, "tg_dist_broadcast_params: %s", expected);
    assert_error_contains(message);
    assert_int_equal(tg_dist_average_grads(&l.params), -1);
    snprintf(message, sizeof message, "tg_dist_average_grads: %s", expected);
    assert_error_contains(message);
    for (int i = 0; i < l.count; i++) {
        int64_t first = 0;
        assert_true(tg_get(l.tensors[i], &first) == (rank == 1 ? 100 : 0));
        if (l.tensors[i]->grad) assert_true(tg_get(l.tensors[i]->grad, &first) == 1);
    }
    free_list(&l);
}

static void test_lists_differ(void **state)
{
    (void)state;
    const char *differ = "the parameter lists differ between ranks";
    char expected[300];
#define DIFFER(what, ...)                                                           \
    do {                                                                            \
        const entry_spec other[] = {__VA_ARGS__};                                   \
        snprintf(expected, sizeof expected, "%s: %s", differ, what);                \
        assert_lists_differ((int)(sizeof other / sizeof other[0]), other, expected); \
    } while (0)
    entry_spec a = base_list[0], b = base_list[1], c = base_list[2];
    DIFFER("entry 1 is 'b' float32 [4] on rank 0 but 'b2' float32 [4] on rank 1", a, {"b2", TG_F32, 4, true}, c);
    DIFFER("entry 1 is 'b' float32 [4] on rank 0 but 'b' float32 [5] on rank 1", a, {"b", TG_F32, 5, true}, c);
    DIFFER("entry 1 is 'b' float32 [4] on rank 0 but 'b' float64 [4] on rank 1", a, {"b", TG_F64, 4, true}, c);
    DIFFER("entry 1 is 'b' float32 [4] on rank 0 but 'c' float64 [2] on rank 1", a, c, b);
    DIFFER("entry 1 is 'b' float32 [4] on rank 0 but 'b' float32 [4] (requires_grad false) on rank 1", a,
           {"b", TG_F32, 4, false}, c);
    DIFFER("rank 0 has 3 parameters but rank 1 has 4; entry 3 is 'd' float32 [1] on rank 1 only", a, b, c,
           {"d", TG_F32, 1, true});
    DIFFER("rank 0 has 3 parameters but rank 1 has 2; entry 2 is 'c' float64 [2] on rank 0 only", a, b);
#undef DIFFER
    /* Equal lists work again afterwards. */
    plist l = make_list(3, base_list, rank);
    assert_int_equal(tg_dist_broadcast_params(&l.params), 0);
    free_list(&l);
}

/* A rank whose own arguments are bad makes every rank fail with its message. */
static void test_bad_arguments_on_one_rank(void **state)
{
    (void)state;
    plist l = make_list(3, base_list, 0);
    assert_int_equal(tg_dist_average_grads(rank == 1 ? NULL : &l.params), -1);
    assert_error_contains("tg_dist_average_grads: NULL parameter collection (on rank 1 of");

    if (rank == 0) l.tensors[1]->grad = tg_zeros(TG_F32, 1, (int64_t[]){5});
    assert_int_equal(tg_dist_average_grads(&l.params), -1);
    assert_error_contains("tg_dist_average_grads: the gradient of 'b' must be a contiguous float32 [4] like its "
                          "parameter, got float32 [5] (on rank 0 of");
    tg_free(l.tensors[1]->grad);
    l.tensors[1]->grad = NULL;

    /* A gradient of the right shape that is a strided view. */
    tg_tensor *columns = tg_zeros(TG_F32, 2, (int64_t[]){3, 2}), *column = tg_select(columns, 1, 0);
    if (rank == 0) l.tensors[0]->grad = column;
    assert_int_equal(tg_dist_average_grads(&l.params), -1);
    assert_error_contains("tg_dist_average_grads: the gradient of 'a' must be a contiguous float32 [3] like its "
                          "parameter, got float32 [3] (not contiguous) (on rank 0 of");
    l.tensors[0]->grad = NULL;
    tg_free(column);
    tg_free(columns);

    /* A tensor whose scope has ended. */
    tg_scope *scope = tg_scope_begin();
    tg_tensor *dead = tg_zeros(TG_F32, 1, (int64_t[]){3});
    tg_scope_end(scope);
    if (rank == 1) l.params.items[2].tensor = dead;
    assert_int_equal(tg_dist_broadcast_params(&l.params), -1);
    assert_error_contains(
        "tg_dist_broadcast_params: tensor used after its scope ended (or not a tensor) (on rank 1 of");
    l.params.items[2].tensor = l.tensors[2];

    /* A transposed view is not contiguous. */
    tg_tensor *matrix = tg_zeros(TG_F32, 2, (int64_t[]){2, 3}), *transposed = tg_transpose(matrix, 0, 1);
    tg_tensor *saved = l.params.items[0].tensor;
    if (rank == 1) l.params.items[0].tensor = transposed;
    assert_int_equal(tg_dist_broadcast_params(&l.params), -1);
    assert_error_contains("tg_dist_broadcast_params: parameter 'a' is not contiguous (on rank 1 of");
    l.params.items[0].tensor = rank == world - 1 ? NULL : saved;
    assert_int_equal(tg_dist_broadcast_params(&l.params), -1);
    char expected[160];
    snprintf(expected, sizeof expected, "tg_dist_broadcast_params: parameter 'a' is NULL (on rank %d of %d)",
             world - 1, world);
    assert_error_contains(expected);
    l.params.items[0].tensor = saved;
    tg_free(transposed);
    tg_free(matrix);
    assert_int_equal(tg_dist_broadcast_params(&l.params), 0);
    free_list(&l);
}

/* A rank out of memory for a gradient it lacks makes every rank fail,
 * naming it, and no rank's gradients change (the zero ones the others made
 * meanwhile are gone again): the others used to go on with averaged
 * gradients while it alone returned -1. */
static void test_average_out_of_memory_on_one_rank(void **state)
{
    (void)state;
    plist l = make_list(3, base_list, 1.0);
    tg_tensor *a = l.tensors[0], *b = l.tensors[1], *c = l.tensors[2];
    a->grad = tg_full(TG_F32, 1, a->shape, 2.0 * (rank + 1));
    if (rank != 1) c->grad = tg_full(TG_F64, 1, c->shape, 4.0);
    /* A first call sizes the buffers, so the refused allocation is the gradient. */
    assert_int_equal(tg_dist_average_grads(&l.params), 0);
    tg_fill_(a->grad, 2.0 * (rank + 1));
    tg_fill_(c->grad, 4.0);
    if (rank == 1) {
        tg_free(c->grad);
        c->grad = NULL;
        b->grad = tg_full(TG_F32, 1, b->shape, 8.0); /* the other ranks make one for b */
        tg__alloc_fail_at(0);                         /* and rank 1 cannot make c's */
    }
    const int status = tg_dist_average_grads(&l.params);
    const int64_t refused = tg__alloc_refusals();
    tg__alloc_fail_at(-1);
    if (rank == 1) assert_int_equal(refused, 1);
    assert_int_equal(status, -1);
    assert_error_contains("tg_dist_average_grads: out of memory for the gradient of 'c' (on rank 1 of");
    for (int64_t j = 0; j < 3; j++) assert_true(tg_get(a->grad, &j) == 2.0 * (rank + 1));
    if (rank == 1) {
        assert_true(tg_get(b->grad, (int64_t[]){0}) == 8.0);
        assert_null(c->grad);
    } else {
        assert_null(b->grad);
        assert_true(tg_get(c->grad, (int64_t[]){0}) == 4.0);
    }
    /* The group goes on: the same call succeeds once memory is there. */
    assert_int_equal(tg_dist_average_grads(&l.params), 0);
    assert_near(tg_get(a->grad, (int64_t[]){0}), world + 1.0, 1e-6);
    assert_near(tg_get(b->grad, (int64_t[]){3}), 8.0 / world, 1e-6);
    assert_near(tg_get(c->grad, (int64_t[]){1}), 4.0 * (world - 1) / world, 1e-15);
    free_list(&l);
}

/* --- the sampler --------------------------------------------------------------------- */

/* All of this rank's indices for the epoch, batch after batch. */
static int64_t epoch_indices(const tg_dist_sampler *s, int64_t *out)
{
    int64_t n = 0, batch = tg_dist_sampler_batch_size(s);
    for (int64_t k = 0; k < tg_dist_sampler_num_batches(s); k++) {
        int64_t got = tg_dist_sampler_batch(s, k, batch, out + n);
        assert_true(got > 0);
        n += got;
    }
    return n;
}

/* Each rank's indices are positions of the epoch's shuffle (what one
 * process gets) exactly where torch's DistributedSampler puts them. */
static void test_sampler_matches_torch(void **state)
{
    (void)state;
    const int cases[][2] = {{12, 2}, {10, 3}, {7, 4}, {2, 5}, {11, 4}, {5, 5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int n = cases[c][0], ranks = cases[c][1];
        for (int drop = 0; drop < 2; drop++) {
            if (drop && n < ranks) continue;
            for (int epoch = 0; epoch < 2; epoch++) {
                int64_t shuffled[16], mine[16];
                tg_dist_sampler *one = tg_dist_sampler_new(n, 0, 1, n, 42, false);
                assert_int_equal(tg_dist_sampler_set_epoch(one, epoch), 0);
                assert_int_equal(epoch_indices(one, shuffled), n);
                tg_dist_sampler_free(one);
                for (int r = 0; r < ranks; r++) {
                    tg_dist_sampler *s = tg_dist_sampler_new(n, r, ranks, 2 * ranks, 42, drop);
                    assert_non_null(s);
                    assert_int_equal(tg_dist_sampler_set_epoch(s, epoch), 0);
                    char name[64];
                    snprintf(name, sizeof name, "dist.n%d_p%d_%s.r%d", n, ranks, drop ? "drop" : "keep", r);
                    tg_scope *scope = tg_scope_begin();
                    tg_tensor *positions = golden(FIXTURE, name, TG_I64);
                    const int64_t count = tg_numel(positions), *p = tg_data(positions);
                    assert_int_equal(tg_dist_sampler_num_samples(s), count);
                    assert_int_equal(epoch_indices(s, mine), count);
                    for (int64_t j = 0; j < count; j++) assert_int_equal(mine[j], shuffled[p[j]]);
                    tg_scope_end(scope);
                    tg_dist_sampler_free(s);
                }
            }
        }
    }
}

/* A new epoch is a new shuffle (of the same indices); the same epoch again
 * is the same shuffle. */
static void test_sampler_epochs(void **state)
{
    (void)state;
    int64_t first[100], second[100], again[100];
    tg_dist_sampler *s = tg_dist_sampler_new(100, 0, 1, 10, 7, false);
    epoch_indices(s, first);
    assert_int_equal(tg_dist_sampler_set_epoch(s, 1), 0);
    epoch_indices(s, second);
    assert_int_equal(tg_dist_sampler_set_epoch(s, 0), 0);
    epoch_indices(s, again);
    assert_memory_equal(first, again, sizeof first);
    assert_memory_not_equal(first, second, sizeof first);
    int seen[100] = {0};
    for (int i = 0; i < 100; i++) seen[second[i]]++;
    for (int i = 0; i < 100; i++) assert_int_equal(seen[i], 1);
    /* Batches: 10 of 10. */
    assert_int_equal(tg_dist_sampler_num_batches(s), 10);
    tg_dist_sampler_free(s);
}

/* Across the running ranks: batch k of every rank together is batch k of
 * one process, and no index appears twice in an epoch. */
static void test_sampler_ranks_share_batches(void **state)
{
    (void)state;
    enum { N = 60, LOCAL = 3 };
    const int global = LOCAL * world;
    tg_dist_sampler *one = tg_dist_sampler_new(N * world, 0, 1, global, 5, false);
    tg_dist_sampler *mine = tg_dist_sampler_new(N * world, rank, world, global, 5, false);
    assert_int_equal(tg_dist_sampler_set_epoch(one, 3), 0);
    assert_int_equal(tg_dist_sampler_set_epoch(mine, 3), 0);
    assert_int_equal(tg_dist_sampler_num_batches(one), tg_dist_sampler_num_batches(mine));
    int64_t local[LOCAL], all[64], expected[64];
    for (int64_t k = 0; k < tg_dist_sampler_num_batches(mine); k++) {
        assert_int_equal(tg_dist_sampler_batch(mine, k, LOCAL, local), LOCAL);
        MPI_Allgather(local, LOCAL, MPI_INT64_T, all, LOCAL, MPI_INT64_T, MPI_COMM_WORLD);
        assert_int_equal(tg_dist_sampler_batch(one, k, 64, expected), global);
        /* Compare as sets: sort both. */
        for (int i = 1; i < global; i++)
            for (int j = i; j > 0 && all[j - 1] > all[j]; j--) {
                int64_t t = all[j];
                all[j] = all[j - 1];
                all[j - 1] = t;
            }
        for (int i = 1; i < global; i++)
            for (int j = i; j > 0 && expected[j - 1] > expected[j]; j--) {
                int64_t t = expected[j];
                expected[j] = expected[j - 1];
                expected[j - 1] = t;
            }
        assert_memory_equal(all, expected, sizeof all[0] * (size_t)global);
        for (int i = 1; i < global; i++) assert_true(all[i - 1] < all[i]);
    }
    tg_dist_sampler_free(one);
    tg_dist_sampler_free(mine);
}

static void test_sampler_bad_input(void **state)
{
    (void)state;
    assert_null(tg_dist_sampler_new(10, 0, 4, 2, 0, false));
    assert_error_contains("tg_dist_sampler_new: the world size 4 is larger than the global batch 2: some rank would "
                          "get no sample of a batch; use a global batch of at least 4");
    assert_null(tg_dist_sampler_new(10, 0, 4, 10, 0, false));
    assert_error_contains("tg_dist_sampler_new: the global batch 10 is not divisible by the world size 4: the ranks' "
                          "shares would differ and the averaged gradient would not be the batch mean; use 8 or 12");
    assert_null(tg_dist_sampler_new(3, 0, 4, 8, 0, true));
    assert_error_contains("tg_dist_sampler_new: drop_last with 3 samples for 4 ranks leaves no sample for any rank");
    assert_null(tg_dist_sampler_new(0, 0, 1, 1, 0, false));
    assert_error_contains("tg_dist_sampler_new: dataset_size must be >= 1, got 0");
    assert_null(tg_dist_sampler_new(10, 2, 2, 2, 0, false));
    assert_error_contains("tg_dist_sampler_new: rank 2 is not in 0..world_size-1 (world_size 2)");
    assert_null(tg_dist_sampler_new(10, 0, 0, 2, 0, false));
    assert_error_contains("tg_dist_sampler_new: rank 0 is not in 0..world_size-1 (world_size 0)");
    assert_null(tg_dist_sampler_new(10, 0, 1, 0, 0, false));
    assert_error_contains("tg_dist_sampler_new: global_batch must be >= 1, got 0");

    /* 10 samples, 2 ranks, global batch 4: 5 each, batches of 2, 2, 1. */
    tg_dist_sampler *s = tg_dist_sampler_new(10, 1, 2, 4, 0, false);
    int64_t out[2];
    assert_int_equal(tg_dist_sampler_num_batches(s), 3);
    assert_int_equal(tg_dist_sampler_batch(s, 2, 2, out), 1);
    assert_int_equal(tg_dist_sampler_batch(s, 3, 2, out), -1);
    assert_error_contains("tg_dist_sampler_batch: batch 3 is out of range for 3 batches");
    assert_int_equal(tg_dist_sampler_batch(s, 0, 1, out), -1);
    assert_error_contains("tg_dist_sampler_batch: batch 0 holds 2 indices, more than max_out 1");
    assert_int_equal(tg_dist_sampler_set_epoch(s, -1), -1);
    assert_error_contains("tg_dist_sampler_set_epoch: epoch must be >= 0, got -1");
    tg_dist_sampler_free(s);
    assert_int_equal(tg_dist_sampler_num_batches(NULL), -1);
    assert_error_contains("tg_dist_sampler_num_batches: NULL sampler");
    assert_int_equal(tg_dist_sampler_num_samples(NULL), -1);
    assert_error_contains("tg_dist_sampler_num_samples: NULL sampler");
    assert_int_equal(tg_dist_sampler_batch_size(NULL), -1);
    assert_error_contains("tg_dist_sampler_batch_size: NULL sampler");
    assert_int_equal(tg_dist_sampler_set_epoch(NULL, 0), -1);
    assert_error_contains("tg_dist_sampler_set_epoch: NULL sampler");
    assert_int_equal(tg_dist_sampler_batch(NULL, 0, 2, out), -1);
    assert_error_contains("tg_dist_sampler_batch: NULL sampler or output");
    tg_dist_sampler_free(NULL);
}

/* --- equivalence with one process -------------------------------------------------------- */

enum { N_SAMPLES = 48, GLOBAL_BATCH = 12, STEPS = 20, SEQ = 6, IN = 5, HIDDEN = 8, OUT = 3 };
#define MAX_NORM 0.05
#define INIT_SEED 11

typedef struct {
    tg_lstm *lstm;
    tg_linear_layer *head;
    tg_params params;
    tg_optim *opt;
} net;

/* LSTM(5, 8) + Linear(8, 3) initialised from seed, with Adam (lr 0.01). */
static void net_init(net *m, tg_dtype dtype, uint64_t seed)
{
    tg_manual_seed(seed);
    m->lstm = tg_lstm_new(&(tg_lstm_config){.input_size = IN, .hidden_size = HIDDEN, .batch_first = true,
                                            .dtype = dtype});
    m->head = tg_linear_layer_new(HIDDEN, OUT, true, dtype);
    m->params = tg_params_new();
    assert_int_equal(tg_rnn_params(m->lstm, &m->params, "lstm"), 0);
    assert_int_equal(tg_linear_layer_params(m->head, &m->params, "head"), 0);
    tg_adam_config adam = tg_adam_defaults();
    adam.lr = 0.01;
    m->opt = tg_adam(&m->params, 1, &adam);
    assert_non_null(m->opt);
}

static void net_free(net *m)
{
    tg_optim_free(m->opt);
    tg_params_free(&m->params);
    tg_rnn_free(m->lstm);
    tg_linear_layer_free(m->head);
}

/* One optimizer step on samples idx[0..n) of x (N, SEQ, IN) and y (N, OUT):
 * mean squared error of head(h_n), backward, (average over the ranks),
 * clip to MAX_NORM, Adam. Returns the gradient norm clipping saw. */
static double net_step(net *m, tg_tensor *x, tg_tensor *y, int64_t n, const int64_t *idx, bool distributed)
{
    tg_scope *scope = tg_scope_begin();
    tg_tensor *index = tg_from_array(TG_I64, 1, &n, idx);
    tg_rnn_output r;
    assert_int_equal(tg_lstm_forward(m->lstm, tg_index_select(x, 0, index), NULL, NULL, NULL, &r), 0);
    tg_tensor *prediction = tg_linear_layer_forward(m->head, tg_select(r.h_n, 0, 0));
    tg_tensor *loss = tg_mse_loss(prediction, tg_index_select(y, 0, index), TG_REDUCTION_MEAN);
    tg_optim_zero_grad(m->opt);
    assert_int_equal(tg_backward(loss, NULL), 0);
    if (distributed) assert_int_equal(tg_dist_average_grads(&m->params), 0);
    double total = 0;
    assert_int_equal(tg_clip_grad_norm(&m->params, MAX_NORM, 2.0, &total), 0);
    assert_int_equal(tg_optim_step(m->opt), 0);
    tg_scope_end(scope);
    return total;
}

/* Element i of a contiguous float tensor. */
static double value_at(const tg_tensor *t, int64_t i)
{
    return t->dtype == TG_F32 ? ((const float *)tg_data(t))[i] : ((const double *)tg_data(t))[i];
}

/* max |a - e| / max |e| over the elements of two tensors of one shape. */
static double relative_difference(const tg_tensor *actual, const tg_tensor *expected)
{
    double diff = 0, scale = 0;
    const int64_t n = tg_numel(expected);
    for (int64_t i = 0; i < n; i++) {
        const double a = value_at(actual, i), e = value_at(expected, i);
        diff = fmax(diff, fabs(a - e));
        scale = fmax(scale, fabs(e));
    }
    return diff / scale;
}

static void assert_equivalent(tg_dtype dtype, double rtol)
{
    tg_manual_seed(3);
    tg_tensor *x = tg_rand(dtype, 3, (int64_t[]){N_SAMPLES, SEQ, IN}, -1, 1);
    tg_tensor *y = tg_rand(dtype, 2, (int64_t[]){N_SAMPLES, OUT}, -1, 1);
    net one, replica;
    net_init(&one, dtype, INIT_SEED);
    /* Replicas start different on purpose: the broadcast must align them. */
    net_init(&replica, dtype, INIT_SEED + (uint64_t)rank);
    assert_int_equal(tg_dist_broadcast_params(&replica.params), 0);
    for (int i = 0; i < one.params.count; i++)
        assert_true(relative_difference(replica.params.items[i].tensor, one.params.items[i].tensor) == 0);

    tg_dist_sampler *whole = tg_dist_sampler_new(N_SAMPLES, 0, 1, GLOBAL_BATCH, 99, false);
    tg_dist_sampler *share = tg_dist_sampler_new(N_SAMPLES, rank, world, GLOBAL_BATCH, 99, false);
    assert_non_null(share);
    int step = 0, clipped = 0;
    double worst_norm = 0;
    for (int64_t epoch = 0; step < STEPS; epoch++) {
        tg_dist_sampler_set_epoch(whole, epoch);
        tg_dist_sampler_set_epoch(share, epoch);
        for (int64_t k = 0; k < tg_dist_sampler_num_batches(whole) && step < STEPS; k++, step++) {
            int64_t all[GLOBAL_BATCH], mine[GLOBAL_BATCH];
            const int64_t n_all = tg_dist_sampler_batch(whole, k, GLOBAL_BATCH, all);
            const int64_t n_mine = tg_dist_sampler_batch(share, k, GLOBAL_BATCH, mine);
            assert_int_equal(n_all, GLOBAL_BATCH);
            assert_int_equal(n_mine, GLOBAL_BATCH / world);
            const double norm_one = net_step(&one, x, y, n_all, all, false);
            const double norm_replica = net_step(&replica, x, y, n_mine, mine, true);
            worst_norm = fmax(worst_norm, fabs(norm_replica - norm_one) / norm_one);
            clipped += norm_one > MAX_NORM;
        }
    }
    /* Clipping was at work (on the global norm, which both sides saw). */
    assert_true(clipped >= STEPS / 2);
    assert_true(worst_norm <= rtol);
    double worst = 0;
    for (int i = 0; i < one.params.count; i++) {
        const tg_tensor *mine = replica.params.items[i].tensor, *expected = one.params.items[i].tensor;
        const double d = relative_difference(mine, expected);
        if (d > rtol) print_error("%s: relative difference %.3g\n", one.params.items[i].name, d);
        worst = fmax(worst, d);
        /* Every replica holds the same bits. */
        const size_t bytes = (size_t)tg_numel(mine) * tg_dtype_size(mine->dtype);
        char root[4096];
        assert_true(bytes <= sizeof root);
        memcpy(root, tg_data(mine), bytes);
        MPI_Bcast(root, (int)bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
        assert_memory_equal(root, tg_data(mine), bytes);
    }
    if (rank == 0)
        printf("%s, %d ranks: largest relative parameter difference after %d steps %.3g (gradient norm %.3g), "
               "%d of %d steps clipped\n",
               tg_dtype_name(dtype), world, STEPS, worst, worst_norm, clipped, STEPS);
    assert_true(worst <= rtol);
    tg_dist_sampler_free(whole);
    tg_dist_sampler_free(share);
    net_free(&one);
    net_free(&replica);
    tg_free(x);
    tg_free(y);
}

static void test_equivalent_f32(void **state)
{
    (void)state;
    assert_equivalent(TG_F32, 1e-5);
}

static void test_equivalent_f64(void **state)
{
    (void)state;
    assert_equivalent(TG_F64, 1e-12);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest before[] = {cmocka_unit_test(test_before_mpi_init)};
    int failed = cmocka_run_group_tests_name("dist before MPI_Init", before, NULL, NULL);

    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (world < 2) {
        if (rank == 0) printf("SKIP: test_dist needs at least 2 ranks (mpirun -np 2)\n");
        MPI_Finalize();
        return 77;
    }
    const struct CMUnitTest life[] = {
        cmocka_unit_test(test_before_setup),
        cmocka_unit_test(test_setup_world),
        cmocka_unit_test(test_setup_own_communicator),
        cmocka_unit_test(test_init_when_mpi_is_initialized),
        cmocka_unit_test(test_sampler_matches_torch),
        cmocka_unit_test(test_sampler_epochs),
        cmocka_unit_test(test_sampler_bad_input),
    };
    failed += cmocka_run_group_tests_name("dist set-up and sampler", life, NULL, NULL);
    const struct CMUnitTest collectives[] = {
        cmocka_unit_test(test_broadcast),
        cmocka_unit_test(test_average),
        cmocka_unit_test(test_sum),
        cmocka_unit_test(test_different_collectives),
        cmocka_unit_test(test_broadcast_is_an_inplace_write),
        cmocka_unit_test(test_lists_differ),
        cmocka_unit_test(test_bad_arguments_on_one_rank),
        cmocka_unit_test(test_average_out_of_memory_on_one_rank),
        cmocka_unit_test(test_sampler_ranks_share_batches),
        cmocka_unit_test(test_equivalent_f32),
        cmocka_unit_test(test_equivalent_f64),
    };
    failed += cmocka_run_group_tests_name("dist collectives", collectives, setup_world, teardown_world);
    MPI_Finalize();

    const struct CMUnitTest after[] = {cmocka_unit_test(test_after_mpi_finalize)};
    failed += cmocka_run_group_tests_name("dist after MPI_Finalize", after, NULL, NULL);
    return failed;
}
