// Vectorised softmax pieces for the streaming attention and the loss: exp over a row with a
// shift, its sum, and the row max; and the logistic function for SwiGLU. One definition of the
// arithmetic (exp_approx and the fixed 8-lane summation order below), two implementations: AVX2/FMA
// where the compiler targets it, and portable C that performs the same fp32 operations in the same
// order, so both give the same bits.
//
// exp_approx: Cephes-style range reduction x = n ln2 + r, |r| <= ln2 / 2, a degree-7 polynomial
// for e^r and 2^n by the exponent bits. Error within 2 ulp of the correctly rounded e^x on
// [-87.3, 88.3] (tests/test_attention_stream.c measures it against expf over 1e6 points);
// exactly 0 below -87.33 (-INFINITY included: masked scores), e^x of NaN is NaN.
// The reference for every function here is the scalar libm loop it replaces (expf, sequential
// sum), which the tests compare against.
#ifndef DINT_VEC_MATH_H
#define DINT_VEC_MATH_H

float exp_approx(float x);

// x[j] = exp_approx(x[j] - shift) for j < n. Returns the sum of the new x[j]: lane l (0..7)
// adds x[8c + l] for c = 0, 1, ... in order (lanes past n add nothing), then the lanes are
// combined as ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
float exp_shift_sum(float *x, int n, float shift);

// max(init, x[0..n)) (NaN entries are skipped, as `x > m ? x : m` skips them).
float max_of(const float *x, int n, float init);

// sum_j a[j] b[j] in double, in 4 lanes (lane j mod 4, each in index order) combined as
// (l0 + l1) + (l2 + l3). Each product of two floats is exact in double, so the AVX2 path (4
// lanes of fused multiply-adds) and the portable one give the same bits.
double dot_f64(const float *a, const float *b, int n);

// s[j] = 1 / (1 + exp_approx(-x[j])) for j < n (s may be x). Within ~3 ulp of the logistic
// function: exp_approx's 2 ulp, the add and the division. Large positive x give exactly 1,
// x below -88 the reciprocal of 1 + e^88 (a subnormal); NaN stays NaN.
void sigmoid_array(float *s, const float *x, int n);

#endif
