#include "precision.h"

#include <float.h>
#include <math.h>

static float round_bf16(float x) {
    uint32_t u = float_to_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u) return x; // NaN (the bias could turn it into inf)
    u += 0x7fffu + ((u >> 16) & 1u);               // ties to even on the kept lsb
    return bits_to_float(u & 0xffff0000u);
}

static float round_fp16(float x) {
    uint32_t u = float_to_bits(x);
    uint32_t a = u & 0x7fffffffu, sign = u & 0x80000000u;
    if (a > 0x7f800000u) return x;                                  // NaN
    if (a >= 0x477ff000u) return bits_to_float(sign | 0x7f800000u); // >= 65520: +-inf
    if (a < 0x38800000u) { // < 2^-14: the subnormal grid 2^-24
        float q = nearbyintf(bits_to_float(a) * 0x1p24f) * 0x1p-24f; // exact scalings
        return bits_to_float(sign | float_to_bits(q));
    }
    a += 0xfffu + ((a >> 13) & 1u); // keep 10 mantissa bits, ties to even
    return bits_to_float(sign | (a & ~0x1fffu));
}

float precision_round(float x, Precision p) {
    switch (p) {
    case PRECISION_BF16:
        return round_bf16(x);
    case PRECISION_FP16:
        return round_fp16(x);
    default:
        return x;
    }
}

PrecisionRound precision_rounding(Precision p) {
    return p == PRECISION_BF16 ? round_bf16 : p == PRECISION_FP16 ? round_fp16 : NULL;
}

// Name, bits, largest finite value and overflow threshold of each precision.
static const struct {
    const char *name;
    int bits;
    double max, overflow;
} FORMATS[PRECISION_COUNT] = {{"fp32", 32, FLT_MAX, INFINITY}, {"bf16", 16, 0x1.fep127, 0x1.ffp127},
                              {"fp16", 16, 65504.0, 65520.0},  {"q8", 8, FLT_MAX, INFINITY},
                              {"q6", 6, FLT_MAX, INFINITY},    {"q4", 4, FLT_MAX, INFINITY}};

// Out-of-range values read as fp32, as the rounding does.
static int format_index(Precision p) {
    return (int)p >= 0 && (int)p < PRECISION_COUNT ? (int)p : PRECISION_FP32;
}

double precision_max(Precision p) {
    return FORMATS[format_index(p)].max;
}

double precision_overflow(Precision p) {
    return FORMATS[format_index(p)].overflow;
}

const char *precision_name(Precision p) {
    return FORMATS[format_index(p)].name;
}

int precision_bits(Precision p) {
    return FORMATS[format_index(p)].bits;
}

int precision_parse(const char *name, Precision *p) {
    for (int i = 0; i < PRECISION_COUNT; i++)
        if (!strcmp(name, FORMATS[i].name)) {
            *p = (Precision)i;
            return 0;
        }
    return -1;
}

float quantize_row_symmetric(float *x, int n, int bits) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        if (!isfinite(x[j])) return NAN;
        amax = fmaxf(amax, fabsf(x[j]));
    }
    if (amax == 0.0f) return 0.0f;
    float levels = (float)((1 << (bits - 1)) - 1), scale = amax / levels;
    for (int j = 0; j < n; j++) {
        float q = nearbyintf(x[j] / scale); // the default rounding mode: to nearest, ties to even
        x[j] = fminf(fmaxf(q, -levels), levels) * scale;
    }
    return scale;
}
