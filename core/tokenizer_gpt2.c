// GPT-2 byte-level BPE tokenizer; see tokenizer_gpt2.h.
//
// Reference: package/Encoder.js of the npm package gpt-3-encoder@1.1.4 (node v20.20.2,
// Unicode 17.0). This file reproduces it exactly, including three places where it differs from
// OpenAI's Python encoder (openai/gpt-2 src/encoder.py, which uses the `regex` module):
//
// 1. Whitespace. The pattern's \s is JavaScript's \s: TAB LF VT FF CR, U+FEFF and the Zs
//    characters (U+0020 U+00A0 U+1680 U+2000-200A U+202F U+205F U+3000) plus U+2028/U+2029.
//    PCRE2's own \s (with UCP) would instead include U+0085 and U+180E and exclude U+FEFF, so
//    the class is spelled out below. Python's `regex` \s is Unicode White_Space (has U+0085,
//    lacks U+FEFF), so U+0085 and U+FEFF split differently from OpenAI's encoder.
// 2. Letters and digits. \p{L} and \p{N} are node's (Unicode 17.0). PCRE2 10.42 (Debian 12)
//    has Unicode 14.0 tables, so the code points that became letters or numbers in Unicode
//    15.0-17.0 are added as explicit ranges (EXTRA_L, EXTRA_N: node's class minus PCRE2's over
//    every code point, from tests/tokenizer/unicode_classes.js; PCRE2 has no L/N code point that
//    node lacks). With them the pre-tokeniser splits a text made of every code point in six
//    contexts exactly as node does. (The extra characters have no merges with their neighbours,
//    so no token sequence was found that they change.) The Python encoder follows whatever
//    Unicode version its `regex` build has.
// 3. Merge ranks keyed by strings. Encoder.js stores the rank of merge (a, b) under the
//    JavaScript property name String([a, b]) = a + "," + b, and looks a pair up the same way.
//    So an adjacent pair (x, y) that is not a merge but has x + "," + y equal to some merge's
//    key gets that merge's rank: with the GPT-2 files there are 11 such "comma" pairs, e.g.
//    ("\",", "\"") gets the rank of ("\"", ",\"") and merges to the token "\",\"" (2430), which
//    OpenAI's encoder never does. Among pairs of equal lowest rank Encoder.js merges the type of
//    the rightmost one first (its last write to an object keyed by rank wins); only comma pairs
//    can share a rank with another pair type (Python keys ranks by tuples: no sharing). Both are
//    reproduced here, but with the GPT-2 files they can never change the output: each comma pair
//    needs a bare comma to merge with one neighbour while a lower-ranked merge with its other,
//    still bare, neighbour is pending. E.g. for ("\",", "\"") the comma must join leftwards (ranks
//    >= 572 for any (z, ",")) while (",", "\"") (rank 297) waits; for ("]", ",[") and ("'", ",'")
//    the rightward merge (17158, 3776) loses to ("]", ",") (4101) and ("'", ",") (3000).
//
// Unlike the two references, decoding returns raw bytes (no U+FFFD for a partial UTF-8 tail),
// and an unknown id is an error rather than silently dropped (JS) or a KeyError (Python).
//
// Speed: the pre-tokeniser is one PCRE2 pattern (JIT-compiled when available); each word's ids
// are cached per tokenizer; BPE inside a word uses a linked list and a binary heap of candidate
// pairs, O(m log m) for a word of m bytes (the reference loop is O(m^2) per merge step).
#include "tokenizer_gpt2.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

// ---------------------------------------------------------------------------------------------
// Pre-tokeniser pattern: Encoder.js's
//   /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu
// with \s, \p{L} and \p{N} given node's meaning (see points 1 and 2 above).

#define JS_SPACE                                                                                   \
    "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"     \
    "\\x{205F}\\x{3000}\\x{FEFF}"

// Letters (gc=L) in Unicode 17.0 that are not letters in PCRE2 10.42's Unicode 14.0 tables.
#define EXTRA_L                                                                                    \
    "\\x{88F}\\x{C5C}\\x{CDC}\\x{1C89}-\\x{1C8A}\\x{A7CB}-\\x{A7CF}\\x{A7D2}\\x{A7D4}"             \
    "\\x{A7DA}-\\x{A7DC}\\x{A7F1}\\x{105C0}-\\x{105F3}\\x{10940}-\\x{10959}"                       \
    "\\x{10D4A}-\\x{10D65}\\x{10D6F}-\\x{10D85}\\x{10EC2}-\\x{10EC7}\\x{1123F}-\\x{11240}"         \
    "\\x{11380}-\\x{11389}\\x{1138B}\\x{1138E}\\x{11390}-\\x{113B5}\\x{113B7}\\x{113D1}"           \
    "\\x{113D3}\\x{11BC0}-\\x{11BE0}\\x{11DB0}-\\x{11DDB}\\x{11F02}\\x{11F04}-\\x{11F10}"          \
    "\\x{11F12}-\\x{11F33}\\x{1342F}\\x{13441}-\\x{13446}\\x{13460}-\\x{143FA}"                    \
    "\\x{16100}-\\x{1611D}\\x{16D40}-\\x{16D6C}\\x{16EA0}-\\x{16EB8}\\x{16EBB}-\\x{16ED3}"         \
    "\\x{16FF2}-\\x{16FF3}\\x{187F8}-\\x{187FF}\\x{18CFF}\\x{18D09}-\\x{18D1E}"                    \
    "\\x{18D80}-\\x{18DF2}\\x{1B132}\\x{1B155}\\x{1DF25}-\\x{1DF2A}\\x{1E030}-\\x{1E06D}"          \
    "\\x{1E4D0}-\\x{1E4EB}\\x{1E5D0}-\\x{1E5ED}\\x{1E5F0}\\x{1E6C0}-\\x{1E6DE}"                    \
    "\\x{1E6E0}-\\x{1E6E2}\\x{1E6E4}-\\x{1E6E5}\\x{1E6E7}-\\x{1E6ED}\\x{1E6F0}-\\x{1E6F4}"         \
    "\\x{1E6FE}-\\x{1E6FF}\\x{2B739}-\\x{2B73F}\\x{2CEA2}-\\x{2CEAD}\\x{2EBF0}-\\x{2EE5D}"         \
    "\\x{31350}-\\x{33479}"

// Numbers (gc=N) in Unicode 17.0 that are not numbers in PCRE2 10.42's Unicode 14.0 tables.
#define EXTRA_N                                                                                    \
    "\\x{10D40}-\\x{10D49}\\x{116D0}-\\x{116E3}\\x{11BF0}-\\x{11BF9}\\x{11DE0}-\\x{11DE9}"         \
    "\\x{11F50}-\\x{11F59}\\x{16130}-\\x{16139}\\x{16D70}-\\x{16D79}\\x{16FF4}-\\x{16FF6}"         \
    "\\x{1CCF0}-\\x{1CCF9}\\x{1D2C0}-\\x{1D2D3}\\x{1E4F0}-\\x{1E4F9}\\x{1E5F1}-\\x{1E5FA}"

static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d"
                                   "| ?[\\p{L}" EXTRA_L "]+"
                                   "| ?[\\p{N}" EXTRA_N "]+"
                                   "| ?[^" JS_SPACE "\\p{L}\\p{N}" EXTRA_L EXTRA_N "]+"
                                   "|[" JS_SPACE "]+(?![^" JS_SPACE "])"
                                   "|[" JS_SPACE "]+";

// ---------------------------------------------------------------------------------------------
// Small helpers.

static void set_err(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || err_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; // FNV-1a, then a final mix
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h | 1; // 0 marks an empty slot
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

// Whole file into a NUL-terminated buffer; NULL with errno set on failure.
static char *read_file_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *bigger = realloc(buf, 2 * cap + 1);
        if (!bigger) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    int failed = ferror(f);
    fclose(f);
    if (!buf) {
        errno = ENOMEM;
        return NULL;
    }
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

// The same, or NULL with "PATH: cannot read: REASON" in err.
static char *read_whole_file(const char *path, size_t *len, char *err, size_t err_len) {
    char *text = read_file_bytes(path, len);
    if (!text) set_err(err, err_len, "%s: cannot read: %s", path, strerror(errno));
    return text;
}

// Length of the valid UTF-8 prefix (strict: no overlongs, surrogates or code points > U+10FFFF).
static size_t utf8_valid_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; // allowed range of the second byte
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else
            return i;
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += len;
    }
    return n;
}

// Decode one code point from valid UTF-8 at s (length n > 0); sets *used.
static unsigned utf8_next(const unsigned char *s, size_t n, size_t *used) {
    unsigned c = s[0];
    if (c < 0x80 || n < 2) {
        *used = 1;
        return c;
    }
    if (c < 0xE0) {
        *used = 2;
        return ((c & 0x1F) << 6) | (s[1] & 0x3F);
    }
    if (c < 0xF0 || n < 4) {
        *used = 3;
        return ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    }
    *used = 4;
    return ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12) | ((s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

static size_t utf8_put(unsigned cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12)); // the byte alphabet stays below U+0144
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

// bytes_to_unicode() of the reference: printable Latin-1 bytes map to themselves, the other 68
// bytes to U+0100.. in byte order.
static void bytes_to_unicode(unsigned byte_to_cp[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        byte_to_cp[b] = printable ? (unsigned)b : (unsigned)(256 + n++);
    }
}

// ---------------------------------------------------------------------------------------------
// String -> int map (used while loading). Open addressing, linear probing; keys are copied.

typedef struct {
    uint64_t hash;
    size_t off; // into arena
    size_t len;
    int value;
} StrSlot;

typedef struct {
    StrSlot *slots;
    size_t cap, count;
    char *arena;
    size_t arena_len, arena_cap;
} StrMap;

static void strmap_free(StrMap *m) {
    free(m->slots);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

static int strmap_init(StrMap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(2 * expected + 1);
    m->slots = calloc(m->cap, sizeof *m->slots);
    m->arena_cap = 16 * expected + 64;
    m->arena = malloc(m->arena_cap);
    if (!m->slots || !m->arena) {
        strmap_free(m);
        return -1;
    }
    return 0;
}

static StrSlot *strmap_find(const StrMap *m, const char *s, size_t len, uint64_t h) {
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        StrSlot *e = &m->slots[i];
        if (!e->hash) return e;
        if (e->hash == h && e->len == len && !memcmp(m->arena + e->off, s, len)) return e;
    }
}

static const int *strmap_get(const StrMap *m, const char *s, size_t len) {
    const StrSlot *e = strmap_find(m, s, len, hash_bytes(s, len));
    return e->hash ? &e->value : NULL;
}

static int strmap_grow(StrMap *m) {
    StrMap bigger = *m;
    bigger.cap = 2 * m->cap;
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots) return -1;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash) {
            const StrSlot *e = &m->slots[i];
            *strmap_find(&bigger, m->arena + e->off, e->len, e->hash) = *e;
        }
    free(m->slots);
    m->slots = bigger.slots;
    m->cap = bigger.cap;
    return 0;
}

// Insert or overwrite; returns 1 if the key was new, 0 if overwritten, -1 out of memory.
static int strmap_put(StrMap *m, const char *s, size_t len, int value) {
    uint64_t h = hash_bytes(s, len);
    StrSlot *e = strmap_find(m, s, len, h);
    if (e->hash) {
        e->value = value;
        return 0;
    }
    if (m->arena_len + len > m->arena_cap) {
        size_t cap = 2 * m->arena_cap + len;
        char *a = realloc(m->arena, cap);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_len, s, len);
    e->hash = h;
    e->off = m->arena_len;
    e->len = len;
    e->value = value;
    m->arena_len += len;
    if (++m->count * 2 > m->cap && strmap_grow(m)) return -1;
    return 1;
}

// ---------------------------------------------------------------------------------------------
// Tokenizer.

typedef struct {  // (left id, right id) -> rank, merged id
    uint64_t key; // (left << 32 | right) + 1; 0 = empty
    int rank, merged;
} PairSlot;

typedef struct {   // one cached word: its bytes and its ids
    uint64_t hash; // 0 = empty
    uint32_t key_off, key_len, ids_off, ids_len;
} CacheSlot;

typedef struct { // candidate merge of the symbols at node `pos` and its successor
    int rank, pos, left, right;
} HeapItem;

#define CACHE_MAX_WORD    256       // longer words are not cached
#define CACHE_MAX_ENTRIES (1 << 20) // the cache is emptied when it reaches this

struct Gpt2Tokenizer {
    int vocab_size, eot;
    int byte_id[256]; // id of the one-byte token of each byte
    size_t *tok_off;  // bytes of token i: tok_bytes[tok_off[i] .. tok_off[i+1])
    char *tok_bytes;
    PairSlot *pairs;
    size_t pair_cap;
    pcre2_code *re;
    pcre2_match_data *match;
    // Per-word cache (mutable state owned by the tokenizer).
    CacheSlot *cache;
    size_t cache_cap, cache_count;
    char *cache_keys;
    size_t cache_keys_len, cache_keys_cap;
    int *cache_ids;
    size_t cache_ids_len, cache_ids_cap;
    // BPE scratch, grown on demand.
    int *sym, *prev, *next, *word_ids;
    HeapItem *heap, *batch;
    size_t scratch_cap;
};

static const PairSlot *pair_find(const Gpt2Tokenizer *t, int left, int right) {
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    for (size_t i = splitmix64_mix(key) & (t->pair_cap - 1);; i = (i + 1) & (t->pair_cap - 1)) {
        const PairSlot *p = &t->pairs[i];
        if (p->key == key) return p;
        if (!p->key) return NULL;
    }
}

static void pair_insert(Gpt2Tokenizer *t, int left, int right, int rank, int merged) {
    uint64_t key = (((uint64_t)(uint32_t)left << 32) | (uint32_t)right) + 1;
    for (size_t i = splitmix64_mix(key) & (t->pair_cap - 1);; i = (i + 1) & (t->pair_cap - 1)) {
        PairSlot *p = &t->pairs[i];
        if (!p->key || p->key == key) {
            p->key = key;
            p->rank = rank;
            p->merged = merged;
            return;
        }
    }
}

void gpt2_tokenizer_free(Gpt2Tokenizer *t) {
    if (!t) return;
    free(t->tok_off);
    free(t->tok_bytes);
    free(t->pairs);
    if (t->match) pcre2_match_data_free(t->match);
    if (t->re) pcre2_code_free(t->re);
    free(t->cache);
    free(t->cache_keys);
    free(t->cache_ids);
    free(t->sym);
    free(t->prev);
    free(t->next);
    free(t->word_ids);
    free(t->heap);
    free(t->batch);
    free(t);
}

int gpt2_vocab_size(const Gpt2Tokenizer *t) {
    return t->vocab_size;
}
int gpt2_eot(const Gpt2Tokenizer *t) {
    return t->eot;
}

// encoder.json: a JSON object {token: id} with ids 0..n-1 each used once. Fills tokens (the
// token strings as UTF-8, by id) and t->tok_off/tok_bytes (their bytes after byte decoding).

// Indexes the n members of the object root: by_id[id] = member, tokens[member's name] = id.
static int index_encoder_tokens(const cJSON *root, int n, const cJSON **by_id, StrMap *tokens,
                                const char *path, char *err, size_t err_len) {
    for (const cJSON *item = root->child; item; item = item->next) {
        double v = item->valuedouble;
        if (!cJSON_IsNumber(item) || !(v >= 0 && v < n) || v != (double)(int)v) {
            set_err(err, err_len, "%s: token \"%.40s\" has id %s; ids must be the integers 0..%d",
                    path, item->string, cJSON_IsNumber(item) ? "out of range" : "not a number",
                    n - 1);
            return -1;
        }
        int id = (int)v;
        if (by_id[id]) {
            set_err(err, err_len, "%s: id %d is used by two tokens", path, id);
            return -1;
        }
        by_id[id] = item;
        int put = strmap_put(tokens, item->string, strlen(item->string), id);
        if (put < 0) {
            set_err(err, err_len, "%s: out of memory", path);
            return -1;
        }
        if (put == 0) {
            set_err(err, err_len, "%s: token \"%.40s\" appears twice", path, item->string);
            return -1;
        }
    }
    return 0;
}

// Token bytes: every character of a token is in the byte alphabet. utf8_len is the total length
// of the token strings, enough since each character decodes to one byte.
static int decode_token_bytes(Gpt2Tokenizer *t, const cJSON *const *by_id, size_t utf8_len,
                              const char *path, char *err, size_t err_len) {
    int n = t->vocab_size;
    unsigned byte_to_cp[256];
    int cp_to_byte[0x144];
    bytes_to_unicode(byte_to_cp);
    for (int i = 0; i < 0x144; i++) cp_to_byte[i] = -1;
    for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp[b]] = b;
    t->tok_off = malloc(((size_t)n + 1) * sizeof *t->tok_off);
    t->tok_bytes = malloc(utf8_len + 1);
    if (!t->tok_off || !t->tok_bytes) {
        set_err(err, err_len, "%s: out of memory", path);
        return -1;
    }
    size_t out = 0;
    for (int id = 0; id < n; id++) {
        const unsigned char *s = (const unsigned char *)by_id[id]->string;
        size_t slen = strlen((const char *)s);
        t->tok_off[id] = out;
        if (slen == 0) {
            set_err(err, err_len, "%s: id %d has an empty token", path, id);
            return -1;
        }
        if (utf8_valid_prefix(s, slen) != slen) {
            set_err(err, err_len, "%s: token with id %d is not valid UTF-8", path, id);
            return -1;
        }
        for (size_t i = 0; i < slen;) {
            size_t used;
            unsigned cp = utf8_next(s + i, slen - i, &used);
            if (cp >= 0x144 || cp_to_byte[cp] < 0) {
                set_err(err, err_len,
                        "%s: token with id %d contains U+%04X, which is not in "
                        "the GPT-2 byte alphabet",
                        path, id, cp);
                return -1;
            }
            t->tok_bytes[out++] = (char)cp_to_byte[cp];
            i += used;
        }
    }
    t->tok_off[n] = out;
    return 0;
}

// Sets t->byte_id (the one-byte token of each byte) and t->eot (<|endoftext|>).
static int find_byte_and_eot_ids(Gpt2Tokenizer *t, const StrMap *tokens, const char *path,
                                 char *err, size_t err_len) {
    unsigned byte_to_cp[256];
    bytes_to_unicode(byte_to_cp);
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t ulen = utf8_put(byte_to_cp[b], u);
        const int *id = strmap_get(tokens, u, ulen);
        if (!id) {
            set_err(err, err_len, "%s: the one-byte token for byte 0x%02X (U+%04X) is missing",
                    path, b, byte_to_cp[b]);
            return -1;
        }
        t->byte_id[b] = *id;
    }
    const int *eot = strmap_get(tokens, "<|endoftext|>", 13);
    if (!eot) {
        set_err(err, err_len, "%s: the token <|endoftext|> is missing", path);
        return -1;
    }
    t->eot = *eot;
    return 0;
}

static int load_encoder(Gpt2Tokenizer *t, const char *path, StrMap *tokens, char *err,
                        size_t err_len) {
    size_t len;
    char *text = read_whole_file(path, &len, err, err_len);
    if (!text) return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - text) : 0;
        set_err(err, err_len, "%s: not valid JSON (parse error near byte %zu of %zu)", path, at,
                len);
        free(text);
        return -1;
    }
    int rc = -1;
    int n = cJSON_IsObject(root) ? cJSON_GetArraySize(root) : 0;
    const cJSON **by_id = NULL;
    if (!cJSON_IsObject(root)) {
        set_err(err, err_len, "%s: expected a JSON object mapping tokens to ids", path);
        goto done;
    }
    if (n < 257) {
        set_err(err, err_len,
                "%s: only %d tokens (at least the 256 byte tokens and "
                "<|endoftext|> are needed)",
                path, n);
        goto done;
    }
    by_id = calloc((size_t)n, sizeof *by_id);
    if (!by_id || strmap_init(tokens, (size_t)n)) {
        set_err(err, err_len, "%s: out of memory", path);
        goto done;
    }
    if (index_encoder_tokens(root, n, by_id, tokens, path, err, err_len)) goto done;
    t->vocab_size = n;
    if (decode_token_bytes(t, by_id, tokens->arena_len, path, err, err_len)) goto done;
    if (find_byte_and_eot_ids(t, tokens, path, err, err_len)) goto done;
    rc = 0;
done:
    free(by_id);
    cJSON_Delete(root);
    free(text);
    return rc;
}

// vocab.bpe: "#version: ..." then one merge "A B" per line, ranked by line order. Builds the
// pair table with Encoder.js's string-keyed rank lookup (point 3 at the top of this file).

typedef struct { // state shared by load_merges and its helpers
    const char *path;
    const StrMap *tokens; // from encoder.json
    StrMap keys;          // "A,B" -> rank of its last merge line
    char *joined;         // scratch: two tokens joined, with or without a comma between them
    size_t max_line;      // size of joined
    char *err;
    size_t err_len;
} MergeLoader;

static int is_field_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

// Fields of the line [p, eol) separated by ASCII whitespace (Encoder.js splits on \s+; the byte
// alphabet has no whitespace characters). Stores the first three, returns how many there are.
static int split_merge_fields(const char *p, const char *eol, const char *f[3], size_t fl[3]) {
    int nf = 0;
    for (const char *q = p; q < eol;) {
        while (q < eol && is_field_space(*q)) q++;
        if (q == eol) break;
        const char *s = q;
        while (q < eol && !is_field_space(*q)) q++;
        if (nf < 3) {
            f[nf] = s;
            fl[nf] = (size_t)(q - s);
        }
        nf++;
    }
    return nf;
}

// Makes ml->joined hold at least len bytes (twice that, so that it rarely grows).
static int reserve_joined(MergeLoader *ml, size_t len) {
    if (len <= ml->max_line) return 0;
    free(ml->joined);
    ml->max_line = 2 * len;
    ml->joined = malloc(ml->max_line);
    if (!ml->joined) {
        set_err(ml->err, ml->err_len, "%s: out of memory", ml->path);
        return -1;
    }
    return 0;
}

// Merge line line_no, "A B" (fields f, lengths fl): A, B and AB must be tokens. Records
// keys["A,B"] = rank.
static int add_merge(MergeLoader *ml, const char *const f[2], const size_t fl[2], size_t line_no,
                     size_t rank) {
    const int *a = strmap_get(ml->tokens, f[0], fl[0]), *b = strmap_get(ml->tokens, f[1], fl[1]);
    if (!a || !b) {
        set_err(ml->err, ml->err_len, "%s: line %zu: token \"%.*s\" is not in encoder.json",
                ml->path, line_no, (int)(a ? fl[1] : fl[0]), a ? f[1] : f[0]);
        return -1;
    }
    // Merge result must be a token.
    size_t kl = fl[0] + 1 + fl[1];
    if (reserve_joined(ml, kl)) return -1;
    memcpy(ml->joined, f[0], fl[0]);
    memcpy(ml->joined + fl[0], f[1], fl[1]);
    if (!strmap_get(ml->tokens, ml->joined, fl[0] + fl[1])) {
        set_err(ml->err, ml->err_len,
                "%s: line %zu: the merge of \"%.*s\" and \"%.*s\" is not in "
                "encoder.json",
                ml->path, line_no, (int)fl[0], f[0], (int)fl[1], f[1]);
        return -1;
    }
    ml->joined[fl[0]] = ',';
    memcpy(ml->joined + fl[0] + 1, f[1], fl[1]);
    if (strmap_put(&ml->keys, ml->joined, kl, (int)rank) < 0) {
        set_err(ml->err, ml->err_len, "%s: out of memory", ml->path);
        return -1;
    }
    return 0;
}

// The merge lines of text (which starts with the "#version" line and ends with a newline);
// sets *n_merges to their count.
static int read_merge_lines(MergeLoader *ml, const char *text, size_t len, size_t *n_merges) {
    size_t rank = 0, line_no = 1;
    const char *p = strchr(text, '\n') + 1;
    while (p < text + len) {
        const char *eol = memchr(p, '\n', (size_t)(text + len - p));
        line_no++;
        const char *f[3];
        size_t fl[3];
        int nf = split_merge_fields(p, eol, f, fl);
        if (nf != 2) {
            set_err(ml->err, ml->err_len,
                    "%s: line %zu: expected two tokens separated by a space, found %d", ml->path,
                    line_no, nf);
            return -1;
        }
        if (add_merge(ml, f, fl, line_no, rank)) return -1;
        rank++;
        p = eol + 1;
    }
    *n_merges = rank;
    return 0;
}

// Inserts every pair (x, y) of tokens with x + "," + y equal to key k (of length klen) with the
// key's rank. ml->joined has room for klen bytes.
static void insert_comma_pairs(Gpt2Tokenizer *t, const MergeLoader *ml, const char *k, size_t klen,
                               int rank) {
    for (size_t c = 1; c + 1 < klen; c++) {
        if (k[c] != ',') continue;
        const int *x = strmap_get(ml->tokens, k, c),
                  *y = strmap_get(ml->tokens, k + c + 1, klen - c - 1);
        if (!x || !y) continue;
        memcpy(ml->joined, k, c);
        memcpy(ml->joined + c, k + c + 1, klen - c - 1);
        const int *xy = strmap_get(ml->tokens, ml->joined, klen - 1);
        // A comma pair whose merge is not a token would make Encoder.js emit `undefined`;
        // it does not occur with the GPT-2 files and is left out.
        if (xy) pair_insert(t, *x, *y, rank, *xy);
    }
}

// Every pair (x, y) of tokens with x + "," + y equal to a key has that key's rank.
static int build_pair_table(Gpt2Tokenizer *t, const MergeLoader *ml, size_t n_merges) {
    t->pair_cap = pow2_at_least(2 * n_merges + 64);
    t->pairs = calloc(t->pair_cap, sizeof *t->pairs);
    if (!t->pairs) {
        set_err(ml->err, ml->err_len, "%s: out of memory", ml->path);
        return -1;
    }
    const StrMap *keys = &ml->keys;
    for (size_t i = 0; i < keys->cap; i++) {
        const StrSlot *e = &keys->slots[i];
        if (!e->hash) continue;
        if (e->len > ml->max_line) { // cannot happen: keys come from lines
            set_err(ml->err, ml->err_len, "%s: internal error", ml->path);
            return -1;
        }
        insert_comma_pairs(t, ml, keys->arena + e->off, e->len, e->value);
    }
    return 0;
}

static int load_merges(Gpt2Tokenizer *t, const char *path, const StrMap *tokens, char *err,
                       size_t err_len) {
    size_t len;
    char *text = read_whole_file(path, &len, err, err_len);
    if (!text) return -1;
    int rc = -1;
    MergeLoader ml = {.path = path, .tokens = tokens, .err = err, .err_len = err_len};
    size_t expected = (size_t)t->vocab_size - 257; // GPT-2: 256 bytes + merges + <|endoftext|>
    size_t n_merges;
    if (strmap_init(&ml.keys, expected + 1)) {
        set_err(err, err_len, "%s: out of memory", path);
        goto done;
    }
    if (len < 8 || memcmp(text, "#version", 8)) {
        set_err(err, err_len, "%s: does not start with a \"#version\" line", path);
        goto done;
    }
    if (text[len - 1] != '\n') {
        set_err(err, err_len, "%s: does not end with a newline (truncated?)", path);
        goto done;
    }
    if (read_merge_lines(&ml, text, len, &n_merges)) goto done;
    if (n_merges != expected) {
        set_err(err, err_len,
                "%s: %zu merges, but encoder.json's %d tokens need %zu (256 bytes "
                "+ merges + <|endoftext|>); truncated or mismatched file?",
                path, n_merges, t->vocab_size, expected);
        goto done;
    }
    if (build_pair_table(t, &ml, n_merges)) goto done;
    rc = 0;
done:
    free(ml.joined);
    strmap_free(&ml.keys);
    free(text);
    return rc;
}

Gpt2Tokenizer *gpt2_tokenizer_load(const char *encoder_path, const char *merges_path, char *err,
                                   size_t err_len) {
    set_err(err, err_len, "no error");
    Gpt2Tokenizer *t = calloc(1, sizeof *t);
    StrMap tokens;
    memset(&tokens, 0, sizeof tokens);
    if (!t) {
        set_err(err, err_len, "gpt2 tokenizer: out of memory");
        goto fail;
    }
    if (load_encoder(t, encoder_path, &tokens, err, err_len)) goto fail;
    if (load_merges(t, merges_path, &tokens, err, err_len)) goto fail;
    strmap_free(&tokens);

    int code;
    PCRE2_SIZE at;
    t->re = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &code, &at, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        set_err(err, err_len, "gpt2 tokenizer: PCRE2 rejects the pattern at offset %zu: %s",
                (size_t)at, (const char *)msg);
        goto fail;
    }
    pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); // falls back to the interpreter on failure
    t->match = pcre2_match_data_create_from_pattern(t->re, NULL);
    t->cache_cap = 1 << 14;
    t->cache = calloc(t->cache_cap, sizeof *t->cache);
    if (!t->match || !t->cache) {
        set_err(err, err_len, "gpt2 tokenizer: out of memory");
        goto fail;
    }
    set_err(err, err_len, "ok");
    return t;
fail:
    strmap_free(&tokens);
    gpt2_tokenizer_free(t);
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// BPE of one word.

static int heap_less(const HeapItem *a, const HeapItem *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(HeapItem *h, size_t *n, HeapItem item) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&item, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = item;
}

static HeapItem heap_pop(HeapItem *h, size_t *n) {
    HeapItem top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = last;
    return top;
}

static int ensure_scratch(Gpt2Tokenizer *t, size_t m) {
    if (m <= t->scratch_cap) return 0;
    size_t cap = pow2_at_least(m);
    int *sym = realloc(t->sym, cap * sizeof *sym);
    if (sym) t->sym = sym;
    int *prev = realloc(t->prev, cap * sizeof *prev);
    if (prev) t->prev = prev;
    int *next = realloc(t->next, cap * sizeof *next);
    if (next) t->next = next;
    int *ids = realloc(t->word_ids, cap * sizeof *ids);
    if (ids) t->word_ids = ids;
    HeapItem *heap = realloc(t->heap, 3 * cap * sizeof *heap);
    if (heap) t->heap = heap;
    HeapItem *batch = realloc(t->batch, 3 * cap * sizeof *batch);
    if (batch) t->batch = batch;
    if (!sym || !prev || !next || !ids || !heap || !batch) return -1;
    t->scratch_cap = cap;
    return 0;
}

static void push_pair(Gpt2Tokenizer *t, size_t *hn, int pos) {
    if (pos < 0) return;
    int r = t->next[pos];
    if (r < 0) return;
    const PairSlot *p = pair_find(t, t->sym[pos], t->sym[r]);
    if (p) heap_push(t->heap, hn, (HeapItem){p->rank, pos, t->sym[pos], t->sym[r]});
}

static int item_live(const Gpt2Tokenizer *t, const HeapItem *it) {
    int r = t->next[it->pos];
    return t->sym[it->pos] == it->left && r >= 0 && t->sym[r] == it->right;
}

// BPE of word (m >= 1 bytes) into t->word_ids; returns the count, or -1 out of memory.
// Each step does what one iteration of Encoder.js's bpe() loop does: take the lowest rank among
// the adjacent pairs, the type (left, right) of the rightmost pair with that rank, and merge
// every occurrence of that type from left to right. Stale heap items are skipped when popped
// (a symbol's id only ever grows into a longer token, so a stale item never looks live).
static long bpe_word(Gpt2Tokenizer *t, const unsigned char *word, size_t m) {
    if (ensure_scratch(t, m)) return -1;
    int *sym = t->sym, *prev = t->prev, *next = t->next;
    for (size_t i = 0; i < m; i++) {
        sym[i] = t->byte_id[word[i]];
        prev[i] = (int)i - 1;
        next[i] = i + 1 < m ? (int)i + 1 : -1;
    }
    size_t hn = 0;
    for (size_t i = 0; i + 1 < m; i++) push_pair(t, &hn, (int)i);
    while (hn > 0) {
        HeapItem first = heap_pop(t->heap, &hn);
        if (!item_live(t, &first)) continue;
        size_t bn = 0;
        t->batch[bn++] = first;
        while (hn > 0 && t->heap[0].rank == first.rank) {
            HeapItem it = heap_pop(t->heap, &hn);
            if (item_live(t, &it)) t->batch[bn++] = it;
        }
        const HeapItem *type = &t->batch[bn - 1]; // items pop in position order
        int left = type->left, right = type->right;
        for (size_t k = 0; k < bn; k++) {
            HeapItem it = t->batch[k];
            if (it.left != left || it.right != right) {
                heap_push(t->heap, &hn, it); // same rank, other type: a later step
                continue;
            }
            if (!item_live(t, &it)) continue; // overlapped by the previous merge (left == right)
            int pos = it.pos, r = next[pos];
            sym[pos] = pair_find(t, left, right)->merged;
            next[pos] = next[r];
            if (next[r] >= 0) prev[next[r]] = pos;
            sym[r] = -1;
            next[r] = -1;
            push_pair(t, &hn, prev[pos]);
            push_pair(t, &hn, pos);
        }
    }
    long count = 0;
    for (int i = 0; i >= 0; i = next[i]) t->word_ids[count++] = sym[i];
    return count;
}

// ---------------------------------------------------------------------------------------------
// Word cache.

static void cache_clear(Gpt2Tokenizer *t) {
    memset(t->cache, 0, t->cache_cap * sizeof *t->cache);
    t->cache_count = 0;
    t->cache_keys_len = 0;
    t->cache_ids_len = 0;
}

static CacheSlot *cache_slot(const Gpt2Tokenizer *t, const char *w, size_t m, uint64_t h) {
    for (size_t i = h & (t->cache_cap - 1);; i = (i + 1) & (t->cache_cap - 1)) {
        CacheSlot *s = &t->cache[i];
        if (!s->hash) return s;
        if (s->hash == h && s->key_len == m && !memcmp(t->cache_keys + s->key_off, w, m)) return s;
    }
}

static int grow_buffer(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need) c *= 2;
    void *p = realloc(*buf, c * elem);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

// Store word -> ids (best effort: on allocation failure the word is simply not cached).
static void cache_store(Gpt2Tokenizer *t, const char *w, size_t m, uint64_t h, const int *ids,
                        long k) {
    if (t->cache_count >= CACHE_MAX_ENTRIES) cache_clear(t);
    if ((t->cache_count + 1) * 2 > t->cache_cap) {
        size_t cap = 2 * t->cache_cap;
        CacheSlot *slots = calloc(cap, sizeof *slots);
        if (!slots) return;
        CacheSlot *old = t->cache;
        size_t old_cap = t->cache_cap;
        t->cache = slots;
        t->cache_cap = cap;
        for (size_t i = 0; i < old_cap; i++)
            if (old[i].hash)
                *cache_slot(t, t->cache_keys + old[i].key_off, old[i].key_len, old[i].hash) =
                    old[i];
        free(old);
    }
    if (grow_buffer((void **)&t->cache_keys, &t->cache_keys_cap, t->cache_keys_len + m, 1) ||
        grow_buffer((void **)&t->cache_ids, &t->cache_ids_cap, t->cache_ids_len + (size_t)k,
                    sizeof(int)))
        return;
    CacheSlot *s = cache_slot(t, w, m, h);
    memcpy(t->cache_keys + t->cache_keys_len, w, m);
    memcpy(t->cache_ids + t->cache_ids_len, ids, (size_t)k * sizeof(int));
    *s = (CacheSlot){h, (uint32_t)t->cache_keys_len, (uint32_t)m, (uint32_t)t->cache_ids_len,
                     (uint32_t)k};
    t->cache_keys_len += m;
    t->cache_ids_len += (size_t)k;
    t->cache_count++;
}

// ---------------------------------------------------------------------------------------------
// Encode / decode.

long gpt2_encode(Gpt2Tokenizer *t, const char *text, size_t n, int *out, long cap) {
    if (n == 0) return 0;
    if (utf8_valid_prefix((const unsigned char *)text, n) != n) return -2;
    long count = 0;
    PCRE2_SIZE offset = 0;
    while (offset < n) {
        int rc =
            pcre2_match(t->re, (PCRE2_SPTR)text, n, offset, PCRE2_NO_UTF_CHECK, t->match, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break; // nothing left to match (cannot happen)
        if (rc < 0) return -3;                // regex engine failure (e.g. out of memory)
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->match);
        const char *w = text + ov[0];
        size_t m = ov[1] - ov[0];
        if (m == 0) { // cannot happen (no alternative matches empty); step one character
            size_t used;
            utf8_next((const unsigned char *)text + offset, n - offset, &used);
            offset += used;
            continue;
        }
        offset = ov[1];
        const int *ids;
        long k;
        int one;
        if (m == 1) {
            one = t->byte_id[(unsigned char)w[0]];
            ids = &one;
            k = 1;
        } else {
            uint64_t h = hash_bytes(w, m);
            const CacheSlot *s = cache_slot(t, w, m, h);
            if (s->hash) {
                ids = t->cache_ids + s->ids_off;
                k = s->ids_len;
            } else {
                k = bpe_word(t, (const unsigned char *)w, m);
                if (k < 0) return -3;
                ids = t->word_ids;
                if (m <= CACHE_MAX_WORD) {
                    cache_store(t, w, m, h, ids, k);
                    ids = t->word_ids; // unchanged by cache_store
                }
            }
        }
        if (out) {
            if (count + k > cap) return -1;
            memcpy(out + count, ids, (size_t)k * sizeof *ids);
        }
        count += k;
    }
    return count;
}

long gpt2_decode(const Gpt2Tokenizer *t, const int *ids, long n, char *out, long cap) {
    long len = 0;
    for (long i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->vocab_size) return -1;
        size_t k = t->tok_off[id + 1] - t->tok_off[id];
        if (out) {
            if (len + (long)k > cap) return -1;
            memcpy(out + len, t->tok_bytes + t->tok_off[id], k);
        }
        len += (long)k;
    }
    return len;
}
