// Whole HDF5 files, written and read safely:
// - writers build the file in memory (HDF5 core driver, no backing store) and write its bytes
//   with write(2) to FILE.tmp, fsync and rename: HDF5 never meets a write error (HDF5 1.10 then
//   crashes at exit), errno says what really failed, and the previous file stays whole;
// - readers first check a file in a child process that reads every object within a time limit,
//   so a damaged file (metadata that sends HDF5 in circles or into a crash, checksums that do not
//   match) is refused with one line instead of hanging or crashing the command;
// - one writer per file: a lock file FILE.lock held for the whole command;
// - through a symlink, the lock and the rename act on the file it names (h5file_real_path).
#ifndef DINT_H5FILE_H
#define DINT_H5FILE_H

#include <hdf5.h>
#include <stdint.h>

#include "check.h"

// A new, empty HDF5 file in memory (path only names it in messages); -1 on failure.
hid_t h5file_create_mem(const char *path, Error *err);
// An existing file read into memory, open read-write there; the file on disk is not touched.
hid_t h5file_open_mem(const char *path, Error *err);
// Write an in-memory file to `path` (through path.tmp, fsync, rename) and close it, on every path.
int h5file_save(hid_t f, const char *path, Error *err);
// The file a path names: symlinks followed (the last may point to a file not yet written) and
// its folder made canonical. Locks and renames use it, so a link and its target share one lock.
void h5file_real_path(const char *path, char *out, size_t cap);
// Write bytes to `path` through path.tmp, fsync and rename; the previous file is unchanged on
// failure and no .tmp is left. The message names errno ("disk full" only on ENOSPC, EDQUOT and
// EFBIG).
int h5file_write_atomic(const char *path, const void *buf, size_t n, Error *err);

// The root attribute holding the content digest: "crc32:" and 8 hex digits, the CRC-32 (zlib) of
// every group name, dataset (name, shape, bytes in the file's byte order) and attribute (the
// same; strings as their characters) in name order, itself excluded. Unlike Fletcher-32 (sums
// modulo 65535, blind to a 16-bit word turned from 0x0000 to 0xFFFF) it detects every burst of
// up to 32 bits, and it covers the config string and the other attributes too.
#define H5FILE_DIGEST_ATTR "digest"

typedef struct {
    long objects, datasets, checksummed, attributes;
    long long bytes;
    int has_digest, digest_mismatch, written_by_dint;
    uint32_t digest_stored, digest_computed;
    char first_bad[512]; // "" when every object and every byte read back
} H5Verify;

// Read every group, dataset (all bytes, so Fletcher-32 checksums are checked) and attribute of
// an open file and compute its digest. Returns 0 when all of it reads back and matches the
// stored digest (or there is none), -1 otherwise (first_bad names what failed).
int h5file_verify_open(hid_t f, long long file_size, H5Verify *v);
// Compute and (re)write the digest attribute of an open (in-memory) file; h5file_save does it.
int h5file_write_digest(hid_t f);
// The same in a child process, within a time limit that grows with the file size: 0 when the
// file reads back whole, -1 with a one-line message otherwise (including a hang or a crash of
// HDF5 in the child). A file that passed (or that this process wrote) is not checked again.
int h5file_check(const char *path, H5Verify *v, Error *err);
// Open a file read-only after h5file_check.
hid_t h5file_open_read(const char *path, Error *err);

// Take the writer lock of `path` (path.lock, a POSIX record lock of this process, not inherited
// by its children): refuses at once, naming the process that holds it. Released by
// h5file_unlock, at exit, or when the process dies, whatever its children still run; on
// SIGTERM, SIGINT, SIGHUP and SIGABRT the lock file and a .tmp being written are removed first. A
// refused writer's message names the holder's pid as the kernel reports it.
int h5file_lock(const char *path, Error *err);
void h5file_unlock(void);

#endif
