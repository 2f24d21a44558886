// Reduced-precision emulation, one definition for the audit and the evaluations
// (docs/precision.md): IEEE round to nearest even of an fp32 value to bf16 or fp16, returned as
// fp32, and the symmetric per-row quantiser of attention scores and probabilities to K bits.
// Computation stays in fp32; what is emulated is where a kernel stores or feeds a lower precision.
#ifndef DINT_PRECISION_H
#define DINT_PRECISION_H

#include <stdint.h>
#include <string.h>

typedef enum {
    PRECISION_FP32 = 0,
    PRECISION_BF16 = 1,
    PRECISION_FP16 = 2,
    PRECISION_Q8 = 3, // scores and probabilities quantised per row to 8 bits
    PRECISION_Q6 = 4,
    PRECISION_Q4 = 5,
} Precision;
#define PRECISION_COUNT 6

// IEEE round to nearest, ties to even, to bf16 / fp16, returned as float (every other precision:
// x unchanged). fp16 overflows to +-inf from |x| >= 65520 and has subnormals down to 2^-24; bf16
// keeps fp32's exponent range (its subnormals included). NaN stays NaN, the sign of zero is kept.
float precision_round(float x, Precision p);
// The rounding as a function (attention.h's AttnRound): NULL for fp32 and the quantised ones.
typedef float (*PrecisionRound)(float);
PrecisionRound precision_rounding(Precision p);
// Largest finite value of the format (fp32 FLT_MAX, bf16 0x1.fep127, fp16 65504; qK: fp32's).
double precision_max(Precision p);
// |x| from which x rounds to +-inf in the format (fp32 and qK: only inf itself).
double precision_overflow(Precision p);
// "fp32", "bf16", "fp16", "q8", "q6", "q4"; precision_parse is its inverse (0, or -1).
const char *precision_name(Precision p);
int precision_parse(const char *name, Precision *p);
// Bits per stored value: 32, 16, 16, 8, 6, 4.
int precision_bits(Precision p);

// Symmetric per-row quantisation of x (n) in place to `bits` bits (2 <= bits <= 16):
// scale = max |x_j| / (2^(bits-1) - 1), x_j <- scale * rne(x_j / scale) (round to nearest even,
// within +-(2^(bits-1) - 1) by construction). A row of zeros stays zero; a row with a non-finite
// entry is left as it is. Returns the scale (0 for a zero row).
float quantize_row_symmetric(float *x, int n, int bits);

// round_to_precision with the fp32 case inlined (per map entry).
static inline float precision_round_fast(float x, Precision p) {
    return p == PRECISION_FP32 ? x : precision_round(x, p);
}

// The bit pattern of an fp32 value and back.
static inline uint32_t float_to_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float bits_to_float(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#endif
