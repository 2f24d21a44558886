// The byte and GPT-2 tokenizers: valid UTF-8 must encode, and whatever encodes must decode back
// to the same bytes;
// any input read as token ids must decode or be refused (no overrun of the output buffer).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"

static Tokenizer byte_tok, gpt2_tok;
static int have_gpt2;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    Error err;
    if (tokenizer_open(&byte_tok, "byte", NULL, &err) != 0) abort();
    // GPT-2 tables from the data cache (data/fetch.sh gpt2); without them only bytes are fuzzed.
    const Gpt2Files files = {GPT2_DIR "/encoder.json", GPT2_DIR "/vocab.bpe", NULL};
    have_gpt2 = tokenizer_open(&gpt2_tok, "gpt2", &files, &err) == 0;
    return 0;
}

static void check(Tokenizer *t, const uint8_t *data, size_t size) {
    int *ids = malloc(sizeof(int) * (size + 1));
    long n = tokenizer_encode(t, (const char *)data, size, ids);
    // Only invalid UTF-8 may be refused (the byte tokenizer takes any bytes).
    if (n < 0 && utf8_first_invalid((const char *)data, size) < 0) abort();
    if (n >= 0) {
        long len = tokenizer_decode(t, ids, n, NULL, 0);
        char *back = malloc((size_t)len + 1);
        if (len != (long)size || tokenizer_decode(t, ids, n, back, len) != len ||
            memcmp(back, data, size) != 0)
            abort(); // not a round trip
        free(back);
    }
    // The input as token ids (4 bytes each), in and out of the vocabulary.
    long k = (long)(size / 4);
    memcpy(ids, data, (size_t)k * 4);
    long len = tokenizer_decode(t, ids, k, NULL, 0);
    if (len >= 0) {
        char *out = malloc((size_t)len + 1);
        if (tokenizer_decode(t, ids, k, out, len) != len) abort();
        free(out);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(&byte_tok, data, size);
    if (have_gpt2) check(&gpt2_tok, data, size);
    return 0;
}
