#include "bench_util.h"

#include "rng.h"

static uint64_t rng_state = 88172645463325252ull;

float bench_urand(void) {
    xorshift64_next(&rng_state);
    return (float)((rng_state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
