#include "driver.h"

#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clock.h"
#include "h5io.h"

// ---- The writer and reader tasks see, on the task's HDF5 group ----

static hid_t mem_type(EvalDtype t) {
    return t == EVAL_F64   ? H5T_NATIVE_DOUBLE
           : t == EVAL_I64 ? H5T_NATIVE_LONG
           : t == EVAL_I32 ? H5T_NATIVE_INT
                           : H5T_NATIVE_UCHAR;
}

static hid_t file_type(EvalDtype t) {
    return t == EVAL_F64   ? H5T_IEEE_F64LE
           : t == EVAL_I64 ? H5T_STD_I64LE
           : t == EVAL_I32 ? H5T_STD_I32LE
                           : H5T_STD_U8LE;
}

static hid_t grp_of(void *ctx) {
    return *(hid_t *)ctx;
}

// The object `path` relative to the group ("" = the group); close with close_object.
static hid_t open_object(void *ctx, const char *path) {
    return path[0] ? H5Oopen(grp_of(ctx), path, H5P_DEFAULT) : grp_of(ctx);
}

static void close_object(void *ctx, hid_t o) {
    if (o >= 0 && o != grp_of(ctx)) H5Oclose(o);
}

static int w_group(void *ctx, const char *path) {
    hid_t g = h5_group(grp_of(ctx), path);
    if (g < 0) return -1;
    H5Gclose(g);
    return 0;
}

static int w_dataset(void *ctx, const char *path, EvalDtype t, int rank, const long *dims,
                     const void *data) {
    hsize_t d[8];
    if (rank < 0 || rank > 8) return -1;
    for (int i = 0; i < rank; i++) d[i] = (hsize_t)dims[i];
    return h5_write(grp_of(ctx), path, mem_type(t), file_type(t), rank, d, data);
}

// The writer's attributes: open the object (group or dataset), write, close.
#define ATTR_WRITER(fn, ctype, h5_attr)                                                            \
    static int fn(void *ctx, const char *obj, const char *name, ctype v) {                         \
        hid_t o = open_object(ctx, obj);                                                           \
        int rc = o < 0 ? -1 : h5_attr(o, name, v);                                                 \
        close_object(ctx, o);                                                                      \
        return rc;                                                                                 \
    }
ATTR_WRITER(w_attr_str, const char *, h5_attr_str)
ATTR_WRITER(w_attr_i64, long, h5_attr_i64)
ATTR_WRITER(w_attr_u64, uint64_t, h5_attr_u64)
ATTR_WRITER(w_attr_f64, double, h5_attr_f64)
#undef ATTR_WRITER

// The scale lives in the dataset's own group ("fp32/row_sum_mean" -> "fp32/layer").
static int w_scale(void *ctx, const char *dataset, int dim, const char *name, const double *values,
                   int n) {
    char parent[512] = "";
    const char *slash = strrchr(dataset, '/');
    if (slash) snprintf(parent, sizeof parent, "%.*s", (int)(slash - dataset), dataset);
    hid_t loc = open_object(ctx, parent);
    hid_t ds = loc < 0 ? -1 : H5Dopen2(grp_of(ctx), dataset, H5P_DEFAULT);
    int rc = ds < 0 ? -1 : attach_scale(loc, ds, dim, name, values, n);
    if (ds >= 0) H5Dclose(ds);
    close_object(ctx, loc);
    return rc;
}

static int r_dataset(void *ctx, const char *path, EvalDtype t, long numel, void *out) {
    return h5_read(grp_of(ctx), path, mem_type(t), (hsize_t)numel, out) ? -1 : 0;
}

static long r_length(void *ctx, const char *path) {
    return h5_len(grp_of(ctx), path);
}

static int r_attr_i64(void *ctx, const char *obj, const char *name, long *out) {
    hid_t o = open_object(ctx, obj);
    int rc = o < 0 ? -1 : h5_read_attr_num(o, name, H5T_NATIVE_LONG, out);
    close_object(ctx, o);
    return rc ? -1 : 0;
}

// ---- Stored results: the comparison of parameters and the read-back of finished cells ----

// Every component of the absolute path exists (H5Lexists needs the parents to exist).
static int path_exists(hid_t f, const char *path) {
    char part[512];
    for (const char *p = strchr(path + 1, '/');; p = strchr(p + 1, '/')) {
        snprintf(part, sizeof part, "%.*s", p ? (int)(p - path) : (int)strlen(path), path);
        if (H5Lexists(f, part, H5P_DEFAULT) <= 0) return 0;
        if (!p) return 1;
    }
}

static int read_stored(const EvalTask *t, void *st, const EvalContext *c, const char *group,
                       const char *params, Error *err) {
    hid_t f = eval_open_results(c);
    if (f < 0) return 0;
    int rc = 0;
    if (path_exists(f, group)) {
        hid_t grp = H5Gopen2(f, group, H5P_DEFAULT);
        char *have = h5_read_attr_str(grp, "parameters");
        if (have && !strcmp(have, params)) {
            EvalReader r = {&grp, r_dataset, r_length, r_attr_i64};
            if (t->read_back(st, &r) != 0)
                rc = error_set(err, "the stored %s is damaged; %s", group, t->damaged_advice);
        } else if (!t->replaces_other_parameters) {
            rc = error_set(err,
                           "the results file already holds %s with other parameters (%s); write "
                           "elsewhere with --out FILE",
                           group, have ? have : "unknown");
        }
        free(have);
        H5Gclose(grp);
    }
    H5Fclose(f);
    return rc;
}

// ---- Writing the task's group: copy of the file, group made anew, atomic replace ----

static int write_group(const EvalTask *t, const void *st, const EvalContext *c, const char *group,
                       Error *err) {
    char tmp[4200];
    hid_t f = eval_begin(c, tmp, sizeof tmp, err);
    if (f < 0) return -1;
    char part[512];
    for (const char *p = strchr(group + 1, '/'); p; p = strchr(p + 1, '/')) {
        snprintf(part, sizeof part, "%.*s", (int)(p - group), group);
        if (H5Lexists(f, part, H5P_DEFAULT) <= 0) H5Gclose(h5_group(f, part));
    }
    if (H5Lexists(f, group, H5P_DEFAULT) > 0) H5Ldelete(f, group, H5P_DEFAULT);
    hid_t grp = h5_group(f, group);
    int rc = grp < 0 ? -1 : 0;
    if (rc == 0) {
        EvalWriter w = {&grp,       w_group,    w_dataset,  w_attr_str,
                        w_attr_i64, w_attr_u64, w_attr_f64, w_scale};
        rc = t->write(st, &w);
        H5Gclose(grp);
    }
    if (rc != 0) {
        H5Fclose(f);
        return error_set(err, "writing %s failed", group);
    }
    return eval_commit(c, f, tmp, err);
}

// ---- The cell loop ----

static void print_line(const char *line) {
    if (line[0]) fprintf(stderr, "%s\n", line);
}

// Score every cell not done yet (at most max_cells): returns 0 or -1 with err set.
static int run_cells(const EvalJob *job, void *st, EvalContext *c, const char *group, long todo,
                     Error *err) {
    const EvalTask *t = job->task;
    long n = t->n_cells(st), finished = 0;
    if (job->max_cells > 0 && todo > job->max_cells) todo = job->max_cells;
    double t0 = now_seconds();
    char line[1024];
    for (long cell = 0; cell < n && finished < todo; cell++) {
        if (t->cell_done(st, cell)) continue;
        double c0 = now_seconds();
        line[0] = 0;
        int rc = t->score_cell(st, &c->model, cell, line, sizeof line, err);
        if (rc == EVAL_CELL_STOP) {
            print_line(line);
            break;
        }
        if (rc != 0) return -1;
        double c1 = now_seconds();
        t->cell_finished(st, cell, c1 - c0);
        finished++;
        EvalProgress p = {finished, todo, c1 - c0, c1 - t0, 0};
        p.eta = p.elapsed / finished * (todo - finished);
        t->progress(st, cell, &p, line, sizeof line);
        if (t->reports_before_write) print_line(line);
        if (t->writes_each_cell && write_group(t, st, c, group, err) != 0) return -1;
        if (!t->reports_before_write) print_line(line);
    }
    if (t->finish && t->finish(st, &c->model, err) != 0) return -1;
    if (!t->writes_each_cell && write_group(t, st, c, group, err) != 0) return -1;
    if (t->summary) {
        t->summary(st, line, sizeof line);
        print_line(line);
    }
    return 0;
}

static int drive(const EvalJob *job, void *st, EvalContext *c, Error *err) {
    const EvalTask *t = job->task;
    char group[512], params[4096];
    t->group_path(st, group, sizeof group);
    t->parameters(st, params, sizeof params);
    if (read_stored(t, st, c, group, params, err) != 0) return -1;
    long n = t->n_cells(st), todo = 0;
    for (long i = 0; i < n; i++) todo += !t->cell_done(st, i);
    if (todo > 0) return run_cells(job, st, c, group, todo, err);
    if (t->all_done_note) fprintf(stderr, t->all_done_note, job->out ? job->out : job->run);
    return 0;
}

int eval_drive(const EvalJob *job) {
    const char *cmd = job->task->command;
    Error err;
    EvalContext c;
    int opened = eval_open(&c, job->run, job->out, job->data, job->threads, &err) == 0;
    if (!opened || (job->load_corpus && eval_load_corpus(&c, NULL, &err) != 0)) {
        cli_error(cmd, err.msg);
        if (opened) eval_close(&c);
        if (job->release) job->release(job->arg);
        return EXIT_USAGE;
    }
    void *st = NULL;
    int rc = job->prepare(job->arg, &c, &st, &err);
    if (rc == 0) rc = drive(job, st, &c, &err);
    if (rc == 0)
        printf("%s\n", job->out ? job->out : job->run);
    else
        cli_error(cmd, err.msg);
    if (st) job->task->free(st);
    if (job->release) job->release(job->arg);
    eval_close(&c);
    return rc == 0 ? 0 : EXIT_USAGE;
}
