#include "vec_math.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define VEC_MATH_AVX2 1
#endif

// Range reduction and polynomial (Cephes expf): e^x = 2^n e^r, n = round(x log2 e),
// r = x - n ln2 with ln2 split in a high part exact in 9 bits and a low part.
static const float EXP_ZERO_BELOW = -87.33654475f; // e^x < FLT_MIN: 0 (and n >= -126 above it)
static const float EXP_SATURATE = 88.0f;           // n <= 127: 2^n stays finite
static const float LOG2E = 1.44269504088896341f;
static const float LN2_HI = 0.693359375f;
static const float LN2_LO = -2.12194440e-4f;
static const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
                   P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

float exp_approx(float x) {
    if (isnan(x)) return x;
    if (x < EXP_ZERO_BELOW) return 0.0f;
    if (x > EXP_SATURATE) x = EXP_SATURATE;
    float n = nearbyintf(x * LOG2E);
    float r = fmaf(n, -LN2_HI, x);
    r = fmaf(n, -LN2_LO, r);
    float p = fmaf(P0, r, P1);
    p = fmaf(p, r, P2);
    p = fmaf(p, r, P3);
    p = fmaf(p, r, P4);
    p = fmaf(p, r, P5);
    float r2 = r * r;
    float y = fmaf(p, r2, r) + 1.0f;
    uint32_t bits = (uint32_t)((int)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale;
}

#ifdef VEC_MATH_AVX2
// exp_approx of 8 lanes, the same operations (min(SAT, x) keeps NaN lanes NaN; lanes below
// EXP_ZERO_BELOW, -inf included, are set to 0 at the end).
static __m256 exp8(__m256 x) {
    __m256 zero = _mm256_cmp_ps(x, _mm256_set1_ps(EXP_ZERO_BELOW), _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_set1_ps(EXP_SATURATE), x);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(P0), r, _mm256_set1_ps(P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(P5));
    __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    __m256i e =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(zero, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

static __m256i tail_mask(int k) { // lanes 0 .. k-1 set
    static const int32_t ramp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_loadu_si256((const __m256i *)ramp));
}

float exp_shift_sum(float *x, int n, float shift) {
    __m256 acc = _mm256_setzero_ps(), sh = _mm256_set1_ps(shift);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + j), sh));
        _mm256_storeu_ps(x + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (j < n) {
        __m256i m = tail_mask(n - j);
        __m256 e = exp8(_mm256_sub_ps(_mm256_maskload_ps(x + j, m), sh));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + j, m, e);
        acc = _mm256_add_ps(acc, e);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

float max_of(const float *x, int n, float init) {
    __m256 m = _mm256_set1_ps(init);
    int j = 0;
    for (; j + 8 <= n; j += 8) m = _mm256_max_ps(_mm256_loadu_ps(x + j), m); // NaN x: keeps m
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
    float mx = _mm_cvtss_f32(h);
    for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

double dot_f64(const float *a, const float *b, int n) {
    __m256d acc = _mm256_setzero_pd();
    int j = 0;
    for (; j + 4 <= n; j += 4)
        acc = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + j)),
                              _mm256_cvtps_pd(_mm_loadu_ps(b + j)), acc);
    double l[4];
    _mm256_storeu_pd(l, acc);
    for (; j < n; j++) l[j % 4] += (double)a[j] * b[j];
    return (l[0] + l[1]) + (l[2] + l[3]);
}

void sigmoid_array(float *s, const float *x, int n) {
    __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 e = exp8(_mm256_xor_ps(_mm256_loadu_ps(x + j), sign));
        _mm256_storeu_ps(s + j, _mm256_div_ps(one, _mm256_add_ps(one, e)));
    }
    for (; j < n; j++) s[j] = 1.0f / (1.0f + exp_approx(-x[j]));
}

#else

double dot_f64(const float *a, const float *b, int n) {
    double l[4] = {0.0, 0.0, 0.0, 0.0};
    for (int j = 0; j < n; j++) l[j % 4] += (double)a[j] * b[j];
    return (l[0] + l[1]) + (l[2] + l[3]);
}

void sigmoid_array(float *s, const float *x, int n) {
    for (int j = 0; j < n; j++) s[j] = 1.0f / (1.0f + exp_approx(-x[j]));
}

float exp_shift_sum(float *x, int n, float shift) {
    float lane[8] = {0};
    for (int j = 0; j < n; j++) {
        x[j] = exp_approx(x[j] - shift);
        lane[j % 8] += x[j];
    }
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) +
           ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

float max_of(const float *x, int n, float init) {
    float mx = init;
    for (int j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

#endif
