/* The distributed sampler: each rank's share of one seeded shuffle (see
 * dist.h for the layout). Plain arithmetic, built with or without MPI. */
#include <stdlib.h>

#include <tapegrad/dist.h>
#include "../core/internal.h"

struct tg_dist_sampler {
    int64_t dataset_size; /* N */
    int rank, world_size; /* r, P */
    int64_t batch;        /* b = global_batch / P */
    int64_t num_samples;  /* per rank per epoch */
    uint64_t seed;
    int64_t *order;       /* [N] the epoch's shuffle of 0..N-1 */
};

/* splitmix64: a full-period generator whose output is well mixed even for
 * neighbouring seeds (seed + epoch). */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0, without modulo bias. */
static uint64_t below(uint64_t *state, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = next_u64(state); while (x >= limit);
    return x % n;
}

/* Fisher-Yates over 0..N-1 from a generator seeded by seed + epoch. */
static void shuffle(tg_dist_sampler *s, int64_t epoch)
{
    uint64_t state = s->seed + (uint64_t)epoch;
    for (int64_t i = 0; i < s->dataset_size; i++) s->order[i] = i;
    for (int64_t i = s->dataset_size - 1; i > 0; i--) {
        int64_t j = (int64_t)below(&state, (uint64_t)i + 1), kept = s->order[i];
        s->order[i] = s->order[j];
        s->order[j] = kept;
    }
}

tg_dist_sampler *tg_dist_sampler_new(int64_t dataset_size, int rank, int world_size, int64_t global_batch,
                                     uint64_t seed, bool drop_last)
{
    const char *fn = "tg_dist_sampler_new";
    if (dataset_size < 1) return tg_error("%s: dataset_size must be >= 1, got %lld", fn, (long long)dataset_size);
    if (world_size < 1 || rank < 0 || rank >= world_size)
        return tg_error("%s: rank %d is not in 0..world_size-1 (world_size %d)", fn, rank, world_size);
    if (global_batch < 1) return tg_error("%s: global_batch must be >= 1, got %lld", fn, (long long)global_batch);
    if (world_size > global_batch)
        return tg_error("%s: the world size %d is larger than the global batch %lld: some rank would get no sample "
                        "of a batch; use a global batch of at least %d",
                        fn, world_size, (long long)global_batch, world_size);
    if (global_batch % world_size != 0)
        return tg_error("%s: the global batch %lld is not divisible by the world size %d: the ranks' shares would "
                        "differ and the averaged gradient would not be the batch mean; use %lld or %lld",
                        fn, (long long)global_batch, world_size, (long long)(global_batch / world_size * world_size),
                        (long long)((global_batch / world_size + 1) * world_size));
    if (drop_last && dataset_size < world_size)
        return tg_error("%s: drop_last with %lld samples for %d ranks leaves no sample for any rank", fn,
                        (long long)dataset_size, world_size);
    tg_dist_sampler *s = tg__malloc(sizeof *s);
    int64_t *order = tg__malloc(sizeof *order * (size_t)dataset_size);
    if (!s || !order) {
        tg_error("%s: out of memory for %lld indices", fn, (long long)dataset_size);
        free(s);
        free(order);
        return NULL;
    }
    *s = (tg_dist_sampler){
        .dataset_size = dataset_size,
        .rank = rank,
        .world_size = world_size,
        .batch = global_batch / world_size,
        /* PyTorch: ceil((N - P) / P) with drop_last (N not divisible by P),
         * which is floor(N / P); ceil(N / P) without. */
        .num_samples = drop_last ? dataset_size / world_size : (dataset_size + world_size - 1) / world_size,
        .seed = seed,
        .order = order,
    };
    shuffle(s, 0);
    return s;
}

int tg_dist_sampler_set_epoch(tg_dist_sampler *s, int64_t epoch)
{
    if (!s) return tg_fail("tg_dist_sampler_set_epoch: NULL sampler");
    if (epoch < 0) return tg_fail("tg_dist_sampler_set_epoch: epoch must be >= 0, got %lld", (long long)epoch);
    shuffle(s, epoch);
    return 0;
}

int64_t tg_dist_sampler_num_samples(const tg_dist_sampler *s)
{
    if (!s) return tg_fail("tg_dist_sampler_num_samples: NULL sampler");
    return s->num_samples;
}

int64_t tg_dist_sampler_batch_size(const tg_dist_sampler *s)
{
    if (!s) return tg_fail("tg_dist_sampler_batch_size: NULL sampler");
    return s->batch;
}

int64_t tg_dist_sampler_num_batches(const tg_dist_sampler *s)
{
    if (!s) return tg_fail("tg_dist_sampler_num_batches: NULL sampler");
    return (s->num_samples + s->batch - 1) / s->batch;
}

int64_t tg_dist_sampler_batch(const tg_dist_sampler *s, int64_t k, int64_t max_out, int64_t *out)
{
    const char *fn = "tg_dist_sampler_batch";
    if (!s || !out) return tg_fail("%s: NULL sampler or output", fn);
    const int64_t batches = tg_dist_sampler_num_batches(s);
    if (k < 0 || k >= batches)
        return tg_fail("%s: batch %lld is out of range for %lld batches", fn, (long long)k, (long long)batches);
    const int64_t first = k * s->batch;
    const int64_t count = s->num_samples - first < s->batch ? s->num_samples - first : s->batch;
    if (max_out < count)
        return tg_fail("%s: batch %lld holds %lld indices, more than max_out %lld", fn, (long long)k,
                       (long long)count, (long long)max_out);
    /* Position j of this rank is position rank + j * P of the padded list,
     * whose entries past N repeat its start. */
    for (int64_t j = 0; j < count; j++) {
        const int64_t position = s->rank + (first + j) * s->world_size;
        out[j] = s->order[position % s->dataset_size];
    }
    return count;
}

void tg_dist_sampler_free(tg_dist_sampler *s)
{
    if (!s) return;
    free(s->order);
    free(s);
}
