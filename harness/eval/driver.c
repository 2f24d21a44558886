#include "driver.h"
#include "schema.h"

#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "datasets.h"
#include "dist.h"
#include "h5io.h"
#include "icl.h"
#include "labelled.h"

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

static int read_stored(const EvalTask *t, void *st, const EvalContext *c, const char *group,
                       const char *params, Error *err) {
    hid_t f = eval_open_results(c);
    if (f < 0) return 0;
    int rc = 0;
    if (h5_exists(f, group)) {
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

void eval_group_at_precision(const char *group, Precision p, char *out, size_t cap) {
    if (p == PRECISION_FP32 || strncmp(group, "/eval/", 6) != 0)
        snprintf(out, cap, "%s", group);
    else
        snprintf(out, cap, EVAL_PRECISION_ROOT "/%s%s", precision_name(p), group + 5);
}

// The job's group: the task's, moved for a reduced precision.
static void job_group(const EvalJob *job, const void *st, char *out, size_t cap) {
    char group[512];
    job->task->group_path(st, group, sizeof group);
    eval_group_at_precision(group, job->precision, out, cap);
}

static char *string_copy(const char *s) {
    return s ? strcpy(xmalloc(strlen(s) + 1), s) : NULL;
}

int eval_precision_schema(SchemaEntry **entries) {
    int n = 2;
    for (int t = 0; eval_tasks[t]; t++) n += eval_tasks[t]->n_outputs;
    SchemaEntry *e = xcalloc((size_t)n, sizeof *e);
    e[0] = (SchemaEntry){SCHEMA_GROUP,
                         string_copy(EVAL_PRECISION_ROOT),
                         NULL,
                         NULL,
                         string_copy("evaluations at a reduced attention precision (--precision)"),
                         string_copy("after dint eval --precision"),
                         string_copy("EVAL_PRECISION")};
    e[1] = (SchemaEntry){SCHEMA_GROUP,
                         string_copy(EVAL_PRECISION_ROOT "/{precision}"),
                         NULL,
                         NULL,
                         string_copy("one precision (bf16, fp16, q8, q6, q4; docs/precision.md): "
                                     "the groups of /eval/ evaluated at it, with their layout"),
                         NULL,
                         string_copy("EVAL_PRECISION_GROUP")};
    int k = 2;
    for (int t = 0; eval_tasks[t]; t++) {
        const EvalTask *task = eval_tasks[t];
        SchemaTable table = {"run", task->outputs, task->n_outputs, task->name};
        for (int i = 0; i < task->n_outputs; i++) {
            const SchemaEntry *o = &task->outputs[i];
            if (strncmp(o->path, "/eval/", 6) != 0) continue;
            char path[512], constant[160];
            snprintf(path, sizeof path, EVAL_PRECISION_ROOT "/{precision}%s", o->path + 5);
            snprintf(constant, sizeof constant, "PRECISION_");
            schema_constant(o, &table, constant + 10, sizeof constant - 10);
            e[k++] = (SchemaEntry){o->kind,
                                   string_copy(path),
                                   string_copy(o->dtype),
                                   string_copy(o->dims),
                                   string_copy(o->meaning),
                                   string_copy(o->when),
                                   string_copy(constant)};
        }
    }
    *entries = e;
    return k;
}

void eval_precision_schema_free(SchemaEntry *e, int n) {
    for (int i = 0; i < n; i++) {
        free((char *)e[i].path), free((char *)e[i].dtype), free((char *)e[i].dims);
        free((char *)e[i].meaning), free((char *)e[i].when), free((char *)e[i].constant);
    }
    free(e);
}

static int drive(const EvalJob *job, void *st, EvalContext *c, Error *err) {
    const EvalTask *t = job->task;
    char group[512], params[4096];
    job_group(job, st, group, sizeof group);
    t->parameters(st, params, sizeof params);
    if (read_stored(t, st, c, group, params, err) != 0) return -1;
    long n = t->n_cells(st), todo = 0;
    for (long i = 0; i < n; i++) todo += !t->cell_done(st, i);
    if (todo > 0) return run_cells(job, st, c, group, todo, err);
    if (t->all_done_note) fprintf(stderr, t->all_done_note, job->out ? job->out : job->run);
    return 0;
}

// ---- What a task's prepare sees: the opened run, its test documents, the harness's services ----

#define EVAL_MAX_LABELLED 4

typedef struct {
    EvalContext c;
    EvalInputs in;
    long *doc_tokens;   // (test documents)
    const char **names; // (test documents)
    LabelledSet sets[EVAL_MAX_LABELLED];
    IclDataset views[EVAL_MAX_LABELLED];
    int n_sets;
} EvalSession;

// The same split as the training mixture's icl component: queries never seen in training.
static int load_labelled(const EvalInputs *in, const char *spec, IclDataset *out, Error *err) {
    EvalSession *s = in->harness;
    if (s->n_sets == EVAL_MAX_LABELLED) return error_set(err, "too many labelled sets");
    char path[4096];
    DataSource src;
    LabelledSet *set = &s->sets[s->n_sets];
    if (data_resolve_labels(spec, path, sizeof path, &src, err) != 0 ||
        labelled_load(set, path, 0.2f, in->cfg->data.split_seed, err) != 0)
        return -1;
    s->n_sets++;
    *out = (IclDataset){set->n,        (const char *const *)set->text, set->label, set->is_test,
                        set->n_labels, (const char *const *)set->names};
    return 0;
}

// The run's model and tokenizer, and its corpus when the task reads one: 0, or -1 (err set).
static int session_inputs(EvalSession *s, const EvalTask *t, Error *err) {
    EvalContext *c = &s->c;
    if (t->reads_corpus && eval_load_corpus(c, NULL, err) != 0) return -1;
    s->in = (EvalInputs){.cfg = &c->cfg,
                         .model = &c->model,
                         .tok = &c->tok,
                         .load_labelled = load_labelled,
                         .harness = s};
    if (!t->reads_corpus) return 0;
    const Corpus *cp = &c->corpus;
    int n = 0;
    s->doc_tokens = xcalloc((size_t)cp->n_docs + 1, sizeof *s->doc_tokens);
    s->names = xcalloc((size_t)cp->n_docs + 1, sizeof *s->names);
    for (int i = 0; i < cp->n_docs; i++)
        if (cp->doc_split[i] == SPLIT_TEST)
            s->doc_tokens[n] = cp->doc_tokens[i], s->names[n++] = cp->doc_names[i];
    s->in.corpus_spec = c->corpus_spec;
    s->in.test_tokens = cp->tokens[SPLIT_TEST];
    s->in.n_test_tokens = cp->n_tokens[SPLIT_TEST];
    s->in.n_test_docs = n;
    s->in.test_doc_tokens = s->doc_tokens;
    s->in.test_doc_names = s->names;
    return 0;
}

static void session_free(EvalSession *s) {
    for (int i = 0; i < s->n_sets; i++) labelled_free(&s->sets[i]);
    free(s->doc_tokens), free(s->names);
    s->doc_tokens = NULL, s->names = NULL, s->n_sets = 0;
}

// Open the run (writer: lock the results file) and build the task's state: 0, or -1 (err set).
static int session_open(EvalSession *s, const EvalJob *job, int writer, void **st, int *opened,
                        Error *err) {
    memset(s, 0, sizeof *s);
    *st = NULL;
    *opened = eval_open(&s->c, job->run, job->out, job->data, job->threads, writer, err) == 0;
    if (*opened) s->c.model.attn_precision = job->precision; // before the task's prepare runs it
    return *opened && session_inputs(s, job->task, err) == 0 &&
                   job->task->prepare(job->opts, &s->in, st, err) == 0
               ? 0
               : -1;
}

static void session_close(EvalSession *s, const EvalJob *job, void *st, int opened) {
    if (st) job->task->free(st);
    if (job->task->release) job->task->release(job->opts);
    session_free(s);
    if (opened) eval_close(&s->c);
}

// ---- Several MPI ranks: cells dealt round-robin, results gathered on rank 0, which writes ----

// Score this rank's share of the cells to do (cells[i] with i % ranks == rank), up to a cell
// that cannot be scored (EVAL_CELL_STOP: *stop gets its index, else todo); 0 or -1.
static int score_my_cells(const EvalJob *job, void *st, EvalContext *c, const long *cells,
                          long todo, long *stop, Error *err) {
    const EvalTask *t = job->task;
    int rank = dist_rank(), ranks = dist_size();
    long mine = todo / ranks + (rank < todo % ranks), finished = 0;
    double t0 = now_seconds();
    char line[1024];
    *stop = todo;
    for (long i = rank; i < todo; i += ranks) {
        double c0 = now_seconds();
        line[0] = 0;
        int rc = t->score_cell(st, &c->model, cells[i], line, sizeof line, err);
        if (rc == EVAL_CELL_STOP) { // as one process: no cell after this one
            print_line(line);
            *stop = i;
            break;
        }
        if (rc != 0) return -1;
        double c1 = now_seconds();
        t->cell_finished(st, cells[i], c1 - c0);
        finished++;
        EvalProgress p = {finished, mine, c1 - c0, c1 - t0, 0};
        p.eta = p.elapsed / finished * (mine - finished);
        t->progress(st, cells[i], &p, line, sizeof line);
        print_line(line);
    }
    return 0;
}

// Every other rank's cells to rank 0, which imports them in cell order.
static void gather_cells(const EvalTask *t, void *st, const long *cells, long todo) {
    int rank = dist_rank(), ranks = dist_size();
    for (long i = 0; i < todo; i++) {
        int owner = (int)(i % ranks);
        if ((owner == 0 && !t->defer) || (rank != 0 && rank != owner)) continue;
        if (owner == 0) { // a deferring task adds rank 0's own cells in their turn too
            long n = t->cell_export(st, cells[i], NULL);
            double *v = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
            t->cell_export(st, cells[i], v);
            t->cell_import(st, cells[i], v, n);
            free(v);
        } else if (rank == owner) {
            long n = t->cell_export(st, cells[i], NULL);
            double *v = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
            t->cell_export(st, cells[i], v);
            dist_send_doubles(0, v, n);
            free(v);
        } else {
            long n;
            double *v = dist_recv_doubles(owner, &n);
            t->cell_import(st, cells[i], v, n);
            free(v);
        }
    }
}

// Open, prepare and read the stored results on every rank (only rank 0 locks and writes);
// 0 on every rank, or -1 on every rank when one failed (which printed its line).
static int open_on_ranks(const EvalJob *job, EvalSession *s, void **st, int *opened) {
    Error err;
    int ok = session_open(s, job, dist_rank() == 0, st, opened, &err) == 0;
    if (ok) {
        char group[512], params[4096];
        job_group(job, *st, group, sizeof group);
        job->task->parameters(*st, params, sizeof params);
        ok = read_stored(job->task, *st, &s->c, group, params, &err) == 0;
    }
    if (!ok) error_report(job->task->command, err.msg);
    return dist_all_ok(ok) ? 0 : -1;
}

// The cells to do, split over the ranks; rank 0 writes the group as one process would.
static int drive_on_ranks(const EvalJob *job, void *st, EvalContext *c, Error *err) {
    const EvalTask *t = job->task;
    long n = t->n_cells(st), todo = 0;
    long *cells = xmalloc(sizeof(long) * (size_t)(n > 0 ? n : 1));
    for (long i = 0; i < n; i++)
        if (!t->cell_done(st, i) && (job->max_cells <= 0 || todo < job->max_cells))
            cells[todo++] = i;
    if (t->defer) t->defer(st);
    long stop;
    int ok = score_my_cells(job, st, c, cells, todo, &stop, err) == 0;
    if (!ok) error_report(t->command, err->msg);
    if (!dist_all_ok(ok)) {
        free(cells);
        return error_set(err, "a rank failed (see its line)");
    }
    long scored = dist_min_long(stop); // the cells one process would have scored
    gather_cells(t, st, cells, scored);
    free(cells);
    if (dist_rank() != 0) return 0;
    if (todo == 0) {
        if (t->all_done_note) fprintf(stderr, t->all_done_note, job->out ? job->out : job->run);
        return 0;
    }
    char group[512], line[1024];
    job_group(job, st, group, sizeof group);
    if (t->finish && t->finish(st, &c->model, err) != 0) return -1;
    // One process writes after each finished cell, or once at the end.
    if ((scored > 0 || !t->writes_each_cell) && write_group(t, st, c, group, err) != 0) return -1;
    if (t->summary) {
        t->summary(st, line, sizeof line);
        print_line(line);
    }
    return 0;
}

static int eval_drive_on_ranks(const EvalJob *job, Error *err) {
    EvalSession s;
    void *st;
    int opened, rc = -1;
    err->msg[0] = '\0'; // a failed open was reported by the rank it failed on
    if (open_on_ranks(job, &s, &st, &opened) == 0) {
        rc = drive_on_ranks(job, st, &s.c, err);
        if (rc == 0 && dist_rank() == 0) printf("%s\n", job->out ? job->out : job->run);
        if (rc != 0 && dist_rank() != 0) err->msg[0] = '\0'; // rank 0 says it
    }
    session_close(&s, job, st, opened);
    return rc;
}

static int eval_drive_here(const EvalJob *job, Error *err);

int eval_drive(const EvalJob *job, Error *err) {
    err->msg[0] = '\0';
    if (dist_size() == 1) return eval_drive_here(job, err);
    if (job->task->cell_export) return eval_drive_on_ranks(job, err);
    // A task whose cells cannot be split: rank 0 runs it, the other ranks wait.
    int rc = dist_rank() == 0 ? eval_drive_here(job, err) : 0;
    dist_wait_all();
    return rc;
}

// One process: every cell here, the results written after each cell or at the end.
static int eval_drive_here(const EvalJob *job, Error *err) {
    EvalSession s;
    void *st;
    int opened;
    int rc = session_open(&s, job, 1, &st, &opened, err);
    if (rc == 0) rc = drive(job, st, &s.c, err);
    if (rc == 0) printf("%s\n", job->out ? job->out : job->run);
    session_close(&s, job, st, opened);
    return rc;
}
