#include "text_builder.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

void text_builder_put(TextBuilder *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = xmalloc(cap);
        if (b->n) memcpy(p, b->p, b->n);
        free(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void text_builder_puts(TextBuilder *b, const char *s) {
    text_builder_put(b, s, strlen(s));
}

void text_builder_clear(TextBuilder *b) {
    b->n = 0;
    if (b->p) b->p[0] = '\0';
}

void text_builder_free(TextBuilder *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
