// bf16 / fp16 emulation for the audit: IEEE round to nearest even of an fp32 value to the
// format, returned as fp32, with the format's largest value and overflow threshold. The audit
// (audit.h) applies it to every stored quantity of the attention maps while computing in fp32.
#ifndef DINT_TASKS_REDUCED_PRECISION_H
#define DINT_TASKS_REDUCED_PRECISION_H

#include <stdint.h>
#include <string.h>

#include "attention.h"

typedef enum { AUDIT_FP32 = 0, AUDIT_BF16 = 1, AUDIT_FP16 = 2 } AuditPrecision;
#define AUDIT_N_PREC 3

// IEEE round to nearest, ties to even, to bf16 / fp16, returned as float (fp32: x unchanged).
// fp16 overflows to +-inf from |x| >= 65520 and has subnormals down to 2^-24; bf16 keeps fp32's
// exponent range (its subnormals included). NaN stays NaN, the sign of zero is kept.
float round_to_precision(float x, AuditPrecision p);
// Largest finite value of the format (fp32 FLT_MAX, bf16 0x1.fep127, fp16 65504).
double audit_precision_max(AuditPrecision p);
const char *audit_precision_name(AuditPrecision p); // "fp32", "bf16", "fp16"
// |x| from which x rounds to +-inf in the format (fp32: only inf itself).
double audit_precision_overflow(AuditPrecision p);
// The rounding as core's AttnRound (attention.h): NULL for fp32.
AttnRound audit_precision_rounding(AuditPrecision p);

// round_to_precision with the fp32 case inlined (the audit calls it per map entry).
static inline float audit_round(float x, AuditPrecision p) {
    return p == AUDIT_FP32 ? x : round_to_precision(x, p);
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
