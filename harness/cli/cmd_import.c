// dint import: turn weights written by the PyTorch reference (tests/reference/
// export_state_dict.py: root attribute `config`, datasets /model/params/<state-dict name>)
// into a run file this harness can read, evaluate and describe.
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "history.h"
#include "runfile.h"

int cmd_import(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *variant = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "--variant") && i + 1 < argc)
            variant = argv[++i];
        else if (argv[i][0] != '-' && !in)
            in = argv[i];
        else {
            char msg[300];
            snprintf(msg, sizeof msg,
                     "unexpected argument '%.200s' (usage: dint import WEIGHTS.h5 --out RUN.h5 "
                     "[--variant V])",
                     argv[i]);
            cli_error("import", msg);
            return EXIT_USAGE;
        }
    }
    Error err;
    if (!in || !out) {
        cli_error("import", "usage: dint import WEIGHTS.h5 --out RUN.h5 [--variant V]");
        return EXIT_USAGE;
    }
    struct stat sb;
    if (stat(out, &sb) == 0) {
        snprintf(err.msg, sizeof err.msg, "'%s' already exists; choose another --out", out);
        cli_error("import", err.msg);
        return EXIT_USAGE;
    }
    size_t n = strlen(in);
    if (n > 3 && !strcmp(in + n - 3, ".pt")) {
        cli_error("import", "a .pt state dict must first be converted: /usr/bin/python3 "
                            "tests/reference/export_state_dict.py STATE.pt CONFIG.json WEIGHTS.h5");
        return EXIT_USAGE;
    }
    RunConfig cfg;
    if (runfile_read_weights_config(in, &cfg, &err) != 0) {
        cli_error("import", err.msg);
        return EXIT_USAGE;
    }
    int rc = 0;
    Variant v;
    if (variant && (variant_parse(variant, &v) != 0 || v != cfg.model.variant))
        rc = error_set(&err, "--variant %s does not match the weights' config (%s)", variant,
                       variant_name(cfg.model.variant));
    Model m;
    int built = 0;
    if (rc == 0 && model_build(&m, &cfg.model, &err) == 0)
        built = 1;
    else if (rc == 0)
        rc = -1;
    if (rc == 0) rc = runfile_read_weights(in, &m, &err);
    if (rc == 0) {
        char note[4200];
        snprintf(note, sizeof note, "imported from %s; trained elsewhere", in);
        History empty; // imported weights come without a training history
        history_init(&empty, cfg.model.n_layer);
        rc = runfile_write_imported(out, &cfg, &m, note, history_train_group(&empty), &err);
        history_free(&empty);
    }
    if (built) model_free(&m);
    if (rc != 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "%s: %s", in, err.msg);
        cli_error("import", msg);
        return EXIT_USAGE;
    }
    printf("%s\n", out);
    return 0;
}
