#include "reduced_precision.h"

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

float round_to_precision(float x, AuditPrecision p) {
    switch (p) {
    case AUDIT_BF16:
        return round_bf16(x);
    case AUDIT_FP16:
        return round_fp16(x);
    default:
        return x;
    }
}

AttnRound audit_precision_rounding(AuditPrecision p) {
    return p == AUDIT_BF16 ? round_bf16 : p == AUDIT_FP16 ? round_fp16 : NULL;
}

// Name, largest finite value and overflow threshold of each format, by AuditPrecision.
static const struct {
    const char *name;
    double max, overflow;
} FORMATS[AUDIT_N_PREC] = {
    {"fp32", FLT_MAX, INFINITY}, {"bf16", 0x1.fep127, 0x1.ffp127}, {"fp16", 65504.0, 65520.0}};

// Out-of-range values read as fp32, as the rounding does.
static int format_index(AuditPrecision p) {
    return p == AUDIT_BF16 || p == AUDIT_FP16 ? (int)p : AUDIT_FP32;
}

double audit_precision_max(AuditPrecision p) {
    return FORMATS[format_index(p)].max;
}

const char *audit_precision_name(AuditPrecision p) {
    return FORMATS[format_index(p)].name;
}

double audit_precision_overflow(AuditPrecision p) {
    return FORMATS[format_index(p)].overflow;
}
