/* Random numbers: one seeded generator per thread (xoshiro256**, seeded by
 * splitmix64), so the same seed gives the same numbers on every machine.
 * Normals use Box-Muller. The generator starts seeded with 0 until
 * tg_manual_seed is called. */
#ifndef TG_RANDOM_H
#define TG_RANDOM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Reseed this thread's generator. */
void tg_manual_seed(uint64_t seed);
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
