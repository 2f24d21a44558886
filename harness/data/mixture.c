#include "mixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets.h"
#include "icl.h"
#include "layers.h"
#include "needle.h"

TaskLoss mixture_task_loss(const RunConfig *c) {
    return (TaskLoss)c->data.task_loss;
}

// "name:weight" -> name and weight; 0 when the part has no numeric weight after its last ':'.
static int split_weight(const char *part, char *name, size_t cap, double *w) {
    const char *colon = strrchr(part, ':');
    if (!colon) return 0;
    char *end;
    double v = strtod(colon + 1, &end);
    if (end == colon + 1 || *end) return 0;
    snprintf(name, cap, "%.*s", (int)(colon - part), part);
    *w = v;
    return 1;
}

int mixture_parse(Mixture *mx, const char *spec, char *corpus_spec, size_t cap, Error *err) {
    memset(mx, 0, sizeof *mx);
    mx->text = -1;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", spec);
    // A mixture only when every comma-separated part ends in ":<weight>"; else a plain spec.
    int all_weighted = 1, parts = 0;
    for (char *p = buf, *save = NULL, *tok = strtok_r(p, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char name[512];
        double w;
        all_weighted &= split_weight(tok, name, sizeof name, &w);
        parts++;
    }
    if (!all_weighted || parts == 0) {
        mx->n = 1;
        mx->text = 0;
        mx->comp[0].kind = MIX_TEXT;
        mx->comp[0].weight = 1.0;
        snprintf(mx->comp[0].spec, sizeof mx->comp[0].spec, "%s", spec);
        snprintf(corpus_spec, cap, "%s", spec);
        snprintf(mx->description, sizeof mx->description, "%s: 1", spec);
        return 0;
    }
    snprintf(buf, sizeof buf, "%s", spec);
    double total = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (mx->n == MIX_MAX) return error_set(err, "a mixture has at most %d parts", MIX_MAX);
        MixComponent *c = &mx->comp[mx->n];
        char name[512];
        split_weight(tok, name, sizeof name, &c->weight);
        if (!(c->weight >= 0) || !isfinite(c->weight))
            return error_set(err, "mixture part '%s': the weight must be a number >= 0", tok);
        if (!strcmp(name, "needle"))
            c->kind = MIX_NEEDLE;
        else if (!strcmp(name, "copy"))
            c->kind = MIX_COPY;
        else if (!strcmp(name, "recall"))
            c->kind = MIX_RECALL;
        else if (!strcmp(name, "icl:synthetic"))
            c->kind = MIX_ICL_SYNTHETIC;
        else if (!strncmp(name, "icl:", 4)) {
            c->kind = MIX_ICL;
            snprintf(c->spec, sizeof c->spec, "%s", name + 4);
        } else {
            if (mx->text >= 0)
                return error_set(err, "the mixture has two text corpora ('%s' and '%s'); give one",
                                 mx->comp[mx->text].spec, name);
            c->kind = MIX_TEXT;
            snprintf(c->spec, sizeof c->spec, "%s", name);
            mx->text = mx->n;
        }
        if (c->kind != MIX_TEXT && !(c->weight > 0))
            return error_set(err,
                             "mixture part '%s': a task's weight must be positive (only the "
                             "text corpus may be 0: validation text only)",
                             tok);
        total += c->weight;
        mx->n++;
    }
    if (!(total > 0))
        return error_set(err, "the mixture '%s' has no part of positive weight", spec);
    if (mx->text < 0)
        return error_set(
            err,
            "the mixture '%s' has no text corpus (needles need a haystack; validation is on text)",
            spec);
    size_t k = 0;
    for (int i = 0; i < mx->n; i++) {
        mx->comp[i].weight /= total;
        const char *what = mx->comp[i].kind == MIX_NEEDLE          ? "needle"
                           : mx->comp[i].kind == MIX_RECALL        ? "recall"
                           : mx->comp[i].kind == MIX_COPY          ? "copy"
                           : mx->comp[i].kind == MIX_ICL_SYNTHETIC ? "icl:synthetic"
                                                                   : NULL;
        char label[600];
        if (mx->comp[i].kind == MIX_ICL)
            snprintf(label, sizeof label, "icl:%s", mx->comp[i].spec);
        else
            snprintf(label, sizeof label, "%s", what ? what : mx->comp[i].spec);
        k += (size_t)snprintf(mx->description + k, sizeof mx->description - k, "%s%s: %.4g",
                              i ? ", " : "", label, mx->comp[i].weight);
        if (k >= sizeof mx->description) break;
    }
    snprintf(corpus_spec, cap, "%s", mx->comp[mx->text].spec);
    return 0;
}

int mixture_load(Mixture *mx, uint64_t split_seed, Error *err) {
    for (int i = 0; i < mx->n; i++) {
        MixComponent *c = &mx->comp[i];
        if (c->kind != MIX_ICL) continue;
        char path[4096];
        DataSource src;
        if (data_resolve_labels(c->spec, path, sizeof path, &src, err) != 0) return -1;
        // The same split as `dint eval icl` uses: training episodes only see its train part.
        if (labelled_load(&c->set, path, 0.2f, split_seed, err) != 0) return -1;
    }
    return 0;
}

int mixture_find(const Mixture *mx, MixKind kind) {
    for (int i = 0; i < mx->n; i++)
        if (mx->comp[i].kind == kind) return i;
    return -1;
}

void mixture_free(Mixture *mx) {
    for (int i = 0; i < mx->n; i++)
        if (mx->comp[i].kind == MIX_ICL) labelled_free(&mx->comp[i].set);
}

// Fill row (T + 1 tokens) with episodes separated by end-of-document tokens.
static void fill_icl(MixComponent *c, Tokenizer *tok, gsl_rng *rng, int *row, int len) {
    enum { EPISODE_CAP = 16384 };
    int *ep = xmalloc(sizeof(int) * EPISODE_CAP);
    IclDataset d = {c->set.n,        (const char *const *)c->set.text, c->set.label, c->set.is_test,
                    c->set.n_labels, (const char *const *)c->set.names};
    int at = 0;
    while (at < len) {
        int k = 1 + (int)gsl_rng_uniform_int(rng, 8);
        long n = -1;
        for (; k >= 1 && n <= 0; k /= 2) // a small set may not have k + 1 train examples
            n = c->kind == MIX_ICL
                    ? icl_training_episode(tok, &d, k, rng, ep, EPISODE_CAP)
                    : icl_synthetic_training_episode(tok, 4, k, rng, ep, EPISODE_CAP);
        if (n <= 0) { // a set with fewer than 2 train examples: keep the row well-defined
            row[at++] = tok->eot;
            continue;
        }
        for (long i = 0; i < n && at < len; i++) row[at++] = ep[i];
        if (at < len) row[at++] = tok->eot;
    }
    free(ep);
}

// Fill row with multi-needle episodes separated by end-of-document tokens. Each episode has
// 1 to 6 needles at uniform sentence boundaries, 1 or 2 of them (uniform among the needles)
// queried in turn, and a random
// context length between 96 tokens and the row (log-uniform): short episodes pack several
// retrievals into a row, so the answer tokens are not drowned by haystack text. Episodes fit the
// row whole (fewer needles, then all the room left, until they do). part[i] gets each token's
// NEEDLE_PART and needles[i] the needle count of its episode (0 outside episodes). (`dint eval
// needle` scores each queried needle on its own after the context.)
static void fill_needles(const Corpus *text, Tokenizer *tok, gsl_rng *rng, int *row,
                         unsigned char *part, unsigned char *needles, int len) {
    int at = 0;
    memset(part, NEEDLE_PART_CONTEXT, (size_t)len);
    memset(needles, 0, (size_t)len);
    while (at < len) {
        // Log-uniform lengths: short episodes (many retrievals per row, little haystack) are
        // common, long ones still occur.
        int room = len - at,
            want = len > 96 ? (int)(96.0 * pow((double)len / 96.0, gsl_rng_uniform(rng))) : 96;
        int N = 1 + (int)gsl_rng_uniform_int(rng, 6), R = 1 + (int)gsl_rng_uniform_int(rng, 2);
        if (want > room) want = room;
        long n = -1;
        int fitted = 0; // the needles of the episode placed
        // Fewer needles, then all the room left, until the episode fits.
        for (int tries = 0; tries < 2 && n < 0; tries++, want = room)
            for (int k = N; k >= 1 && n < 0; k--) {
                NeedleSpec spec = {.n_needles = k,
                                   .n_queried = R < k ? R : k,
                                   .length = want,
                                   .layout = NEEDLE_LAYOUT_UNIFORM};
                n = needle_training_episode(tok, text->tokens[SPLIT_TRAIN],
                                            text->n_tokens[SPLIT_TRAIN], &spec, rng, row + at,
                                            part + at, room);
                fitted = k;
            }
        if (n < 0) { // too short for even one needle: finish the row with text
            long start =
                (long)gsl_rng_uniform_int(rng, (unsigned long)(text->n_tokens[SPLIT_TRAIN] - room));
            memcpy(row + at, text->tokens[SPLIT_TRAIN] + start, sizeof(int) * (size_t)room);
            break;
        }
        memset(needles + at, fitted, (size_t)n);
        at += (int)n;
        if (at < len) row[at++] = tok->eot;
    }
}

// Fill row with copy episodes: a random string over [a-z0-9] (16 to a quarter of the row
// long), then the same string again, separated by end-of-document tokens. The second copy can
// only be predicted by looking back and copying, the mechanism needle retrieval is built on;
// random strings leave no n-gram shortcut, which delays that mechanism on natural text.
static void fill_copies(Tokenizer *tok, gsl_rng *rng, int *row, int len) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    enum { MAX_W = 1024 };
    char text[MAX_W];
    int *ids = xmalloc(sizeof(int) * (MAX_W + 1));
    int at = 0;
    while (at < len) {
        int max_w = len / 4 < 16 ? 16 : len / 4 > MAX_W ? MAX_W : len / 4;
        int w = 16 + (int)gsl_rng_uniform_int(rng, (unsigned long)(max_w - 15));
        for (int i = 0; i < w; i++) text[i] = alphabet[gsl_rng_uniform_int(rng, 36)];
        long n = tokenizer_encode(tok, text, (size_t)w, ids);
        CHECK(n > 0, "the tokenizer failed on a copy episode");
        for (int r = 0; r < 2; r++)
            for (long i = 0; i < n && at < len; i++) row[at++] = ids[i];
        if (at < len) row[at++] = tok->eot;
    }
    free(ids);
}

void mixture_batch(Mixture *mx, const Corpus *text, Tokenizer *tok, gsl_rng *rng, int *tokens,
                   int *targets, unsigned char *answer_needles, int B, int T) {
    if (answer_needles) memset(answer_needles, 0, (size_t)B * T);
    // The lowest part a needle row scores.
    int scored_from = mx->task_loss == TASK_LOSS_ANSWERS   ? NEEDLE_PART_ANSWER
                      : mx->task_loss == TASK_LOSS_QUERIES ? NEEDLE_PART_QUERY
                                                           : NEEDLE_PART_CONTEXT;
    if (mx->n == 1) {
        corpus_train_batch(text, rng, tokens, targets, B, T);
        return;
    }
    int *row = xmalloc(sizeof(int) * (size_t)(T + 1));
    unsigned char *part = xmalloc((size_t)(T + 1)), *needles = xmalloc((size_t)(T + 1));
    for (int b = 0; b < B; b++) {
        double u = gsl_rng_uniform(rng), acc = 0;
        int which = -1;
        for (int i = 0; i < mx->n; i++) {
            acc += mx->comp[i].weight;
            if (u < acc) {
                which = i;
                break;
            }
        }
        for (int i = mx->n - 1; which < 0; i--) // rounding: the last part of positive weight
            if (mx->comp[i].weight > 0) which = i;
        MixComponent *c = &mx->comp[which];
        int done = 0, needle = 0;
        if (c->kind == MIX_NEEDLE) {
            fill_needles(text, tok, rng, row, part, needles, T + 1);
            needle = 1;
            if (answer_needles)
                for (int i = 0; i < T; i++)
                    answer_needles[(long)b * T + i] =
                        part[i + 1] == NEEDLE_PART_ANSWER ? needles[i + 1] : 0;
            done = 1;
        } else if (c->kind == MIX_RECALL) {
            recall_training_row(&mx->recall, rng, tokens + (long)b * T, targets + (long)b * T,
                                answer_needles ? answer_needles + (long)b * T : NULL, T);
            continue;
        } else if (c->kind == MIX_COPY) {
            fill_copies(tok, rng, row, T + 1);
            done = 1;
        } else if (c->kind == MIX_ICL || c->kind == MIX_ICL_SYNTHETIC) {
            fill_icl(c, tok, rng, row, T + 1);
            done = 1;
        }
        if (!done) { // text, or a needle episode that cannot fit this short a sequence
            long start =
                (long)gsl_rng_uniform_int(rng, (unsigned long)(text->n_tokens[SPLIT_TRAIN] - T));
            memcpy(row, text->tokens[SPLIT_TRAIN] + start, sizeof(int) * (size_t)(T + 1));
        }
        memcpy(tokens + (long)b * T, row, sizeof(int) * (size_t)T);
        memcpy(targets + (long)b * T, row + 1, sizeof(int) * (size_t)T);
        if (needle)
            for (int i = 0; i < T; i++)
                if (part[i + 1] < scored_from) targets[(long)b * T + i] = TARGET_IGNORE;
    }
    free(row);
    free(part);
    free(needles);
}
