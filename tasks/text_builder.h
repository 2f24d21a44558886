// A growable NUL-terminated string: append bytes, reuse by clearing, free once. Start from
// TextBuilder b = {0}; b.p stays NULL until the first append.
#ifndef DINT_TASKS_TEXT_BUILDER_H
#define DINT_TASKS_TEXT_BUILDER_H

#include <stddef.h>

typedef struct {
    char *p;       // the text, NUL-terminated (NULL before the first append)
    size_t n, cap; // bytes held (the NUL not counted) and allocated
} TextBuilder;

// Append n bytes of s (which may hold NULs).
void text_builder_put(TextBuilder *b, const char *s, size_t n);
// Append the C string s.
void text_builder_puts(TextBuilder *b, const char *s);
// Empty the text, keeping its memory.
void text_builder_clear(TextBuilder *b);
void text_builder_free(TextBuilder *b);

#endif
