// What the kernel benchmarks share: deterministic input data.
#ifndef DINT_BENCH_UTIL_H
#define DINT_BENCH_UTIL_H

// Uniform in [-1, 1) from one fixed xorshift64 stream (the same inputs on every run).
float bench_urand(void);

#endif
