#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist.h"
#include "h5io.h"
#include "memory_plan.h"
#include "runfile.h"

// One entry per command besides the evaluations, whose lines come from the task registry
// (tasks/eval_task.c): `dint --help` prints them all, `dint COMMAND --help` (or -h) its own,
// `dint eval --help` every task's.
static const struct {
    const char *command, *usage;
} USAGE[] = {
    {"train", "train --variant transformer|diff|dint --data PATH --out RUN.h5\n"
              "           [--config FILE.ini] [--set section.key=value]... [--seed N]\n"
              "           [--resume] [--init-from RUN.h5] [--stop-at STEP] [--threads N]\n"},
    {"info", "info RUN.h5|RESULTS.h5   (what a run or results file holds)\n"},
    {"check", "check FILE.h5...   (read every object; verifies the checksums and the digest)\n"},
    {"sweep", "sweep GRID.ini --out DIR [--jobs N]   (ablation grids; see README)\n"},
    {"tokenize", "tokenize [--tokenizer byte|gpt2] [--decode] [FILE]   (token ids of a file or "
                 "stdin)\n"},
    {"variants", "variants [--json | --names]   (the attention variants and ablation keys)\n"},
    {"schema", "schema [--json]   (every group, dataset and attribute of run files and sweep "
               "summaries)\n"},
    {"import", "import WEIGHTS.h5 --out RUN.h5 [--variant V]   (weights from the PyTorch "
               "reference)\n"},
    {"bench", "bench [--variant V] [--seq N] [--set section.key=value]... [--steps N] "
              "[--threads N] [--json]\n"},
};
#define N_USAGE ((int)(sizeof USAGE / sizeof USAGE[0]))

static int matches(const char *command, const char *prefix) {
    size_t n = strlen(prefix);
    return !strncmp(command, prefix, n) && (!n || command[n] == '\0' || command[n] == ' ');
}

// A task's usage line, folded at 96 columns between its options, under its command name.
static void print_task_usage(FILE *out, const EvalTask *t, int first, int about) {
    char line[1024];
    eval_task_usage(t, line, sizeof line);
    fprintf(out, "%s dint ", first ? "usage:" : "      ");
    int col = 12;
    for (char *piece = line, *next; piece; piece = next) {
        next = strstr(piece + 1, " [");
        int len = next ? (int)(next - piece) : (int)strlen(piece);
        if (col + len > 96) fprintf(out, "\n                "), col = 16, piece++, len--;
        fprintf(out, "%.*s", len, piece);
        col += len;
    }
    fprintf(out, "\n");
    if (about) fprintf(out, "  %s\n", t->about);
}

// The usage of every command whose name starts with `prefix` ("" for all); how many.
static int print_usage(FILE *out, const char *prefix) {
    int n = 0;
    for (int i = 0; i < N_USAGE; i++) {
        if (matches(USAGE[i].command, prefix))
            fprintf(out, "%s dint %s", n++ ? "      " : "usage:", USAGE[i].usage);
        if (strcmp(USAGE[i].command, "check") != 0) continue;
        for (int k = 0; eval_tasks[k]; k++) { // the evaluations, after check
            char name[64];
            snprintf(name, sizeof name, "%s%s%s", eval_tasks[k]->command,
                     strcmp(eval_tasks[k]->command, "eval") ? "" : " ",
                     strcmp(eval_tasks[k]->command, "eval") ? "" : eval_tasks[k]->name);
            if (matches(name, prefix)) print_task_usage(out, eval_tasks[k], !n++, prefix[0] != 0);
        }
    }
    return n;
}

static void usage(FILE *out) {
    print_usage(out, "");
    fprintf(out, "Every command: --memory-limit SIZE (e.g. 8G) to plan memory against instead of "
                 "the machine's; COMMAND --help for its own line.\n"
                 "See README.md for the options, the config keys and the run-file schema.\n");
}

static int is_help(const char *arg) {
    return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help");
}

// `dint COMMAND [TASK] --help`: that command's usage on stdout; 0 when printed.
static int command_help(int argc, char **argv) {
    int help_at = 0;
    for (int i = 2; i < argc && !help_at; i++)
        help_at = !strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ? i : 0;
    if (!help_at) return -1;
    char name[64];
    if (!strcmp(argv[1], "eval") && help_at > 2)
        snprintf(name, sizeof name, "eval %s", argv[2]);
    else
        snprintf(name, sizeof name, "%s", argv[1]);
    if (!print_usage(stdout, name)) return -1; // an unknown command or task says so itself
    printf("See README.md (\"Command line\") for what each option does.\n");
    return 0;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (command_help(argc, argv) == 0) return 0;
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(argv[1], "check")) return cmd_check(argc - 1, argv + 1);
    if (!strcmp(argv[1], "import")) return cmd_import(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "audit")) return cmd_audit(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sweep")) return cmd_sweep(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(argv[1], "schema")) return cmd_schema(argc - 1, argv + 1);
    if (!strcmp(argv[1], "variants")) return cmd_variants(argc - 1, argv + 1);
    fprintf(stderr,
            "dint: error: unknown command '%s' (commands: train, eval, audit, sweep, info, check, "
            "variants, "
            "import, "
            "bench, tokenize; see dint --help)\n",
            argv[1]);
    return EXIT_USAGE;
}

// Commands that share their work across MPI ranks; the others would only repeat it N times.
static int runs_on_ranks(const char *command) {
    return !strcmp(command, "train") || !strcmp(command, "sweep") || !strcmp(command, "eval") ||
           !strcmp(command, "audit");
}

// libgomp's idle threads spin for about 3 ms before they sleep: on a machine shared with other
// work (the normal case for sweeps and MPI ranks) they take the cores from the threads doing it,
// and a small model's step took up to 2.4 times as long. GOMP_SPINCOUNT 2000 (about 20 us) keeps
// the back-to-back regions of a step within 2 % of before and sleeps after
// (harness/bench_busy_machine.sh). libgomp reads its
// environment once, when it is loaded, so this process starts itself again with it set.
// A user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins (README, "Threads").
static void prefer_short_openmp_spinning(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "2000", 1) != 0) return;
    execv("/proc/self/exe", argv);
    // Not restarted (no /proc?): the runtime's default stays, nothing else changes.
}

// Output that did not reach standard output (a full disk, a closed pipe) is an error, not a
// success: one line and exit 2.
static int check_stdout(int rc) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout) && fclose(stdout) == 0) return rc;
    int e = errno;
    fprintf(stderr, "dint: error: writing standard output failed: %s\n",
            e ? strerror(e) : "write error");
    return rc ? rc : EXIT_USAGE;
}

// --memory-limit SIZE anywhere on the line (every command plans its memory against it): taken out
// of argv before the command sees its options. 0, or -1 after one error line.
static int take_memory_limit(int *argc, char **argv) {
    for (int i = 1; i < *argc; i++) {
        const char *v = NULL;
        int used = 0;
        if (!strcmp(argv[i], "--memory-limit"))
            v = i + 1 < *argc ? argv[i + 1] : "", used = 2;
        else if (!strncmp(argv[i], "--memory-limit=", 15))
            v = argv[i] + 15, used = 1;
        if (!used) continue;
        double bytes = 0;
        if (memory_parse_size(v, &bytes) != 0) {
            fprintf(stderr,
                    "dint: error: --memory-limit '%s' is not a size (bytes, or a number with K, "
                    "M, G or T: --memory-limit 8G)\n",
                    v);
            return -1;
        }
        memory_set_limit(bytes);
        for (int j = i; j + used <= *argc; j++) argv[j] = argv[j + used];
        *argc -= used;
        i--;
    }
    return 0;
}

int main(int argc, char **argv) {
    prefer_short_openmp_spinning(argv);
    if (take_memory_limit(&argc, argv) != 0) return EXIT_USAGE;
    h5_quiet();
    // Past a file-size limit, write(2) then fails with EFBIG and the writer reports it in one
    // line and removes its .tmp, instead of the process dying silently.
    signal(SIGXFSZ, SIG_IGN);
    // MPI only when mpirun or srun started this process (see harness/dist/dist.h).
    if (dist_init(&argc, &argv) != 0) return EXIT_USAGE;
    int rc;
    if (dist_size() > 1 && argc >= 2 && !runs_on_ranks(argv[1])) {
        if (dist_rank() == 0)
            fprintf(stderr,
                    "dint: error: '%s' does not run on several MPI ranks (train, sweep, eval and "
                    "audit do); "
                    "start it without mpirun\n",
                    argv[1]);
        rc = EXIT_USAGE;
    } else {
        rc = dispatch(argc, argv);
    }
    // Every rank's exit code: one failed rank fails the job (mpirun reports it).
    dist_finalize();
    return check_stdout(rc);
}
