// Numerical-stability audit (tasks/audit.h and beside it core/precision, histogram,
// leakage_probe, row_sum_diagnostic, audit_wire): bf16 / fp16 rounding against IEEE bit
// patterns, the deviation histogram's bins, row-sum / negative-weight / entropy statistics on
// hand-built maps handed to the audit in place of the recomputed ones, logit top-k, median and
// fp16 overflow on hand-set q and k, DINT-tied rows in fp32 vs bf16 emulation, agreement with
// attention_final_map, the leakage probe for every variant and gamma mode, kurtosis on a hand-set
// residual stream, the cheap row-sum diagnostic, independence from the thread count, and samples
// measured apart, sent as doubles and merged in order equal to the statistics of one accumulation
// (an MPI-split audit).
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "attention_stream.h"
#include "audit.h"
#include "audit_wire.h"
#include "config.h"
#include "grad_util.h"
#include "layers.h"
#include "leakage_probe.h"
#include "model.h"
#include "row_sum_diagnostic.h"

// One thread: Criterion may run several test processes at once on this 2-core machine.
static void setup(void) {
    threads_init(1);
}

TestSuite(audit, .init = setup);

static float fbits(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static uint32_t bitsf(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void build(Model *m, Variant v, GMode g, GammaMode gm, float gv, uint64_t seed) {
    ModelConfig cfg = tiny_model_config(v, g, gm, gv);
    Error err;
    cr_assert(model_build(m, &cfg, &err) == 0, "model_build failed: %s", err.msg);
    model_init_params(m, seed);
}

static void forward_random(Model *m, int B, int T, unsigned seed) {
    int *tok = malloc(sizeof(int) * (size_t)B * T);
    tiny_tokens(tok, B * T, m->cfg.vocab_size, seed);
    model_forward(m, tok, NULL, B, T);
    free(tok);
}

static void init3(AuditStats st[AUDIT_N_PREC], AuditStats *ptr[AUDIT_N_PREC], const Model *m) {
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        audit_init(&st[p], m, (Precision)p);
        ptr[p] = &st[p];
    }
}
static void free3(AuditStats st[AUDIT_N_PREC]) {
    for (int p = 0; p < AUDIT_N_PREC; p++) audit_free(&st[p]);
}

// Entropy (nats) of p / sum p, directly from the definition.
static double entropy_of(const double *p, int n) {
    double s = 0.0, h = 0.0;
    for (int j = 0; j < n; j++) s += fabs(p[j]);
    for (int j = 0; j < n; j++)
        if (p[j] != 0.0) h -= fabs(p[j]) / s * log(fabs(p[j]) / s);
    return h;
}

#define CLOSE(a, b, tol, what)                                                                     \
    cr_assert(fabs((double)(a) - (double)(b)) <= (tol), "%s: got %.17g, want %.17g", what,         \
              (double)(a), (double)(b))

// ---------------------------------------------------------------------------------------------
// Rounding

Test(audit, bf16_rounding_bit_patterns) {
    struct {
        uint32_t in, out;
    } cases[] = {
        {0x3f800000u, 0x3f800000u}, // 1 exact
        {0x3f808000u, 0x3f800000u}, // 1 + 2^-8: tie, lsb even (0) -> down to 1
        {0x3f818000u, 0x3f820000u}, // 1 + 3 2^-8: tie, lsb odd -> up to 1 + 2^-6
        {0x3f808001u, 0x3f810000u}, // just above the tie -> up
        {0x3f807fffu, 0x3f800000u}, // just below the tie -> down
        {0xbf818000u, 0xbf820000u}, // negative tie to even
        {0x7f7fffffu, 0x7f800000u}, // FLT_MAX -> inf
        {0x7f7f7fffu, 0x7f7f0000u}, // below the bf16 overflow threshold -> bf16 max
        {0x7f7f8000u, 0x7f800000u}, // 0x1.ffp127: tie at the top, odd lsb -> inf
        {0x00000001u, 0x00000000u}, // smallest fp32 subnormal -> 0
        {0x00010000u, 0x00010000u}, // a bf16 subnormal stays
        {0x80000000u, 0x80000000u}, // -0 keeps its sign
        {0x7f800000u, 0x7f800000u}, // inf
        {0xff800000u, 0xff800000u}, // -inf
        {0x3dcccccdu, 0x3dcd0000u}, // 0.1f -> 0.10009765625
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t got = bitsf(precision_round(fbits(cases[i].in), PRECISION_BF16));
        cr_assert(got == cases[i].out, "bf16(0x%08x) = 0x%08x, want 0x%08x", cases[i].in, got,
                  cases[i].out);
    }
    cr_assert(precision_round(1.0f + 0x1p-8f, PRECISION_BF16) == 1.0f);
    cr_assert(isnan(precision_round(NAN, PRECISION_BF16)));
    cr_assert(isnan(precision_round(fbits(0x7f800001u), PRECISION_BF16)),
              "a NaN with a low payload");
    cr_assert(precision_round(0.3f, PRECISION_FP32) == 0.3f);
}

Test(audit, fp16_rounding_values) {
    struct {
        float in, out;
    } cases[] = {
        {65504.0f, 65504.0f}, // fp16 max
        {65519.0f, 65504.0f}, // below the overflow tie
        {65520.0f, INFINITY}, // the tie between 65504 and 65536 -> even -> overflow
        {-65520.0f, -INFINITY},
        {1e6f, INFINITY},
        {0x1p-24f, 0x1p-24f},     // smallest subnormal
        {0x1p-25f, 0.0f},         // tie between 0 and 2^-24 -> even (0)
        {0x1.8p-25f, 0x1p-24f},   // above the tie
        {3 * 0x1p-25f, 0x1p-23f}, // 1.5 quanta -> 2 (even)
        {5 * 0x1p-25f, 0x1p-23f}, // 2.5 quanta -> 2 (even)
        {1e-8f, 0.0f},
        {0x1p-14f, 0x1p-14f},                  // smallest normal
        {0x1p-14f - 0x1p-26f, 0x1p-14f},       // subnormal range rounding up into the normals
        {1.0f + 0x1p-11f, 1.0f},               // tie, even -> down
        {1.0f + 3 * 0x1p-11f, 1.0f + 0x1p-9f}, // tie, odd -> up
        {1.0f + 0x1p-10f, 1.0f + 0x1p-10f},
        {0.1f, 0.0999755859375f},
        {-2.5f, -2.5f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float got = precision_round(cases[i].in, PRECISION_FP16);
        cr_assert(bitsf(got) == bitsf(cases[i].out), "fp16(%a) = %a, want %a", (double)cases[i].in,
                  (double)got, (double)cases[i].out);
    }
    cr_assert(signbit(precision_round(-1e-8f, PRECISION_FP16)), "-1e-8 -> -0");
    cr_assert(isnan(precision_round(NAN, PRECISION_FP16)));
    cr_assert(precision_max(PRECISION_FP16) == 65504.0);
    cr_assert(precision_max(PRECISION_BF16) == (double)fbits(0x7f7f0000u));
}

#ifdef __FLT16_MAX__
// The compiler's own float -> _Float16 conversion (IEEE round to nearest even) on a sweep.
Test(audit, fp16_matches_compiler_float16) {
    TestRng r;
    test_rng_seed(&r, 7);
    for (int i = 0; i < 200000; i++) {
        // Exponents from 2^-30 to 2^17 and random mantissas, both signs, plus exact ties.
        uint32_t e = 97 + (uint32_t)(test_rng_uniform(&r) * 48);
        uint32_t mant = (uint32_t)(test_rng_uniform(&r) * 8388608.0);
        if (i % 4 == 0) mant = (mant & ~0x1fffu) | 0x1000u; // normal-range tie
        uint32_t u = (e << 23) | mant | (i % 2 ? 0x80000000u : 0);
        float x = fbits(u);
        float want = (float)(_Float16)x;
        float got = precision_round(x, PRECISION_FP16);
        cr_assert(bitsf(got) == bitsf(want), "fp16(%a) = %a, compiler %a", (double)x, (double)got,
                  (double)want);
    }
}
#endif

Test(audit, histogram_bins) {
    cr_assert(audit_hist_bin(0.0) == 20);
    cr_assert(audit_hist_bin(-0.0) == 20);
    cr_assert(audit_hist_bin(3e-11) == 20);
    cr_assert(audit_hist_bin(1e-7) == 20 + 8, "1e-7 is E_7: bin 28 = [1e-7, 10^-6.5)");
    cr_assert(audit_hist_bin(-1e-7) == 20 - 8);
    cr_assert(audit_hist_bin(0x1p-10) == 35);
    cr_assert(audit_hist_bin(-0x1p-9) == 4);
    cr_assert(audit_hist_bin(0.0999) == 39);
    cr_assert(audit_hist_bin(0.1) == 40);
    cr_assert(audit_hist_bin(5.0) == 40);
    cr_assert(audit_hist_bin(-0.1) == 0);
    cr_assert(audit_hist_bin(-INFINITY) == 0);
    cr_assert(audit_hist_bin(NAN) == -1);
    // Every bin's interior maps back to the bin; the bins tile the line symmetrically.
    for (int b = 0; b < AUDIT_HIST_BINS; b++) {
        double lo, hi, lo2, hi2;
        audit_hist_bounds(b, &lo, &hi);
        audit_hist_bounds(AUDIT_HIST_BINS - 1 - b, &lo2, &hi2);
        cr_assert(lo == -hi2 && hi == -lo2, "bin %d is not the mirror of bin %d", b, 40 - b);
        double mid = isinf(lo)   ? hi * 2
                     : isinf(hi) ? lo * 2
                     : b == 20   ? 0.0
                                 : sqrt(lo * hi) * (lo < 0 ? -1 : 1);
        cr_assert(audit_hist_bin(mid) == b, "bin of %g is %d, want %d", mid, audit_hist_bin(mid),
                  b);
        if (b + 1 < AUDIT_HIST_BINS) {
            double lo3, hi3;
            audit_hist_bounds(b + 1, &lo3, &hi3);
            cr_assert(hi == lo3, "bins %d and %d do not touch", b, b + 1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-built maps

// The model keeps no maps (streaming attention): hand-built maps live in test-owned buffers,
// maps_of[l] (B, heads, maps, T, T) per layer, first filled with what the materialised kernel
// would have stored (recomputed from the model's q and k), then edited, and handed to
// audit_accumulate_maps / audit_row_sum_deviation_maps.
static float *maps_of[16];

static void maps_release(void) {
    for (int l = 0; l < 16; l++) {
        free(maps_of[l]);
        maps_of[l] = NULL;
    }
}

static float *map_at(Model *m, int l, int b, int h, int mp) {
    AttnDims ad = attn_dims(&m->cfg, m->T);
    long TT = (long)m->T * m->T;
    if (!maps_of[l]) {
        maps_of[l] = malloc(sizeof(float) * (size_t)(m->B * ad.n_heads * ad.n_maps * TT));
        for (int bb = 0; bb < m->B; bb++)
            for (int hh = 0; hh < ad.n_heads; hh++)
                for (int k = 0; k < ad.n_maps; k++)
                    attention_map_rows(maps_of[l] +
                                           ((long)(bb * ad.n_heads + hh) * ad.n_maps + k) * TT,
                                       NULL, m->la[l].q, m->la[l].k, bb, hh, k, 0, m->T, &ad);
    }
    return maps_of[l] + (((long)b * ad.n_heads + h) * ad.n_maps + mp) * TT;
}
#define HAND_MAPS ((const float *const *)maps_of)

// DIFF, lambda = 0.5, T = 3, layer 0 head 0:
//   A1 = [1], [1/2, 1/2 + 2^-10], [1/4, 1/4, 1/2]       A2 = [1], [1/4, 3/4], [1, 0, 2^-8]
//   A_final = [1/2], [3/8, 1/8 + 2^-10], [-1/4, 1/4, 1/2 - 2^-9]
// row sums 1/2, 1/2 + 2^-10, 1/2 - 2^-9 against expected 1/2 (all exact in fp32).
static void hand_diff(Model *m) {
    build(m, VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, 3);
    forward_random(m, 1, 3, 1);
    m->lambda[0] = 0.5f;
    float a1[9] = {1, 0, 0, 0.5f, 0.5f + 0x1p-10f, 0, 0.25f, 0.25f, 0.5f};
    float a2[9] = {1, 0, 0, 0.25f, 0.75f, 0, 1, 0, 0x1p-8f};
    memcpy(map_at(m, 0, 0, 0, 0), a1, sizeof a1);
    memcpy(map_at(m, 0, 0, 0, 1), a2, sizeof a2);
}

Test(audit, row_sums_on_hand_built_diff_maps) {
    Model m;
    hand_diff(&m);
    AuditStats st[AUDIT_N_PREC], *ptr[AUDIT_N_PREC];
    init3(st, ptr, &m);
    audit_accumulate_maps(ptr, &m, 1, 3, HAND_MAPS);
    double rs[3] = {0.5, 0.5 + 0x1p-10, 0.5 - 0x1p-9};
    double mean = (rs[0] + rs[1] + rs[2]) / 3, var = 0.0;
    for (int i = 0; i < 3; i++) var += (rs[i] - mean) * (rs[i] - mean) / 3;
    double r1a[2] = {0.5, 0.5 + 0x1p-10}, r2a[3] = {0.25, 0.25, 0.5};
    double r1b[2] = {0.25, 0.75}, r2b[3] = {1, 0, 0x1p-8};
    double r1f[2] = {0.375, 0.125 + 0x1p-10}, r2f[3] = {-0.25, 0.25, 0.5 - 0x1p-9};

    AuditHeadSummary s;
    cr_assert(audit_head_summary(&st[PRECISION_FP32], 0, 0, &s) == 0);
    cr_assert(s.rows == 3 && s.rows_nonfinite == 0);
    CLOSE(s.expected, 0.5, 0, "expected");
    CLOSE(s.row_sum_mean, mean, 1e-15, "mean");
    CLOSE(s.row_sum_min, 0.5 - 0x1p-9, 0, "min");
    CLOSE(s.row_sum_max, 0.5 + 0x1p-10, 0, "max");
    CLOSE(s.row_sum_std, sqrt(var), 1e-12, "std");
    CLOSE(s.row_sum_std, 0x1p-10 * sqrt(14.0) / 3, 1e-12, "std by hand");
    CLOSE(s.max_abs_dev, 0x1p-9, 0, "max |dev|");
    CLOSE(s.dev_mean, -0x1p-10 / 3, 1e-15, "mean dev");
    for (int b = 0; b < AUDIT_HIST_BINS; b++)
        cr_assert(s.hist[b] == (b == 20 || b == 35 || b == 4), "fp32 hist[%d] = %ld", b, s.hist[b]);
    CLOSE(s.frac_negative, 1.0 / 6, 1e-15, "fraction negative");
    CLOSE(s.neg_mass_per_row, -0.25 / 3, 1e-15, "negative mass per row");
    CLOSE(s.frac_rows_negative, 1.0 / 3, 1e-15, "rows with negatives");
    CLOSE(s.entropy_a1, (entropy_of(r1a, 2) + entropy_of(r2a, 3)) / 3, 1e-12, "entropy A1");
    CLOSE(s.entropy_a2, (entropy_of(r1b, 2) + entropy_of(r2b, 3)) / 3, 1e-12, "entropy A2");
    CLOSE(s.entropy_final, (entropy_of(r1f, 2) + entropy_of(r2f, 3)) / 3, 1e-12,
          "entropy of |A_final| / sum |A_final|");
    cr_assert(s.n_nan == 0 && s.n_inf == 0);

    // bf16: 1/2 + 2^-10 needs 9 significant bits and rounds to 1/2 (row 1 sums exactly 1/2);
    // every other value is a bf16 number.
    cr_assert(audit_head_summary(&st[PRECISION_BF16], 0, 0, &s) == 0);
    CLOSE(s.row_sum_max, 0.5, 0, "bf16 max");
    CLOSE(s.row_sum_mean, 0.5 - 0x1p-9 / 3, 1e-15, "bf16 mean");
    CLOSE(s.max_abs_dev, 0x1p-9, 0, "bf16 max |dev|");
    cr_assert(s.hist[20] == 2 && s.hist[4] == 1 && s.hist[35] == 0);
    // fp16 holds 11 significant bits: as fp32.
    cr_assert(audit_head_summary(&st[PRECISION_FP16], 0, 0, &s) == 0);
    CLOSE(s.row_sum_mean, mean, 1e-15, "fp16 mean");
    cr_assert(s.hist[35] == 1);
    // qK: each row of A1 and of A2 quantised over its entries 0..i (core's quantiser, checked
    // against PyTorch in test_precision), then A1 - lambda A2 in fp32. Row 0 ([1] and [1]) is
    // exact at any K; rows 1 and 2 move, by more at fewer bits.
    const float a1[3][3] = {{1, 0, 0}, {0.5f, 0.5f + 0x1p-10f, 0}, {0.25f, 0.25f, 0.5f}};
    const float a2[3][3] = {{1, 0, 0}, {0.25f, 0.75f, 0}, {1, 0, 0x1p-8f}};
    double last_dev = 0.0;
    for (int p = PRECISION_Q8; p <= PRECISION_Q4; p++) {
        double want[3], want_mean = 0.0, want_dev = 0.0;
        for (int i = 0; i < 3; i++) {
            float q1[3], q2[3];
            memcpy(q1, a1[i], sizeof q1);
            memcpy(q2, a2[i], sizeof q2);
            quantize_row_symmetric(q1, i + 1, precision_bits((Precision)p));
            quantize_row_symmetric(q2, i + 1, precision_bits((Precision)p));
            want[i] = 0.0;
            for (int j = 0; j <= i; j++) want[i] += q1[j] - 0.5f * q2[j];
            want_mean += want[i] / 3;
            want_dev = fmax(want_dev, fabs(want[i] - 0.5));
        }
        cr_assert(audit_head_summary(&st[p], 0, 0, &s) == 0);
        CLOSE(s.row_sum_mean, want_mean, 1e-7, precision_name((Precision)p));
        CLOSE(s.max_abs_dev, want_dev, 1e-7, precision_name((Precision)p));
        cr_assert(s.max_abs_dev > last_dev, "%s: max |dev| %g, not above the previous %g",
                  precision_name((Precision)p), s.max_abs_dev, last_dev);
        last_dev = s.max_abs_dev;
    }
    free3(st);
    model_free(&m);
    maps_release();
}

// DINT, lambda = gamma = 0.5, T = 2, A1 = [1, 0], [1/2, 1/2], A2 = [1, 0], [0, 1].
//   causal G: row 0 [1, 0], row 1 [3/4, 1/4] -> A_final [1, 0], [7/8, 1/8]
//   full G: [3/4, 1/4] for both rows       -> A_final [7/8, 1/8], [7/8, 1/8] (row 0 sees key 1)
Test(audit, dint_global_term_by_hand) {
    for (int g = 0; g < 2; g++) {
        Model m;
        build(&m, VARIANT_DINT, (GMode)g, GAMMA_TIED, 0.0f, 5);
        forward_random(&m, 1, 2, 2);
        m.lambda[0] = m.gamma[0] = 0.5f;
        float a1[4] = {1, 0, 0.5f, 0.5f}, a2[4] = {1, 0, 0, 1};
        memcpy(map_at(&m, 0, 0, 0, 0), a1, sizeof a1);
        memcpy(map_at(&m, 0, 0, 0, 1), a2, sizeof a2);
        AuditStats st;
        audit_init(&st, &m, PRECISION_FP32);
        AuditStats *ptr[AUDIT_N_PREC] = {NULL, NULL, &st};
        audit_accumulate_maps(ptr, &m, 1, 2, HAND_MAPS);
        AuditHeadSummary s;
        audit_head_summary(&st, 0, 0, &s);
        double fin[2] = {0.875, 0.125};
        CLOSE(s.expected, 1.0, 0, "expected");
        CLOSE(s.max_abs_dev, 0.0, 0, "rows sum to 1 exactly");
        cr_assert(st.head[0].entries == (g == GMODE_FULL ? 4 : 3), "support entries %ld (g %d)",
                  st.head[0].entries, g);
        double want = g == GMODE_FULL ? entropy_of(fin, 2) : entropy_of(fin, 2) / 2;
        CLOSE(s.entropy_final, want, 1e-12, "entropy of the final map");
        CLOSE(s.frac_negative, 0.0, 0, "no negatives");
        audit_free(&st);
        model_free(&m);
        maps_release();
    }
}

// Layer 0 head 0 of a DIFF model, T = 8: q and k set so that map 0 has logits 1200 (i+1)(j+1)
// and map 1 has -100 (i+1) (j <= i). fp16 overflows on 1200 * 56 and 1200 * 64.
Test(audit, logit_topk_median_overflow) {
    Model m;
    build(&m, VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0.0f, 4);
    int T = 8, D = m.cfg.d_model;
    forward_random(&m, 1, T, 3);
    for (int i = 0; i < T; i++)
        for (int c = 0; c < 8; c++) m.la[0].q[(long)i * D + c] = m.la[0].k[(long)i * D + c] = 0.0f;
    for (int i = 0; i < T; i++) {
        m.la[0].q[(long)i * D + 0] = 2400.0f * (i + 1); // scale 1/sqrt(4) = 1/2
        m.la[0].k[(long)i * D + 0] = (float)(i + 1);
        m.la[0].q[(long)i * D + 4] = -200.0f * (i + 1);
        m.la[0].k[(long)i * D + 4] = 1.0f;
    }
    double vals[72];
    int n = 0;
    for (int i = 0; i < T; i++)
        for (int j = 0; j <= i; j++) {
            vals[n++] = 1200.0 * (i + 1) * (j + 1);
            vals[n++] = 100.0 * (i + 1);
        }
    for (int a = 0; a < n; a++) // sort descending
        for (int b = a + 1; b < n; b++)
            if (vals[b] > vals[a]) {
                double t = vals[a];
                vals[a] = vals[b];
                vals[b] = t;
            }
    AuditStats st[AUDIT_N_PREC], *ptr[AUDIT_N_PREC];
    init3(st, ptr, &m);
    audit_accumulate(ptr, &m, 1, T);
    long want_over[AUDIT_N_PREC] = {0, 0, 2};
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        AuditHeadSummary s;
        audit_head_summary(&st[p], 0, 0, &s);
        cr_assert(s.logit_count == 72);
        CLOSE(s.logit_top1, 76800.0, 0, "top-1");
        CLOSE(s.logit_top10, vals[9], 0, "top-10");
        cr_assert(isnan(s.logit_top100), "only 72 logits: top-100 undefined");
        // The exact median lies between the 36th and 37th largest; the estimate within a bin.
        double lo = vals[36] * (1 - 0x1p-5), hi = vals[35] * (1 + 0x1p-5);
        cr_assert(s.logit_median >= lo && s.logit_median <= hi, "median %g outside [%g, %g]",
                  s.logit_median, lo, hi);
        cr_assert(s.logit_overflow == want_over[p], "%s overflow %ld", precision_name(p),
                  s.logit_overflow);
        CLOSE(s.logit_overflow_margin, 76800.0 / precision_max(p),
              1e-12 * 76800.0 / precision_max(p), "margin");
    }
    // Other heads saw their own logits; pooling over heads keeps the top-1.
    AuditHeadSummary all;
    audit_head_summary(&st[PRECISION_FP32], -1, -1, &all);
    CLOSE(all.logit_top1, 76800.0, 0, "pooled top-1");
    cr_assert(all.logit_count == 72L * 2 * m.cfg.n_layer, "pooled count %ld", all.logit_count);
    free3(st);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------
// Real forwards

Test(audit, dint_tied_rows_fp32_vs_bf16) {
    Model m;
    build(&m, VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, 11);
    forward_random(&m, 2, 40, 5);
    AuditStats st[AUDIT_N_PREC], *ptr[AUDIT_N_PREC];
    init3(st, ptr, &m);
    audit_accumulate(ptr, &m, 2, 40);
    AuditHeadSummary s32, s16, sb;
    audit_head_summary(&st[PRECISION_FP32], -1, -1, &s32);
    audit_head_summary(&st[PRECISION_BF16], -1, -1, &sb);
    audit_head_summary(&st[PRECISION_FP16], -1, -1, &s16);
    double lmax = 0.0;
    for (int l = 0; l < m.cfg.n_layer; l++) lmax = fmax(lmax, fabs(model_lambda(&m, l)));
    cr_assert(s32.rows == 2L * 40 * 2 * 2 && sb.rows == s32.rows);
    CLOSE(s32.expected, 1.0, 0, "DINT tied: expected 1");
    cr_assert(s32.max_abs_dev < 1e-5, "fp32 max |dev| %g", s32.max_abs_dev);
    // bf16 keeps 8 significant bits: a rounding moves a value by at most 2^-9 of it. Summed
    // over a row, the roundings of a1 (1), a2 and lambda a2 (2 lambda), G's inputs, g and
    // gamma g (3 gamma), a1 - t2 (1 + lambda) and the entry (1 + 2 lambda) bound |dev| by
    // 2^-9 (3 + 8 lambda) with gamma = lambda (lambda's own rounding cancels: tied); we allow
    // 2^-9 (4 + 8 lambda). (Measured here: fp32 1.0e-7, fp16 7.3e-4, bf16 5.9e-3.)
    double bound = 0x1p-9 * (4 + 8 * lmax);
    cr_assert(sb.max_abs_dev > 100 * s32.max_abs_dev, "bf16 %g vs fp32 %g", sb.max_abs_dev,
              s32.max_abs_dev);
    cr_assert(sb.max_abs_dev > 0x1p-12 && sb.max_abs_dev < bound,
              "bf16 max |dev| %g outside (2^-12, %g)", sb.max_abs_dev, bound);
    cr_assert(s16.max_abs_dev > s32.max_abs_dev && s16.max_abs_dev < sb.max_abs_dev,
              "fp16 %g between fp32 %g and bf16 %g", s16.max_abs_dev, s32.max_abs_dev,
              sb.max_abs_dev);
    cr_assert(s16.max_abs_dev < bound / 8, "fp16 max |dev| %g", s16.max_abs_dev);
    cr_assert(sb.row_sum_std > s32.row_sum_std);
    // The fp32 deviations sit in the bins below 1e-5, bf16's reach 1e-4 and beyond.
    long high32 = 0, highb = 0;
    for (int b = 0; b < AUDIT_HIST_BINS; b++) {
        double lo, hi;
        audit_hist_bounds(b, &lo, &hi);
        int high = lo >= 1e-4 || hi <= -1e-4;
        high32 += high ? s32.hist[b] : 0;
        highb += high ? sb.hist[b] : 0;
    }
    cr_assert(high32 == 0 && highb > 0, "rows with |dev| >= 1e-4: fp32 %ld, bf16 %ld", high32,
              highb);
    free3(st);
    model_free(&m);
}

// fp32 statistics agree with row sums of attention_final_map, for every variant and mode.
Test(audit, fp32_matches_attention_final_map) {
    struct {
        Variant v;
        GMode g;
        GammaMode gm;
        float gv;
    } cfgs[] = {{VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_TIED, 0},
                {VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0},
                {VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0},
                {VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0},
                {VARIANT_DINT, GMODE_CAUSAL, GAMMA_FIXED, 0.3f}};
    int B = 2, T = 24;
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        Model m;
        build(&m, cfgs[c].v, cfgs[c].g, cfgs[c].gm, cfgs[c].gv, 21 + c);
        forward_random(&m, B, T, 9 + c);
        AuditStats st;
        audit_init(&st, &m, PRECISION_FP32);
        AuditStats *ptr[AUDIT_N_PREC] = {&st, NULL, NULL};
        audit_accumulate(ptr, &m, B, T);
        AttnDims ad = attn_dims(&m.cfg, T);
        float *A = malloc(sizeof(float) * T * T);
        for (int l = 0; l < m.cfg.n_layer; l++) {
            float lam = model_lambda(&m, l), gam = model_gamma(&m, l);
            double expected = 1.0 - (ad.n_maps == 2 ? lam : 0.0) + (ad.use_global ? gam : 0.0);
            for (int h = 0; h < ad.n_heads; h++) {
                double mn = INFINITY, mx = -INFINITY, md = 0.0;
                long entries = 0;
                for (int b = 0; b < B; b++) {
                    attention_final_map_recompute(A, m.la[l].q, m.la[l].k, b, h, lam, gam, &ad);
                    for (int i = 0; i < T; i++) {
                        int jmax = ad.use_global && ad.g_mode == GMODE_FULL ? T - 1 : i;
                        double rs = 0.0;
                        for (int j = 0; j <= jmax; j++) rs += A[i * T + j];
                        entries += jmax + 1;
                        mn = fmin(mn, rs);
                        mx = fmax(mx, rs);
                        md = fmax(md, fabs(rs - expected));
                    }
                }
                AuditHeadSummary s;
                audit_head_summary(&st, l, h, &s);
                CLOSE(s.expected, expected, 1e-15, "expected");
                CLOSE(s.row_sum_min, mn, 1e-6, "min row sum");
                CLOSE(s.row_sum_max, mx, 1e-6, "max row sum");
                CLOSE(s.max_abs_dev, md, 1e-6, "max |dev|");
                cr_assert(s.max_abs_dev < 1e-5, "config %zu layer %d head %d: |dev| %g", c, l, h,
                          s.max_abs_dev);
                cr_assert(st.head[l * ad.n_heads + h].entries == entries);
                if (ad.n_maps == 2)
                    cr_assert(s.frac_negative > 0.0, "DIFF/DINT maps have negatives");
                else
                    cr_assert(s.frac_negative == 0.0 && isnan(s.entropy_a2));
            }
        }
        free(A);
        audit_free(&st);
        model_free(&m);
    }
}

Test(audit, leakage_probe_per_variant) {
    struct {
        Variant v;
        GMode g;
        GammaMode gm;
        float gv;
        int leaks;
    } cfgs[] = {{VARIANT_TRANSFORMER, GMODE_CAUSAL, GAMMA_TIED, 0, 0},
                {VARIANT_DIFF, GMODE_CAUSAL, GAMMA_ZERO, 0, 0},
                {VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0, 0},
                {VARIANT_DINT, GMODE_CAUSAL, GAMMA_ZERO, 0, 0},
                {VARIANT_DINT, GMODE_CAUSAL, GAMMA_LEARNED, 0, 0},
                {VARIANT_DINT, GMODE_CAUSAL, GAMMA_FIXED, 0.3f, 0},
                {VARIANT_DINT, GMODE_FULL, GAMMA_TIED, 0, 1},
                {VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0, 1},
                {VARIANT_DINT, GMODE_FULL, GAMMA_FIXED, 0.3f, 1},
                {VARIANT_DINT, GMODE_FULL, GAMMA_ZERO, 0, 0}}; // no global term, nothing leaks
    int T = 12, tok[12];
    tiny_tokens(tok, T, 31, 17);
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        Model m;
        build(&m, cfgs[c].v, cfgs[c].g, cfgs[c].gm, cfgs[c].gv, 31 + c);
        int ts[3] = {6, 1, 11};
        for (int k = 0; k < 3; k++) {
            AuditLeakage r;
            cr_assert(audit_leakage_probe(&m, tok, T, ts[k], &r) == 0);
            cr_assert(r.changed_before_t == cfgs[c].leaks, "config %zu t=%d: changed before t = %d",
                      c, ts[k], r.changed_before_t);
            cr_assert(r.changed_from_t == 1, "config %zu t=%d: the change had no effect", c, ts[k]);
            cr_assert(r.replacement == (tok[ts[k]] + 1) % 31);
            if (cfgs[c].leaks)
                cr_assert(r.first_changed == 0 && r.max_abs_diff_before > 0.0);
            else
                cr_assert(r.first_changed == ts[k] && r.max_abs_diff_before == 0.0);
            int flag = -1;
            cr_assert(audit_leakage(&m, tok, T, ts[k], &flag) == 0 && flag == cfgs[c].leaks);
        }
        AuditLeakage r;
        int flag = 7;
        cr_assert(audit_leakage_probe(&m, tok, T, 0, &r) == 0 && r.changed_before_t == 0);
        cr_assert(audit_leakage(&m, tok, T, T, &flag) == -1 && flag == 7, "t = T is refused");
        cr_assert(audit_leakage(&m, tok, T, -1, &flag) == -1);
        int bad[2] = {0, 31};
        cr_assert(audit_leakage(&m, bad, 2, 0, &flag) == -1, "token outside the vocabulary");
        model_free(&m);
    }
}

// ---------------------------------------------------------------------------------------------
// Hidden states

static double kurtosis_two_pass(const double *x, long n) {
    double mean = 0.0, m2 = 0.0, m4 = 0.0;
    for (long i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (long i = 0; i < n; i++) {
        double d = x[i] - mean;
        m2 += d * d;
        m4 += d * d * d * d;
    }
    return n * m4 / (m2 * m2);
}

Test(audit, hidden_state_kurtosis_and_outliers) {
    Model m;
    build(&m, VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, 8);
    int T = 4, D = m.cfg.d_model; // 64 entries
    forward_random(&m, 1, T, 4);
    float *x = m.la[0].x_in;
    // 60 entries 3, two 4 and two 2: mean 3, deviations +-1 on 4 entries:
    // m2 = 4/64, m4 = 4/64, kurtosis = m4 / m2^2 = 16.
    for (int i = 0; i < T * D; i++) x[i] = 3.0f;
    x[5] = x[17] = 4.0f;
    x[30] = x[63] = 2.0f;
    AuditStats st[AUDIT_N_PREC], *ptr[AUDIT_N_PREC];
    init3(st, ptr, &m);
    audit_accumulate(ptr, &m, 1, T);
    AuditLayerSummary s;
    cr_assert(audit_layer_summary(&st[PRECISION_BF16], 0, &s) == 0);
    CLOSE(s.kurtosis, 16.0, 1e-12, "kurtosis");
    CLOSE(s.mean, 3.0, 1e-15, "mean");
    CLOSE(s.std, 0.25, 1e-15, "std");
    CLOSE(s.hidden_top1, 4.0, 0, "top-1");
    CLOSE(s.hidden_top10, 3.0, 0, "top-10");
    cr_assert(fabs(s.hidden_median - 3.0) <= 3.0 * 0x1p-5, "median %g", s.hidden_median);
    cr_assert(s.hidden_count == 64 && s.hidden_overflow == 0);
    CLOSE(s.lambda, model_lambda(&m, 0), 0, "lambda");
    CLOSE(s.gamma, model_gamma(&m, 0), 0, "gamma");
    CLOSE(s.lambda_p, precision_round(model_lambda(&m, 0), PRECISION_BF16), 0, "bf16 lambda");
    CLOSE(s.expected, 1.0, 1e-7, "tied: expected 1");

    // A second call with other values: the merged moments equal the pooled two-pass value.
    double pooled[128];
    for (int i = 0; i < 64; i++) pooled[i] = x[i];
    TestRng r;
    test_rng_seed(&r, 3);
    fill_uniform(x, 64, -2.0f, 9.0f, &r);
    x[7] = 70000.0f; // an outlier that overflows fp16 (not bf16)
    for (int i = 0; i < 64; i++) pooled[64 + i] = x[i];
    audit_accumulate(ptr, &m, 1, T);
    double want = kurtosis_two_pass(pooled, 128);
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        audit_layer_summary(&st[p], 0, &s);
        cr_assert(fabs(s.kurtosis - want) <= 1e-10 * want, "%s pooled kurtosis %.15g vs %.15g",
                  precision_name(p), s.kurtosis, want);
        CLOSE(s.hidden_top1, 70000.0, 0, "top-1 after the outlier");
        cr_assert(s.hidden_overflow == (p == PRECISION_FP16), "%s hidden overflow %ld",
                  precision_name(p), s.hidden_overflow);
    }
    // x_final is layer n_layer; pooling covers every stream.
    AuditLayerSummary fin, all;
    cr_assert(audit_layer_summary(&st[0], m.cfg.n_layer, &fin) == 0);
    cr_assert(audit_layer_summary(&st[0], -1, &all) == 0);
    cr_assert(fin.hidden_count == 128 && all.hidden_count == 128L * (m.cfg.n_layer + 1));
    cr_assert(isnan(all.lambda) && audit_layer_summary(&st[0], m.cfg.n_layer + 1, &all) == -1);
    free3(st);
    model_free(&m);
}

// ---------------------------------------------------------------------------------------------
// Cheap diagnostic and determinism

Test(audit, row_sum_deviation_subsample) {
    Model m;
    hand_diff(&m); // T = 3: only row 2 is sampled; head 0 deviates by -2^-9 there
    double mx[2], mean[2];
    audit_row_sum_deviation_maps(&m, 1, 3, HAND_MAPS, mx, mean);
    CLOSE(mx[0], 0x1p-9, 0, "layer 0 max");
    CLOSE(mean[0], 0x1p-10, 1e-6, "layer 0 mean over the two heads");
    cr_assert(mx[1] < 1e-5);
    model_free(&m);
    maps_release();

    build(&m, VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, 12);
    forward_random(&m, 2, 64, 6);
    audit_row_sum_deviation(&m, 2, 64, mx, NULL);
    AuditStats st;
    audit_init(&st, &m, PRECISION_FP32);
    AuditStats *ptr[AUDIT_N_PREC] = {&st, NULL, NULL};
    audit_accumulate(ptr, &m, 2, 64);
    for (int l = 0; l < 2; l++) {
        AuditHeadSummary s;
        audit_head_summary(&st, l, -1, &s);
        cr_assert(mx[l] < 1e-5 && mx[l] > 0.0, "layer %d: %g", l, mx[l]);
        cr_assert(mx[l] <= s.max_abs_dev + 1e-9, "sampled max %g above the full max %g", mx[l],
                  s.max_abs_dev);
    }
    // With a deviation planted in a sampled row (the last one) of batch item 0 it is found;
    // one planted in an unsampled row is not.
    float *A1 = map_at(&m, 1, 0, 1, 0);
    A1[62L * 64 + 3] += 0.01f; // row 62: not sampled
    audit_row_sum_deviation_maps(&m, 2, 64, HAND_MAPS, mx, mean);
    cr_assert(mx[1] < 1e-3);
    A1[63L * 64 + 3] += 0.01f; // row 63 = T - 1: sampled
    audit_row_sum_deviation_maps(&m, 2, 64, HAND_MAPS, mx, mean);
    cr_assert(mx[1] > 0.005, "planted deviation seen: %g", mx[1]);
    audit_free(&st);
    model_free(&m);
    maps_release();
}

Test(audit, independent_of_thread_count) {
    Model m;
    build(&m, VARIANT_DINT, GMODE_FULL, GAMMA_LEARNED, 0.0f, 13);
    forward_random(&m, 2, 48, 8);
    AuditStats a[AUDIT_N_PREC], b[AUDIT_N_PREC], *pa[AUDIT_N_PREC], *pb[AUDIT_N_PREC];
    init3(a, pa, &m);
    init3(b, pb, &m);
    threads_init(1);
    audit_accumulate(pa, &m, 2, 48);
    double mx1[2], mn1[2], mx2[2], mn2[2];
    audit_row_sum_deviation(&m, 2, 48, mx1, mn1);
    threads_init(2);
    audit_accumulate(pb, &m, 2, 48);
    audit_row_sum_deviation(&m, 2, 48, mx2, mn2);
    threads_init(1);
    int H = a[0].n_heads, L = a[0].n_layer;
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        cr_assert(memcmp(a[p].head, b[p].head, sizeof(AuditHeadStats) * L * H) == 0,
                  "%s head stats differ between 1 and 2 threads", precision_name(p));
        cr_assert(memcmp(a[p].layer, b[p].layer, sizeof(AuditLayerStats) * (L + 1)) == 0);
    }
    cr_assert(memcmp(mx1, mx2, sizeof mx1) == 0 && memcmp(mn1, mn2, sizeof mn1) == 0);
    free3(a);
    free3(b);
    model_free(&m);
}

// What an audit split over MPI ranks does: each forward measured apart, sent as doubles, read
// back and merged in sample order gives the statistics of audit_accumulate, bit for bit.
Test(audit, samples_through_doubles_merge_as_accumulate) {
    Model m;
    build(&m, VARIANT_DINT, GMODE_CAUSAL, GAMMA_TIED, 0.0f, 17);
    int T = 32, want[AUDIT_N_PREC] = {1, 1, 1, 1, 1, 1};
    AuditStats a[AUDIT_N_PREC], b[AUDIT_N_PREC], *pa[AUDIT_N_PREC], *pb[AUDIT_N_PREC];
    init3(a, pa, &m);
    init3(b, pb, &m);
    double *sent[3];
    long n[3];
    for (int k = 0; k < 3; k++) {
        forward_random(&m, 1, T, 30 + k);
        audit_accumulate(pa, &m, 1, T);
        AuditSample x;
        audit_sample(&x, &m, want, 1, T, NULL);
        n[k] = audit_sample_export(&x, NULL);
        sent[k] = malloc(sizeof(double) * (size_t)n[k]);
        cr_assert(audit_sample_export(&x, sent[k]) == n[k]);
        audit_sample_free(&x);
    }
    for (int k = 0; k < 3; k++) {
        AuditSample x;
        cr_assert(audit_sample_import(&x, sent[k], n[k]) == 0);
        audit_sample_merge(pb, &x);
        audit_sample_free(&x);
    }
    int H = a[0].n_heads, L = a[0].n_layer;
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        cr_assert(memcmp(a[p].head, b[p].head, sizeof(AuditHeadStats) * L * H) == 0,
                  "%s head stats differ", precision_name(p));
        cr_assert(memcmp(a[p].layer, b[p].layer, sizeof(AuditLayerStats) * (L + 1)) == 0);
        cr_assert(a[p].tokens == b[p].tokens && a[p].accumulations == 3);
    }
    AuditSample x;
    cr_assert(audit_sample_import(&x, sent[0], n[0] - 1) == -1, "one number short: refused");
    sent[0][1] = 0.5; // n_heads
    cr_assert(audit_sample_import(&x, sent[0], n[0]) == -1, "a malformed header: refused");
    for (int k = 0; k < 3; k++) free(sent[k]);
    free3(a);
    free3(b);
    model_free(&m);
}
