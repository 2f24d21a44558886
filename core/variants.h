// The attention variants, one row each: what a variant's attention needs (how many softmax maps,
// a learned λ, DINT's global term G, the per-head norm). Config, the model, the kernels' shapes
// and `dint variants` all read this table; a new variant is its kernels, its reference
// (tests/reference/dint_reference.py), a Variant id in config.h and one row here.
// docs/attention.md has the formulas.
#ifndef DINT_VARIANTS_H
#define DINT_VARIANTS_H

#include "config.h"

typedef struct {
    Variant id;
    const char *name;  // "dint": --variant, run files, file names
    const char *label; // "DINT": tables and figures
    int n_maps;        // 1: softmax(Q K^T) V; 2: the differential pair A1 - λ A2
    int learns_lambda; // λ = exp(lq1.lk1) - exp(lq2.lk2) + λ_init per layer (n_maps 2)
    int global_term;   // + γ G: the column mean of A1 over the visible prefix (model.gamma)
    int head_norm;     // the per-head norm and (1 - λ_init) scale apply (model.head_norm)
    const char *about;
} VariantSpec;

// The ablation keys of the model section and the variants they act on, for listings.
typedef struct {
    const char *key;        // "model.gamma"
    const char *values;     // "tied, zero, learned or fixed:<number>"
    const char *applies_to; // "variants with a global term"
    const char *about;
} AblationSpec;

extern const VariantSpec VARIANTS[];
extern const int N_VARIANTS;
extern const AblationSpec ABLATIONS[];
extern const int N_ABLATIONS;

// The row of a variant (never NULL for a Variant value).
const VariantSpec *variant_spec(Variant v);

#endif
