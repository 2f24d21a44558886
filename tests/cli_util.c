#include "cli_util.h"

#include "h5io.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *dint_bin(void) {
    return DINT_BIN;
}
const char *sotu_dir(void) {
    return SOTU_DIR;
}

const char *scratch_dir(const char *test_name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", SCRATCH_DIR, test_name);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0) abort();
    return path;
}

char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    if (len) *len = got;
    return buf;
}

static void slurp(const char *path, char *dst, size_t cap) {
    if (!dst) return;
    size_t n = 0;
    char *s = read_all(path, &n);
    snprintf(dst, cap, "%s", s ? s : "");
    free(s);
}

int run_dint(const char *args, char *out, size_t out_cap, char *err, size_t err_cap) {
    // Per process: Criterion runs a binary's tests side by side, and ctest -j runs other test
    // binaries that share SCRATCH_DIR (one shared file mixed their output into each other's).
    char o[512], e[512], cmd[8192];
    snprintf(o, sizeof o, "%s/stdout.%ld.txt", SCRATCH_DIR, (long)getpid());
    snprintf(e, sizeof e, "%s/stderr.%ld.txt", SCRATCH_DIR, (long)getpid());
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && '%s' %s >'%s' 2>'%s' </dev/null", SCRATCH_DIR,
             DINT_BIN, args, o, e);
    int st = system(cmd);
    slurp(o, out, out_cap);
    slurp(e, err, err_cap);
    unlink(o);
    unlink(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int count_lines(const char *s) {
    int n = 0;
    for (const char *p = s; *p; p++)
        if (*p == '\n') n++;
    if (*s && s[strlen(s) - 1] != '\n') n++;
    return n;
}

void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fputs(text, f);
    fclose(f);
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

typedef struct {
    hid_t other;
    int diffs;
    char *first;
    size_t cap;
} DiffCtx;

static herr_t compare_one(hid_t g, const char *name, const H5L_info_t *info, void *data);

static int is_group(hid_t loc, const char *name) {
    H5O_info_t oi;
    return H5Oget_info_by_name(loc, name, &oi, H5P_DEFAULT) >= 0 && oi.type == H5O_TYPE_GROUP;
}

// Attributes of two objects that differ (presence, or value: strings as text, numbers as
// doubles); the first one's name in *first when it is still empty.
static int attribute_diffs(hid_t a, hid_t b, char *first, size_t cap) {
    H5O_info_t ia, ib;
    H5Oget_info(a, &ia);
    H5Oget_info(b, &ib);
    int diffs = ia.num_attrs != ib.num_attrs;
    for (hsize_t i = 0; i < ia.num_attrs; i++) {
        char name[256];
        H5Aget_name_by_idx(a, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name, H5P_DEFAULT);
        int differs = 1;
        if (H5Aexists(b, name) > 0) {
            char *sa = h5_read_attr_str(a, name), *sb = h5_read_attr_str(b, name);
            double va = NAN, vb = NAN;
            if (sa || sb)
                differs = !sa || !sb || strcmp(sa, sb) != 0;
            else if (h5_read_attr_num(a, name, H5T_NATIVE_DOUBLE, &va) == 0 &&
                     h5_read_attr_num(b, name, H5T_NATIVE_DOUBLE, &vb) == 0)
                differs = memcmp(&va, &vb, sizeof va) != 0;
            free(sa);
            free(sb);
        }
        if (differs && first && !first[0]) snprintf(first, cap, "@%.200s", name);
        diffs += differs;
    }
    return diffs;
}

// A subgroup present in both files: its datasets (recursively) and attributes.
static int subgroup_diffs(hid_t g, hid_t other, const char *name, char *first, size_t cap) {
    hid_t ga = H5Gopen2(g, name, H5P_DEFAULT), gb = H5Gopen2(other, name, H5P_DEFAULT);
    char inner[256] = "";
    DiffCtx c = {gb, 0, inner, sizeof inner};
    H5Literate(ga, H5_INDEX_NAME, H5_ITER_INC, NULL, compare_one, &c);
    H5G_info_t ia, ib;
    H5Gget_info(ga, &ia);
    H5Gget_info(gb, &ib);
    c.diffs += ia.nlinks != ib.nlinks;
    c.diffs += attribute_diffs(ga, gb, inner[0] ? NULL : inner, sizeof inner);
    if (c.diffs && first) snprintf(first, cap, "%s%s%s", name, inner[0] == '@' ? "" : "/", inner);
    H5Gclose(ga);
    H5Gclose(gb);
    return c.diffs;
}

static herr_t compare_one(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    DiffCtx *c = data;
    int differs = 1;
    if (H5Lexists(c->other, name, H5P_DEFAULT) > 0 && is_group(g, name) &&
        is_group(c->other, name)) {
        char first[256];
        int d = subgroup_diffs(g, c->other, name, first, sizeof first);
        if (d && c->diffs == 0 && c->first) snprintf(c->first, c->cap, "%s", first);
        c->diffs += d;
        return 0;
    }
    if (H5Lexists(c->other, name, H5P_DEFAULT) > 0) {
        hid_t da = H5Dopen2(g, name, H5P_DEFAULT), db = H5Dopen2(c->other, name, H5P_DEFAULT);
        if (da >= 0 && db >= 0) {
            hid_t sa = H5Dget_space(da), sb = H5Dget_space(db);
            hssize_t na = H5Sget_simple_extent_npoints(sa), nb = H5Sget_simple_extent_npoints(sb);
            hid_t ta = H5Dget_type(da);
            size_t es = H5Tget_size(ta);
            if (na == nb) {
                char *ba = calloc((size_t)na + 1, es), *bb = calloc((size_t)nb + 1, es);
                if (H5Dread(da, ta, H5S_ALL, H5S_ALL, H5P_DEFAULT, ba) >= 0 &&
                    H5Dread(db, ta, H5S_ALL, H5S_ALL, H5P_DEFAULT, bb) >= 0)
                    differs = memcmp(ba, bb, (size_t)na * es) != 0;
                free(ba);
                free(bb);
            }
            H5Tclose(ta);
            H5Sclose(sa);
            H5Sclose(sb);
        }
        if (da >= 0) H5Dclose(da);
        if (db >= 0) H5Dclose(db);
    }
    if (differs) {
        if (c->diffs == 0 && c->first) snprintf(c->first, c->cap, "%s", name);
        c->diffs++;
    }
    return 0;
}

int h5_group_diff(const char *a, const char *b, const char *group, char *first_diff, size_t cap) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT),
          fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fa < 0 || fb < 0) return -1;
    hid_t ga = H5Gopen2(fa, group, H5P_DEFAULT), gb = H5Gopen2(fb, group, H5P_DEFAULT);
    if (ga < 0 || gb < 0) return -1;
    DiffCtx c = {gb, 0, first_diff, cap};
    H5Literate(ga, H5_INDEX_NAME, H5_ITER_INC, NULL, compare_one, &c);
    hsize_t na = 0, nb = 0;
    H5G_info_t ia, ib;
    H5Gget_info(ga, &ia);
    H5Gget_info(gb, &ib);
    na = ia.nlinks;
    nb = ib.nlinks;
    if (na != nb) c.diffs++;
    H5Gclose(ga);
    H5Gclose(gb);
    H5Fclose(fa);
    H5Fclose(fb);
    return c.diffs;
}
