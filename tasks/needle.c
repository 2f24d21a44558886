#include "needle.h"

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

int needle_make(NeedleSample *s, Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                NeedlePool pool, gsl_rng *rng, Error *err) {
    memset(s, 0, sizeof *s);
    int N = spec->n_needles, R = spec->n_queried;
    if (N < 1 || N > NEEDLE_MAX)
        return error_set(err, "needles N = %d: expected 1 to %d", N, NEEDLE_MAX);
    if (R < 1 || R > N) return error_set(err, "queried needles R = %d: expected 1 to N = %d", R, N);
    if (!(spec->depth >= 0 && spec->depth <= 1))
        return error_set(err, "depth %g is outside [0, 1]", spec->depth);
    if (N > needle_n_cities(pool))
        return error_set(err, "N = %d exceeds the %d cities of the pool", N, needle_n_cities(pool));
    s->n_needles = N;
    s->n_queried = R;
    size_t ncity = (size_t)needle_n_cities(pool);
    int *all = xmalloc(sizeof(int) * ncity);
    for (size_t i = 0; i < ncity; i++) all[i] = (int)i;
    gsl_ran_shuffle(rng, all, ncity, sizeof(int));
    int *needle_tok[NEEDLE_MAX], needle_len[NEEDLE_MAX], total_needles = 0, max_query = 0;
    char text[256];
    for (int i = 0; i < N; i++) {
        s->city[i] = all[i];
        s->number[i] = draw_number(pool, rng);
        snprintf(text, sizeof text, " The special magic number for %s is: %07ld.",
                 needle_city(pool, all[i]), s->number[i]);
        needle_tok[i] = encode(tok, text, &needle_len[i]);
        total_needles += needle_len[i];
    }
    free(all);
    for (int r = 0; r < R; r++) {
        const char *c = needle_city(pool, s->city[r]);
        snprintf(text, sizeof text,
                 "\nQuestion: What is the special magic number for %s?\nAnswer: The special magic "
                 "number for %s is:",
                 c, c);
        int nq, na;
        int *q = encode(tok, text, &nq);
        snprintf(text, sizeof text, " %07ld", s->number[r]);
        int *a = encode(tok, text, &na);
        s->query_tokens[r] = xmalloc(sizeof(int) * (size_t)(nq + na));
        memcpy(s->query_tokens[r], q, sizeof(int) * (size_t)nq);
        memcpy(s->query_tokens[r] + nq, a, sizeof(int) * (size_t)na);
        s->query_len[r] = nq;
        s->answer_len[r] = na;
        if (nq + na > max_query) max_query = nq + na;
        free(q);
        free(a);
    }
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
        long start = (long)gsl_rng_uniform_int(rng, (unsigned long)(n_hay - H));
        const int *h = hay + start;
        // Insertion points: sentence boundaries of the haystack, plus its two ends.
        long *bounds = xmalloc(sizeof(long) * (size_t)(H + 1));
        long nb = 0;
        bounds[nb++] = 0;
        for (long p = 1; p < H; p++)
            if (sentence_boundary(tok, h, p)) bounds[nb++] = p;
        bounds[nb++] = H;
        long at[NEEDLE_MAX];
        long target = lround(spec->depth * (double)H), best = 0;
        for (long i = 1; i < nb; i++)
            if (labs(bounds[i] - target) < labs(bounds[best] - target)) best = i;
        at[0] = bounds[best];
        // Distractors at random sentence boundaries (the haystack's end is one only for the
        // answer needle at depth 1).
        for (int i = 1; i < N; i++)
            at[i] = bounds[gsl_rng_uniform_int(rng, (unsigned long)(nb - 1))];
        free(bounds);
        // Lay out haystack and needles in position order (ties in needle order).
        s->n_context = (int)(H + total_needles);
        s->tokens = xmalloc(sizeof(int) * (size_t)s->n_context);
        int order[NEEDLE_MAX];
        for (int i = 0; i < N; i++) order[i] = i;
        for (int i = 1; i < N; i++)
            for (int j = i;
                 j > 0 && (at[order[j - 1]] > at[order[j]] ||
                           (at[order[j - 1]] == at[order[j]] && order[j - 1] > order[j]));
                 j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
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
    for (int i = 0; i < N; i++) free(needle_tok[i]);
    if (rc != 0) needle_free(s);
    return rc;
}

void needle_free(NeedleSample *s) {
    free(s->tokens);
    for (int r = 0; r < NEEDLE_MAX; r++) free(s->query_tokens[r]);
    memset(s, 0, sizeof *s);
}

void needle_score_answer(Model *m, const int *context, int n_context, const int *answer,
                         int n_answer, int *correct, double *loglik) {
    int L = n_context + n_answer; // the sequence; inputs are its first L - 1 tokens
    int *seq = xmalloc(sizeof(int) * (size_t)L);
    memcpy(seq, context, sizeof(int) * (size_t)n_context);
    memcpy(seq + n_context, answer, sizeof(int) * (size_t)n_answer);
    model_forward(m, seq, seq + 1, 1, L - 1);
    // Rows n_context - 1 .. predict the answer tokens (logits hold probabilities now).
    long first = n_context - 1;
    needle_judge(m->logits + first * m->cfg.vocab_size, m->nll + first, m->cfg.vocab_size, answer,
                 n_answer, correct, loglik);
    free(seq);
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

void needle_score(Model *m, const NeedleSample *s, NeedleScore *out) {
    memset(out, 0, sizeof *out);
    for (int r = 0; r < s->n_queried; r++) {
        int nctx = s->n_context + s->query_len[r];
        int *ctx = xmalloc(sizeof(int) * (size_t)nctx);
        memcpy(ctx, s->tokens, sizeof(int) * (size_t)s->n_context);
        memcpy(ctx + s->n_context, s->query_tokens[r], sizeof(int) * (size_t)s->query_len[r]);
        needle_score_answer(m, ctx, nctx, s->query_tokens[r] + s->query_len[r], s->answer_len[r],
                            &out->correct[r], &out->loglik[r]);
        free(ctx);
        if (r != 0) continue;
        // Attention of the position predicting the first answer token (row q), from the maps of
        // this forward (length T = nctx + answer_len - 1).
        int T = nctx + s->answer_len[0] - 1, q = nctx - 1;
        AttnDims ad = attn_dims(&m->cfg, T);
        float *A = xmalloc(sizeof(float) * (size_t)T * T);
        for (int l = 0; l < m->cfg.n_layer && l < 64; l++) {
            double on = 0.0, rest = 0.0;
            for (int h = 0; h < ad.n_heads; h++) {
                attention_final_map(A, m->la[l].maps, 0, h, model_lambda(m, l), model_gamma(m, l),
                                    &ad);
                const float *row = A + (long)q * T;
                for (int j = 0; j < T; j++) {
                    if (j >= s->needle_start[0] && j < s->needle_end[0])
                        on += row[j];
                    else
                        rest += row[j];
                }
            }
            out->mass_needle[l] = on / ad.n_heads;
            out->mass_rest[l] = rest / ad.n_heads;
        }
        free(A);
    }
}

long needle_training_episode(Tokenizer *tok, const int *hay, long n_hay, const NeedleSpec *spec,
                             gsl_rng *rng, int *out, unsigned char *part, long cap) {
    NeedleSample s;
    if (needle_make(&s, tok, hay, n_hay, spec, NEEDLE_POOL_TRAIN, rng, NULL) != 0) return -1;
    long n = s.n_context;
    for (int r = 0; r < s.n_queried; r++) n += s.query_len[r] + s.answer_len[r];
    if (n > cap) {
        needle_free(&s);
        return -1;
    }
    memcpy(out, s.tokens, sizeof(int) * (size_t)s.n_context);
    if (part) memset(part, NEEDLE_PART_CONTEXT, (size_t)s.n_context);
    long at = s.n_context;
    for (int r = 0; r < s.n_queried; r++) {
        int k = s.query_len[r] + s.answer_len[r];
        memcpy(out + at, s.query_tokens[r], sizeof(int) * (size_t)k);
        if (part) {
            memset(part + at, NEEDLE_PART_QUERY, (size_t)s.query_len[r]);
            memset(part + at + s.query_len[r], NEEDLE_PART_ANSWER, (size_t)s.answer_len[r]);
        }
        at += k;
    }
    needle_free(&s);
    return n;
}
