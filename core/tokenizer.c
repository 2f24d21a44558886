#include "tokenizer.h"

#include <string.h>

static const Tokenizer BYTE_TOKENIZER = {"byte", BYTE_TOKENIZER_VOCAB, BYTE_TOKENIZER_EOT};

const Tokenizer *tokenizer_get(const char *name) {
    if (!strcmp(name, BYTE_TOKENIZER.name)) return &BYTE_TOKENIZER;
    return NULL;
}

long tokenizer_encode(const Tokenizer *tok, const char *text, size_t n, int *out) {
    (void)tok;
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)text[i];
    return (long)n;
}

long tokenizer_decode(const Tokenizer *tok, const int *ids, long n, char *out) {
    long k = 0;
    for (long i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < 256 && ids[i] != tok->eot) out[k++] = (char)ids[i];
    return k;
}
