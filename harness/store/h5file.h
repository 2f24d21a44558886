// Whole HDF5 files, written and read safely:
// - writers build the file in memory (HDF5 core driver, no backing store) and write its bytes
//   with write(2) to FILE.tmp, fsync and rename: HDF5 never meets a write error (HDF5 1.10 then
//   crashes at exit), errno says what really failed, and the previous file stays whole;
// - readers first check a file in a child process that reads every object within a time limit,
//   so a damaged file (metadata that sends HDF5 in circles or into a crash, checksums that do not
//   match) is refused with one line instead of hanging or crashing the command;
// - one writer per file: a lock file FILE.lock held for the whole command.
#ifndef DINT_H5FILE_H
#define DINT_H5FILE_H

#include <hdf5.h>

#include "check.h"

// A new, empty HDF5 file in memory (path only names it in messages); -1 on failure.
hid_t h5file_create_mem(const char *path, Error *err);
// An existing file read into memory, open read-write there; the file on disk is not touched.
hid_t h5file_open_mem(const char *path, Error *err);
// Write an in-memory file to `path` (through path.tmp, fsync, rename) and close it, on every path.
int h5file_save(hid_t f, const char *path, Error *err);
// Write bytes to `path` through path.tmp, fsync and rename; the previous file is unchanged on
// failure and no .tmp is left. The message names errno ("disk full" only on ENOSPC, EDQUOT and
// EFBIG).
int h5file_write_atomic(const char *path, const void *buf, size_t n, Error *err);

typedef struct {
    long objects, datasets, checksummed, attributes;
    long long bytes;
    char first_bad[512]; // "" when every object and every byte read back
} H5Verify;

// Read every group, dataset (all bytes, so Fletcher-32 checksums are checked) and attribute of
// an open file. Returns 0 when all of it reads back, -1 otherwise (first_bad names what failed).
int h5file_verify_open(hid_t f, long long file_size, H5Verify *v);
// The same in a child process, within a time limit that grows with the file size: 0 when the
// file reads back whole, -1 with a one-line message otherwise (including a hang or a crash of
// HDF5 in the child). A file that passed (or that this process wrote) is not checked again.
int h5file_check(const char *path, H5Verify *v, Error *err);
// Open a file read-only after h5file_check.
hid_t h5file_open_read(const char *path, Error *err);

// Take the writer lock of `path` (path.lock, a POSIX record lock of this process, not inherited
// by its children): refuses at once, naming the process that holds it. Released by
// h5file_unlock, at exit, or when the process dies, whatever its children still run.
int h5file_lock(const char *path, Error *err);
void h5file_unlock(void);

#endif
