#include <tapegrad/random.h>
#include <math.h>

#include <tapegrad/error.h>

/* Every thread's generator starts as tg_manual_seed(0) leaves it: these
 * are splitmix64's first four outputs from 0. */
static _Thread_local uint64_t state[4] = {
    0xE220A8397B1DCDAFull, 0x6E789E6AA1B965F4ull, 0x06C45D188009454Full, 0xF88BB8A8724C81ECull};
static _Thread_local double spare_normal;
static _Thread_local int has_spare;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(void)
{
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

void tg_manual_seed(uint64_t seed)
{
    for (int i = 0; i < 4; i++) state[i] = splitmix64(&seed);
    has_spare = 0;
}

tg_rng_state tg_get_rng_state(void)
{
    return (tg_rng_state){{state[0], state[1], state[2], state[3]}, spare_normal, has_spare != 0};
}

int tg_set_rng_state(const tg_rng_state *s)
{
    if (!s) return tg_fail("tg_set_rng_state: NULL state");
    if (!(s->words[0] | s->words[1] | s->words[2] | s->words[3]))
        return tg_fail("tg_set_rng_state: all four state words are zero (xoshiro256** would only give zeros)");
    for (int i = 0; i < 4; i++) state[i] = s->words[i];
    spare_normal = s->spare_normal;
    has_spare = s->has_spare_normal;
    return 0;
}

double tg_rand_uniform(void) { return (double)(next_u64() >> 11) * 0x1.0p-53; }

double tg_rand_normal(void)
{
    if (has_spare) {
        has_spare = 0;
        return spare_normal;
    }
    /* 1 - u keeps the log argument in (0, 1]. */
    double radius = sqrt(-2.0 * log(1.0 - tg_rand_uniform()));
    double angle = 2.0 * 3.14159265358979323846 * tg_rand_uniform();
    spare_normal = radius * sin(angle);
    has_spare = 1;
    return radius * cos(angle);
}

uint64_t tg_rand_below(uint64_t n)
{
    if (n == 0) {
        tg_error("tg_rand_below: n must be > 0, got 0");
        return 0;
    }
    /* Rejection keeps the result unbiased for any n. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next_u64(); while (x >= limit);
    return x % n;
}
