#include "grid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"

static int split_list(const char *v, char out[][32], int width, int max) {
    int n = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ') t++;
        char *e = t + strlen(t);
        while (e > t && e[-1] == ' ') *--e = '\0';
        if (!*t || n == max) return -1;
        snprintf((char *)out + (size_t)n * width, (size_t)width, "%s", t);
        n++;
    }
    return n;
}

// A [grid] key: the number of values it set (0 or -1: a bad value), or -2 for an unknown key.
static int on_grid_key(Grid *g, const char *name, const char *value) {
    int n = 0;
    if (!strcmp(name, "variants"))
        n = g->n_variants = split_list(value, (char(*)[32])g->variants, 16, MAX_LIST);
    else if (!strcmp(name, "gamma"))
        n = g->n_gammas = split_list(value, g->gammas, 32, MAX_LIST);
    else if (!strcmp(name, "g_mode"))
        n = g->n_g_modes = split_list(value, (char(*)[32])g->g_modes, 16, MAX_LIST);
    else if (!strcmp(name, "head_norm"))
        n = g->n_head_norms = split_list(value, (char(*)[32])g->head_norms, 8, MAX_LIST);
    else if (!strcmp(name, "lambda_init"))
        n = g->n_lambdas = split_list(value, g->lambdas, 32, MAX_LIST);
    else if (!strcmp(name, "seeds")) {
        char tmp[MAX_SEEDS][32];
        n = g->n_seeds = split_list(value, tmp, 32, MAX_SEEDS);
        for (int i = 0; i < n; i++) {
            char *end;
            long v = strtol(tmp[i], &end, 10);
            if (*end || v < 0 || v > 2147483647L)
                n = 0; // not a seed: reported by the caller
            else
                g->seeds[i] = (int)v;
        }
    } else if (!strcmp(name, "data"))
        n = snprintf(g->data, sizeof g->data, "%s", value) > 0;
    else if (!strcmp(name, "baseline"))
        n = snprintf(g->baseline, sizeof g->baseline, "%s", value) > 0;
    else
        n = -2;
    return n;
}

// [eval] precisions = bf16, q8, ...: fp32 (always evaluated) and repeats are dropped.
static int on_precisions(Grid *g, const char *value, Error *err) {
    char names[2 * PRECISION_COUNT][32];
    int n = split_list(value, names, 32, 2 * PRECISION_COUNT);
    if (n <= 0)
        return error_set(err, "bad value '%s' for eval.precisions (a list such as bf16, q8, q4)",
                         value);
    g->n_precisions = 0;
    for (int i = 0; i < n; i++) {
        Precision p;
        if (precision_parse(names[i], &p) != 0)
            return error_set(err,
                             "unknown precision '%s' in eval.precisions (fp32, bf16, fp16, q8, q6 "
                             "or q4)",
                             names[i]);
        int seen = p == PRECISION_FP32;
        for (int k = 0; k < g->n_precisions; k++) seen |= g->precisions[k] == p;
        if (!seen) g->precisions[g->n_precisions++] = p;
    }
    return 0;
}

static int on_grid(void *user, const char *section, const char *name, const char *value,
                   Error *err) {
    Grid *g = user;
    int n = 0;
    if (!strcmp(section, "grid")) {
        n = on_grid_key(g, name, value);
    } else if (!strcmp(section, "train")) {
        size_t k = strlen(g->sets);
        snprintf(g->sets + k, sizeof g->sets - k, " --set '%s=%s'", name, value);
        char assignment[1200];
        snprintf(assignment, sizeof assignment, "%s=%s", name, value);
        Error ignored; // a bad key or value is the training run's to report, in its one line
        (void)config_set_assignment(&g->cfg, assignment, &ignored);
        n = 1;
    } else if (!strcmp(section, "eval") && !strcmp(name, "precisions")) {
        return on_precisions(g, value, err);
    } else if (!strcmp(section, "eval")) {
        if (strcmp(name, "needle") && strcmp(name, "ppl") && strcmp(name, "icl") &&
            strcmp(name, "recall"))
            n = -2;
        else if (g->n_evals < 8) {
            snprintf(g->evals[g->n_evals++], sizeof g->evals[0], "%s %s", name, value);
            n = 1;
        }
    } else if (!strcmp(section, "audit") && !strcmp(name, "options")) {
        snprintf(g->audit, sizeof g->audit, "%s", value);
        g->has_audit = n = 1;
    } else {
        n = -2;
    }
    if (n == -2) return error_set(err, "unknown key '%s' in [%s]", name, section);
    if (n <= 0) return error_set(err, "bad value '%s' for %s.%s", value, section, name);
    return 0;
}

// Cell x of the grid: variant v with the other axes' values a, b, c, d (those that do not apply
// to the variant fixed), named by the variant and the axes with more than one value.
static void fill_cell(const Grid *g, Cell *x, int v, int a, int b, int c, int d) {
    int dint = !strcmp(g->variants[v], "dint"), tf = !strcmp(g->variants[v], "transformer");
    snprintf(x->variant, sizeof x->variant, "%s", g->variants[v]);
    snprintf(x->gamma, sizeof x->gamma, "%s", dint ? g->gammas[a] : "zero");
    snprintf(x->g_mode, sizeof x->g_mode, "%s", dint ? g->g_modes[b] : "causal");
    snprintf(x->head_norm, sizeof x->head_norm, "%s", tf ? "false" : g->head_norms[c]);
    snprintf(x->lambda_init, sizeof x->lambda_init, "%s", tf ? "schedule" : g->lambdas[d]);
    char name[64];
    int k = snprintf(name, sizeof name, "%s", x->variant);
    if (dint && g->n_gammas > 1)
        k += snprintf(name + k, sizeof name - k, "-gamma_%s", g->gammas[a]);
    if (dint && g->n_g_modes > 1) k += snprintf(name + k, sizeof name - k, "-G_%s", g->g_modes[b]);
    if (!tf && g->n_head_norms > 1)
        k += snprintf(name + k, sizeof name - k, "-headnorm_%s", g->head_norms[c]);
    if (!tf && g->n_lambdas > 1) snprintf(name + k, sizeof name - k, "-lambda_%s", g->lambdas[d]);
    memcpy(x->name, name, sizeof name);
    for (char *p = x->name; *p; p++)
        if (*p == ':') *p = '_';
}

// The cross product, with the axes that do not apply to a variant collapsed.
static int build_cells(Grid *g) {
    if (!g->n_gammas) g->n_gammas = 1, snprintf(g->gammas[0], 32, "tied");
    if (!g->n_g_modes) g->n_g_modes = 1, snprintf(g->g_modes[0], 16, "causal");
    if (!g->n_head_norms) g->n_head_norms = 1, snprintf(g->head_norms[0], 8, "true");
    if (!g->n_lambdas) g->n_lambdas = 1, snprintf(g->lambdas[0], 32, "schedule");
    for (int v = 0; v < g->n_variants; v++)
        for (int a = 0; a < g->n_gammas; a++)
            for (int b = 0; b < g->n_g_modes; b++)
                for (int c = 0; c < g->n_head_norms; c++)
                    for (int d = 0; d < g->n_lambdas; d++) {
                        int dint = !strcmp(g->variants[v], "dint"),
                            tf = !strcmp(g->variants[v], "transformer");
                        if ((!dint && (a || b)) || (tf && (c || d))) continue;
                        if (g->n_cells == MAX_CELLS) return -1;
                        fill_cell(g, &g->cells[g->n_cells++], v, a, b, c, d);
                    }
    return 0;
}

int grid_load(const char *grid_path, Grid *g, Error *err) {
    config_defaults(&g->cfg);
    int rc = 0;
    if (ini_read(grid_path, "grid file", on_grid, g, err) != 0)
        rc = -1;
    else if (!g->n_variants)
        rc = error_set(err, "%s: [grid] variants is required", grid_path);
    else if (!g->data[0])
        rc = error_set(err, "%s: [grid] data is required", grid_path);
    else if (build_cells(g) != 0)
        rc = error_set(err, "%s: more than %d cells", grid_path, MAX_CELLS);
    if (rc == 0 && !g->n_seeds) g->n_seeds = 1, g->seeds[0] = 1;
    if (rc == 0 && g->baseline[0]) {
        int found = 0;
        for (int c = 0; c < g->n_cells; c++) found |= !strcmp(g->cells[c].name, g->baseline);
        if (!found)
            rc = error_set(err, "%s: baseline '%s' is not a cell of the grid", grid_path,
                           g->baseline);
    }
    return rc;
}

int sweep_grid_check(const char *grid_path, int *cells, Error *err) {
    Grid *g = xcalloc(1, sizeof *g);
    int rc = grid_load(grid_path, g, err);
    if (rc == 0 && cells) *cells = grid_jobs(g);
    free(g);
    return rc;
}

int grid_jobs(const Grid *g) {
    return g->n_cells * g->n_seeds;
}

const Cell *grid_job_cell(const Grid *g, int job) {
    return &g->cells[job / g->n_seeds];
}

int grid_job_seed(const Grid *g, int job) {
    return g->seeds[job % g->n_seeds];
}

int grid_is_small_model(const Grid *g) {
    return g->cfg.model.d_model <= 128 && g->cfg.model.n_layer <= 4 && g->cfg.train.seq_len <= 512;
}
