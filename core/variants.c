#include "variants.h"

const VariantSpec VARIANTS[] = {
    {VARIANT_TRANSFORMER, "transformer", "Transformer", 1, 0, 0, 0,
     "standard softmax attention, twice the heads of the differential variants"},
    {VARIANT_DIFF, "diff", "DIFF", 2, 1, 0, 1,
     "differential attention: A1 - λ A2 with a learned λ and a per-head norm"},
    {VARIANT_DINT, "dint", "DINT", 2, 1, 1, 1,
     "differential integral attention: DIFF plus γ times the column mean G of A1"},
};
const int N_VARIANTS = (int)(sizeof VARIANTS / sizeof VARIANTS[0]);

const AblationSpec ABLATIONS[] = {
    {"model.gamma", "tied, zero, learned or fixed:<number>", "variants with a global term",
     "γ of the global term: λ itself (rows sum to 1), 0 (DIFF), its own learned γ, a constant"},
    {"model.g_mode", "causal, full or uniform", "variants with a global term",
     "G: column means of A1 over the visible prefix (causal) or the whole sequence (full: sees "
     "the future), or uniform over the visible prefix (uniform: rows sum to 1, no information)"},
    {"model.head_norm", "true or false", "variants with a head norm",
     "the per-head norm after the maps"},
    {"model.lambda_init", "schedule or a number", "variants with two maps",
     "λ_init per layer: 0.8 - 0.6 exp(-0.3 l), or one constant"},
};
const int N_ABLATIONS = (int)(sizeof ABLATIONS / sizeof ABLATIONS[0]);

const VariantSpec *variant_spec(Variant v) {
    for (int i = 0; i < N_VARIANTS; i++)
        if (VARIANTS[i].id == v) return &VARIANTS[i];
    return &VARIANTS[0];
}
