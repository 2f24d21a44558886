#include "labelled.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int find_label(char **names, int n, const char *label) {
    char *const *hit = bsearch(&label, names, (size_t)n, sizeof(char *), cmp_str);
    return hit ? (int)(hit - names) : -1;
}

int labelled_load(LabelledSet *s, const char *path, float test_fraction, uint64_t split_seed,
                  Error *err) {
    memset(s, 0, sizeof *s);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->split_seed = split_seed;
    FILE *f = fopen(path, "rb");
    if (!f) return error_set(err, "cannot read labelled set '%s'", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)len + 1);
    size_t got = len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    if ((long)got != len) {
        free(buf);
        return error_set(err, "cannot read labelled set '%s'", path);
    }
    buf[len] = '\0';
    long bad = utf8_first_invalid(buf, (size_t)len);
    if (bad >= 0) {
        long line = 1;
        for (long i = 0; i < bad; i++) line += buf[i] == '\n';
        free(buf);
        return error_set(err, "%s:%ld: not UTF-8 text (invalid byte at offset %ld)", path, line,
                         bad);
    }
    // Pass 1: count and check lines; pass 2 (below) copies them.
    int cap = 1024, n = 0, rc = 0;
    char **labels = xmalloc(sizeof(char *) * cap), **texts = xmalloc(sizeof(char *) * cap);
    long lineno = 0;
    for (char *line = buf; line && *line && rc == 0;) {
        lineno++;
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = '\0';
        if (ll > 0) {
            char *tab = strchr(line, '\t');
            if (!tab)
                rc = error_set(err, "%s:%ld: expected label<TAB>text, found no tab", path, lineno);
            else if (tab == line)
                rc = error_set(err, "%s:%ld: empty label", path, lineno);
            else if (!tab[1])
                rc = error_set(err, "%s:%ld: empty text", path, lineno);
            else {
                *tab = '\0';
                if (n == cap) {
                    cap *= 2;
                    labels = realloc(labels, sizeof(char *) * cap);
                    texts = realloc(texts, sizeof(char *) * cap);
                    CHECK(labels && texts, "out of memory reading '%s'", path);
                }
                labels[n] = line;
                texts[n] = tab + 1;
                n++;
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    if (rc == 0 && n == 0)
        rc = error_set(err, "labelled set '%s' is empty: no label<TAB>text lines", path);
    if (rc == 0 && n < 2)
        rc = error_set(
            err, "labelled set '%s' has one example; a train/test split needs at least 2", path);
    if (rc == 0) {
        // Sorted unique label names.
        char **sorted = xmalloc(sizeof(char *) * (size_t)n);
        memcpy(sorted, labels, sizeof(char *) * (size_t)n);
        qsort(sorted, (size_t)n, sizeof(char *), cmp_str);
        s->names = xmalloc(sizeof(char *) * (size_t)n);
        for (int i = 0; i < n; i++)
            if (i == 0 || strcmp(sorted[i], sorted[i - 1]) != 0)
                s->names[s->n_labels++] = strdup(sorted[i]);
        free(sorted);
        s->n = n;
        s->text = xmalloc(sizeof(char *) * (size_t)n);
        s->label = xmalloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) {
            s->text[i] = strdup(texts[i]);
            s->label[i] = find_label(s->names, s->n_labels, labels[i]);
        }
        int n_test = (int)(test_fraction * n + 0.5);
        if (n_test < 1) n_test = 1;
        if (n_test > n - 1) n_test = n - 1;
        int *order = xmalloc(sizeof(int) * (size_t)n);
        for (int i = 0; i < n; i++) order[i] = i;
        gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r, (unsigned long)split_seed);
        gsl_ran_shuffle(r, order, (size_t)n, sizeof(int));
        gsl_rng_free(r);
        s->is_test = xcalloc((size_t)n, 1);
        for (int i = 0; i < n_test; i++) s->is_test[order[i]] = 1;
        free(order);
    }
    free(labels);
    free(texts);
    free(buf);
    if (rc != 0) labelled_free(s);
    return rc;
}

void labelled_free(LabelledSet *s) {
    for (int i = 0; i < s->n && s->text; i++) free(s->text[i]);
    for (int i = 0; i < s->n_labels; i++) free(s->names[i]);
    free(s->text);
    free(s->label);
    free(s->names);
    free(s->is_test);
    memset(s, 0, sizeof *s);
}
