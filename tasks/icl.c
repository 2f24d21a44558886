// In-context learning: episode draws, prompt formatting, constrained decoding over the label
// set, accuracies and the spread over orderings. Format and draws are described in icl.h.
#include "icl.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "rng.h"
#include "text_builder.h"

// ---- Seeds -------------------------------------------------------------------------------

enum {
    STREAM_QUERY = 1,
    STREAM_DEMOS = 2,
    STREAM_ORDER = 3,
    STREAM_SYNTH = 4,
    STREAM_SYNTH_ORDER = 5
};

// Seed rng from (seed, stream, a, b); MT19937 in GSL takes 32 bits of seed.
static void rng_seed(gsl_rng *rng, uint64_t seed, uint64_t stream, uint64_t a, uint64_t b) {
    uint64_t h = splitmix64(seed);
    h = splitmix64(h ^ stream);
    h = splitmix64(h ^ a);
    h = splitmix64(h ^ (b + 0x632be59bd9b4e019ULL));
    gsl_rng_set(rng, (unsigned long)(h & 0xffffffffULL));
}

// gsl_ran_shuffle underflows its index for n == 0.
static void shuffle_int(gsl_rng *rng, int *a, int n) {
    if (n > 1) gsl_ran_shuffle(rng, a, (size_t)n, sizeof(int));
}

// ---- Text ---------------------------------------------------------------------------------

// An example's text: at most ICL_MAX_TEXT_BYTES bytes, cut before a UTF-8 continuation byte,
// with line breaks turned into spaces.
static void put_example_text(TextBuilder *b, const char *text) {
    size_t n = strlen(text);
    if (n > ICL_MAX_TEXT_BYTES) {
        n = ICL_MAX_TEXT_BYTES;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    }
    size_t start = b->n;
    text_builder_put(b, text, n);
    for (size_t i = start; i < b->n; i++)
        if (b->p[i] == '\n' || b->p[i] == '\r') b->p[i] = ' ';
}

static void put_demo(TextBuilder *b, const char *text, const char *label) {
    text_builder_puts(b, "Input: ");
    put_example_text(b, text);
    text_builder_puts(b, "\nLabel: ");
    text_builder_puts(b, label);
    text_builder_puts(b, "\n\n");
}

static void put_query(TextBuilder *b, const char *text) {
    text_builder_puts(b, "Input: ");
    put_example_text(b, text);
    text_builder_puts(b, "\nLabel:");
}

// A label as the answer that follows "Label:": " name\n".
static void put_label(TextBuilder *b, const char *label) {
    text_builder_puts(b, " ");
    text_builder_puts(b, label);
    text_builder_puts(b, "\n");
}

char *icl_format_prompt(const IclEpisode *ep, size_t *len) {
    TextBuilder b = {0};
    for (int i = 0; i < ep->k; i++)
        put_demo(&b, ep->demo_text[i], ep->label_names[ep->demo_label[i]]);
    put_query(&b, ep->query_text);
    if (len) *len = b.n;
    return b.p;
}

// Encode n bytes into a new array (*out, caller frees). Returns the count or -1.
static long encode_new(Tokenizer *tok, const char *s, size_t n, int **out) {
    *out = xmalloc(sizeof(int) * (n > 0 ? n : 1));
    long c = tokenizer_encode(tok, s, n, *out);
    if (c < 0) {
        free(*out);
        *out = NULL;
    }
    return c;
}

static long encode_count(Tokenizer *tok, const char *s, size_t n) {
    int *ids;
    long c = encode_new(tok, s, n, &ids);
    free(ids);
    return c;
}

// ---- Validation ---------------------------------------------------------------------------

static int check_options(const IclOptions *o, int synthetic, Error *err) {
    if (!o) return error_set(err, "icl: no options given");
    if (o->k < (synthetic ? 1 : 0))
        return error_set(err, "icl: k must be >= %d (got %d)%s", synthetic ? 1 : 0, o->k,
                         synthetic ? ": a synthetic query must appear among the demonstrations"
                                   : "");
    if (o->orders < 1) return error_set(err, "icl: orders must be >= 1 (got %d)", o->orders);
    if (o->episodes < 1) return error_set(err, "icl: episodes must be >= 1 (got %d)", o->episodes);
    if (o->max_context < 2)
        return error_set(err, "icl: max_context must be >= 2 tokens (got %d)", o->max_context);
    return 0;
}

// Options-independent checks of a labelled set; *n_train / *n_test get the split sizes.
static int check_dataset(const IclDataset *d, int check_utf8, int *n_train, int *n_test,
                         Error *err) {
    if (!d || d->n <= 0) return error_set(err, "icl: the dataset is empty");
    if (!d->text || !d->label || !d->is_test)
        return error_set(err, "icl: the dataset has no text, label or split arrays");
    if (d->n_labels < 2 || !d->label_names)
        return error_set(err, "icl: the dataset needs at least 2 labels (has %d)", d->n_labels);
    for (int c = 0; c < d->n_labels; c++) {
        const char *s = d->label_names[c];
        if (!s || !*s) return error_set(err, "icl: label %d has an empty name", c);
        if (strchr(s, '\n') || strchr(s, '\r'))
            return error_set(
                err, "icl: label '%s' contains a line break, which would break the episode format",
                s);
        if (check_utf8 && utf8_first_invalid(s, strlen(s)) >= 0)
            return error_set(err, "icl: label %d's name is not valid UTF-8", c);
        for (int c2 = 0; c2 < c; c2++)
            if (strcmp(s, d->label_names[c2]) == 0)
                return error_set(err, "icl: label name '%s' appears twice (labels %d and %d)", s,
                                 c2, c);
    }
    int *train_count = xcalloc((size_t)d->n_labels, sizeof(int));
    int tr = 0, te = 0, rc = 0;
    for (int i = 0; i < d->n && rc == 0; i++) {
        if (d->label[i] < 0 || d->label[i] >= d->n_labels)
            rc = error_set(err, "icl: example %d has label %d, outside [0, %d)", i, d->label[i],
                           d->n_labels);
        else if (!d->text[i])
            rc = error_set(err, "icl: example %d has no text", i);
        else if (check_utf8 && utf8_first_invalid(d->text[i], strlen(d->text[i])) >= 0)
            rc = error_set(err, "icl: example %d's text is not valid UTF-8 (byte %ld)", i,
                           utf8_first_invalid(d->text[i], strlen(d->text[i])));
        else if (d->is_test[i])
            te++;
        else {
            tr++;
            train_count[d->label[i]]++;
        }
    }
    for (int c = 0; c < d->n_labels && rc == 0; c++)
        if (train_count[c] == 0)
            rc = error_set(err,
                           "icl: label '%s' has no example in the train split; class-balanced "
                           "demonstrations need every class there (re-split, or drop the label)",
                           d->label_names[c]);
    free(train_count);
    if (rc) return rc;
    if (te == 0)
        return error_set(err, "icl: the dataset has no test example (is_test == 1) to query");
    *n_train = tr;
    *n_test = te;
    return 0;
}

static int check_model(const Model *m, const Tokenizer *tok, Error *err) {
    if (!m || !tok) return error_set(err, "icl: no model or tokenizer given");
    if (m->cfg.vocab_size < tok->vocab_size)
        return error_set(err,
                         "icl: the model's vocabulary (%d) is smaller than tokenizer '%s''s (%d)",
                         m->cfg.vocab_size, tok->name, tok->vocab_size);
    return 0;
}

// ---- Dataset draws ------------------------------------------------------------------------

typedef struct {
    int C, n_train, n_test;
    int *train;     // (n_train) dataset indices grouped by class
    int *class_off; // (C + 1) class c is train[class_off[c] .. class_off[c+1])
    int *test;      // (n_test) dataset indices in file order
} Split;

static void split_build(const IclDataset *d, Split *sp) {
    int C = d->n_labels;
    sp->C = C;
    sp->class_off = xcalloc((size_t)C + 1, sizeof(int));
    sp->n_train = sp->n_test = 0;
    for (int i = 0; i < d->n; i++) {
        if (d->is_test[i])
            sp->n_test++;
        else {
            sp->n_train++;
            sp->class_off[d->label[i] + 1]++;
        }
    }
    for (int c = 0; c < C; c++) sp->class_off[c + 1] += sp->class_off[c];
    sp->train = xmalloc(sizeof(int) * (size_t)(sp->n_train > 0 ? sp->n_train : 1));
    sp->test = xmalloc(sizeof(int) * (size_t)(sp->n_test > 0 ? sp->n_test : 1));
    int *fill = xmalloc(sizeof(int) * (size_t)C);
    memcpy(fill, sp->class_off, sizeof(int) * (size_t)C);
    int t = 0;
    for (int i = 0; i < d->n; i++) {
        if (d->is_test[i])
            sp->test[t++] = i;
        else
            sp->train[fill[d->label[i]]++] = i;
    }
    free(fill);
}

static void split_free(Split *sp) {
    free(sp->train);
    free(sp->class_off);
    free(sp->test);
}

// Dataset index of episode e's query: position e mod n_test of the (e / n_test)-th shuffle.
static int draw_query(const Split *sp, uint64_t seed, int e, gsl_rng *rng, int *scratch) {
    memcpy(scratch, sp->test, sizeof(int) * (size_t)sp->n_test);
    rng_seed(rng, seed, STREAM_QUERY, (uint64_t)(e / sp->n_test), 0);
    shuffle_int(rng, scratch, sp->n_test);
    return scratch[e % sp->n_test];
}

// k demonstrations of episode e (k <= n_train), round-robin over a random class order, each
// class's examples in a random order. The draws do not depend on k (prefix property).
static void draw_demos(const Split *sp, uint64_t seed, int e, int k, gsl_rng *rng, int *scratch,
                       int *out) {
    int C = sp->C;
    rng_seed(rng, seed, STREAM_DEMOS, (uint64_t)e, 0);
    int *corder = xmalloc(sizeof(int) * (size_t)C);
    for (int c = 0; c < C; c++) corder[c] = c;
    shuffle_int(rng, corder, C);
    memcpy(scratch, sp->train, sizeof(int) * (size_t)sp->n_train);
    for (int c = 0; c < C; c++)
        shuffle_int(rng, scratch + sp->class_off[c], sp->class_off[c + 1] - sp->class_off[c]);
    int got = 0;
    for (int round = 0; got < k; round++)
        for (int ci = 0; ci < C && got < k; ci++) {
            int c = corder[ci];
            if (round < sp->class_off[c + 1] - sp->class_off[c])
                out[got++] = scratch[sp->class_off[c] + round];
        }
    free(corder);
}

// A prompt order of k demonstrations with labels label[] in [0, n_labels): perm[j] is the
// demonstration placed j-th. Alternating: shuffle within each class and the class cycle (larger
// classes first), then round-robin; otherwise a uniform shuffle.
static void order_demos(gsl_rng *rng, int alternating, int k, const int *label, int n_labels,
                        int *perm) {
    if (!alternating) {
        for (int i = 0; i < k; i++) perm[i] = i;
        shuffle_int(rng, perm, k);
        return;
    }
    int *off = xcalloc((size_t)n_labels + 1, sizeof(int));
    int *grp = xmalloc(sizeof(int) * (size_t)(k > 0 ? k : 1));
    int *fill = xmalloc(sizeof(int) * (size_t)n_labels);
    int *cyc = xmalloc(sizeof(int) * (size_t)n_labels);
    for (int i = 0; i < k; i++) off[label[i] + 1]++;
    for (int c = 0; c < n_labels; c++) off[c + 1] += off[c];
    memcpy(fill, off, sizeof(int) * (size_t)n_labels);
    for (int i = 0; i < k; i++) grp[fill[label[i]]++] = i;
    for (int c = 0; c < n_labels; c++) {
        shuffle_int(rng, grp + off[c], off[c + 1] - off[c]);
        cyc[c] = c;
    }
    shuffle_int(rng, cyc, n_labels);
    // Larger classes first (stable): each round is then a prefix of the cycle, and a round
    // never ends with the class the next one starts with unless only that class is left.
    for (int i = 1; i < n_labels; i++) {
        int c = cyc[i], n = off[c + 1] - off[c], j = i;
        for (; j > 0 && off[cyc[j - 1] + 1] - off[cyc[j - 1]] < n; j--) cyc[j] = cyc[j - 1];
        cyc[j] = c;
    }
    int got = 0;
    for (int round = 0; got < k; round++)
        for (int ci = 0; ci < n_labels; ci++) {
            int c = cyc[ci];
            if (round < off[c + 1] - off[c]) perm[got++] = grp[off[c] + round];
        }
    free(off);
    free(grp);
    free(fill);
    free(cyc);
}

static void episode_alloc(IclEpisode *ep, int k) {
    memset(ep, 0, sizeof *ep);
    ep->k = k;
    size_t n = (size_t)(k > 0 ? k : 1);
    ep->demo_text = xmalloc(sizeof(char *) * n);
    ep->demo_label = xmalloc(sizeof(int) * n);
    ep->demo_index = xmalloc(sizeof(int) * n);
}

void icl_episode_free(IclEpisode *ep) {
    if (!ep) return;
    free(ep->demo_text);
    free(ep->demo_label);
    free(ep->demo_index);
    free(ep->input_label);
    free(ep->owned_);
    memset(ep, 0, sizeof *ep);
}

// Scratch for dataset draws, reused over episodes.
typedef struct {
    const IclDataset *d;
    const IclOptions *o;
    Split sp;
    gsl_rng *rng;
    int *scratch; // (max(n_train, n_test))
    int *draw;    // (k)
    int *perm;    // (k)
    int *lab;     // (k)
} DataCtx;

static void datactx_init(DataCtx *c, const IclDataset *d, const IclOptions *o) {
    c->d = d;
    c->o = o;
    split_build(d, &c->sp);
    c->rng = gsl_rng_alloc(gsl_rng_mt19937);
    int n = c->sp.n_train > c->sp.n_test ? c->sp.n_train : c->sp.n_test;
    c->scratch = xmalloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    size_t k = (size_t)(o->k > 0 ? o->k : 1);
    c->draw = xmalloc(sizeof(int) * k);
    c->perm = xmalloc(sizeof(int) * k);
    c->lab = xmalloc(sizeof(int) * k);
}

static void datactx_free(DataCtx *c) {
    split_free(&c->sp);
    gsl_rng_free(c->rng);
    free(c->scratch);
    free(c->draw);
    free(c->perm);
    free(c->lab);
}

typedef int (*EpisodeFn)(void *ctx, int e, int s, IclEpisode *ep, Error *err);

static int data_episode(void *vctx, int e, int s, IclEpisode *ep, Error *err) {
    (void)err;
    DataCtx *c = vctx;
    const IclDataset *d = c->d;
    int k = c->o->k;
    episode_alloc(ep, k);
    ep->n_labels = d->n_labels;
    ep->label_names = d->label_names;
    int q = draw_query(&c->sp, c->o->seed, e, c->rng, c->scratch);
    ep->query_index = q;
    ep->query_text = d->text[q];
    ep->query_label = d->label[q];
    draw_demos(&c->sp, c->o->seed, e, k, c->rng, c->scratch, c->draw);
    for (int i = 0; i < k; i++) c->lab[i] = d->label[c->draw[i]];
    rng_seed(c->rng, c->o->seed, STREAM_ORDER, (uint64_t)e, (uint64_t)s);
    order_demos(c->rng, c->o->class_alternating, k, c->lab, d->n_labels, c->perm);
    for (int j = 0; j < k; j++) {
        int i = c->draw[c->perm[j]];
        ep->demo_index[j] = i;
        ep->demo_text[j] = d->text[i];
        ep->demo_label[j] = d->label[i];
    }
    return 0;
}

int icl_episode(const IclDataset *d, const IclOptions *o, int episode, int order, IclEpisode *ep,
                Error *err) {
    int n_train, n_test;
    memset(ep, 0, sizeof *ep);
    if (check_options(o, 0, err) || check_dataset(d, 0, &n_train, &n_test, err)) return -1;
    if (o->k > n_train)
        return error_set(err, "icl: k = %d exceeds the %d train examples", o->k, n_train);
    if (episode < 0 || order < 0 || order >= o->orders)
        return error_set(err, "icl: episode %d / ordering %d out of range (orders = %d)", episode,
                         order, o->orders);
    DataCtx c;
    datactx_init(&c, d, o);
    int rc = data_episode(&c, episode, order, ep, err);
    datactx_free(&c);
    return rc;
}

// ---- Synthetic draws ----------------------------------------------------------------------

static const char *const SYNTH_LABELS[ICL_SYNTH_MAX_CLASSES] = {
    "red",  "blue", "green", "gold", "pink", "gray", "cat",  "dog",  "cow",  "pig",  "owl",
    "fox",  "bee",  "ant",   "sun",  "moon", "star", "rain", "snow", "wind", "tree", "leaf",
    "rock", "sand", "cup",   "pen",  "box",  "key",  "hat",  "map",  "car",  "bus"};

typedef struct {
    char words[ICL_SYNTH_MAX_CLASSES][ICL_SYNTH_WORD_LEN + 1];
    char *inputs[ICL_SYNTH_MAX_CLASSES];
    const char *names[ICL_SYNTH_MAX_CLASSES];
} SynthStore;

static int check_classes(int n_classes, Error *err) {
    if (n_classes < 2 || n_classes > ICL_SYNTH_MAX_CLASSES)
        return error_set(err, "icl: synthetic n_classes must be in [2, %d] (got %d)",
                         ICL_SYNTH_MAX_CLASSES, n_classes);
    return 0;
}

// The mapping of one episode: C distinct input words, C label words (list order), and a random
// one-to-one input -> label assignment; then the round-robin order of the inputs.
static void synth_mapping(gsl_rng *rng, int C, SynthStore *st, int *input_label, int *in_order) {
    for (int i = 0; i < C; i++) {
        int dup;
        do {
            for (int j = 0; j < ICL_SYNTH_WORD_LEN; j++)
                st->words[i][j] = (char)('a' + gsl_rng_uniform_int(rng, 26));
            st->words[i][ICL_SYNTH_WORD_LEN] = '\0';
            dup = 0;
            for (int i2 = 0; i2 < i && !dup; i2++) dup = strcmp(st->words[i], st->words[i2]) == 0;
        } while (dup);
        st->inputs[i] = st->words[i];
    }
    int all[ICL_SYNTH_MAX_CLASSES], chosen[ICL_SYNTH_MAX_CLASSES];
    for (int i = 0; i < ICL_SYNTH_MAX_CLASSES; i++) all[i] = i;
    gsl_ran_choose(rng, chosen, (size_t)C, all, ICL_SYNTH_MAX_CLASSES, sizeof(int));
    for (int c = 0; c < C; c++) {
        st->names[c] = SYNTH_LABELS[chosen[c]];
        input_label[c] = c;
    }
    shuffle_int(rng, input_label, C);
    for (int i = 0; i < C; i++) in_order[i] = i;
    shuffle_int(rng, in_order, C);
}

// Episode with k demonstrations round-robin over in_order, and the query among them.
static void synth_fill(IclEpisode *ep, int C, int k, SynthStore *st, int *input_label,
                       const int *in_order, int query_input) {
    ep->n_labels = C;
    ep->label_names = st->names;
    ep->n_inputs = C;
    ep->inputs = st->inputs;
    ep->input_label = input_label;
    ep->owned_ = st;
    for (int j = 0; j < k; j++) {
        int i = in_order[j % C];
        ep->demo_index[j] = i;
        ep->demo_text[j] = st->inputs[i];
        ep->demo_label[j] = input_label[i];
    }
    ep->query_index = query_input;
    ep->query_text = st->inputs[query_input];
    ep->query_label = input_label[query_input];
}

// Put the demonstrations of ep in the order perm (perm[j]: the demonstration placed j-th).
static void episode_permute(IclEpisode *ep, const int *perm) {
    int k = ep->k;
    const char **t = xmalloc(sizeof(char *) * (size_t)(k > 0 ? k : 1));
    int *l = xmalloc(sizeof(int) * (size_t)(k > 0 ? k : 1));
    int *x = xmalloc(sizeof(int) * (size_t)(k > 0 ? k : 1));
    for (int j = 0; j < k; j++) {
        t[j] = ep->demo_text[perm[j]];
        l[j] = ep->demo_label[perm[j]];
        x[j] = ep->demo_index[perm[j]];
    }
    memcpy(ep->demo_text, t, sizeof(char *) * (size_t)k);
    memcpy(ep->demo_label, l, sizeof(int) * (size_t)k);
    memcpy(ep->demo_index, x, sizeof(int) * (size_t)k);
    free(t);
    free(l);
    free(x);
}

typedef struct {
    int C;
    const IclOptions *o;
    gsl_rng *rng;
} SynthCtx;

static int synth_episode(void *vctx, int e, int s, IclEpisode *ep, Error *err) {
    (void)err;
    SynthCtx *c = vctx;
    int C = c->C, k = c->o->k;
    episode_alloc(ep, k);
    SynthStore *st = xcalloc(1, sizeof *st);
    int *input_label = xmalloc(sizeof(int) * (size_t)C);
    int in_order[ICL_SYNTH_MAX_CLASSES];
    rng_seed(c->rng, c->o->seed, STREAM_SYNTH, (uint64_t)e, 0);
    synth_mapping(c->rng, C, st, input_label, in_order);
    int shown = k < C ? k : C;
    int q = in_order[gsl_rng_uniform_int(c->rng, (unsigned long)shown)];
    synth_fill(ep, C, k, st, input_label, in_order, q);
    rng_seed(c->rng, c->o->seed, STREAM_SYNTH_ORDER, (uint64_t)e, (uint64_t)s);
    int *perm = xmalloc(sizeof(int) * (size_t)(k > 0 ? k : 1));
    order_demos(c->rng, c->o->class_alternating, k, ep->demo_label, C, perm);
    episode_permute(ep, perm);
    free(perm);
    return 0;
}

int icl_synthetic_episode(int n_classes, const IclOptions *o, int episode, int order,
                          IclEpisode *ep, Error *err) {
    memset(ep, 0, sizeof *ep);
    if (check_options(o, 1, err) || check_classes(n_classes, err)) return -1;
    if (episode < 0 || order < 0 || order >= o->orders)
        return error_set(err, "icl: episode %d / ordering %d out of range (orders = %d)", episode,
                         order, o->orders);
    SynthCtx c = {n_classes, o, gsl_rng_alloc(gsl_rng_mt19937)};
    int rc = synth_episode(&c, episode, order, ep, err);
    gsl_rng_free(c.rng);
    return rc;
}

// ---- Scoring ------------------------------------------------------------------------------

typedef struct {
    int n, maxlen;
    int **tok; // (n) each (len[i])
    int *len;  // (n)
} Cands;

static void cands_free(Cands *c) {
    if (c->tok)
        for (int i = 0; i < c->n; i++) free(c->tok[i]);
    free(c->tok);
    free(c->len);
    memset(c, 0, sizeof *c);
}

static int cands_encode(Tokenizer *tok, int n, const char *const *names, Cands *c, Error *err) {
    memset(c, 0, sizeof *c);
    c->n = n;
    c->tok = xcalloc((size_t)n, sizeof(int *));
    c->len = xcalloc((size_t)n, sizeof(int));
    TextBuilder b = {0};
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        text_builder_clear(&b);
        put_label(&b, names[i]);
        long L = encode_new(tok, b.p, b.n, &c->tok[i]);
        if (L <= 0)
            rc = error_set(err, "icl: cannot tokenise label '%s'", names[i]);
        else {
            c->len[i] = (int)L;
            if (L > c->maxlen) c->maxlen = (int)L;
        }
    }
    text_builder_free(&b);
    if (rc) cands_free(c);
    return rc;
}

enum { ICL_T_ROUND = 32 };

static long g_budget = ICL_ACT_BUDGET_BYTES;

void icl_set_batch_budget(long bytes) {
    g_budget = bytes > 0 ? bytes : ICL_ACT_BUDGET_BYTES;
}

static double log_softmax_at(const float *logits, int V, int target) {
    float mx = logits[0];
    for (int v = 1; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    double s = 0.0;
    for (int v = 0; v < V; v++) s += exp((double)logits[v] - mx);
    return (double)logits[target] - mx - log(s);
}

// logp_sum[i] / logp_mean[i] of every candidate after [eot] prompt (P tokens).
static void score_tokens(Model *m, int eot, const int *prompt, int P, const Cands *c,
                         double *logp_sum, double *logp_mean) {
    // Inputs: eot, prompt and each candidate but its last token, padded to a multiple of
    // ICL_T_ROUND so that successive prompts mostly share one activation layout (core
    // reallocates its arena whenever (B, T) changes). Causal: padding changes no score.
    int T = (P + c->maxlen + ICL_T_ROUND - 1) / ICL_T_ROUND * ICL_T_ROUND;
    // Core's activation arena per batch row, plus one int target per token.
    double per_row = (double)T * (double)(model_activation_floats_per_token(&m->cfg, 0) + 1);
    long cap = (long)((double)g_budget / sizeof(float) / per_row);
    if (cap < 1) cap = 1;
    if (cap > c->n) cap = c->n;
    int n_batches = (int)((c->n + cap - 1) / cap);
    int B = (c->n + n_batches - 1) / n_batches; // equal batch sizes: one activation layout
    int V = m->cfg.vocab_size;
    int *tokens = xmalloc(sizeof(int) * (size_t)B * (size_t)T);
    for (int bt = 0; bt < n_batches; bt++) {
        for (int r = 0; r < B; r++) {
            int i = bt * B + r < c->n ? bt * B + r : c->n - 1; // pad with a repeated row
            int *row = tokens + (size_t)r * T;
            row[0] = eot;
            memcpy(row + 1, prompt, sizeof(int) * (size_t)P);
            for (int j = 0; j < T - 1 - P; j++) row[1 + P + j] = j < c->len[i] ? c->tok[i][j] : eot;
        }
        model_forward(m, tokens, NULL, B, T); // raw logits (B, T, V)
        for (int r = 0; r < B && bt * B + r < c->n; r++) {
            int i = bt * B + r;
            double s = 0.0;
            for (int j = 0; j < c->len[i]; j++) {
                const float *lg = m->logits + ((size_t)r * T + (size_t)(P + j)) * (size_t)V;
                s += log_softmax_at(lg, V, c->tok[i][j]);
            }
            logp_sum[i] = s;
            logp_mean[i] = s / c->len[i];
        }
    }
    free(tokens);
}

static int argmax(const double *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

int icl_score_labels(Model *m, Tokenizer *tok, const char *prompt, size_t len, int n_labels,
                     const char *const *label_names, double *logp_sum, double *logp_mean,
                     int *pred_norm, Error *err) {
    if (check_model(m, tok, err)) return -1;
    if (n_labels < 1 || !label_names) return error_set(err, "icl: no labels to score");
    Cands c;
    if (cands_encode(tok, n_labels, label_names, &c, err)) return -1;
    int *ids;
    long P = encode_new(tok, prompt, len, &ids);
    if (P < 0) {
        cands_free(&c);
        return error_set(err, "icl: cannot tokenise the prompt (invalid UTF-8?)");
    }
    double *s = xmalloc(sizeof(double) * (size_t)n_labels);
    double *mean = xmalloc(sizeof(double) * (size_t)n_labels);
    score_tokens(m, tok->eot, ids, (int)P, &c, s, mean);
    int pred = argmax(s, n_labels);
    if (pred_norm) *pred_norm = argmax(mean, n_labels);
    if (logp_sum) memcpy(logp_sum, s, sizeof(double) * (size_t)n_labels);
    if (logp_mean) memcpy(logp_mean, mean, sizeof(double) * (size_t)n_labels);
    free(s);
    free(mean);
    free(ids);
    cands_free(&c);
    return pred;
}

// ---- Evaluation ---------------------------------------------------------------------------

void icl_result_free(IclResult *r) {
    if (!r) return;
    free(r->order_accuracy);
    free(r->pred);
    free(r->pred_norm);
    free(r->truth);
    free(r->query);
    memset(r, 0, sizeof *r);
}

// Two passes over episodes x orderings: tokenise every prompt and check the context, then
// score. Prompts are kept (E * S of them); label sets are encoded per episode. Without a model
// (m NULL) only the first pass runs, and it stops at the first episode that does not fit.
static int evaluate(Model *m, Tokenizer *tok, const IclOptions *o, EpisodeFn fn, void *ctx,
                    int synthetic, IclResult *r, Error *err) {
    int E = o->episodes, S = o->orders, rc = 0;
    memset(r, 0, sizeof *r);
    r->k = o->k;
    r->episodes = E;
    r->orders = S;
    int **prompt = xcalloc((size_t)E * S, sizeof(int *));
    int *plen = xcalloc((size_t)E * S, sizeof(int));
    Cands *cands = xcalloc((size_t)E, sizeof(Cands));
    int *truth = xmalloc(sizeof(int) * (size_t)E), *query = xmalloc(sizeof(int) * (size_t)E);
    for (int e = 0; e < E && rc == 0 && (m || r->max_tokens <= o->max_context); e++)
        for (int s = 0; s < S && rc == 0 && (m || r->max_tokens <= o->max_context); s++) {
            IclEpisode ep;
            if ((rc = fn(ctx, e, s, &ep, err)) != 0) break;
            if (s == 0) {
                truth[e] = ep.query_label;
                query[e] = synthetic ? -1 : ep.query_index;
                rc = cands_encode(tok, ep.n_labels, ep.label_names, &cands[e], err);
            }
            size_t n;
            char *text = icl_format_prompt(&ep, &n);
            long P = rc ? 0 : encode_new(tok, text, n, &prompt[(size_t)e * S + s]);
            if (P < 0)
                rc = error_set(err,
                               "icl: cannot tokenise the prompt of episode %d (invalid UTF-8?)", e);
            plen[(size_t)e * S + s] = (int)P;
            int need = 1 + (int)P + cands[e].maxlen;
            if (rc == 0 && need > r->max_tokens) r->max_tokens = need;
            free(text);
            icl_episode_free(&ep);
        }
    r->fits = rc == 0 && r->max_tokens <= o->max_context;
    if (rc == 0 && r->fits && m) {
        int C_max = 0;
        for (int e = 0; e < E; e++) C_max = cands[e].n > C_max ? cands[e].n : C_max;
        double *ls = xmalloc(sizeof(double) * (size_t)C_max),
               *lm = xmalloc(sizeof(double) * (size_t)C_max);
        r->pred = xmalloc(sizeof(int) * (size_t)E * S);
        r->pred_norm = xmalloc(sizeof(int) * (size_t)E * S);
        // Score in order of length (stable), so equal padded lengths run back to back and the
        // model's activations are reallocated once per length, not once per prompt. Each
        // prompt's scores depend on it alone, not on this order.
        long n_at = (long)E * S;
        long *byT = xmalloc(sizeof(long) * (size_t)n_at);
        for (long a = 0; a < n_at; a++) {
            long v = (long)(plen[a] + cands[a / S].maxlen), j = a;
            for (; j > 0 && plen[byT[j - 1]] + cands[byT[j - 1] / S].maxlen > v; j--)
                byT[j] = byT[j - 1];
            byT[j] = a;
        }
        for (long i = 0; i < n_at; i++) {
            long at = byT[i];
            int e = (int)(at / S);
            score_tokens(m, tok->eot, prompt[at], plen[at], &cands[e], ls, lm);
            r->pred[at] = argmax(ls, cands[e].n);
            r->pred_norm[at] = argmax(lm, cands[e].n);
        }
        free(byT);
        free(ls);
        free(lm);
        r->order_accuracy = xcalloc((size_t)S, sizeof(double));
        long hit = 0, hit_norm = 0;
        for (int e = 0; e < E; e++)
            for (int s = 0; s < S; s++) {
                size_t at = (size_t)e * S + s;
                int ok = r->pred[at] == truth[e];
                hit += ok;
                hit_norm += r->pred_norm[at] == truth[e];
                r->order_accuracy[s] += ok;
            }
        for (int s = 0; s < S; s++) r->order_accuracy[s] /= E;
        r->accuracy = (double)hit / ((double)E * S);
        r->accuracy_norm = (double)hit_norm / ((double)E * S);
        double lo = r->order_accuracy[0], hi = lo;
        for (int s = 1; s < S; s++) {
            lo = fmin(lo, r->order_accuracy[s]);
            hi = fmax(hi, r->order_accuracy[s]);
        }
        r->best_minus_worst = hi - lo;
        r->order_std = S > 1 ? gsl_stats_sd(r->order_accuracy, 1, (size_t)S) : NAN;
        r->truth = truth;
        r->query = query;
        truth = query = NULL;
    } else if (rc == 0) {
        r->accuracy = r->accuracy_norm = r->best_minus_worst = r->order_std = NAN;
    }
    for (size_t i = 0; i < (size_t)E * S; i++) free(prompt[i]);
    for (int e = 0; e < E; e++) cands_free(&cands[e]);
    free(prompt);
    free(plen);
    free(cands);
    free(truth);
    free(query);
    if (rc) icl_result_free(r);
    return rc;
}

int icl_evaluate(Model *m, Tokenizer *tok, const IclDataset *d, const IclOptions *o, IclResult *r,
                 Error *err) {
    int n_train, n_test;
    if (r) memset(r, 0, sizeof *r);
    if (!r) return error_set(err, "icl: no result given");
    if (check_options(o, 0, err) || check_model(m, tok, err) ||
        check_dataset(d, 1, &n_train, &n_test, err))
        return -1;
    if (o->k > n_train)
        return error_set(err, "icl: k = %d exceeds the %d train examples", o->k, n_train);
    DataCtx c;
    datactx_init(&c, d, o);
    int rc = evaluate(m, tok, o, data_episode, &c, 0, r, err);
    datactx_free(&c);
    return rc;
}

int icl_evaluate_synthetic(Model *m, Tokenizer *tok, int n_classes, const IclOptions *o,
                           IclResult *r, Error *err) {
    if (r) memset(r, 0, sizeof *r);
    if (!r) return error_set(err, "icl: no result given");
    if (check_options(o, 1, err) || check_model(m, tok, err) || check_classes(n_classes, err))
        return -1;
    SynthCtx c = {n_classes, o, gsl_rng_alloc(gsl_rng_mt19937)};
    int rc = evaluate(m, tok, o, synth_episode, &c, 1, r, err);
    gsl_rng_free(c.rng);
    return rc;
}

// ---- Context budget -----------------------------------------------------------------------

int icl_fits(Tokenizer *tok, const IclDataset *d, int n_classes, const IclOptions *o, Error *err) {
    int synthetic = d == NULL, n_train = 0, n_test;
    if (!tok) return error_set(err, "icl: no tokenizer given");
    if (check_options(o, synthetic, err) ||
        (synthetic ? check_classes(n_classes, err) : check_dataset(d, 1, &n_train, &n_test, err)))
        return -1;
    // Every demonstration takes a token at least: a larger k never fits (nor is it drawn).
    if ((long)o->k + 3 > o->max_context || (!synthetic && o->k > n_train)) return 0;
    IclResult r;
    int rc;
    if (synthetic) {
        SynthCtx c = {n_classes, o, gsl_rng_alloc(gsl_rng_mt19937)};
        rc = evaluate(NULL, tok, o, synth_episode, &c, 1, &r, err);
        gsl_rng_free(c.rng);
    } else {
        DataCtx c;
        datactx_init(&c, d, o);
        rc = evaluate(NULL, tok, o, data_episode, &c, 0, &r, err);
        datactx_free(&c);
    }
    int fits = r.fits;
    icl_result_free(&r);
    return rc ? -1 : fits;
}

int icl_max_shots(Tokenizer *tok, const IclDataset *d, int max_context) {
    int n_train, n_test;
    Error err;
    if (!tok || check_dataset(d, 1, &n_train, &n_test, &err)) return -1;
    long demo = 0, q = 0, cand = 0, nl = encode_count(tok, "\n", 1);
    TextBuilder b = {0};
    for (int i = 0; i < d->n; i++) {
        text_builder_clear(&b);
        long L;
        if (d->is_test[i]) {
            put_query(&b, d->text[i]);
            L = encode_count(tok, b.p, b.n);
            if (L > q) q = L;
        } else {
            put_demo(&b, d->text[i], d->label_names[d->label[i]]);
            L = encode_count(tok, b.p, b.n - 1); // "...\n" alone, then "\n"
            if (L >= 0 && L + nl > demo) demo = L + nl;
        }
        if (L < 0) {
            text_builder_free(&b);
            return -1;
        }
    }
    for (int c = 0; c < d->n_labels; c++) {
        text_builder_clear(&b);
        put_label(&b, d->label_names[c]);
        long L = encode_count(tok, b.p, b.n);
        if (L > cand) cand = L;
    }
    text_builder_free(&b);
    long room = (long)max_context - 1 - q - cand;
    if (room < 0) return -1;
    long k = demo > 0 ? room / demo : 0;
    return (int)(k < n_train ? k : n_train);
}

// ---- Training episodes --------------------------------------------------------------------

static long encode_into(Tokenizer *tok, const TextBuilder *b, int *out, long cap) {
    int *ids;
    long n = encode_new(tok, b->p, b->n, &ids);
    if (n < 0 || n > cap) {
        free(ids);
        return -1;
    }
    memcpy(out, ids, sizeof(int) * (size_t)n);
    free(ids);
    return n;
}

long icl_training_episode(Tokenizer *tok, const IclDataset *d, int k, gsl_rng *rng, int *out,
                          long cap) {
    int n_train, n_test;
    Error err;
    if (!tok || !rng || !out || k < 0 || check_dataset(d, 0, &n_train, &n_test, &err)) return -1;
    if (k >= n_train) return -1; // the query is a train example not among the demonstrations
    Split sp;
    split_build(d, &sp);
    int C = sp.C;
    // Class-balanced counts: round-robin over a random class order, capped by class sizes.
    int *corder = xmalloc(sizeof(int) * (size_t)C), *take = xcalloc((size_t)C, sizeof(int));
    for (int c = 0; c < C; c++) corder[c] = c;
    shuffle_int(rng, corder, C);
    for (int got = 0, round = 0; got < k; round++)
        for (int ci = 0; ci < C && got < k; ci++) {
            int c = corder[ci];
            if (round < sp.class_off[c + 1] - sp.class_off[c]) {
                take[c]++;
                got++;
            }
        }
    // Partial Fisher-Yates within each class: its first take[c] examples.
    int *demo = xmalloc(sizeof(int) * (size_t)(k > 0 ? k : 1)), nd = 0;
    unsigned char *used = xcalloc((size_t)d->n, 1);
    for (int c = 0; c < C; c++) {
        int *a = sp.train + sp.class_off[c], n = sp.class_off[c + 1] - sp.class_off[c];
        for (int j = 0; j < take[c]; j++) {
            int x = j + (int)gsl_rng_uniform_int(rng, (unsigned long)(n - j));
            int t = a[j];
            a[j] = a[x];
            a[x] = t;
            demo[nd++] = a[j];
            used[a[j]] = 1;
        }
    }
    shuffle_int(rng, demo, k);
    int q;
    do q = sp.train[gsl_rng_uniform_int(rng, (unsigned long)n_train)];
    while (used[q]);
    TextBuilder b = {0};
    for (int j = 0; j < k; j++) put_demo(&b, d->text[demo[j]], d->label_names[d->label[demo[j]]]);
    put_query(&b, d->text[q]);
    put_label(&b, d->label_names[d->label[q]]);
    long n = encode_into(tok, &b, out, cap);
    text_builder_free(&b);
    free(corder);
    free(take);
    free(demo);
    free(used);
    split_free(&sp);
    return n;
}

long icl_synthetic_training_episode(Tokenizer *tok, int n_classes, int k, gsl_rng *rng, int *out,
                                    long cap) {
    Error err;
    if (!tok || !rng || !out || k < 1 || check_classes(n_classes, &err)) return -1;
    int C = n_classes;
    SynthStore *st = xcalloc(1, sizeof *st);
    int *input_label = xmalloc(sizeof(int) * (size_t)C);
    int in_order[ICL_SYNTH_MAX_CLASSES];
    synth_mapping(rng, C, st, input_label, in_order);
    int shown = k < C ? k : C;
    int q = in_order[gsl_rng_uniform_int(rng, (unsigned long)shown)];
    IclEpisode ep;
    episode_alloc(&ep, k);
    synth_fill(&ep, C, k, st, input_label, in_order, q);
    int *perm = xmalloc(sizeof(int) * (size_t)k);
    order_demos(rng, 0, k, ep.demo_label, C, perm);
    episode_permute(&ep, perm);
    free(perm);
    size_t len;
    char *text = icl_format_prompt(&ep, &len);
    TextBuilder b = {text, len, len + 1};
    put_label(&b, ep.label_names[ep.query_label]);
    long n = encode_into(tok, &b, out, cap);
    text_builder_free(&b);
    icl_episode_free(&ep); // frees st and input_label
    return n;
}
