#include "h5io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void h5_quiet(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

int h5_write(hid_t loc, const char *name, hid_t mem_type, hid_t file_type, int rank,
             const hsize_t *dims, const void *data) {
    hid_t space = H5Screate_simple(rank, dims, NULL);
    if (space < 0) return -1;
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    // Non-empty datasets are one chunk with a Fletcher-32 checksum, so a damaged file is
    // refused on read instead of yielding silently wrong weights.
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (total > 0 && H5Tis_variable_str(file_type) <= 0) {
        H5Pset_chunk(dcpl, rank, dims);
        H5Pset_fletcher32(dcpl);
    }
    hid_t ds = H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    int rc = -1;
    if (ds >= 0) {
        rc = (total == 0 || H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) ? 0
                                                                                              : -1;
        H5Dclose(ds);
    }
    H5Sclose(space);
    return rc;
}

int h5_write_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, const float *d) {
    return h5_write(loc, name, H5T_NATIVE_FLOAT, H5T_IEEE_F32LE, rank, dims, d);
}
int h5_write_f64(hid_t loc, const char *name, hsize_t n, const double *d) {
    return h5_write(loc, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, &n, d);
}
int h5_write_i64(hid_t loc, const char *name, hsize_t n, const long *d) {
    return h5_write(loc, name, H5T_NATIVE_LONG, H5T_STD_I64LE, 1, &n, d);
}

static hid_t str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int write_attr(hid_t loc, const char *name, hid_t mem_type, hid_t file_type, const void *v) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    int rc = (a >= 0 && H5Awrite(a, mem_type, v) >= 0) ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return rc;
}
int h5_attr_str(hid_t loc, const char *name, const char *v) {
    hid_t t = str_type();
    int rc = write_attr(loc, name, t, t, &v);
    H5Tclose(t);
    return rc;
}
int h5_attr_i64(hid_t loc, const char *name, long v) {
    return write_attr(loc, name, H5T_NATIVE_LONG, H5T_STD_I64LE, &v);
}
int h5_attr_u64(hid_t loc, const char *name, uint64_t v) {
    return write_attr(loc, name, H5T_NATIVE_UINT64, H5T_STD_U64LE, &v);
}

int h5_attr_f64(hid_t loc, const char *name, double v) {
    return write_attr(loc, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, &v);
}

int h5_write_strings(hid_t loc, const char *name, char *const *s, hsize_t n) {
    hid_t t = str_type();
    int rc = h5_write(loc, name, t, t, 1, &n, s);
    H5Tclose(t);
    return rc;
}

int h5_write_scalar_f64(hid_t loc, const char *name, double v) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_COMPACT);
    hid_t ds = H5Dcreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int rc =
        ds >= 0 && H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0 ? 0 : -1;
    if (ds >= 0) H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

// Read a string attribute (caller frees), or NULL.
char *h5_read_attr_str(hid_t loc, const char *name) {
    if (H5Aexists(loc, name) <= 0) return NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t t = str_type();
    char *v = NULL, *out = NULL;
    hid_t ft = H5Aget_type(a);
    if (H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0 && H5Aread(a, t, &v) >= 0 &&
        v) {
        out = strdup(v);
        H5free_memory(v);
    }
    H5Tclose(ft);
    H5Tclose(t);
    H5Aclose(a);
    return out;
}

int h5_read_attr_num(hid_t loc, const char *name, hid_t mem_type, void *out) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    int rc = H5Aread(a, mem_type, out) >= 0 ? 0 : -1;
    H5Aclose(a);
    return rc;
}

// Read a whole dataset of exactly `numel` elements into buf.
int h5_read(hid_t loc, const char *name, hid_t mem_type, hsize_t numel, void *buf) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t space = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    int rc = -1;
    if (n == (hssize_t)numel)
        rc =
            (numel == 0 || H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) ? 0 : -1;
    H5Sclose(space);
    H5Dclose(ds);
    return rc;
}

long h5_len(hid_t loc, const char *name) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return -1;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t space = H5Dget_space(ds);
    hsize_t dims[2] = {0, 0};
    int rank = H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    H5Dclose(ds);
    return rank >= 1 ? (long)dims[0] : -1;
}

int h5_exists(hid_t loc, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = strchr(buf + 1, '/');; p = strchr(p + 1, '/')) {
        if (p) *p = '\0';
        if (H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
        if (!p) return 1;
        *p = '/';
    }
}

long h5_read_f64_all(hid_t loc, const char *path, double **out) {
    *out = NULL;
    if (!h5_exists(loc, path)) return -1;
    hid_t ds = H5Dopen2(loc, path, H5P_DEFAULT);
    hid_t space = H5Dget_space(ds);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    double *v = n > 0 ? malloc(sizeof(double) * (size_t)n) : NULL;
    if (n > 0 && (!v || H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0)) {
        free(v);
        v = NULL, n = -1;
    }
    if (space >= 0) H5Sclose(space);
    if (ds >= 0) H5Dclose(ds);
    *out = v;
    return n < 0 ? -1 : (long)n;
}

hid_t h5_group(hid_t loc, const char *name) {
    return H5Gcreate2(loc, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}
