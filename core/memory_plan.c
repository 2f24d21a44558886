#include "memory_plan.h"

#include "model.h"

#include <ctype.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static double user_limit;

int memory_parse_size(const char *text, double *bytes) {
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v <= 0) return -1;
    static const char units[] = "KMGT";
    if (*end) {
        const char *u = strchr(units, toupper((unsigned char)*end));
        if (!u || !*u) return -1;
        v *= pow(1024.0, (double)(u - units + 1));
        end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end) return -1;
    }
    if (v < 1) return -1;
    *bytes = v;
    return 0;
}

void memory_set_limit(double bytes) {
    user_limit = bytes;
}

// The number after `key` in a "key value kB" file such as /proc/meminfo, in bytes; -1 if absent.
static double proc_kb(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[256];
    double v = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n)) {
            v = strtod(line + n, NULL) * 1024.0;
            break;
        }
    fclose(f);
    return v;
}

// A number from a one-line file ("max" and huge values are no limit); -1 if absent.
static double read_number(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char text[64] = "";
    if (!fgets(text, sizeof text, f)) text[0] = '\0';
    fclose(f);
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || v >= 4e18) return -1;
    return v;
}

// The free part of this process's cgroup limit; -1 without a limit.
static double cgroup_free(void) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[4096], dir[4200];
    double best = -1;
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        double limit = -1, used = -1;
        if (!strncmp(line, "0::", 3)) { // v2
            snprintf(dir, sizeof dir, "/sys/fs/cgroup%s/memory.max", line + 3);
            limit = read_number(dir);
            snprintf(dir, sizeof dir, "/sys/fs/cgroup%s/memory.current", line + 3);
            used = read_number(dir);
        } else if (strstr(line, ":memory:")) { // v1
            limit = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
            used = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
        }
        if (limit > 0) {
            double free_bytes = limit - (used > 0 ? used : 0);
            if (free_bytes < 0) free_bytes = 0;
            if (best < 0 || free_bytes < best) best = free_bytes;
        }
    }
    if (f) fclose(f);
    return best;
}

double memory_available(char *source, size_t cap) {
    if (user_limit > 0) {
        snprintf(source, cap, "--memory-limit");
        return user_limit;
    }
    double avail = proc_kb("/proc/meminfo", "MemAvailable:");
    snprintf(source, cap, "MemAvailable in /proc/meminfo");
    double cg = cgroup_free();
    if (cg >= 0 && (avail < 0 || cg < avail)) {
        avail = cg;
        snprintf(source, cap, "the free part of this cgroup's memory limit");
    }
    struct rlimit as;
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
        double vm = proc_kb("/proc/self/status", "VmSize:");
        double left = (double)as.rlim_cur - (vm > 0 ? vm : 0);
        if (left < 0) left = 0;
        if (avail < 0 || left < avail) {
            avail = left;
            snprintf(source, cap, "the address-space limit (ulimit -v)");
        }
    }
    if (avail < 0) {
        snprintf(source, cap, "no figure (no /proc/meminfo)");
        return INFINITY;
    }
    return avail;
}

static void human(double bytes, char *out, size_t cap) {
    if (bytes >= 1e12)
        snprintf(out, cap, "%.1f TB", bytes / 1e12);
    else if (bytes >= 1e9)
        snprintf(out, cap, "%.1f GB", bytes / 1e9);
    else
        snprintf(out, cap, "%.0f MB", bytes / 1e6);
}

int memory_check(double need, const char *what, const char *lower, Error *err) {
    char source[96];
    double avail = memory_available(source, sizeof source);
    if (need <= avail) return 0;
    char n[32], a[32];
    human(need, n, sizeof n);
    human(avail, a, sizeof a);
    return error_set(err,
                     "%s needs about %s of memory, but %s are available (%s); lower %s, or set "
                     "--memory-limit if the figure is wrong",
                     what, n, a, source, lower);
}

// What training this config needs in memory, planned before anything is allocated: the model
// with its gradients, AdamW moments and a micro-batch's activations, the in-memory run file
// (weights and both moments, twice while it is written) and 64 MB for the rest.
int memory_check_training(const RunConfig *cfg, int threads, Error *err) {
    const TrainConfig *t = &cfg->train;
    double n = (double)model_param_count(&cfg->model);
    double need = model_memory_bytes(&cfg->model, t->batch_size, t->seq_len, 0, 1, threads) +
                  2.0 * 3.0 * 4.0 * n + 64e6;
    char what[160];
    snprintf(what, sizeof what, "training %.4g %s parameters on micro-batches of %d x %d tokens",
             n >= 1e9 ? n / 1e9 : n / 1e6, n >= 1e9 ? "billion" : "million", t->batch_size,
             t->seq_len);
    return memory_check(need, what,
                        "train.batch_size or train.seq_len (train.grad_accum keeps the batch), or "
                        "the model's size",
                        err);
}

int memory_check_model(const ModelConfig *c, int B, int T, double extra, const char *what,
                       const char *lower, int threads, Error *err) {
    double need = model_memory_bytes(c, B, T, 1, 0, threads) + extra + 64e6;
    return memory_check(need, what, lower, err);
}

int memory_check_lengths(const ModelConfig *c, const char *task, const int *lengths, int n,
                         Error *err) {
    int longest = 0;
    for (int i = 0; i < n; i++) longest = lengths[i] > longest ? lengths[i] : longest;
    char what[96];
    snprintf(what, sizeof what, "%s at %d tokens", task, longest);
    return memory_check_model(c, 1, longest, 0.0, what, "--lengths", omp_get_max_threads(), err);
}
