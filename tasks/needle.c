#include "needle.h"

#include "attention_stream.h"

#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"

// Even entries are the training pool, odd entries the evaluation pool: no city is shared.
static const char *const CITIES[] = {
    "Lisbon",   "Nairobi",   "Oslo",     "Lima",       "Osaka",     "Quito",    "Dublin",
    "Hanoi",    "Zagreb",    "Accra",    "Bergen",     "Tbilisi",   "Seville",  "Montevideo",
    "Krakow",   "Auckland",  "Bordeaux", "Casablanca", "Reykjavik", "Tallinn",  "Valparaiso",
    "Kyoto",    "Marseille", "Windhoek", "Porto",      "Cusco",     "Geneva",   "Ljubljana",
    "Adelaide", "Dakar",     "Antwerp",  "Bratislava", "Halifax",   "Asuncion", "Tampere",
    "Mombasa",  "Salzburg",  "Cordoba",  "Gdansk",     "Busan",     "Florence", "Kathmandu",
    "Glasgow",  "Kampala",   "Seattle",  "Tashkent",   "Palermo",   "Medellin", "Dresden",
    "Manila",   "Toulouse",  "Bishkek",  "Denver",     "Kigali",    "Granada",  "Vilnius",
    "Perth",    "Tunis",     "Uppsala",  "Sarajevo",   "Memphis",   "Lusaka",   "Bologna",
    "Riga",     "Calgary",   "Muscat",   "Heidelberg", "Cebu",      "Nantes",   "Yerevan",
    "Boston",   "Harare",    "Valencia", "Skopje",     "Hobart",    "Fez",      "Lyon",
    "Chisinau", "Phoenix",   "Maputo",
};
#define N_CITIES ((int)(sizeof CITIES / sizeof CITIES[0]))

int needle_n_cities(NeedlePool pool) {
    return (N_CITIES - (int)pool + 1) / 2;
}
const char *needle_city(NeedlePool pool, int i) {
    return CITIES[2 * i + (int)pool];
}

// Numbers: 7 digits, 1000000..9999999 in both pools, split by the parity of the digit sum
// (training even, evaluation odd): the pools are disjoint while every digit position keeps the
// same distribution, so an evaluation number is never out of distribution digit by digit.
static int digit_sum_parity(long x) {
    int s = 0;
    for (; x > 0; x /= 10) s += (int)(x % 10);
    return s & 1;
}

static long draw_number(NeedlePool pool, gsl_rng *rng) {
    long x;
    do x = 1000000L + (long)gsl_rng_uniform_int(rng, 9000000);
    while (digit_sum_parity(x) != (int)pool);
    return x;
}

static int *encode(Tokenizer *tok, const char *text, int *n) {
    size_t len = strlen(text);
    int *ids = xmalloc(sizeof(int) * (len + 1));
    long k = tokenizer_encode(tok, text, len, ids);
    CHECK(k >= 0, "tokenizer failed on a needle template");
    *n = (int)k;
    return ids;
}

// 1 when position p of hay (0 < p < n) starts a sentence: the token before ends in . ! or ?
// and the token at p begins with white space. Decoding one token at a time keeps this valid
// for any tokenizer.
static int sentence_boundary(Tokenizer *tok, const int *hay, long p) {
    char a[64], b[64];
    long na = tokenizer_decode(tok, &hay[p - 1], 1, a, sizeof a);
    long nb = tokenizer_decode(tok, &hay[p], 1, b, sizeof b);
    if (na <= 0 || nb <= 0) return 0;
    char last = a[na - 1], first = b[0];
    return (last == '.' || last == '!' || last == '?') && (first == ' ' || first == '\n');
}

// The N needles: distinct cities (a shuffle of the pool) with distinct numbers, each sentence
// encoded into needle_tok[i] (needle_len[i] tokens). Returns the needles' tokens in all.
static int draw_needles(NeedleSample *s, Tokenizer *tok, NeedlePool pool, gsl_rng *rng,
                        int **needle_tok, int *needle_len) {
    size_t ncity = (size_t)needle_n_cities(pool);
    int *all = xmalloc(sizeof(int) * ncity), total = 0;
    for (size_t i = 0; i < ncity; i++) all[i] = (int)i;
    gsl_ran_shuffle(rng, all, ncity, sizeof(int));
    char text[256];
    for (int i = 0; i < s->n_needles; i++) {
        s->city[i] = all[i];
        int distinct;
        do { // distinct numbers, so that an answer names at most one needle
            s->number[i] = draw_number(pool, rng);
            distinct = 1;
            for (int j = 0; j < i; j++) distinct &= s->number[j] != s->number[i];
        } while (!distinct);
        snprintf(text, sizeof text, " The special magic number for %s is: %07ld.",
                 needle_city(pool, all[i]), s->number[i]);
        needle_tok[i] = encode(tok, text, &needle_len[i]);
        total += needle_len[i];
    }
    free(all);
    return total;
}

// A question (and its answer) for every needle: the longest of them sizes the haystack, so the
// context length does not depend on which needle is asked. Returns that longest length.
static int encode_questions(NeedleSample *s, Tokenizer *tok, NeedlePool pool) {
    char text[256];
    int max_query = 0;
    for (int i = 0; i < s->n_needles; i++) {
        const char *c = needle_city(pool, s->city[i]);
        snprintf(text, sizeof text,
                 "\nQuestion: What is the special magic number for %s?\nAnswer: The special magic "
                 "number for %s is:",
                 c, c);
        int nq, na;
        int *q = encode(tok, text, &nq);
        snprintf(text, sizeof text, " %07ld", s->number[i]);
        int *a = encode(tok, text, &na);
        s->query_tokens[i] = xmalloc(sizeof(int) * (size_t)(nq + na));
        memcpy(s->query_tokens[i], q, sizeof(int) * (size_t)nq);
        memcpy(s->query_tokens[i] + nq, a, sizeof(int) * (size_t)na);
        s->query_len[i] = nq;
        s->answer_len[i] = na;
        if (nq + na > max_query) max_query = nq + na;
        free(q);
        free(a);
    }
    return max_query;
}

// Where each needle goes in a haystack h of H tokens: a sentence boundary (or an end) drawn
// uniformly, the first asked needle's the one nearest the requested depth in the depth layout.
static void needle_positions(const NeedleSample *s, Tokenizer *tok, const int *h, long H,
                             const NeedleSpec *spec, gsl_rng *rng, long *at) {
    long *bounds = xmalloc(sizeof(long) * (size_t)(H + 1));
    long nb = 0;
    bounds[nb++] = 0;
    for (long p = 1; p < H; p++)
        if (sentence_boundary(tok, h, p)) bounds[nb++] = p;
    bounds[nb++] = H;
    for (int i = 0; i < s->n_needles; i++)
        at[i] = bounds[gsl_rng_uniform_int(rng, (unsigned long)nb)];
    if (spec->layout == NEEDLE_LAYOUT_DEPTH) {
        long target = lround(spec->depth * (double)H), best = 0;
        for (long i = 1; i < nb; i++)
            if (labs(bounds[i] - target) < labs(bounds[best] - target)) best = i;
        at[s->asked[0]] = bounds[best];
    }
    free(bounds);
}

// Lay out haystack and needles in position order, needles at one boundary in a random order.
static void lay_out(NeedleSample *s, const int *h, long H, const long *at, int *const *needle_tok,
                    const int *needle_len, int total_needles, gsl_rng *rng) {
    int N = s->n_needles, tie[NEEDLE_MAX], order[NEEDLE_MAX];
    for (int i = 0; i < N; i++) tie[i] = order[i] = i;
    gsl_ran_shuffle(rng, tie, (size_t)N, sizeof(int));
    for (int i = 1; i < N; i++)
        for (int j = i;
             j > 0 && (at[order[j - 1]] > at[order[j]] ||
                       (at[order[j - 1]] == at[order[j]] && tie[order[j - 1]] > tie[order[j]]));
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    s->n_context = (int)(H + total_needles);
    s->tokens = xmalloc(sizeof(int) * (size_t)s->n_context);
    long src = 0, dst = 0;
    for (int k = 0; k < N; k++) {
        int i = order[k];
        memcpy(s->tokens + dst, h + src, sizeof(int) * (size_t)(at[i] - src));
        dst += at[i] - src;
        src = at[i];
        s->needle_start[i] = (int)dst;
        memcpy(s->tokens + dst, needle_tok[i], sizeof(int) * (size_t)needle_len[i]);
        dst += needle_len[i];
        s->needle_end[i] = (int)dst;
    }
    memcpy(s->tokens + dst, h + src, sizeof(int) * (size_t)(H - src));
}

int needle_make(NeedleSample *s, Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                NeedlePool pool, gsl_rng *rng, Error *err) {
    memset(s, 0, sizeof *s);
    int N = spec->n_needles, R = spec->n_queried;
    if (N < 1 || N > NEEDLE_MAX)
        return error_set(err, "needles N = %d: expected 1 to %d", N, NEEDLE_MAX);
    if (R < 1 || R > N) return error_set(err, "queried needles R = %d: expected 1 to N = %d", R, N);
    if (spec->layout == NEEDLE_LAYOUT_DEPTH && !(spec->depth >= 0 && spec->depth <= 1))
        return error_set(err, "depth %g is outside [0, 1]", spec->depth);
    if (N > needle_n_cities(pool))
        return error_set(err, "N = %d exceeds the %d cities of the pool", N, needle_n_cities(pool));
    s->n_needles = N;
    s->n_queried = R;
    int *needle_tok[NEEDLE_MAX], needle_len[NEEDLE_MAX];
    int total_needles = draw_needles(s, tok, pool, rng, needle_tok, needle_len);
    int max_query = encode_questions(s, tok, pool);
    // Which needles are asked: a uniform permutation; the first R are the queried ones, and
    // with R = 1 < N the next one is the key-swap control.
    int perm[NEEDLE_MAX];
    for (int i = 0; i < N; i++) perm[i] = i;
    gsl_ran_shuffle(rng, perm, (size_t)N, sizeof(int));
    s->n_questions = R == 1 && N >= 2 ? 2 : R;
    for (int q = 0; q < s->n_questions; q++) s->asked[q] = perm[q];
    s->control = N >= 2 ? 1 : -1;
    long H = (long)spec->length - total_needles - max_query;
    int rc = 0;
    if (H < 16)
        rc = error_set(err,
                       "context length %d is too short for %d needles and the query (%d tokens); "
                       "give at least %d",
                       spec->length, N, total_needles + max_query, total_needles + max_query + 16);
    else if (n_hay < H + 1)
        rc = error_set(err, "the haystack text has %ld tokens; %ld are needed for length %d", n_hay,
                       H, spec->length);
    if (rc == 0) {
        const int *h = hay + (long)gsl_rng_uniform_int(rng, (unsigned long)(n_hay - H));
        long at[NEEDLE_MAX];
        needle_positions(s, tok, h, H, spec, rng, at);
        lay_out(s, h, H, at, needle_tok, needle_len, total_needles, rng);
    }
    for (int i = 0; i < N; i++) free(needle_tok[i]);
    if (rc != 0) needle_free(s);
    return rc;
}

void needle_free(NeedleSample *s) {
    free(s->tokens);
    for (int r = 0; r < NEEDLE_MAX; r++) free(s->query_tokens[r]);
    memset(s, 0, sizeof *s);
}

void needle_judge(const float *probs, const float *nll, int V, const int *answer, int n_answer,
                  int *correct, double *loglik) {
    int ok = 1;
    double ll = 0.0;
    for (int i = 0; i < n_answer; i++) {
        const float *p = probs + (long)i * V;
        int arg = 0;
        for (int v = 1; v < V; v++)
            if (p[v] > p[arg]) arg = v;
        ok &= arg == answer[i];
        ll -= nll[i];
    }
    *correct = ok;
    *loglik = ll;
}

// Argmax of each of n rows of probabilities (lowest id on ties, as needle_judge).
static void row_argmax(const float *probs, int V, int n, int *out) {
    for (int i = 0; i < n; i++) {
        const float *p = probs + (long)i * V;
        int arg = 0;
        for (int v = 1; v < V; v++)
            if (p[v] > p[arg]) arg = v;
        out[i] = arg;
    }
}

// Attention of the position predicting the first answer token (row q) on needle `on`'s tokens,
// per layer, from the final-map row q of each head recomputed from the last forward's q and k
// (length T; attention_final_rows: O(T) memory, no (T, T) map).
static void attention_masses(Model *m, const NeedleSample *s, int on, int T, int q,
                             NeedleScore *out) {
    AttnDims ad = attn_dims(&m->cfg, T);
    float *row = xmalloc(sizeof(float) * (size_t)T);
    for (int l = 0; l < m->cfg.n_layer && l < 64; l++) {
        double mass_on = 0.0, rest = 0.0;
        for (int h = 0; h < ad.n_heads; h++) {
            AttnFinalRows fr;
            attention_final_rows_init(&fr, m->la[l].q, m->la[l].k, model_lambda(m, l),
                                      model_gamma(m, l), 0, h, &ad);
            attention_final_rows(&fr, row, q, 1);
            attention_final_rows_free(&fr);
            for (int j = 0; j < T; j++) {
                if (j >= s->needle_start[on] && j < s->needle_end[on])
                    mass_on += row[j];
                else
                    rest += row[j];
            }
        }
        out->mass_needle[l] = mass_on / ad.n_heads;
        out->mass_rest[l] = rest / ad.n_heads;
    }
    free(row);
}

int needle_greedy_answer(const NeedleSample *s, int first, NeedleForwardFn forward, void *ctx,
                         int max_answer, int *forwards) {
    int *greedy = xmalloc(sizeof(int) * (size_t)max_answer);
    int alive[NEEDLE_MAX] = {0}, cur = first, answered = -1, n_fwd = 1;
    for (int i = 0; i < s->n_needles; i++) alive[i] = i != first;
    int ok = forward(ctx, first, greedy);
    // Walk the needles' numbers as a trie: the forward of one number gives greedy decoding's
    // tokens up to the first token where they differ; only numbers sharing that prefix (and
    // greedy's token there) are still candidates, and the forward of one of them (the same rows
    // up to there, by causality) extends what is known.
    while (!ok) {
        const int *ca = s->query_tokens[cur] + s->query_len[cur];
        int k = 0;
        while (k < s->answer_len[cur] && greedy[k] == ca[k]) k++;
        int next = -1;
        for (int i = 0; i < s->n_needles && answered < 0; i++) {
            if (!alive[i]) continue;
            const int *ia = s->query_tokens[i] + s->query_len[i];
            int li = s->answer_len[i];
            int same_prefix = memcmp(ia, ca, sizeof(int) * (size_t)(li < k ? li : k)) == 0;
            if (same_prefix && li <= k) answered = i; // greedy's first li tokens are this number
            alive[i] = same_prefix && li > k && ia[k] == greedy[k];
            if (alive[i] && next < 0) next = i;
        }
        if (answered >= 0 || next < 0) break;
        alive[next] = 0;
        cur = next;
        ok = forward(ctx, cur, greedy);
        n_fwd++;
    }
    if (ok) answered = cur;
    free(greedy);
    if (forwards) *forwards = n_fwd;
    return answered;
}

typedef struct {
    Model *m;
    const NeedleSample *s;
    int *ctx, n_ctx, q;
    NeedleScore *out;
} ScoreCtx;

// Forward of the question's context + needle i's number: greedy tokens, and for the asked
// needle (the first call) the verdict, log-likelihood and (question 0) the attention masses.
static int score_forward(void *vctx, int i, int *greedy) {
    ScoreCtx *c = vctx;
    const NeedleSample *s = c->s;
    Model *m = c->m;
    const int *answer = s->query_tokens[i] + s->query_len[i];
    int n_ans = s->answer_len[i], L = c->n_ctx + n_ans;
    int *seq = xmalloc(sizeof(int) * (size_t)L);
    memcpy(seq, c->ctx, sizeof(int) * (size_t)c->n_ctx);
    memcpy(seq + c->n_ctx, answer, sizeof(int) * (size_t)n_ans);
    model_forward(m, seq, seq + 1, 1, L - 1);
    free(seq);
    long first = c->n_ctx - 1;
    const float *probs = m->logits + first * m->cfg.vocab_size;
    int ok;
    double ll;
    needle_judge(probs, m->nll + first, m->cfg.vocab_size, answer, n_ans, &ok, &ll);
    row_argmax(probs, m->cfg.vocab_size, n_ans, greedy);
    if (i == s->asked[c->q]) {
        c->out->correct[c->q] = ok;
        c->out->loglik[c->q] = ll;
        if (c->q == 0) attention_masses(m, s, i, L - 1, c->n_ctx - 1, c->out);
    }
    return ok;
}

void needle_score(Model *m, const NeedleSample *s, NeedleScore *out) {
    memset(out, 0, sizeof *out);
    int maxq = 0, maxa = 0;
    for (int i = 0; i < s->n_needles; i++) {
        if (s->query_len[i] > maxq) maxq = s->query_len[i];
        if (s->answer_len[i] > maxa) maxa = s->answer_len[i];
    }
    ScoreCtx c = {m, s, xmalloc(sizeof(int) * (size_t)(s->n_context + maxq)), 0, 0, out};
    memcpy(c.ctx, s->tokens, sizeof(int) * (size_t)s->n_context);
    for (int q = 0; q < s->n_questions; q++) {
        int asked = s->asked[q];
        memcpy(c.ctx + s->n_context, s->query_tokens[asked],
               sizeof(int) * (size_t)s->query_len[asked]);
        c.n_ctx = s->n_context + s->query_len[asked];
        c.q = q;
        out->answered[q] = needle_greedy_answer(s, asked, score_forward, &c, maxa, NULL);
    }
    free(c.ctx);
}

const char *const NEEDLE_POSITIONAL_NAMES[NEEDLE_N_POSITIONAL] = {"first", "last", "middle"};

int needle_positional_answer(const NeedleSample *s, NeedlePositional kind) {
    int best = 0;
    for (int i = 1; i < s->n_needles; i++) {
        long a = s->needle_start[i], b = s->needle_start[best];
        switch (kind) {
        case NEEDLE_POSITIONAL_FIRST:
            best = a < b ? i : best;
            break;
        case NEEDLE_POSITIONAL_LAST:
            best = a > b ? i : best;
            break;
        default:
            best = labs(2 * a - s->n_context) < labs(2 * b - s->n_context) ? i : best;
            break;
        }
    }
    return best;
}

long needle_training_episode(Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                             gsl_rng *rng, int *out, unsigned char *part, long cap) {
    NeedleSample s;
    NeedleSpec uniform = *spec;
    uniform.layout = NEEDLE_LAYOUT_UNIFORM;
    if (needle_make(&s, tok, hay, n_hay, &uniform, NEEDLE_POOL_TRAIN, rng, NULL) != 0) return -1;
    long n = s.n_context;
    for (int r = 0; r < s.n_queried; r++) n += s.query_len[s.asked[r]] + s.answer_len[s.asked[r]];
    if (n > cap) {
        needle_free(&s);
        return -1;
    }
    memcpy(out, s.tokens, sizeof(int) * (size_t)s.n_context);
    if (part) memset(part, NEEDLE_PART_CONTEXT, (size_t)s.n_context);
    long at = s.n_context;
    for (int r = 0; r < s.n_queried; r++) {
        int i = s.asked[r], k = s.query_len[i] + s.answer_len[i];
        memcpy(out + at, s.query_tokens[i], sizeof(int) * (size_t)k);
        if (part) {
            memset(part + at, NEEDLE_PART_QUERY, (size_t)s.query_len[i]);
            memset(part + at + s.query_len[i], NEEDLE_PART_ANSWER, (size_t)s.answer_len[i]);
        }
        at += k;
    }
    needle_free(&s);
    return n;
}
