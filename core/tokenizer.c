#include "tokenizer.h"

#include <stdio.h>
#include <string.h>

#include "tokenizer_gpt2.h"

int tokenizer_vocab_size(const char *name) {
    if (!strcmp(name, "byte")) return BYTE_TOKENIZER_VOCAB;
    if (!strcmp(name, "gpt2")) return GPT2_VOCAB_SIZE;
    return 0;
}

int tokenizer_open(Tokenizer *t, const char *name, const Gpt2Files *gpt2, Error *err) {
    memset(t, 0, sizeof *t);
    if (!strcmp(name, "byte")) {
        snprintf(t->name, sizeof t->name, "byte");
        snprintf(t->identity, sizeof t->identity, "byte-v1 (256 bytes + end-of-document 256)");
        t->vocab_size = BYTE_TOKENIZER_VOCAB;
        t->eot = BYTE_TOKENIZER_EOT;
        return 0;
    }
    if (!strcmp(name, "gpt2")) {
        if (!gpt2) return error_set(err, "the GPT-2 tokenizer needs its files (none given)");
        char msg[400];
        Gpt2Tokenizer *g = gpt2_tokenizer_load(gpt2->encoder, gpt2->merges, msg, sizeof msg);
        if (!g) return error_set(err, "cannot load the GPT-2 tokenizer: %s", msg);
        snprintf(t->name, sizeof t->name, "gpt2");
        snprintf(t->identity, sizeof t->identity, "gpt2 (%s)", gpt2->pin ? gpt2->pin : "unpinned");
        t->vocab_size = gpt2_vocab_size(g);
        t->eot = gpt2_eot(g);
        t->impl = g;
        return 0;
    }
    return error_set(err, "unknown tokenizer '%s' (byte or gpt2)", name);
}

void tokenizer_close(Tokenizer *t) {
    if (t->impl) gpt2_tokenizer_free(t->impl);
    memset(t, 0, sizeof *t);
}

long tokenizer_encode(Tokenizer *t, const char *text, size_t n, int *out) {
    if (t->impl) {
        long k = gpt2_encode(t->impl, text, n, out, (long)n);
        return k < 0 ? -1 : k;
    }
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)text[i];
    return (long)n;
}

long tokenizer_decode(const Tokenizer *t, const int *ids, long n, char *out, long cap) {
    if (t->impl) return gpt2_decode(t->impl, ids, n, out, cap);
    long k = 0;
    for (long i = 0; i < n; i++) {
        if (ids[i] == t->eot) continue;
        if (ids[i] < 0 || ids[i] > 255 || (out && k >= cap)) return -1;
        if (out) out[k] = (char)ids[i];
        k++;
    }
    return k;
}

// Offset of the first byte that breaks UTF-8, or -1 when the text is valid.
long utf8_first_invalid(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    long n = (long)len;
    long i = 0;
    while (i < n) {
        unsigned c = s[i];
        int k;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0)
            k = 1, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            k = 2, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            k = 3, min = 0x10000;
        else
            return i;
        unsigned cp = c & (0x3F >> k);
        for (int j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += k + 1;
    }
    return -1;
}
