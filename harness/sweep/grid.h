// A sweep's grid file: the axes of the ablation ([grid]), the training settings every run shares
// ([train]), the evaluations and audit of each run ([eval], [audit]); read, checked and expanded
// into cells (a variant with its gamma mode, G mode, head norm and lambda_init), each trained
// once per seed. Job j of a grid is cell j / n_seeds with seed j % n_seeds.
#ifndef DINT_SWEEP_GRID_H
#define DINT_SWEEP_GRID_H

#include "check.h"
#include "config.h"
#include "precision.h"

#define MAX_CELLS 64
#define MAX_SEEDS 16
#define MAX_LIST  16

typedef struct {
    char name[64];
    char variant[16], gamma[32], g_mode[16], head_norm[8], lambda_init[32];
} Cell;

typedef struct {
    char variants[MAX_LIST][16], gammas[MAX_LIST][32], g_modes[MAX_LIST][16],
        head_norms[MAX_LIST][8], lambdas[MAX_LIST][32];
    int n_variants, n_gammas, n_g_modes, n_head_norms, n_lambdas;
    int seeds[MAX_SEEDS], n_seeds;
    char data[1024], baseline[64];
    char sets[4096]; // " --set k=v" ...
    char evals[8][1024];
    int n_evals;
    // [eval] precisions: the reduced attention precisions every evaluation and the audit also
    // run at, besides fp32 (docs/precision.md); each adds its metrics "<metric>_at_<precision>".
    Precision precisions[PRECISION_COUNT];
    int n_precisions;
    char audit[512];
    int has_audit;
    Cell cells[MAX_CELLS];
    int n_cells;
    RunConfig cfg; // the defaults with the [train] keys applied: the model size (--jobs default)
} Grid;

// Read and check a grid file into g (zeroed by the caller): 0, or -1 with err set.
int grid_load(const char *grid_path, Grid *g, Error *err);
// Read and check a sweep grid file without running it (cells: cells x seeds). For the fuzzer.
int sweep_grid_check(const char *grid_path, int *cells, Error *err);

// Runs in the grid: cells x seeds.
int grid_jobs(const Grid *g);
const Cell *grid_job_cell(const Grid *g, int job);
int grid_job_seed(const Grid *g, int job);

// Whether the grid trains a small model (the retrieval experiments' sizes): those leave most of a
// core idle between their short parallel regions, so one thread per process and one process per
// core trains more tokens per second on the whole machine (measured: README, "Speed").
int grid_is_small_model(const Grid *g);

#endif
