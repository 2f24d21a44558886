// The one set of small integer generators: splitmix64 (Steele, Lea and Flood 2014) as a hash of
// a 64-bit value, as a stream, and as the seed of a 32-bit generator (GSL's MT19937 takes 32
// bits), and xorshift64 (Marsaglia 2003) for test and benchmark inputs. Every run file depends
// on these exact sequences: changing one changes every seed derived from it.
#ifndef DINT_CORE_RNG_H
#define DINT_CORE_RNG_H

#include <stdint.h>

// splitmix64's output function: a bijective mix of z (also a good 64-bit hash finaliser).
uint64_t splitmix64_mix(uint64_t z);
// splitmix64 of x: splitmix64_mix(x + the golden-ratio increment).
uint64_t splitmix64(uint64_t x);
// The next value of the splitmix64 stream whose state is *state (advances it).
uint64_t splitmix64_next(uint64_t *state);
// A 32-bit seed for stream `stream` of a 64-bit seed: the low 32 bits of element stream + 1 of
// the splitmix64 stream started at seed (train: 0 parameter init, 1 batch sampling, 2 the
// held-out recall contexts).
unsigned long rng_stream_seed32(uint64_t seed, uint64_t stream);
// The next value of the xorshift64 stream (shifts 13, 7, 17) whose state is *state (not 0).
uint64_t xorshift64_next(uint64_t *state);

#endif
