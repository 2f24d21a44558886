// Small HDF5 helpers used by the run files and the tests: datasets with checksums, scalar
// attributes, UTF-8 strings. Every function returns 0 (or a valid id) on success, -1 on failure.
#ifndef DINT_H5IO_H
#define DINT_H5IO_H

#include <hdf5.h>
#include <stdint.h>

// Silence HDF5's own error-stack printing: callers report failures in one line.
void h5_quiet(void);

hid_t h5_group(hid_t loc, const char *name);

// Write a dataset of rank `rank`; non-empty numeric datasets get a Fletcher-32 checksum.
int h5_write(hid_t loc, const char *name, hid_t mem_type, hid_t file_type, int rank,
             const hsize_t *dims, const void *data);
int h5_write_f32(hid_t loc, const char *name, int rank, const hsize_t *dims, const float *d);
int h5_write_f64(hid_t loc, const char *name, hsize_t n, const double *d);
int h5_write_i64(hid_t loc, const char *name, hsize_t n, const long *d);
int h5_write_strings(hid_t loc, const char *name, char *const *s, hsize_t n);
// A scalar float64 dataset inside its object header (compact layout: covered by the header's
// checksum, since a scalar cannot be chunked for Fletcher-32).
int h5_write_scalar_f64(hid_t loc, const char *name, double v);

int h5_attr_str(hid_t loc, const char *name, const char *v);
int h5_attr_i64(hid_t loc, const char *name, long v);
int h5_attr_u64(hid_t loc, const char *name, uint64_t v);
int h5_attr_f64(hid_t loc, const char *name, double v);

// A UTF-8 string attribute (caller frees), or NULL when absent or not a string.
char *h5_read_attr_str(hid_t loc, const char *name);
int h5_read_attr_num(hid_t loc, const char *name, hid_t mem_type, void *out);
// Read a whole dataset that must hold exactly `numel` elements.
int h5_read(hid_t loc, const char *name, hid_t mem_type, hsize_t numel, void *buf);
// Length of a dataset's first dimension, or -1.
long h5_len(hid_t loc, const char *name);
// Whether every group on the way to path, and path itself, exists (H5Lexists needs each one).
int h5_exists(hid_t loc, const char *path);
// A whole dataset of any shape as doubles (HDF5 converts the stored type): its element count,
// with the values in *out (caller frees; NULL when empty), or -1 when absent or unreadable.
long h5_read_f64_all(hid_t loc, const char *path, double **out);

#endif
