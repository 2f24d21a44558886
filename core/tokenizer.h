// Tokenizers. The byte-level one maps each UTF-8 byte to its value and adds one
// end-of-document token (256), so the vocabulary has 257 entries.
#ifndef DINT_TOKENIZER_H
#define DINT_TOKENIZER_H

#include <stddef.h>

#define BYTE_TOKENIZER_EOT 256
#define BYTE_TOKENIZER_VOCAB 257

typedef struct {
    const char *name; // identity recorded in run files
    int vocab_size;
    int eot;
} Tokenizer;

// The tokenizer called `name`, or NULL when there is none of that name.
const Tokenizer *tokenizer_get(const char *name);
// Encode n bytes of text into out (capacity >= n for the byte tokenizer). Returns the count.
long tokenizer_encode(const Tokenizer *tok, const char *text, size_t n, int *out);
// Decode ids into out (capacity >= n bytes); the end-of-document token decodes to nothing.
long tokenizer_decode(const Tokenizer *tok, const int *ids, long n, char *out);

#endif
