/* Random numbers: one seeded generator per thread (xoshiro256**, seeded by
 * splitmix64), so the same seed gives the same numbers on every machine.
 * Normals use Box-Muller. The generator starts seeded with 0 until
 * tg_manual_seed is called. */
#ifndef TG_RANDOM_H
#define TG_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reseed this thread's generator. */
void tg_manual_seed(uint64_t seed);
/* The whole state of a thread's generator, for checkpoints: the four
 * xoshiro256** words and the second normal of the last Box-Muller pair,
 * pending when has_spare_normal is set. */
typedef struct {
    uint64_t words[4];
    double spare_normal;
    bool has_spare_normal;
} tg_rng_state;

/* This thread's generator state (torch.get_rng_state). */
tg_rng_state tg_get_rng_state(void);
/* Make state this thread's generator state (torch.set_rng_state): the same
 * numbers follow as after the get, bit for bit. Fails (-1) on NULL or all
 * four words zero, the state xoshiro256** never leaves. */
int tg_set_rng_state(const tg_rng_state *state);

/* Next uniform double in [0, 1). */
double tg_rand_uniform(void);
/* Next standard normal double. */
double tg_rand_normal(void);
/* Next uniform integer in [0, n), n > 0 (0 with a message for n == 0). */
uint64_t tg_rand_below(uint64_t n);

#ifdef __cplusplus
}
#endif

#endif
