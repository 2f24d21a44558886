// dint variants [--json | --names]: the attention variants and ablation keys of core/variants.c,
// which scripts, plots and tests take their variant lists from.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "variants.h"

static void print_json(void) {
    cJSON *root = cJSON_CreateObject(), *vs = cJSON_AddArrayToObject(root, "variants");
    for (int i = 0; i < N_VARIANTS; i++) {
        const VariantSpec *v = &VARIANTS[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", v->name);
        cJSON_AddStringToObject(o, "label", v->label);
        cJSON_AddNumberToObject(o, "n_maps", v->n_maps);
        cJSON_AddBoolToObject(o, "learns_lambda", v->learns_lambda);
        cJSON_AddBoolToObject(o, "global_term", v->global_term);
        cJSON_AddBoolToObject(o, "head_norm", v->head_norm);
        cJSON_AddStringToObject(o, "about", v->about);
        cJSON_AddItemToArray(vs, o);
    }
    cJSON *as = cJSON_AddArrayToObject(root, "ablations");
    for (int i = 0; i < N_ABLATIONS; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", ABLATIONS[i].key);
        cJSON_AddStringToObject(o, "values", ABLATIONS[i].values);
        cJSON_AddStringToObject(o, "applies_to", ABLATIONS[i].applies_to);
        cJSON_AddStringToObject(o, "about", ABLATIONS[i].about);
        cJSON_AddItemToArray(as, o);
    }
    char *text = cJSON_Print(root);
    printf("%s\n", text);
    free(text);
    cJSON_Delete(root);
}

static void print_text(void) {
    printf("%-12s %-12s %4s %6s %6s %9s  %s\n", "variant", "label", "maps", "lambda", "G",
           "head_norm", "what it is");
    for (int i = 0; i < N_VARIANTS; i++) {
        const VariantSpec *v = &VARIANTS[i];
        printf("%-12s %-12s %4d %6s %6s %9s  %s\n", v->name, v->label, v->n_maps,
               v->learns_lambda ? "yes" : "-", v->global_term ? "yes" : "-",
               v->head_norm ? "yes" : "-", v->about);
    }
    printf("\nablation keys:\n");
    for (int i = 0; i < N_ABLATIONS; i++)
        printf("  %-18s %s (%s): %s\n", ABLATIONS[i].key, ABLATIONS[i].values,
               ABLATIONS[i].applies_to, ABLATIONS[i].about);
}

int cmd_variants(int argc, char **argv) {
    const char *how = argc == 2 ? argv[1] : "";
    if (argc > 2 || (argc == 2 && strcmp(how, "--json") && strcmp(how, "--names"))) {
        cli_error("variants", "usage: dint variants [--json | --names]");
        return EXIT_USAGE;
    }
    if (!strcmp(how, "--json"))
        print_json();
    else if (!strcmp(how, "--names")) // for scripts: "transformer diff dint"
        for (int i = 0; i < N_VARIANTS; i++)
            printf("%s%s", VARIANTS[i].name, i + 1 < N_VARIANTS ? " " : "\n");
    else
        print_text();
    return 0;
}
