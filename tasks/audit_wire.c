#include "audit_wire.h"

#include <math.h>
#include <string.h>

enum { SAMPLE_HEADER = 3 + AUDIT_N_PREC, ABS_DOUBLES = 4 + AUDIT_TOPK + AUDIT_ABS_BINS };

// Doubles of a sample of this shape (a double: the header of an import may be anything).
static double sample_doubles(double n_layer, double n_heads, double rows, int n_prec) {
    double lh = n_layer * n_heads, streams = n_layer + 1;
    return SAMPLE_HEADER + 1 + n_prec * lh * (rows * 5 + AUDIT_N_COUNTS) +
           lh * (ABS_DOUBLES + AUDIT_N_PREC) + streams * (ABS_DOUBLES + AUDIT_N_PREC + 5 + 2);
}

typedef struct {
    double *buf;
    long n;
    int import; // 1: buf into the sample, 0: the sample into buf
} Walk;

static void walk_d(Walk *w, double *v) {
    if (w->import)
        *v = w->buf[w->n];
    else
        w->buf[w->n] = *v;
    w->n++;
}

static void walk_l(Walk *w, long *v) {
    double d = (double)*v;
    walk_d(w, &d);
    if (w->import) *v = (long)d;
}

static void walk_f(Walk *w, float *v) {
    double d = *v;
    walk_d(w, &d);
    if (w->import) *v = (float)d;
}

// A whole number in [lo, hi].
static int whole_in(double v, double lo, double hi) {
    return v >= lo && v <= hi && v == floor(v);
}

static void walk_abs(Walk *w, AuditAbsStats *a) {
    walk_l(w, &a->n);
    walk_l(w, &a->n_nan);
    walk_l(w, &a->n_inf);
    double n_top = a->n_top;
    walk_d(w, &n_top);
    if (w->import) a->n_top = whole_in(n_top, 0, AUDIT_TOPK) ? (int)n_top : -1; // -1: refused
    for (int i = 0; i < AUDIT_TOPK; i++) walk_f(w, &a->top[i]);
    for (int b = 0; b < AUDIT_ABS_BINS; b++) walk_l(w, &a->hist[b]);
}

// Everything after the header.
static void walk_sample(Walk *w, AuditSample *x) {
    long lh = (long)x->n_layer * x->n_heads, streams = x->n_layer + 1;
    walk_l(w, &x->tokens);
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        if (!x->want[p]) continue;
        for (long i = 0; i < lh * x->rows; i++) {
            AuditRow *r = &x->row[p][i];
            walk_d(w, &r->row_sum);
            walk_d(w, &r->neg_sum);
            for (int e = 0; e < 3; e++) walk_d(w, &r->entropy[e]);
        }
        for (long i = 0; i < lh * AUDIT_N_COUNTS; i++) walk_l(w, &x->count[p][i]);
    }
    for (long i = 0; i < lh; i++) walk_abs(w, &x->logit[i]);
    for (long i = 0; i < lh * AUDIT_N_PREC; i++) walk_l(w, &x->logit_overflow[i]);
    for (long l = 0; l < streams; l++) walk_abs(w, &x->hidden[l]);
    for (long i = 0; i < streams * AUDIT_N_PREC; i++) walk_l(w, &x->hidden_overflow[i]);
    for (long i = 0; i < streams * 5; i++) walk_d(w, &x->moments[i]);
    for (long l = 0; l < streams; l++) {
        walk_f(w, &x->lambda[l]);
        walk_f(w, &x->gamma[l]);
    }
}

static int n_prec(const int want[AUDIT_N_PREC]) {
    int n = 0;
    for (int p = 0; p < AUDIT_N_PREC; p++) n += want[p] != 0;
    return n;
}

long audit_sample_export(const AuditSample *x, double *out) {
    long n = (long)sample_doubles(x->n_layer, x->n_heads, x->rows, n_prec(x->want));
    if (!out) return n;
    double head[SAMPLE_HEADER] = {x->n_layer, x->n_heads, x->rows};
    for (int p = 0; p < AUDIT_N_PREC; p++) head[3 + p] = x->want[p];
    memcpy(out, head, sizeof head);
    Walk w = {out, SAMPLE_HEADER, 0};
    walk_sample(&w, (AuditSample *)x); // an export only reads the sample
    CHECK(w.n == n, "audit_sample_export: wrote %ld numbers, %ld expected", w.n, n);
    return n;
}

int audit_sample_import(AuditSample *x, const double *in, long n) {
    memset(x, 0, sizeof *x);
    if (n < SAMPLE_HEADER || !whole_in(in[0], 1, n) || !whole_in(in[1], 1, n) ||
        !whole_in(in[2], 1, n))
        return -1;
    int want[AUDIT_N_PREC];
    for (int p = 0; p < AUDIT_N_PREC; p++) {
        if (!whole_in(in[3 + p], 0, 1)) return -1;
        want[p] = (int)in[3 + p];
    }
    if (sample_doubles(in[0], in[1], in[2], n_prec(want)) != (double)n) return -1;
    audit_sample_alloc(x, (int)in[0], (int)in[1], want, (int)in[2]);
    Walk w = {(double *)in, SAMPLE_HEADER, 1}; // import only reads in
    walk_sample(&w, x);
    int ok = 1;
    for (long i = 0; i < (long)x->n_layer * x->n_heads; i++) ok &= x->logit[i].n_top >= 0;
    for (int l = 0; l <= x->n_layer; l++) ok &= x->hidden[l].n_top >= 0;
    if (!ok) audit_sample_free(x);
    return ok ? 0 : -1;
}
