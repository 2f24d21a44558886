#include "config.h"

#include "tokenizer.h"
#include "variants.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KEY_INT, KEY_FLOAT, KEY_BOOL, KEY_U64, KEY_CUSTOM } KeyKind;

typedef struct {
    const char *section;
    const char *key;
    KeyKind kind;
    size_t offset;    // into RunConfig
    double min, max;  // inclusive range for numbers
    const char *help; // what a valid value looks like
} KeySpec;

#define OFF(field) offsetof(RunConfig, field)

static const KeySpec KEYS[] = {
    {"model", "variant", KEY_CUSTOM, 0, 0, 0, "transformer, diff or dint"},
    {"model", "n_layer", KEY_INT, OFF(model.n_layer), 1, 256, "an integer from 1 to 256"},
    {"model", "d_model", KEY_INT, OFF(model.d_model), 2, 65536, "a positive integer"},
    {"model", "head_dim", KEY_INT, OFF(model.head_dim), 2, 4096, "an even integer"},
    {"model", "ffn_dim", KEY_INT, OFF(model.ffn_dim), 0, 1 << 20, "0 (auto) or a positive integer"},
    {"model", "rope_theta", KEY_FLOAT, OFF(model.rope_theta), 1, 1e12, "a number > 1"},
    {"model", "norm_eps", KEY_FLOAT, OFF(model.norm_eps), 1e-12, 1, "a small positive number"},
    {"model", "init_std", KEY_FLOAT, OFF(model.init_std), 1e-6, 10, "a positive number"},
    {"model", "g_mode", KEY_CUSTOM, 0, 0, 0, "causal, full or uniform"},
    {"model", "gamma", KEY_CUSTOM, 0, 0, 0, "tied, zero, learned or fixed:<number>"},
    {"model", "head_norm", KEY_BOOL, OFF(model.head_norm), 0, 1, "true or false"},
    {"model", "head_norm_gain", KEY_BOOL, OFF(model.head_norm_gain), 0, 1, "true or false"},
    {"model", "lambda_init", KEY_CUSTOM, 0, 0, 0, "schedule or a number in [0, 1)"},
    {"model", "tie_embeddings", KEY_BOOL, OFF(model.tie_embeddings), 0, 1, "true or false"},
    {"train", "steps", KEY_INT, OFF(train.steps), 1, 1e9, "a positive integer"},
    {"train", "batch_size", KEY_INT, OFF(train.batch_size), 1, 1 << 16, "a positive integer"},
    {"train", "grad_accum", KEY_INT, OFF(train.grad_accum), 1, 1 << 16, "a positive integer"},
    {"train", "seq_len", KEY_INT, OFF(train.seq_len), 2, 1 << 20, "an integer >= 2"},
    {"train", "lr", KEY_FLOAT, OFF(train.lr), 0, 10, "a number in [0, 10]"},
    {"train", "min_lr_frac", KEY_FLOAT, OFF(train.min_lr_frac), 0, 1, "a number in [0, 1]"},
    {"train", "warmup", KEY_INT, OFF(train.warmup), 0, 1e9, "a non-negative integer"},
    {"train", "weight_decay", KEY_FLOAT, OFF(train.weight_decay), 0, 10, "a number >= 0"},
    {"train", "beta1", KEY_FLOAT, OFF(train.beta1), 0, 0.999999, "a number in [0, 1)"},
    {"train", "beta2", KEY_FLOAT, OFF(train.beta2), 0, 0.999999, "a number in [0, 1)"},
    {"train", "adam_eps", KEY_FLOAT, OFF(train.adam_eps), 1e-30, 1, "a small positive number"},
    {"train", "grad_clip", KEY_FLOAT, OFF(train.grad_clip), 0, 1e9, "0 (off) or a positive number"},
    {"train", "eval_every", KEY_INT, OFF(train.eval_every), 1, 1e9, "a positive integer"},
    {"train", "eval_batches", KEY_INT, OFF(train.eval_batches), 1, 1e6, "a positive integer"},
    {"train", "checkpoint_every", KEY_INT, OFF(train.checkpoint_every), 0, 1e9,
     "0 (at every evaluation) or a positive integer"},
    {"train", "log_every", KEY_INT, OFF(train.log_every), 1, 1e9, "a positive integer"},
    {"train", "audit_every", KEY_INT, OFF(train.audit_every), 0, 1e9,
     "0 (off) or a positive integer"},
    {"train", "spike_factor", KEY_FLOAT, OFF(train.spike_factor), 1, 1e6, "a number > 1"},
    {"train", "spike_window", KEY_INT, OFF(train.spike_window), 2, 1e6, "an integer >= 2"},
    {"train", "spike_sigmas", KEY_FLOAT, OFF(train.spike_sigmas), 0, 1e6,
     "0 (spike_factor alone) or a positive number"},
    {"data", "tokenizer", KEY_CUSTOM, 0, 0, 0, "byte or gpt2"},
    {"data", "val_fraction", KEY_FLOAT, OFF(data.val_fraction), 1e-6, 0.9, "a number in (0, 0.9]"},
    {"data", "test_fraction", KEY_FLOAT, OFF(data.test_fraction), 0, 0.9, "a number in [0, 0.9]"},
    {"data", "split_seed", KEY_U64, OFF(data.split_seed), 0, 0, "a non-negative integer"},
    {"data", "task_loss", KEY_CUSTOM, 0, 0, 0, "all, queries or answers"},
    {"recall", "pairs", KEY_INT, OFF(recall.pairs), 2, 64, "an integer from 2 to 64"},
    {"recall", "queries", KEY_INT, OFF(recall.queries), 0, 64, "0 (half the row) or 2 to 64"},
    {"recall", "key_len", KEY_INT, OFF(recall.key_len), 1, 4, "an integer from 1 to 4"},
    {"recall", "noise", KEY_BOOL, OFF(recall.noise), 0, 1, "true or false"},
    {"recall", "distractors", KEY_INT, OFF(recall.distractors), 0, 32, "an integer from 0 to 32"},
    {"recall", "symbols", KEY_INT, OFF(recall.symbols), 2, 96, "an integer from 2 to 96"},
    {"recall", "contexts", KEY_INT, OFF(recall.contexts), 1, 1 << 16, "a positive integer"},
    {"recall", "threshold", KEY_FLOAT, OFF(recall.threshold), 0.01, 1, "a number in (0, 1]"},
};
#define N_KEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

const char *const CONFIG_TASK_LOSS_NAMES[3] = {"all", "queries", "answers"};

void config_defaults(RunConfig *c) {
    memset(c, 0, sizeof *c);
    ModelConfig *m = &c->model;
    m->variant = VARIANT_DINT;
    m->vocab_size = 257;
    m->n_layer = 4;
    m->d_model = 128;
    m->head_dim = 32;
    m->ffn_dim = 0;
    m->rope_theta = 10000.0f;
    m->norm_eps = 1e-5f;
    m->init_std = 0.02f;
    m->g_mode = GMODE_CAUSAL;
    m->gamma_mode = GAMMA_TIED;
    m->gamma_value = 0.0f;
    m->head_norm = 1;
    m->head_norm_gain = 1;
    m->lambda_schedule = 1;
    m->lambda_init_const = 0.8f;
    m->tie_embeddings = 0;
    TrainConfig *t = &c->train;
    t->steps = 300;
    t->batch_size = 8;
    t->grad_accum = 1;
    t->seq_len = 256;
    t->lr = 3e-3f;
    t->min_lr_frac = 0.1f;
    t->warmup = 30;
    t->weight_decay = 0.1f;
    t->beta1 = 0.9f;
    t->beta2 = 0.95f;
    t->adam_eps = 1e-8f;
    t->grad_clip = 1.0f;
    t->eval_every = 50;
    t->eval_batches = 8;
    t->checkpoint_every = 0;
    t->log_every = 10;
    t->audit_every = 50;
    t->spike_factor = 2.0f;
    t->spike_window = 200;
    t->spike_sigmas = 5.0f;
    snprintf(c->data.tokenizer, sizeof c->data.tokenizer, "byte");
    c->data.val_fraction = 0.1f;
    c->data.test_fraction = 0.1f;
    c->data.split_seed = 1;
    c->recall = (RecallConfig){.pairs = 8,
                               .queries = 0,
                               .key_len = 1,
                               .noise = 0,
                               .distractors = 0,
                               .symbols = 96,
                               .contexts = 64,
                               .threshold = 0.9f};
    c->seed = 1234;
}

const char *variant_name(Variant v) {
    return variant_spec(v)->name;
}

int variant_parse(const char *s, Variant *out) {
    for (int i = 0; i < N_VARIANTS; i++)
        if (strcmp(s, VARIANTS[i].name) == 0) {
            *out = VARIANTS[i].id;
            return 0;
        }
    return -1;
}

const char *g_mode_name(GMode g) {
    return g == GMODE_FULL ? "full" : g == GMODE_UNIFORM ? "uniform" : "causal";
}

void gamma_mode_format(const ModelConfig *m, char *buf, int n) {
    switch (m->gamma_mode) {
    case GAMMA_TIED:
        snprintf(buf, n, "tied");
        break;
    case GAMMA_ZERO:
        snprintf(buf, n, "zero");
        break;
    case GAMMA_LEARNED:
        snprintf(buf, n, "learned");
        break;
    case GAMMA_FIXED:
        snprintf(buf, n, "fixed:%.9g", (double)m->gamma_value);
        break; // exact float
    }
}

// Strict number parsing: the whole string must be the number.
static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

// A decimal uint64: digits only (strtoull would take a sign or blanks). 0, -1 when malformed,
// or ERANGE past 2^64 - 1 (where strtoull saturates).
static int parse_u64(const char *s, uint64_t *out) {
    if (!isdigit((unsigned char)s[0])) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') return -1;
    if (errno == ERANGE) return ERANGE;
    *out = (uint64_t)v;
    return 0;
}

static int parse_bool(const char *s, int *out) {
    if (!strcmp(s, "true") || !strcmp(s, "on") || !strcmp(s, "1") || !strcmp(s, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "false") || !strcmp(s, "off") || !strcmp(s, "0") || !strcmp(s, "no")) {
        *out = 0;
        return 0;
    }
    return -1;
}

static int set_custom(RunConfig *c, const KeySpec *k, const char *v) {
    ModelConfig *m = &c->model;
    if (!strcmp(k->key, "variant")) return variant_parse(v, &m->variant);
    if (!strcmp(k->key, "g_mode")) {
        if (!strcmp(v, "causal"))
            m->g_mode = GMODE_CAUSAL;
        else if (!strcmp(v, "full"))
            m->g_mode = GMODE_FULL;
        else if (!strcmp(v, "uniform"))
            m->g_mode = GMODE_UNIFORM;
        else
            return -1;
        return 0;
    }
    if (!strcmp(k->key, "gamma")) {
        double x;
        if (!strcmp(v, "tied"))
            m->gamma_mode = GAMMA_TIED;
        else if (!strcmp(v, "zero"))
            m->gamma_mode = GAMMA_ZERO;
        else if (!strcmp(v, "learned"))
            m->gamma_mode = GAMMA_LEARNED;
        else if (!strncmp(v, "fixed:", 6) && parse_double(v + 6, &x) == 0 && fabs(x) <= 10) {
            m->gamma_mode = GAMMA_FIXED;
            m->gamma_value = (float)x;
        } else
            return -1;
        return 0;
    }
    if (!strcmp(k->key, "lambda_init")) {
        double x;
        if (!strcmp(v, "schedule")) {
            m->lambda_schedule = 1;
            return 0;
        }
        if (parse_double(v, &x) != 0 || x < 0 || x >= 1) return -1;
        m->lambda_schedule = 0;
        m->lambda_init_const = (float)x;
        return 0;
    }
    if (!strcmp(k->key, "tokenizer")) {
        if (!tokenizer_vocab_size(v)) return -1;
        snprintf(c->data.tokenizer, sizeof c->data.tokenizer, "%s", v);
        return 0;
    }
    if (!strcmp(k->key, "task_loss")) {
        for (int i = 0; i < 3; i++)
            if (!strcmp(v, CONFIG_TASK_LOSS_NAMES[i])) return c->data.task_loss = i, 0;
        return -1;
    }
    return -1;
}

int config_set(RunConfig *c, const char *section, const char *key, const char *value, Error *err) {
    const KeySpec *k = NULL;
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].section, section) && !strcmp(KEYS[i].key, key)) k = &KEYS[i];
    if (!k)
        return error_set(err, "unknown config key '%s.%s' (see README.md, 'Config keys')", section,
                         key);
    char *field = (char *)c + k->offset;
    double x;
    int ok = 0;
    switch (k->kind) {
    case KEY_INT:
        ok = parse_double(value, &x) == 0 && x == floor(x) && x >= k->min && x <= k->max;
        if (ok) *(int *)field = (int)x;
        break;
    case KEY_FLOAT:
        ok = parse_double(value, &x) == 0 && x >= k->min && x <= k->max;
        if (ok) *(float *)field = (float)x;
        break;
    case KEY_BOOL:
        ok = parse_bool(value, (int *)field) == 0;
        break;
    case KEY_U64: {
        int rc = parse_u64(value, (uint64_t *)field);
        if (rc == ERANGE)
            return error_set(err, "value '%s' for %s.%s is out of range (at most %llu)", value,
                             section, key, (unsigned long long)UINT64_MAX);
        ok = rc == 0;
        break;
    }
    case KEY_CUSTOM:
        ok = set_custom(c, k, value) == 0;
        break;
    }
    if (!ok)
        return error_set(err, "bad value '%s' for %s.%s: expected %s", value, section, key,
                         k->help);
    return 0;
}

int config_set_assignment(RunConfig *c, const char *assignment, Error *err) {
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (!dot || !eq || dot > eq)
        return error_set(err, "bad --set '%s': expected section.key=value, e.g. model.n_layer=2",
                         assignment);
    char section[64], key[64];
    size_t ns = (size_t)(dot - assignment), nk = (size_t)(eq - dot - 1);
    if (ns == 0 || ns >= sizeof section || nk == 0 || nk >= sizeof key)
        return error_set(err, "bad --set '%s': expected section.key=value", assignment);
    memcpy(section, assignment, ns);
    section[ns] = '\0';
    memcpy(key, dot + 1, nk);
    key[nk] = '\0';
    return config_set(c, section, key, eq + 1, err);
}

int config_resolve(RunConfig *c, Error *err) {
    ModelConfig *m = &c->model;
    if (m->head_dim % 2 != 0)
        return error_set(err, "model.head_dim = %d must be even (rotary pairs)", m->head_dim);
    if (m->d_model % (2 * m->head_dim) != 0)
        return error_set(err,
                         "model.d_model = %d must be a multiple of 2 * model.head_dim = %d "
                         "(DIFF/DINT use d_model / (2 head_dim) heads)",
                         m->d_model, 2 * m->head_dim);
    if (m->ffn_dim == 0) m->ffn_dim = ((8 * m->d_model / 3 + 63) / 64) * 64;
    // The ablation keys of what a variant does not have are fixed (DIFF is DINT without G).
    const VariantSpec *vs = variant_spec(m->variant);
    if (!vs->global_term) {
        m->gamma_mode = GAMMA_ZERO;
        m->g_mode = GMODE_CAUSAL;
    }
    if (!vs->head_norm) m->head_norm = 0;
    if (c->data.val_fraction + c->data.test_fraction > 0.9f)
        return error_set(err,
                         "data.val_fraction + data.test_fraction = %g leaves too little to train "
                         "on (at most 0.9)",
                         (double)(c->data.val_fraction + c->data.test_fraction));
    const RecallConfig *r = &c->recall;
    if (r->queries == 1)
        return error_set(
            err, "recall.queries = 1: give 0 (as many as fill half the row) or 2 to 64 (two "
                 "queries make the key-swap control)");
    if (c->train.warmup > c->train.steps)
        return error_set(err, "train.warmup = %d is longer than train.steps = %d", c->train.warmup,
                         c->train.steps);
    return 0;
}

// A head of n maps has n (q, k) pairs of head_dim and a v of n head_dim: the same d_model
// holds twice the heads of one map.
int model_n_heads(const ModelConfig *m) {
    return m->d_model / (model_n_maps(m) * m->head_dim);
}
int model_n_maps(const ModelConfig *m) {
    return variant_spec(m->variant)->n_maps;
}
int model_v_dim(const ModelConfig *m) {
    return model_n_maps(m) * m->head_dim;
}
float model_lambda_init(const ModelConfig *m, int layer) {
    if (!m->lambda_schedule) return m->lambda_init_const;
    return 0.8f - 0.6f * expf(-0.3f * (float)layer);
}

// Shortest decimal text that reads back as the same float.
static void format_float(char *buf, int n, float x) {
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(buf, n, "%.*g", digits, (double)x);
        if (strtof(buf, NULL) == x) return;
    }
}

// Text form of one key's current value, as config_set accepts it.
static void format_value(const RunConfig *c, const KeySpec *k, char *buf, int n) {
    const char *field = (const char *)c + k->offset;
    switch (k->kind) {
    case KEY_INT:
        snprintf(buf, n, "%d", *(const int *)field);
        return;
    case KEY_FLOAT:
        format_float(buf, n, *(const float *)field);
        return;
    case KEY_BOOL:
        snprintf(buf, n, "%s", *(const int *)field ? "true" : "false");
        return;
    case KEY_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)field);
        return;
    case KEY_CUSTOM:
        break;
    }
    const ModelConfig *m = &c->model;
    if (!strcmp(k->key, "variant"))
        snprintf(buf, n, "%s", variant_name(m->variant));
    else if (!strcmp(k->key, "g_mode"))
        snprintf(buf, n, "%s", g_mode_name(m->g_mode));
    else if (!strcmp(k->key, "gamma"))
        gamma_mode_format(m, buf, n);
    else if (!strcmp(k->key, "lambda_init")) {
        if (m->lambda_schedule)
            snprintf(buf, n, "schedule");
        else
            format_float(buf, n, m->lambda_init_const);
    } else if (!strcmp(k->key, "tokenizer"))
        snprintf(buf, n, "%s", c->data.tokenizer);
    else if (!strcmp(k->key, "task_loss"))
        snprintf(buf, n, "%s", CONFIG_TASK_LOSS_NAMES[c->data.task_loss]);
    else
        buf[0] = '\0';
}

char *config_to_json(const RunConfig *c) {
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; i < N_KEYS; i++) {
        const KeySpec *k = &KEYS[i];
        cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, k->section);
        if (!sec) sec = cJSON_AddObjectToObject(root, k->section);
        char buf[64];
        format_value(c, k, buf, sizeof buf);
        double x;
        if ((k->kind == KEY_INT || k->kind == KEY_FLOAT) && parse_double(buf, &x) == 0)
            cJSON_AddItemToObject(sec, k->key, cJSON_CreateRaw(buf)); // exact text, no reformatting
        else if (k->kind == KEY_BOOL)
            cJSON_AddBoolToObject(sec, k->key, *(const int *)((const char *)c + k->offset));
        else
            cJSON_AddStringToObject(sec, k->key, buf);
    }
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    cJSON_AddNumberToObject(model, "vocab_size", c->model.vocab_size);
    // 64-bit seeds are strings: a JSON number is a double and would round them.
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)c->seed);
    cJSON_AddStringToObject(root, "seed", seed);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    return text;
}

// cJSON keeps every member of an object, so a key given twice would be set twice (the last
// wins): refused. Only keys that took their value are listed, so the list stays short.
enum { JSON_SEEN_MAX = N_KEYS + 2 }; // + model.vocab_size and seed

static int json_set_twice(const char *seen[][2], int *n_seen, const char *section,
                          const char *key) {
    for (int i = 0; i < *n_seen; i++)
        if (!strcmp(seen[i][0], section) && !strcmp(seen[i][1], key)) return 1;
    if (*n_seen < JSON_SEEN_MAX) {
        seen[*n_seen][0] = section;
        seen[(*n_seen)++][1] = key;
    }
    return 0;
}

int config_from_json(RunConfig *c, const char *json, Error *err) {
    config_defaults(c);
    cJSON *root = cJSON_Parse(json);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return error_set(err, "the stored config is not valid JSON");
    }
    int rc = 0, n_seen = 0;
    const char *seen[JSON_SEEN_MAX][2]; // (section, key); "" is the root's section
    for (cJSON *sec = root->child; sec && rc == 0; sec = sec->next) {
        if (!strcmp(sec->string, "seed")) {
            if (json_set_twice(seen, &n_seen, "", sec->string)) {
                rc = error_set(err, "the stored config gives the seed twice");
                break;
            }
            uint64_t seed;
            int bad = cJSON_IsString(sec) ? parse_u64(sec->valuestring, &seed) : -1;
            if (bad == ERANGE)
                rc = error_set(err, "the stored config's seed '%s' is out of range (at most %llu)",
                               sec->valuestring, (unsigned long long)UINT64_MAX);
            else if (bad)
                rc = error_set(err, "the stored config's seed is not a decimal string");
            else
                c->seed = seed;
            continue;
        }
        if (!cJSON_IsObject(sec)) {
            rc = error_set(err, "the stored config has a stray entry '%s'", sec->string);
            break;
        }
        for (cJSON *it = sec->child; it && rc == 0; it = it->next) {
            if (json_set_twice(seen, &n_seen, sec->string, it->string)) {
                rc = error_set(err, "the stored config sets %s.%s twice", sec->string, it->string);
                break;
            }
            if (!strcmp(sec->string, "model") && !strcmp(it->string, "vocab_size")) {
                double v = it->valuedouble;
                if (!cJSON_IsNumber(it) || v != floor(v) || v < 1 || v > INT32_MAX)
                    rc = error_set(err, "the stored config's model.vocab_size is not a positive "
                                        "integer");
                else
                    c->model.vocab_size = (int)v;
                continue;
            }
            char buf[64];
            if (cJSON_IsString(it))
                snprintf(buf, sizeof buf, "%s", it->valuestring);
            else if (cJSON_IsBool(it))
                snprintf(buf, sizeof buf, "%s", cJSON_IsTrue(it) ? "true" : "false");
            else if (cJSON_IsNumber(it))
                snprintf(buf, sizeof buf, "%.17g", it->valuedouble);
            else {
                rc = error_set(err, "the stored config has a bad value for %s.%s", sec->string,
                               it->string);
                break;
            }
            rc = config_set(c, sec->string, it->string, buf, err);
        }
    }
    cJSON_Delete(root);
    if (rc == 0) rc = config_resolve(c, err);
    return rc;
}
