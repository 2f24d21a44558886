// core/precision.h against an independent reference (tests/reference/precision_reference.py:
// PyTorch's bf16 / fp16 casts and the quantiser written out in float32 tensor operations), bit
// for bit, on rows of several shapes and distributions: attention-score-like values, softmax
// probabilities with a dominant entry, values across fp16's whole range (subnormals, overflow,
// ties), and rows of zeros. Then what the quantiser must be whatever the reference says: at most
// 2^(bits-1) - 1 levels per sign, an error of at most half a step, the row's largest entry kept.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attention_stream.h"
#include "grad_util.h"
#include "precision.h"
#include "rng.h"

#define PYTHON "/usr/bin/python3"

enum { ROWS = 12, N = 257 };

// Row r of the inputs: a different distribution per row (see the header).
// A uniform double in [0, 1) from the xorshift64 stream *g.
static double uniform(uint64_t *g) {
    return (double)(xorshift64_next(g) >> 11) * 0x1p-53;
}

static void fill_row(float *x, int r, uint64_t *g) {
    for (int j = 0; j < N; j++) {
        double u = uniform(g), v = uniform(g) * 2 - 1;
        switch (r % 6) {
        case 0:
            x[j] = (float)(v * 8);
            break; // scores
        case 1:
            x[j] = (float)exp(-30 * u);
            break; // probabilities-like
        case 2:
            x[j] = (float)(v * ldexp(1.0, (int)(u * 60) - 30));
            break; // all of fp16's range
        case 3:
            x[j] = (float)(j % 7 == 0 ? 0.0 : v * 1e-3);
            break;
        case 4:
            x[j] = (float)(65504.0 + (j - N / 2) * 8.0);
            break; // around fp16's overflow
        default:
            x[j] = r == 5 ? 0.0f : (float)(v * 100);
            break; // a row of zeros (r = 5)
        }
    }
    if (r % 6 == 1) x[N / 3] = 1.0f;                            // a dominant probability
    if (r == 11) x[0] = 1.0f + 0x1p-8f, x[1] = 1.0f + 0x1p-11f; // bf16 and fp16 ties
    if (r == 10) // q4 ties: max 7 gives a step of exactly 1, the entries are half-integers
        for (int j = 0; j < N; j++) x[j] = j == 0 ? 7.0f : (float)((j % 15) - 7) * 0.5f;
}

Test(precision, matches_reference) {
    static float x[ROWS * N], ref[5 * ROWS * N];
    uint64_t g = 2026;
    for (int r = 0; r < ROWS; r++) fill_row(x + (long)r * N, r, &g);
    char in[] = "/tmp/precision_in.XXXXXX", out[] = "/tmp/precision_out.XXXXXX";
    int fi = mkstemp(in), fo = mkstemp(out);
    cr_assert(fi >= 0 && fo >= 0);
    FILE *f = fdopen(fi, "wb");
    int head[2] = {ROWS, N};
    fwrite(head, sizeof head, 1, f);
    fwrite(x, sizeof x, 1, f);
    fclose(f);
    close(fo);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, PYTHON " '%s/precision_reference.py' '%s' '%s'", REFERENCE_DIR, in,
             out);
    cr_assert_eq(system(cmd), 0, "the reference failed: %s", cmd);
    f = fopen(out, "rb");
    cr_assert(f && fread(ref, sizeof ref, 1, f) == 1, "short reference output");
    fclose(f);
    remove(in);
    remove(out);
    const Precision modes[5] = {PRECISION_BF16, PRECISION_FP16, PRECISION_Q8, PRECISION_Q6,
                                PRECISION_Q4};
    for (int m = 0; m < 5; m++) {
        long diffs = 0;
        for (int r = 0; r < ROWS; r++) {
            float row[N];
            memcpy(row, x + (long)r * N, sizeof row);
            if (m < 2)
                for (int j = 0; j < N; j++) row[j] = precision_round(row[j], modes[m]);
            else
                quantize_row_symmetric(row, N, precision_bits(modes[m]));
            const float *want = ref + ((long)m * ROWS + r) * N;
            for (int j = 0; j < N; j++)
                if (memcmp(&row[j], &want[j], sizeof(float)) != 0 && diffs++ < 3)
                    cr_expect(0, "%s row %d [%d]: %a -> %a, reference %a", precision_name(modes[m]),
                              r, j, x[(long)r * N + j], row[j], want[j]);
        }
        cr_expect(diffs == 0, "%s: %ld values differ from the reference", precision_name(modes[m]),
                  diffs);
    }
}

Test(precision, quantiser_properties) {
    uint64_t g = 7;
    for (int bits = 2; bits <= 8; bits++) {
        float x[N], q[N];
        for (int j = 0; j < N; j++) x[j] = (float)(uniform(&g) * 6 - 2);
        memcpy(q, x, sizeof q);
        float scale = quantize_row_symmetric(q, N, bits), amax = 0;
        int levels = (1 << (bits - 1)) - 1;
        for (int j = 0; j < N; j++) amax = fmaxf(amax, fabsf(x[j]));
        cr_expect(scale == amax / (float)levels, "bits %d: scale %g", bits, scale);
        for (int j = 0; j < N; j++) {
            float k = q[j] / scale;
            cr_expect(fabsf(k - nearbyintf(k)) < 1e-3f && fabsf(k) <= levels + 1e-3f,
                      "bits %d: %g is not one of the %d levels", bits, q[j], 2 * levels + 1);
            cr_expect(fabsf(q[j] - x[j]) <= 0.5f * scale * (1 + 1e-5f),
                      "bits %d: error %g above half a step %g", bits, fabsf(q[j] - x[j]),
                      scale / 2);
        }
    }
    float zero[4] = {0, 0, 0, 0}, bad[3] = {1, NAN, 2};
    cr_expect(quantize_row_symmetric(zero, 4, 8) == 0 && zero[2] == 0);
    cr_expect(isnan(quantize_row_symmetric(bad, 3, 8)) && bad[0] == 1 && bad[2] == 2);
    Precision p;
    cr_expect(precision_parse("q6", &p) == 0 && p == PRECISION_Q6 && precision_bits(p) == 6);
    cr_expect(precision_parse("fp8", &p) == -1);
}

// The attention forward at each precision (attention_stream_forward with AttnDims.precision,
// the evaluations' kernel) against fp32 on random q, k, v: the error grows as the bits shrink
// (fp16 < bf16, q8 < q6 < q4) and stays within bounds that follow from the formats: bf16 keeps 8
// significant bits (relative step 2^-8 = 3.9e-3 per stored value), fp16 11 (4.9e-4); a K-bit
// row quantiser has a step of max/(2^(K-1) - 1) (q8: 0.8 % of the row's largest entry).
Test(precision, attention_emulation) {
    enum { B = 2, T = 96 };
    const Variant variants[3] = {VARIANT_TRANSFORMER, VARIANT_DIFF, VARIANT_DINT};
    // max |out_p - out_fp32| / max |out_fp32|: measured (2026-12) at most bf16 0.0066, fp16
    // 0.00088, q8 0.014, q6 0.055, q4 0.21 over the three variants; bounds about 3x those.
    const double bound[PRECISION_COUNT] = {0, 0.02, 0.003, 0.04, 0.15, 0.6};
    for (int vi = 0; vi < 3; vi++) {
        ModelConfig cfg = tiny_model_config(variants[vi], GMODE_CAUSAL, GAMMA_TIED, 0.0f);
        cfg.d_model = 64;
        cfg.head_dim = 16;
        AttnDims a = attn_dims(&cfg, T);
        long n = (long)B * T * a.ld;
        float *buf = calloc((size_t)n * 9, sizeof(float));
        float *q = buf, *k = q + n, *v = k + n, *ref = v + n, *o1 = ref + n, *o2 = o1 + n,
              *out = o2 + n, *p1 = out + n, *p2 = p1 + n;
        float *lse = calloc((size_t)B * a.n_heads * a.n_maps * T, sizeof(float));
        uint64_t g = 99 + vi;
        for (long i = 0; i < n; i++) {
            q[i] = (float)(uniform(&g) * 4 - 2);
            k[i] = (float)(uniform(&g) * 4 - 2);
            v[i] = (float)(uniform(&g) * 2 - 1);
        }
        attention_stream_forward(ref, o1, o2, lse, q, k, v, 0.6f, 0.6f, B, &a);
        double scale = 0, err[PRECISION_COUNT] = {0};
        for (long i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
        for (int p = 1; p < PRECISION_COUNT; p++) {
            a.precision = (Precision)p;
            for (long i = 0; i < n; i++) out[i] = NAN; // every entry must be written
            attention_stream_forward(out, p1, p2, lse, q, k, v, 0.6f, 0.6f, B, &a);
            for (long i = 0; i < n; i++) err[p] = fmax(err[p], fabs(out[i] - ref[i]) / scale);
            cr_log_info("%s %s: max error / max |out| = %.3g", variant_name(variants[vi]),
                        precision_name((Precision)p), err[p]);
            cr_expect(err[p] <= bound[p], "%s %s: error %.3g of max |out| above %.3g",
                      variant_name(variants[vi]), precision_name((Precision)p), err[p], bound[p]);
            cr_expect(err[p] > 0, "%s %s: no difference from fp32: nothing emulated",
                      variant_name(variants[vi]), precision_name((Precision)p));
        }
        cr_expect(
            err[PRECISION_FP16] < err[PRECISION_BF16] && err[PRECISION_Q8] < err[PRECISION_Q6] &&
                err[PRECISION_Q6] < err[PRECISION_Q4],
            "%s: errors bf16 %.3g fp16 %.3g q8 %.3g q6 %.3g q4 %.3g do not grow as bits shrink",
            variant_name(variants[vi]), err[1], err[2], err[3], err[4], err[5]);
        free(buf);
        free(lse);
    }
}
