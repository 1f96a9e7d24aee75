/* A small, fast, seedable random number generator (xoshiro256**, seeded
 * through splitmix64) with uniform and normal deviates. The stream depends
 * only on the seed, never on the platform or the thread count. */
#ifndef KH_RNG_H
#define KH_RNG_H

#include <stdint.h>

typedef struct kh_rng {
    uint64_t s[4];
} kh_rng;

/* Seeds the generator; `stream` selects an independent stream for one seed. */
void kh_rng_seed(kh_rng *r, uint64_t seed, uint64_t stream);
uint64_t kh_rng_next(kh_rng *r);
/* Uniform in [0, 1), 53 random bits. */
double kh_rng_uniform(kh_rng *r);
/* Standard normal (Marsaglia's polar method, one value per call). */
double kh_rng_normal(kh_rng *r);

#endif
