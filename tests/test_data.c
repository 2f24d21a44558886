// Data: named corpora and their splits, validated token caches, labelled sets for ICL (real
// fetched files and bad input), and the `dint tokenize` command against the node reference.
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "corpus.h"
#include "datasets.h"
#include "labelled.h"
#include "tokenizer.h"

static char out[1 << 20], err[1 << 16], cmd[8192];

Test(data, labelled_sets_load_with_their_classes) {
    struct {
        const char *name;
        int n, labels;
    } sets[] = {{"wordnet-noun", 82115, 26},
                {"wordnet-verb", 13767, 15},
                {"spamassassin", 6046, 2},
                {"brown-genres", 500, 15}};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        char path[4096];
        DataSource src;
        Error e;
        cr_assert_eq(data_resolve_labels(sets[i].name, path, sizeof path, &src, &e), 0, "%s",
                     e.msg);
        cr_assert(strstr(src.packages, "@") != NULL, "%s: no package recorded", sets[i].name);
        LabelledSet s;
        cr_assert_eq(labelled_load(&s, path, 0.2f, 5, &e), 0, "%s", e.msg);
        cr_assert_eq(s.n, sets[i].n, "%s: %d examples, expected %d", sets[i].name, s.n, sets[i].n);
        cr_assert_eq(s.n_labels, sets[i].labels, "%s: %d labels", sets[i].name, s.n_labels);
        int tests = 0;
        for (int k = 0; k < s.n; k++) {
            tests += s.is_test[k];
            cr_assert(s.label[k] >= 0 && s.label[k] < s.n_labels);
            cr_assert(s.text[k][0] != '\0');
        }
        cr_assert_eq(tests, (int)(0.2 * s.n + 0.5), "%s: %d test examples", sets[i].name, tests);
        labelled_free(&s);
    }
}

Test(data, labelled_split_is_fixed_by_its_seed) {
    const char *dir = scratch_dir("data_split");
    char path[1024];
    snprintf(path, sizeof path, "%s/set.tsv", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 200; i++) fprintf(f, "%s\texample number %d\n", i % 3 ? "ham" : "spam", i);
    fclose(f);
    LabelledSet a, b, c;
    Error e;
    cr_assert_eq(labelled_load(&a, path, 0.25f, 9, &e), 0, "%s", e.msg);
    cr_assert_eq(labelled_load(&b, path, 0.25f, 9, &e), 0, "%s", e.msg);
    cr_assert_eq(labelled_load(&c, path, 0.25f, 10, &e), 0, "%s", e.msg);
    cr_assert_eq(memcmp(a.is_test, b.is_test, 200), 0, "same seed, different split");
    cr_assert_neq(memcmp(a.is_test, c.is_test, 200), 0, "different seeds gave the same split");
    cr_assert_eq(a.n_labels, 2);
    cr_assert_str_eq(a.names[0], "ham");
    cr_assert_str_eq(a.names[1], "spam");
    cr_assert_eq(a.label[0], 1);
    cr_assert_str_eq(a.text[5], "example number 5");
    labelled_free(&a);
    labelled_free(&b);
    labelled_free(&c);
}

Test(data, labelled_bad_input_is_one_clear_error) {
    const char *dir = scratch_dir("data_bad_labels");
    struct {
        const char *content, *needle;
    } cases[] = {
        {"", "is empty"},
        {"\n\n", "is empty"},
        {"a\tone\nno tab here\n", ":2: expected label<TAB>text"},
        {"a\tone\n\tno label\n", ":2: empty label"},
        {"a\tone\nb\t\n", ":2: empty text"},
        {"a\tone\nb\tcaf\xe9\n", ":2: not UTF-8 text"},
        {"a\tonly one\n", "has one example"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/case%zu.tsv", dir, i);
        write_text(path, cases[i].content);
        LabelledSet s;
        Error e;
        cr_assert_neq(labelled_load(&s, path, 0.2f, 1, &e), 0, "case %zu loaded", i);
        cr_assert(strstr(e.msg, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, e.msg,
                  cases[i].needle);
        cr_assert(strchr(e.msg, '\n') == NULL, "case %zu: the error spans lines", i);
    }
    LabelledSet s;
    Error e;
    cr_assert_neq(labelled_load(&s, "/nonexistent/labels.tsv", 0.2f, 1, &e), 0);
    cr_assert(strstr(e.msg, "cannot read") != NULL, "%s", e.msg);
    char path[4096];
    DataSource src;
    cr_assert_neq(data_resolve_labels("sotu", path, sizeof path, &src, &e), 0);
    cr_assert(strstr(e.msg, "is a corpus source, not a labels") != NULL, "%s", e.msg);
    cr_assert_neq(data_resolve_labels("trec", path, sizeof path, &src, &e), 0);
    cr_assert(strstr(e.msg, "neither a path nor a known labels") != NULL, "%s", e.msg);
}

static int same_tokens(const Corpus *a, const Corpus *b) {
    for (int s = 0; s < 3; s++)
        if (a->n_tokens[s] != b->n_tokens[s] ||
            memcmp(a->tokens[s], b->tokens[s], sizeof(int) * (size_t)a->n_tokens[s]) != 0)
            return 0;
    return 1;
}

// A token cache is used only when it matches; a damaged or foreign one is rebuilt.
Test(data, token_cache_is_checked_and_rebuilt) {
    const char *dir = scratch_dir("data_token_cache");
    char text[4096], cache[1024];
    DataSource src;
    Error e;
    cr_assert_eq(data_resolve_corpus("moby-dick", text, sizeof text, &src, &e), 0, "%s", e.msg);
    snprintf(cache, sizeof cache, "%s/tokens.bin", dir);
    Tokenizer byte, gpt2;
    cr_assert_eq(data_open_tokenizer(&byte, "byte", &e), 0, "%s", e.msg);
    cr_assert_eq(data_open_tokenizer(&gpt2, "gpt2", &e), 0, "%s", e.msg);
    Corpus ref, c;
    cr_assert_eq(corpus_load(&ref, text, &gpt2, 0.1f, 0.1f, 1, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(corpus_load(&c, text, &gpt2, 0.1f, 0.1f, 1, cache, &e), 0, "%s", e.msg); // writes
    cr_assert(same_tokens(&ref, &c));
    corpus_free(&c);
    size_t n = 0;
    char *good = read_all(cache, &n);
    cr_assert(n > 1000);
    cr_assert_eq(corpus_load(&c, text, &gpt2, 0.1f, 0.1f, 1, cache, &e), 0); // reads
    cr_assert(same_tokens(&ref, &c));
    corpus_free(&c);
    // A flipped token, then a truncated file: refused and rebuilt byte for byte.
    for (int damage = 0; damage < 2; damage++) {
        FILE *f = fopen(cache, "wb");
        char *bad = malloc(n);
        memcpy(bad, good, n);
        bad[n - 7] ^= 0x01;
        fwrite(bad, 1, damage == 0 ? n : n / 2, f);
        fclose(f);
        free(bad);
        cr_assert_eq(corpus_load(&c, text, &gpt2, 0.1f, 0.1f, 1, cache, &e), 0);
        cr_assert(same_tokens(&ref, &c), "a damaged cache was used");
        corpus_free(&c);
        size_t m = 0;
        char *again = read_all(cache, &m);
        cr_assert(m == n && memcmp(again, good, n) == 0, "the cache was not rebuilt");
        free(again);
    }
    // The same cache path asked for by another tokenizer: not used, rebuilt for that one.
    Corpus bref;
    cr_assert_eq(corpus_load(&bref, text, &byte, 0.1f, 0.1f, 1, NULL, &e), 0);
    cr_assert_eq(corpus_load(&c, text, &byte, 0.1f, 0.1f, 1, cache, &e), 0);
    cr_assert(same_tokens(&bref, &c), "the GPT-2 cache was used for the byte tokenizer");
    cr_assert_neq(bref.n_tokens[0], ref.n_tokens[0]);
    corpus_free(&c);
    corpus_free(&bref);
    corpus_free(&ref);
    free(good);
    tokenizer_close(&byte);
    tokenizer_close(&gpt2);
}

Test(data, corpus_split_is_fixed_by_its_seed) {
    char text[4096];
    DataSource src;
    Error e;
    cr_assert_eq(data_resolve_corpus("kjv", text, sizeof text, &src, &e), 0, "%s", e.msg);
    Tokenizer byte;
    tokenizer_open(&byte, "byte", NULL, &e);
    Corpus a, b, c;
    cr_assert_eq(corpus_load(&a, text, &byte, 0.1f, 0.1f, 3, NULL, &e), 0, "%s", e.msg);
    cr_assert_eq(corpus_load(&b, text, &byte, 0.1f, 0.1f, 3, NULL, &e), 0);
    cr_assert_eq(corpus_load(&c, text, &byte, 0.1f, 0.1f, 4, NULL, &e), 0);
    cr_assert_eq(a.n_docs, 66);
    cr_assert_eq(memcmp(a.doc_split, b.doc_split, 66), 0);
    cr_assert_neq(memcmp(a.doc_split, c.doc_split, 66), 0);
    int count[3] = {0, 0, 0};
    for (int i = 0; i < 66; i++) count[a.doc_split[i]]++;
    cr_assert(count[1] == 7 && count[2] == 7 && count[0] == 52, "split %d/%d/%d", count[0],
              count[1], count[2]);
    corpus_free(&a);
    corpus_free(&b);
    corpus_free(&c);
    cr_assert_neq(data_resolve_corpus("wordnet-noun", text, sizeof text, &src, &e), 0);
    cr_assert_neq(data_resolve_corpus("nonesuch", text, sizeof text, &src, &e), 0);
    cr_assert(strstr(e.msg, "known: sotu, moby-dick, brown, kjv") != NULL, "%s", e.msg);
}

// The command line gives the node reference's ids for the committed sample text.
Test(data, tokenize_command_matches_the_reference) {
    snprintf(cmd, sizeof cmd, "tokenize --tokenizer gpt2 '%s/tokenizer/sample.txt'", TESTS_DIR);
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 0, "%s", err);
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/sample.ids", TESTS_DIR);
    char *want = read_all(path, NULL);
    cr_assert(want != NULL);
    // Compare as whitespace-separated id lists.
    char *p = out, *q = want;
    long k = 0;
    for (;; k++) {
        char *pe, *qe;
        long x = strtol(p, &pe, 10), y = strtol(q, &qe, 10);
        if (pe == p || qe == q) {
            cr_assert(pe == p && qe == q, "different numbers of ids (first %ld agree)", k);
            break;
        }
        cr_assert_eq(x, y, "id %ld: dint %ld, reference %ld", k, x, y);
        p = pe;
        q = qe;
    }
    cr_assert_gt(k, 100);
    free(want);
    snprintf(cmd, sizeof cmd, "tokenize --tokenizer klingon");
    cr_assert_eq(run_dint(cmd, out, sizeof out, err, sizeof err), 2);
    cr_assert(strstr(err, "unknown tokenizer 'klingon'") != NULL, "%s", err);
}
