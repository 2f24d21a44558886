#include "rng.h"

#define SPLITMIX64_INCREMENT 0x9E3779B97F4A7C15ULL // 2^64 / golden ratio

uint64_t splitmix64_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t splitmix64(uint64_t x) {
    return splitmix64_mix(x + SPLITMIX64_INCREMENT);
}

uint64_t splitmix64_next(uint64_t *state) {
    *state += SPLITMIX64_INCREMENT;
    return splitmix64_mix(*state);
}

unsigned long rng_stream_seed32(uint64_t seed, uint64_t stream) {
    return (unsigned long)(splitmix64_mix(seed + SPLITMIX64_INCREMENT * (stream + 1)) &
                           0xFFFFFFFFULL);
}

uint64_t xorshift64_next(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}
