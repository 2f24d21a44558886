// Shared helpers for the tests: tiny model configs and finite-difference checks.
#ifndef DINT_TEST_GRAD_UTIL_H
#define DINT_TEST_GRAD_UTIL_H

#include "config.h"
#include "model.h"

// A tiny config: 2 layers, d_model 16, head_dim 4, vocab 31.
ModelConfig tiny_model_config(Variant v, GMode g, GammaMode gm, float gamma_value);
// Deterministic pseudo-random tokens in [0, vocab).
void tiny_tokens(int *tokens, int n, int vocab, unsigned seed);

typedef struct {
    double analytic, numeric, rel_err;
} DirCheck;

// The random +-1 direction model_direction_check uses for a seed.
void direction_signs(float *dir, long n, unsigned seed);

// Directional finite-difference check of d(mean NLL)/d(tensor) along a random +-1 direction,
// central differences with step h; the model's loss is evaluated in fp32 with a double sum.
DirCheck model_direction_check(Model *m, const ParamInfo *pi, const int *tokens, const int *targets,
                               int B, int T, double h, unsigned seed);

// A small deterministic generator for test data (64-bit LCG, top bits).
typedef struct {
    unsigned long long s;
} TestRng;
void test_rng_seed(TestRng *r, unsigned long long seed);
double test_rng_uniform(TestRng *r); // [0, 1)
// x[i] uniform in [lo, hi).
void fill_uniform(float *x, long n, float lo, float hi, TestRng *r);

// Running statistics of one comparison "analytic vs numeric" under the criterion
//   |an - num| <= rtol * max(|an|, |num|) + atol.
// A NaN on either side counts as a failure.
typedef struct {
    double rtol, atol;
    long n, n_fail;
    double max_abs;   // largest |an - num|
    double max_rel;   // largest |an - num| / max(|an|, |num|) over pairs with scale > atol
    double max_ratio; // largest |an - num| / (rtol * scale + atol): <= 1 passes
    double max_scale; // largest max(|an|, |num|) seen: how big the checked values were
} ErrStats;
ErrStats err_stats(double rtol, double atol);
// Adds one pair; returns 1 when it passes.
int err_add(ErrStats *s, double an, double num);
// End of a check: its largest errors are logged (--verbose), and it fails (cr_expect) when any
// pair failed or nothing was checked.
void err_check_finish(const ErrStats *s, const char *what);
// One pair of a check: counts it, and prints the first few failures with the case's details.
#define CHECK_PAIR(st, an, num, ...)                                                               \
    do {                                                                                           \
        if (!err_add((st), (an), (num)) && (st)->n_fail <= 4) cr_expect(0, __VA_ARGS__);           \
    } while (0)

// Sum of a[i] b[i] in double (the loss of a linear probe of a gradient).
double dot_fd(const float *a, const float *b, long n);
// Central difference of f with respect to *x, over the step actually taken in fp32.
typedef double (*LossFn)(void *ctx);
double central_diff(LossFn f, void *ctx, float *x, float h);
// Zeroed buffers of n floats / doubles (at least one element).
float *test_falloc(long n);
double *test_dalloc(long n);

#endif
