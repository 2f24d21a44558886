#include "leakage_probe.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int audit_leakage_probe(Model *m, const int *tokens, int T, int t, AuditLeakage *out) {
    int V = m->cfg.vocab_size;
    if (T < 1 || t < 0 || t >= T || V < 2 || !tokens) return -1;
    for (int i = 0; i < T; i++)
        if (tokens[i] < 0 || tokens[i] >= V) return -1;
    int *tok = xmalloc(sizeof(int) * (size_t)T);
    memcpy(tok, tokens, sizeof(int) * (size_t)T);
    model_forward(m, tok, NULL, 1, T);
    float *ref = xmalloc(sizeof(float) * (size_t)T * V);
    memcpy(ref, m->logits, sizeof(float) * (size_t)T * V);
    tok[t] = (tokens[t] + 1) % V;
    model_forward(m, tok, NULL, 1, T);
    AuditLeakage r = {0, 0, -1, 0.0, tok[t]};
    for (int i = 0; i < T; i++) {
        const float *a = ref + (long)i * V, *b = m->logits + (long)i * V;
        if (memcmp(a, b, sizeof(float) * (size_t)V) == 0) continue;
        if (r.first_changed < 0) r.first_changed = i;
        if (i >= t) {
            r.changed_from_t = 1;
            continue;
        }
        r.changed_before_t = 1;
        for (int v = 0; v < V; v++) {
            double d = fabs((double)a[v] - (double)b[v]);
            if (d > r.max_abs_diff_before || isnan(d)) r.max_abs_diff_before = d;
        }
    }
    *out = r;
    free(ref);
    free(tok);
    return 0;
}

int audit_leakage(Model *m, const int *tokens, int T, int t, int *changed_before_t) {
    AuditLeakage r;
    if (audit_leakage_probe(m, tokens, T, t, &r) != 0) return -1;
    *changed_before_t = r.changed_before_t;
    return 0;
}
