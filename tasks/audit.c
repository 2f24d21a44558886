#include "audit.h"

#include "attention_stream.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Central moments (Pebay 2008: pairwise update of M2, M3, M4).

typedef struct {
    long n;
    double mean, m2, m3, m4;
} Moments;

static Moments moments_merge(Moments a, Moments b) {
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    double na = (double)a.n, nb = (double)b.n, n = na + nb, d = b.mean - a.mean;
    double d2 = d * d, d3 = d2 * d, d4 = d2 * d2;
    Moments r;
    r.n = a.n + b.n;
    r.mean = a.mean + d * nb / n;
    r.m2 = a.m2 + b.m2 + d2 * na * nb / n;
    r.m3 = a.m3 + b.m3 + d3 * na * nb * (na - nb) / (n * n) + 3.0 * d * (na * b.m2 - nb * a.m2) / n;
    r.m4 = a.m4 + b.m4 + d4 * na * nb * (na * na - na * nb + nb * nb) / (n * n * n) +
           6.0 * d2 * (na * na * b.m2 + nb * nb * a.m2) / (n * n) +
           4.0 * d * (na * b.m3 - nb * a.m3) / n;
    return r;
}

// Two passes over x (n): exact central sums of its finite entries.
static Moments moments_of(const float *x, long n) {
    Moments r = {0, 0.0, 0.0, 0.0, 0.0};
    double s = 0.0;
    for (long i = 0; i < n; i++)
        if (isfinite(x[i])) {
            s += x[i];
            r.n++;
        }
    if (r.n == 0) return r;
    r.mean = s / (double)r.n;
    for (long i = 0; i < n; i++)
        if (isfinite(x[i])) {
            double d = x[i] - r.mean, d2 = d * d;
            r.m2 += d2;
            r.m3 += d2 * d;
            r.m4 += d2 * d2;
        }
    return r;
}

// ---------------------------------------------------------------------------------------------
// Init / free

void audit_init(AuditStats *s, const Model *m, Precision p) {
    memset(s, 0, sizeof *s);
    const ModelConfig *c = &m->cfg;
    AttnDims ad = attn_dims(c, 1);
    s->prec = p;
    s->variant = c->variant;
    s->g_mode = c->g_mode;
    s->use_global = ad.use_global;
    s->n_layer = c->n_layer;
    s->n_heads = ad.n_heads;
    s->n_maps = ad.n_maps;
    s->head = xcalloc((size_t)s->n_layer * s->n_heads, sizeof(AuditHeadStats));
    s->layer = xcalloc((size_t)s->n_layer + 1, sizeof(AuditLayerStats));
    for (int i = 0; i < s->n_layer * s->n_heads; i++) {
        s->head[i].min_row = INFINITY;
        s->head[i].max_row = -INFINITY;
        s->head[i].expected = NAN;
    }
}

void audit_free(AuditStats *s) {
    free(s->head);
    free(s->layer);
    s->head = NULL;
    s->layer = NULL;
}

// ---------------------------------------------------------------------------------------------
// Accumulation: a forward measured into an AuditSample, which is then merged into the stats

static double expected_sum(const AuditStats *s, float lambda, float gamma) {
    double e = 1.0;
    if (s->n_maps == 2) e -= lambda;
    if (s->use_global) e += gamma;
    return e;
}

// sum |a| and sum |a| ln |a| of one value, for the one-pass entropy ln S - Q / S.
static inline void ent_add(double *S, double *Q, float v) {
    double a = fabs((double)v);
    if (a > 0.0 && a <= DBL_MAX) {
        *S += a;
        *Q += a * log(a);
    }
}

// A row's entropy ln S - Q / S; NaN when the row enters no mean (empty or not finite).
static inline double ent_of(double S, double Q) {
    if (!(S > 0.0) || !isfinite(S) || !isfinite(Q)) return NAN;
    double H = log(S) - Q / S;
    return isfinite(H) ? H : NAN;
}

// The row as a kernel at precision p stores it: r itself, or for qK its entries 0 .. i quantised
// to K bits (the reduced-precision kernel's probabilities: core/attention_stream.c) in tmp (T).
static const float *stored_row(const float *r, int i, int T, Precision p, float *tmp) {
    if (p < PRECISION_Q8) return r;
    memcpy(tmp, r, sizeof(float) * (size_t)T);
    quantize_row_symmetric(tmp, i + 1, precision_bits(p));
    return tmp;
}

// Row i of the final map of one (b, h) in precision p (core's attention_final_row with p's
// rounding), rows visited in order 0 .. T-1, into out and the head's counts. r1, r2 (T) rows of
// the softmax probabilities (r2 NULL for one map), zero after i; colsum (T) the G column sums of
// the rounded A1: all rows (full, summed beforehand) or rows 0 .. i - 1 (causal: row i is added
// here); f, g (T) scratch; q1, q2 (T) scratch for the quantised rows (qK: stored_row).
static void map_row(AuditRow *out, long *count, const float *r1, const float *r2, int i,
                    float lambda, float gamma, const AttnDims *ad, Precision p, double *colsum,
                    float *f, float *g, float *q1, float *q2) {
    r1 = stored_row(r1, i, ad->T, p, q1);
    if (r2) r2 = stored_row(r2, i, ad->T, p, q2);
    AttnRound R = precision_rounding(p);
    int full = ad->use_global && ad->g_mode == GMODE_FULL;
    if (r2 && ad->use_global) {
        if (!full) attention_global_add_row(colsum, r1, i, R);
        attention_global_row(g, colsum, i, ad, R);
    }
    int jmax = attention_final_row(f, r1, r2, g, i, lambda, gamma, ad, R) - 1;
    double rs = 0.0, neg = 0.0;
    double S1 = 0.0, Q1 = 0.0, S2 = 0.0, Q2 = 0.0, Sf = 0.0, Qf = 0.0;
    long nneg = 0, nnan = 0, ninf = 0;
    for (int j = 0; j <= jmax; j++) {
        float a1 = precision_round_fast(r1[j], p);
        if (j <= i) ent_add(&S1, &Q1, a1);
        nnan += isnan(a1);
        ninf += isinf(a1);
        if (r2) {
            float a2 = precision_round_fast(r2[j], p);
            if (j <= i) ent_add(&S2, &Q2, a2);
            nnan += isnan(a2);
            ninf += isinf(a2);
            nnan += isnan(f[j]);
            ninf += isinf(f[j]);
        }
        rs += f[j];
        ent_add(&Sf, &Qf, f[j]);
        if (f[j] < 0.0f) {
            nneg++;
            neg += f[j];
        }
    }
    count[AUDIT_ENTRIES] += jmax + 1;
    count[AUDIT_NEG_ENTRIES] += nneg;
    count[AUDIT_NEG_ROWS] += nneg > 0;
    count[AUDIT_NAN] += nnan;
    count[AUDIT_INF] += ninf;
    out->row_sum = rs;
    out->neg_sum = neg;
    out->entropy[0] = ent_of(S1, Q1);
    out->entropy[1] = r2 ? ent_of(S2, Q2) : NAN;
    out->entropy[2] = ent_of(Sf, Qf);
}

// One row of a sample into its head's statistics: the only place where rows are summed, so that
// the sums see the same additions in the same order however the samples were measured.
static void row_fold(AuditHeadStats *hs, const AuditRow *r) {
    hs->neg_sum += r->neg_sum;
    for (int e = 0; e < 3; e++)
        if (!isnan(r->entropy[e])) {
            hs->ent_sum[e] += r->entropy[e];
            hs->ent_rows[e]++;
        }
    double rs = r->row_sum;
    if (!isfinite(rs)) {
        hs->rows_nonfinite++;
        return;
    }
    double dev = rs - hs->expected;
    hs->rows++;
    hs->sum_row += rs;
    hs->sum_dev += dev;
    hs->sum_dev2 += dev * dev;
    if (rs < hs->min_row) hs->min_row = rs;
    if (rs > hs->max_row) hs->max_row = rs;
    if (fabs(dev) > hs->max_abs_dev) hs->max_abs_dev = fabs(dev);
    hs->hist[audit_hist_bin(dev)]++;
}

// Rows [i0, i0 + n) of map mp of (l, b, h) into P (n, T), and the logits into S (n, T) if not
// NULL: recomputed from the stored q and k, or copied from maps[l] (B, heads, maps, T, T) when
// the caller supplied maps for the layer (the logits still come from q and k).
void audit_map_rows(float *P, float *S, const Model *m, const float *const *maps, int l, int b,
                    int h, int mp, int i0, int n, const AttnDims *ad) {
    const LayerActs *la = &m->la[l];
    if (!(maps && maps[l]) || S) attention_map_rows(P, S, la->q, la->k, b, h, mp, i0, n, ad);
    if (maps && maps[l]) {
        long T = ad->T;
        const float *A = maps[l] + attn_map_offset(ad, b, h, mp);
        memcpy(P, A + (long)i0 * T, sizeof(float) * (size_t)n * T);
    }
}

typedef struct {
    float *P1, *P2, *S;           // (ATTN_ROW_BLOCK, T) rows of A1, A2 and logits
    float *f, *g;                 // (T) one final-map row and its G row
    float *q1, *q2;               // (T) a quantised row of A1 and of A2 (qK)
    double *colsum[AUDIT_N_PREC]; // (T) per precision
} Scratch;

// Task (l, h): per batch item, blocks of rows of every map recomputed from q and k (their
// logits into the logit statistics), then the final-map rows per precision. O(T) memory per
// row; the G column sums stream over the rows in order (causal) or take a first pass (full).
static void head_task(AuditSample *x, const Model *m, const float *const *maps, int B, int T, int l,
                      int h, Scratch *sc) {
    const ModelConfig *c = &m->cfg;
    AttnDims ad = attn_dims(c, T);
    float lambda = model_lambda(m, l), gamma = model_gamma(m, l);
    long head = (long)l * x->n_heads + h;
    AuditAbsStats *abs = &x->logit[head];
    long *over = x->logit_overflow + head * AUDIT_N_PREC;
    double thr[AUDIT_N_PREC];
    for (int p = 0; p < AUDIT_N_PREC; p++) thr[p] = precision_overflow((Precision)p);
    int two = ad.n_maps == 2, full = ad.use_global && ad.g_mode == GMODE_FULL;
    for (int b = 0; b < B; b++) {
        for (int k = 0; k < AUDIT_N_PREC; k++)
            if (x->want[k]) memset(sc->colsum[k], 0, sizeof(double) * (size_t)T);
        if (two && full) // column sums of the rounded A1 over all rows
            for (int i0 = 0; i0 < T; i0 += ATTN_ROW_BLOCK) {
                int n = T - i0 < ATTN_ROW_BLOCK ? T - i0 : ATTN_ROW_BLOCK;
                audit_map_rows(sc->P1, NULL, m, maps, l, b, h, 0, i0, n, &ad);
                for (int k = 0; k < AUDIT_N_PREC; k++) {
                    if (!x->want[k]) continue;
                    for (int r = 0; r < n; r++)
                        attention_global_add_row(
                            sc->colsum[k],
                            stored_row(sc->P1 + (long)r * T, i0 + r, T, (Precision)k, sc->q1),
                            i0 + r, precision_rounding((Precision)k));
                }
            }
        for (int i0 = 0; i0 < T; i0 += ATTN_ROW_BLOCK) {
            int n = T - i0 < ATTN_ROW_BLOCK ? T - i0 : ATTN_ROW_BLOCK;
            for (int mp = 0; mp < ad.n_maps; mp++) {
                audit_map_rows(mp ? sc->P2 : sc->P1, sc->S, m, maps, l, b, h, mp, i0, n, &ad);
                for (int r = 0; r < n; r++) {
                    const float *row = sc->S + (long)r * T;
                    for (int j = 0; j <= i0 + r; j++) {
                        float v = row[j];
                        audit_abs_add(abs, v);
                        double av = fabs((double)v);
                        if (av >= thr[PRECISION_FP16]) { // the smallest threshold
                            for (int p = 0; p < AUDIT_N_PREC; p++) over[p] += av >= thr[p];
                        }
                    }
                }
            }
            for (int k = 0; k < AUDIT_N_PREC; k++) {
                if (!x->want[k]) continue;
                AuditRow *rows = x->row[k] + head * x->rows + (long)b * T;
                long *count = x->count[k] + head * AUDIT_N_COUNTS;
                for (int r = 0; r < n; r++)
                    map_row(&rows[i0 + r], count, sc->P1 + (long)r * T,
                            two ? sc->P2 + (long)r * T : NULL, i0 + r, lambda, gamma, &ad,
                            (Precision)k, sc->colsum[k], sc->f, sc->g, sc->q1, sc->q2);
            }
        }
    }
}

// Task: the residual stream entering layer l (l == n_layer: x_final).
static void layer_task(AuditSample *x, const Model *m, int B, int T, int l) {
    const ModelConfig *c = &m->cfg;
    long n = (long)B * T * c->d_model;
    const float *v = l < c->n_layer ? m->la[l].x_in : m->x_final;
    AuditAbsStats *abs = &x->hidden[l];
    long *over = x->hidden_overflow + (long)l * AUDIT_N_PREC;
    for (long i = 0; i < n; i++) {
        audit_abs_add(abs, v[i]);
        double av = fabs((double)v[i]);
        if (av >= 65520.0)
            for (int p = 0; p < AUDIT_N_PREC; p++)
                over[p] += av >= precision_overflow((Precision)p);
    }
    Moments mo = moments_of(v, n);
    double *mm = x->moments + 5L * l;
    mm[0] = (double)mo.n, mm[1] = mo.mean, mm[2] = mo.m2, mm[3] = mo.m3, mm[4] = mo.m4;
    x->lambda[l] = l < c->n_layer ? model_lambda(m, l) : 0.0f;
    x->gamma[l] = l < c->n_layer ? model_gamma(m, l) : 0.0f;
}

void audit_sample_alloc(AuditSample *x, int n_layer, int n_heads, const int want[AUDIT_N_PREC],
                        int rows) {
    memset(x, 0, sizeof *x);
    long lh = (long)n_layer * n_heads;
    x->n_layer = n_layer;
    x->n_heads = n_heads;
    x->rows = rows;
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        x->want[p] = want[p] != 0;
        if (!x->want[p]) continue;
        x->row[p] = xcalloc((size_t)(lh * rows), sizeof(AuditRow));
        x->count[p] = xcalloc((size_t)(lh * AUDIT_N_COUNTS), sizeof(long));
    }
    x->logit = xcalloc((size_t)lh, sizeof(AuditAbsStats));
    x->logit_overflow = xcalloc((size_t)(lh * AUDIT_N_PREC), sizeof(long));
    x->hidden = xcalloc((size_t)n_layer + 1, sizeof(AuditAbsStats));
    x->hidden_overflow = xcalloc(((size_t)n_layer + 1) * AUDIT_N_PREC, sizeof(long));
    x->moments = xcalloc(((size_t)n_layer + 1) * 5, sizeof(double));
    x->lambda = xcalloc((size_t)n_layer + 1, sizeof(float));
    x->gamma = xcalloc((size_t)n_layer + 1, sizeof(float));
}

void audit_sample_free(AuditSample *x) {
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        free(x->row[p]);
        free(x->count[p]);
    }
    free(x->logit);
    free(x->logit_overflow);
    free(x->hidden);
    free(x->hidden_overflow);
    free(x->moments);
    free(x->lambda);
    free(x->gamma);
    memset(x, 0, sizeof *x);
}

void audit_sample(AuditSample *x, const Model *m, const int want[AUDIT_N_PREC], int B, int T,
                  const float *const *maps) {
    const ModelConfig *c = &m->cfg;
    CHECK(B == m->B && T == m->T,
          "audit_accumulate: (B, T) = (%d, %d) but the last forward ran (%d, %d)", B, T, m->B,
          m->T);
    int L = c->n_layer, H = model_n_heads(c);
    audit_sample_alloc(x, L, H, want, B * T);
    x->tokens = (long)B * T;
    int n_head_tasks = L * H, n_tasks = n_head_tasks + L + 1;
#pragma omp parallel
    {
        Scratch sc;
        memset(&sc, 0, sizeof sc);
#pragma omp for schedule(dynamic, 1)
        for (int task = 0; task < n_tasks; task++) {
            if (task < n_head_tasks) {
                if (!sc.P1) {
                    size_t blk = (size_t)ATTN_ROW_BLOCK * T;
                    sc.P1 = xmalloc(sizeof(float) * blk);
                    sc.P2 = xmalloc(sizeof(float) * blk);
                    sc.S = xmalloc(sizeof(float) * blk);
                    sc.f = xmalloc(sizeof(float) * (size_t)T);
                    sc.g = xmalloc(sizeof(float) * (size_t)T);
                    sc.q1 = xmalloc(sizeof(float) * (size_t)T);
                    sc.q2 = xmalloc(sizeof(float) * (size_t)T);
                    for (int k = 0; k < AUDIT_N_PREC; k++)
                        sc.colsum[k] = xmalloc(sizeof(double) * (size_t)T);
                }
                head_task(x, m, maps, B, T, task / H, task % H, &sc);
            } else {
                layer_task(x, m, B, T, task - n_head_tasks);
            }
        }
        free(sc.P1);
        free(sc.P2);
        free(sc.S);
        free(sc.f);
        free(sc.g);
        free(sc.q1);
        free(sc.q2);
        for (int k = 0; k < AUDIT_N_PREC; k++) free(sc.colsum[k]);
    }
}

void audit_sample_merge(AuditStats *s[AUDIT_N_PREC], const AuditSample *x) {
    int L = x->n_layer, H = x->n_heads;
    for (int k = 0; k < AUDIT_N_PREC; k++) {
        AuditStats *st = s[k];
        if (!st) continue;
        Precision p = st->prec;
        CHECK(st->n_layer == L && st->n_heads == H && x->want[p],
              "audit_sample_merge: stats %d are of another model shape, or the sample has no %s", k,
              precision_name(p));
        st->accumulations++;
        st->tokens += x->tokens;
        for (long i = 0; i < (long)L * H; i++) {
            AuditHeadStats *hs = &st->head[i];
            long l = i / H;
            hs->expected = expected_sum(st, x->lambda[l], x->gamma[l]);
            const AuditRow *r = x->row[p] + i * x->rows;
            for (long j = 0; j < x->rows; j++) row_fold(hs, &r[j]);
            const long *n = x->count[p] + i * AUDIT_N_COUNTS;
            hs->entries += n[AUDIT_ENTRIES];
            hs->neg_entries += n[AUDIT_NEG_ENTRIES];
            hs->neg_rows += n[AUDIT_NEG_ROWS];
            hs->n_nan += n[AUDIT_NAN];
            hs->n_inf += n[AUDIT_INF];
            audit_abs_merge(&hs->logit, &x->logit[i]);
            hs->logit_overflow += x->logit_overflow[i * AUDIT_N_PREC + p];
        }
        for (int l = 0; l <= L; l++) {
            AuditLayerStats *ls = &st->layer[l];
            ls->lambda = x->lambda[l];
            ls->gamma = x->gamma[l];
            ls->lambda_p = precision_round_fast(ls->lambda, p);
            ls->gamma_p = precision_round_fast(ls->gamma, p);
            audit_abs_merge(&ls->hidden, &x->hidden[l]);
            ls->hidden_overflow += x->hidden_overflow[(long)l * AUDIT_N_PREC + p];
            const double *mm = x->moments + 5L * l;
            Moments cur = {ls->mom_n, ls->mean, ls->m2, ls->m3, ls->m4};
            Moments mo = {(long)mm[0], mm[1], mm[2], mm[3], mm[4]};
            cur = moments_merge(cur, mo);
            ls->mom_n = cur.n;
            ls->mean = cur.mean;
            ls->m2 = cur.m2;
            ls->m3 = cur.m3;
            ls->m4 = cur.m4;
        }
    }
}

void audit_accumulate(AuditStats *s[AUDIT_N_PREC], const Model *m, int B, int T) {
    audit_accumulate_maps(s, m, B, T, NULL);
}

void audit_accumulate_maps(AuditStats *s[AUDIT_N_PREC], const Model *m, int B, int T,
                           const float *const *maps) {
    const ModelConfig *c = &m->cfg;
    int want[AUDIT_N_PREC] = {0, 0, 0};
    for (int k = 0; k < AUDIT_N_PREC; k++) {
        if (!s[k]) continue;
        CHECK(s[k]->n_layer == c->n_layer && s[k]->n_heads == model_n_heads(c) &&
                  s[k]->n_maps == model_n_maps(c) && s[k]->variant == c->variant,
              "audit_accumulate: stats %d were initialised for another model shape", k);
        want[s[k]->prec] = 1;
    }
    AuditSample x;
    audit_sample(&x, m, want, B, T, maps);
    audit_sample_merge(s, &x);
    audit_sample_free(&x);
}

// ---------------------------------------------------------------------------------------------
// Summaries

int audit_head_summary(const AuditStats *s, int layer, int head, AuditHeadSummary *out) {
    if (layer < -1 || layer >= s->n_layer || head < -1 || head >= s->n_heads) return -1;
    memset(out, 0, sizeof *out);
    int l0 = layer < 0 ? 0 : layer, l1 = layer < 0 ? s->n_layer : layer + 1;
    int h0 = head < 0 ? 0 : head, h1 = head < 0 ? s->n_heads : head + 1;
    AuditHeadStats t;
    memset(&t, 0, sizeof t);
    t.min_row = INFINITY;
    t.max_row = -INFINITY;
    int first = 1, same_expected = 1;
    for (int l = l0; l < l1; l++)
        for (int h = h0; h < h1; h++) {
            const AuditHeadStats *a = &s->head[l * s->n_heads + h];
            if (first)
                t.expected = a->expected;
            else if (!(a->expected == t.expected))
                same_expected = 0;
            first = 0;
            t.rows += a->rows;
            t.rows_nonfinite += a->rows_nonfinite;
            t.sum_row += a->sum_row;
            t.sum_dev += a->sum_dev;
            t.sum_dev2 += a->sum_dev2;
            if (a->min_row < t.min_row) t.min_row = a->min_row;
            if (a->max_row > t.max_row) t.max_row = a->max_row;
            if (a->max_abs_dev > t.max_abs_dev) t.max_abs_dev = a->max_abs_dev;
            for (int b = 0; b < AUDIT_HIST_BINS; b++) t.hist[b] += a->hist[b];
            t.entries += a->entries;
            t.neg_entries += a->neg_entries;
            t.neg_rows += a->neg_rows;
            t.neg_sum += a->neg_sum;
            for (int e = 0; e < 3; e++) {
                t.ent_sum[e] += a->ent_sum[e];
                t.ent_rows[e] += a->ent_rows[e];
            }
            t.n_nan += a->n_nan;
            t.n_inf += a->n_inf;
            audit_abs_merge(&t.logit, &a->logit);
            t.logit_overflow += a->logit_overflow;
        }
    double n = (double)t.rows, all_rows = (double)(t.rows + t.rows_nonfinite);
    out->rows = t.rows;
    out->rows_nonfinite = t.rows_nonfinite;
    out->expected = same_expected ? t.expected : NAN;
    out->row_sum_mean = t.rows ? t.sum_row / n : NAN;
    out->row_sum_min = t.rows ? t.min_row : NAN;
    out->row_sum_max = t.rows ? t.max_row : NAN;
    out->dev_mean = t.rows ? t.sum_dev / n : NAN;
    double var = t.rows ? t.sum_dev2 / n - out->dev_mean * out->dev_mean : NAN;
    out->row_sum_std = t.rows ? sqrt(var > 0.0 ? var : 0.0) : NAN;
    out->max_abs_dev = t.rows ? t.max_abs_dev : NAN;
    memcpy(out->hist, t.hist, sizeof out->hist);
    out->frac_negative = t.entries ? (double)t.neg_entries / (double)t.entries : NAN;
    out->neg_mass_per_row = all_rows > 0 ? t.neg_sum / all_rows : NAN;
    out->frac_rows_negative = all_rows > 0 ? (double)t.neg_rows / all_rows : NAN;
    out->entropy_a1 = t.ent_rows[0] ? t.ent_sum[0] / (double)t.ent_rows[0] : NAN;
    out->entropy_a2 = t.ent_rows[1] ? t.ent_sum[1] / (double)t.ent_rows[1] : NAN;
    out->entropy_final = t.ent_rows[2] ? t.ent_sum[2] / (double)t.ent_rows[2] : NAN;
    out->logit_count = t.logit.n;
    out->logit_top1 = audit_abs_kth(&t.logit, 1);
    out->logit_max = out->logit_top1;
    out->logit_top10 = audit_abs_kth(&t.logit, 10);
    out->logit_top100 = audit_abs_kth(&t.logit, 100);
    out->logit_median = audit_abs_median(&t.logit);
    out->logit_overflow = t.logit_overflow;
    out->logit_overflow_margin = out->logit_max / precision_max(s->prec);
    out->n_nan = t.n_nan;
    out->n_inf = t.n_inf;
    out->logit_nan = t.logit.n_nan;
    out->logit_inf = t.logit.n_inf;
    return 0;
}

int audit_layer_summary(const AuditStats *s, int layer, AuditLayerSummary *out) {
    if (layer < -1 || layer > s->n_layer) return -1;
    memset(out, 0, sizeof *out);
    int l0 = layer < 0 ? 0 : layer, l1 = layer < 0 ? s->n_layer + 1 : layer + 1;
    AuditAbsStats *abs = xcalloc(1, sizeof(AuditAbsStats));
    Moments mo = {0, 0.0, 0.0, 0.0, 0.0};
    for (int l = l0; l < l1; l++) {
        const AuditLayerStats *a = &s->layer[l];
        audit_abs_merge(abs, &a->hidden);
        out->hidden_overflow += a->hidden_overflow;
        Moments b = {a->mom_n, a->mean, a->m2, a->m3, a->m4};
        mo = moments_merge(mo, b);
    }
    if (layer >= 0) {
        const AuditLayerStats *a = &s->layer[layer];
        out->lambda = a->lambda;
        out->gamma = a->gamma;
        out->lambda_p = a->lambda_p;
        out->gamma_p = a->gamma_p;
        out->expected = layer < s->n_layer ? expected_sum(s, a->lambda, a->gamma) : NAN;
    } else {
        out->lambda = out->gamma = out->lambda_p = out->gamma_p = out->expected = NAN;
    }
    out->hidden_count = abs->n;
    out->hidden_nan = abs->n_nan;
    out->hidden_inf = abs->n_inf;
    out->hidden_top1 = audit_abs_kth(abs, 1);
    out->hidden_top10 = audit_abs_kth(abs, 10);
    out->hidden_top100 = audit_abs_kth(abs, 100);
    out->hidden_median = audit_abs_median(abs);
    out->mean = mo.n ? mo.mean : NAN;
    out->std = mo.n ? sqrt(mo.m2 / (double)mo.n) : NAN;
    out->kurtosis = mo.n && mo.m2 > 0.0 ? (double)mo.n * mo.m4 / (mo.m2 * mo.m2) : NAN;
    free(abs);
    return 0;
}
