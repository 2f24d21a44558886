#include "h5file.h"

#include "clock.h"
#include "h5io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

// ---- in-memory files ----

// Core driver without backing store; the 1.8 object formats carry checksums on every piece of
// metadata (superblock v2, object headers v2), so damaged metadata is an error, not garbage.
static hid_t mem_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0 ||
        H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

hid_t h5file_create_mem(const char *path, Error *err) {
    hid_t fapl = mem_fapl();
    hid_t f = fapl < 0 ? -1 : H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) error_set(err, "cannot create '%s' in memory (out of memory?)", path);
    return f;
}

// The whole file, or NULL with err set.
static char *read_bytes(const char *path, size_t *n, Error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        error_set(err, "cannot read '%s': %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    char *buf = malloc(sb.st_size > 0 ? (size_t)sb.st_size : 1);
    size_t got = 0;
    while (buf && got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != (size_t)sb.st_size) {
        free(buf);
        error_set(err, "cannot read '%s' (changed while reading?)", path);
        return NULL;
    }
    *n = got;
    return buf;
}

hid_t h5file_open_mem(const char *path, Error *err) {
    if (h5file_check(path, NULL, err) != 0) return -1;
    size_t n = 0;
    char *bytes = read_bytes(path, &n, err);
    if (!bytes) return -1;
    hid_t fapl = mem_fapl();
    hid_t f = -1;
    // The property list keeps its own copy of the image.
    // The core driver refuses an image under the name of a file that exists on disk.
    char name[4200];
    snprintf(name, sizeof name, "%s.in-memory", path);
    if (fapl >= 0 && H5Pset_file_image(fapl, bytes, n) >= 0) f = H5Fopen(name, H5F_ACC_RDWR, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    free(bytes);
    if (f < 0) error_set(err, "'%s' is corrupt: HDF5 cannot open it", path);
    return f;
}

static void record_verified(const char *path);

void h5file_real_path(const char *path, char *out, size_t cap) {
    char cur[4096];
    snprintf(cur, sizeof cur, "%s", path);
    // Follow the symlinks themselves (the last may point to a file not written yet).
    for (int hops = 0; hops < 40; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode)) break;
        char target[4096];
        ssize_t n = readlink(cur, target, sizeof target - 1);
        if (n <= 0) break;
        target[n] = '\0';
        if (target[0] == '/') {
            snprintf(cur, sizeof cur, "%s", target);
        } else {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s", cur);
            if (snprintf(cur, sizeof cur, "%s/%s", dirname(dir), target) >= (int)sizeof cur) break;
        }
    }
    // The folder's canonical name, so two spellings of one file share one lock.
    char dir[4096], base[4096], real_dir[4096];
    snprintf(dir, sizeof dir, "%s", cur);
    snprintf(base, sizeof base, "%s", cur);
    if (realpath(dirname(dir), real_dir))
        snprintf(out, cap, "%s/%s", strcmp(real_dir, "/") ? real_dir : "", basename(base));
    else
        snprintf(out, cap, "%s", cur);
}

// The .tmp being written and the lock held, for the SIGTERM/SIGINT handler (plain arrays: the
// handler may only call async-signal-safe functions).
static char tmp_in_progress[4300];
static volatile sig_atomic_t tmp_active;
static int lock_fd = -1;
static char lock_path[4300];

int h5file_write_atomic(const char *given_path, const void *buf, size_t n, Error *err) {
    // Through a symlink, the file it names is replaced (and the link stays a link).
    char path[4200], tmp[4300];
    h5file_real_path(given_path, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(tmp_in_progress, sizeof tmp_in_progress, "%s", tmp);
    tmp_active = 1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        tmp_active = 0;
        return error_set(err, "cannot create '%s': %s (is the directory writable?)", tmp,
                         strerror(errno));
    }
    int e = 0;
    size_t done = 0;
    while (done < n && !e) {
        ssize_t w = write(fd, (const char *)buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0)
            e = errno;
        else if (w == 0)
            e = ENOSPC;
        else
            done += (size_t)w;
    }
    // Data on disk before the rename replaces the previous complete file.
    if (!e && fsync(fd) != 0) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) unlink(tmp);
    tmp_active = 0;
    if (e) {
        if (e == ENOSPC || e == EDQUOT || e == EFBIG)
            return error_set(err, "writing '%s' failed (%s: %s); the previous file is unchanged",
                             path, e == EFBIG ? "disk full or file-size limit" : "disk full",
                             strerror(e));
        return error_set(err, "writing '%s' failed: %s; the previous file is unchanged", path,
                         strerror(e));
    }
    // The rename itself on disk too (best effort: some file systems refuse fsync on folders).
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

// Jenkins' lookup3 (byte-wise, initval 0): HDF5's checksum of metadata.
#define ROT(x, k) (((x) << (k)) ^ ((x) >> (32 - (k))))
static uint32_t lookup3(const uint8_t *k, size_t len) {
    uint32_t a, b, c;
    a = b = c = 0xdeadbeefu + (uint32_t)len;
    while (len > 12) {
        a += k[0] + ((uint32_t)k[1] << 8) + ((uint32_t)k[2] << 16) + ((uint32_t)k[3] << 24);
        b += k[4] + ((uint32_t)k[5] << 8) + ((uint32_t)k[6] << 16) + ((uint32_t)k[7] << 24);
        c += k[8] + ((uint32_t)k[9] << 8) + ((uint32_t)k[10] << 16) + ((uint32_t)k[11] << 24);
        a -= c, a ^= ROT(c, 4), c += b;
        b -= a, b ^= ROT(a, 6), a += c;
        c -= b, c ^= ROT(b, 8), b += a;
        a -= c, a ^= ROT(c, 16), c += b;
        b -= a, b ^= ROT(a, 19), a += c;
        c -= b, c ^= ROT(b, 4), b += a;
        len -= 12;
        k += 12;
    }
    if (len == 0) return c;
    uint32_t w[3] = {0, 0, 0};
    for (size_t i = 0; i < len; i++) w[i / 4] += (uint32_t)k[i] << (8 * (i % 4));
    a += w[0], b += w[1], c += w[2];
    c ^= b, c -= ROT(b, 14);
    a ^= c, a -= ROT(c, 11);
    b ^= a, b -= ROT(a, 25);
    c ^= b, c -= ROT(b, 16);
    a ^= c, a -= ROT(c, 4);
    b ^= a, b -= ROT(a, 14);
    c ^= b, c -= ROT(b, 24);
    return c;
}
#undef ROT

// HDF5 1.10.8 clears the "open for writing" flags of a version 2/3 superblock in a file image
// but keeps the checksum computed with them set, so the written file would not open again.
// Recompute the checksum over the superblock as it is (a no-op where HDF5 got it right).
static void fix_superblock_checksum(uint8_t *img, size_t n) {
    static const uint8_t sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (n < 12 || memcmp(img, sig, 8) != 0 || (img[8] != 2 && img[8] != 3)) return;
    size_t body = 12 + 4 * (size_t)img[9];
    if (n < body + 4) return;
    uint32_t c = lookup3(img, body);
    for (int i = 0; i < 4; i++) img[body + i] = (uint8_t)(c >> (8 * i));
}

int h5file_save(hid_t f, const char *path, Error *err) {
    if (h5file_write_digest(f) != 0) {
        H5Fclose(f);
        return error_set(err, "cannot compute the digest of '%s' in memory; it is unchanged", path);
    }
    int ok = H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0;
    ssize_t n = ok ? H5Fget_file_image(f, NULL, 0) : -1;
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
    ok = buf && H5Fget_file_image(f, buf, (size_t)n) == n;
    // Nothing of an in-memory file touches the disk: this close cannot fail on a full disk.
    H5Fclose(f);
    if (ok) fix_superblock_checksum((uint8_t *)buf, (size_t)n);
    if (!ok) {
        free(buf);
        return error_set(err, "cannot assemble '%s' in memory (out of memory?); it is unchanged",
                         path);
    }
    int rc = h5file_write_atomic(path, buf, (size_t)n, err);
    free(buf);
    if (rc == 0) record_verified(path);
    return rc;
}

// ---- reading everything back ----

typedef struct {
    H5Verify *v;
    long long cap; // the most bytes one object may claim: damaged sizes must not allocate wildly
    const char *where;
    uLong crc; // the content digest of what was read so far
} Walk;

static void mark_bad(H5Verify *v, const char *what, const char *name) {
    if (!v->first_bad[0]) snprintf(v->first_bad, sizeof v->first_bad, "%.40s %.400s", what, name);
}

static void digest_bytes(Walk *w, const void *p, size_t n) {
    w->crc = crc32_z(w->crc, (const Bytef *)p, n);
}

// One object into the digest: its kind, full name, shape and a length before every part, so
// moving bytes between objects or renaming one changes the digest too.
static void digest_header(Walk *w, char kind, const char *name, hid_t space) {
    uint64_t len = strlen(name);
    digest_bytes(w, &kind, 1);
    digest_bytes(w, &len, sizeof len);
    digest_bytes(w, name, len);
    hsize_t dims[H5S_MAX_RANK];
    int rank = H5Sget_simple_extent_dims(space, dims, NULL);
    int64_t r = rank;
    digest_bytes(w, &r, sizeof r);
    for (int i = 0; i < rank; i++) {
        uint64_t d = dims[i];
        digest_bytes(w, &d, sizeof d);
    }
}

static int is_digest_attr(const Walk *w, const char *name) {
    return !strcmp(w->where, "/") && !strcmp(name, H5FILE_DIGEST_ATTR);
}

// Read n_points values of `type` through `read` (dataset or attribute), add them to the digest
// (numbers in the file's own byte order, strings as their characters) and free what HDF5 made.
static int read_values(hid_t obj, int is_attr, hid_t space, Walk *w, const char *name,
                       const char *attr_name) {
    hid_t ft = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    int vlen = ft >= 0 && (H5Tis_variable_str(ft) > 0 || H5Tdetect_class(ft, H5T_VLEN) > 0);
    int vstr = ft >= 0 && H5Tis_variable_str(ft) > 0;
    hid_t mt = ft < 0 ? -1 : vlen ? H5Tget_native_type(ft, H5T_DIR_DEFAULT) : H5Tcopy(ft);
    hssize_t np = H5Sget_simple_extent_npoints(space);
    size_t size = mt >= 0 ? H5Tget_size(mt) : 0;
    int rc = -1;
    if (mt >= 0 && np >= 0 && size > 0 && (long long)np * (long long)size <= w->cap) {
        void *buf = calloc((size_t)np + 1, size);
        if (buf) {
            herr_t r = is_attr
                           ? H5Aread(obj, mt, buf)
                           : (np == 0 ? 0 : H5Dread(obj, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
            if (r >= 0) {
                rc = 0;
                w->v->bytes += (long long)np * (long long)size;
                if (attr_name && is_digest_attr(w, attr_name)) {
                    // The stored digest itself is not part of what it covers.
                    const char *d = vstr && np == 1 ? *(char **)buf : NULL;
                    unsigned x = 0;
                    if (d && sscanf(d, "crc32:%8x", &x) == 1) {
                        w->v->has_digest = 1;
                        w->v->digest_stored = x;
                    } else {
                        mark_bad(w->v, "attribute", name);
                        rc = -1;
                    }
                } else {
                    digest_header(w, is_attr ? 'a' : 'd', name, space);
                    if (vstr) {
                        for (hssize_t i = 0; i < np; i++) {
                            const char *str = ((char **)buf)[i];
                            uint64_t len = str ? strlen(str) : UINT64_MAX;
                            digest_bytes(w, &len, sizeof len);
                            if (str) digest_bytes(w, str, len);
                        }
                    } else if (!vlen) {
                        digest_bytes(w, buf, (size_t)np * size);
                    } // other variable-length data (never written by dint): only its shape
                }
                if (vlen) H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
            }
            free(buf);
        }
    }
    if (rc != 0) mark_bad(w->v, is_attr ? "attribute" : "dataset", name);
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    return rc;
}

static herr_t visit_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)info;
    Walk *w = data;
    char full[600];
    snprintf(full, sizeof full, "%s@%s", w->where, name);
    if (!strcmp(w->where, "/") &&
        (!strcmp(name, "schema_version") || !strcmp(name, "run") || !strcmp(name, "baseline")))
        w->v->written_by_dint = 1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t space = a >= 0 ? H5Aget_space(a) : -1;
    if (space >= 0)
        read_values(a, 1, space, w, full, name);
    else
        mark_bad(w->v, "attribute", full);
    w->v->attributes++;
    if (space >= 0) H5Sclose(space);
    if (a >= 0) H5Aclose(a);
    return 0;
}

// In name order, so that the writer and every reader digest the same sequence.
static void visit_attrs(hid_t obj, Walk *w, const char *where) {
    w->where = where;
    hsize_t idx = 0;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, visit_attr, w) < 0)
        mark_bad(w->v, "attributes of", where);
}

static int is_checksummed(hid_t ds) {
    hid_t dcpl = H5Dget_create_plist(ds);
    int n = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0, found = 0;
    for (int i = 0; i < n; i++) {
        unsigned flags, cfg;
        size_t nelem = 0;
        char fname[32];
        if (H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelem, NULL, sizeof fname, fname, &cfg) ==
            H5Z_FILTER_FLETCHER32)
            found = 1;
    }
    if (dcpl >= 0) H5Pclose(dcpl);
    return found;
}

static herr_t visit_link(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    Walk *w = data;
    if (info->type != H5L_TYPE_HARD) return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        mark_bad(w->v, "object", name);
        return 0;
    }
    w->v->objects++;
    char where[600];
    snprintf(where, sizeof where, "/%s", name);
    if (H5Iget_type(o) == H5I_DATASET) {
        w->v->datasets++;
        w->v->checksummed += is_checksummed(o);
        hid_t space = H5Dget_space(o);
        if (space >= 0)
            read_values(o, 0, space, w, where, NULL);
        else
            mark_bad(w->v, "dataset", where);
        if (space >= 0) H5Sclose(space);
    } else {
        char kind = 'g';
        uint64_t len = strlen(where);
        digest_bytes(w, &kind, 1);
        digest_bytes(w, &len, sizeof len);
        digest_bytes(w, where, len);
    }
    visit_attrs(o, w, where);
    H5Oclose(o);
    return 0;
}

// Walk every object and value of f in name order: v counts them, returns the digest.
static uLong walk_file(hid_t f, long long cap, H5Verify *v) {
    memset(v, 0, sizeof *v);
    Walk w = {v, cap, "/", crc32_z(0L, Z_NULL, 0)};
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (root < 0) {
        mark_bad(v, "group", "/");
        return w.crc;
    }
    visit_attrs(root, &w, "/");
    if (H5Lvisit(root, H5_INDEX_NAME, H5_ITER_INC, visit_link, &w) < 0)
        mark_bad(v, "links under", "/");
    H5Gclose(root);
    return w.crc;
}

int h5file_verify_open(hid_t f, long long file_size, H5Verify *v) {
    uLong crc = walk_file(f, 4 * file_size + (1 << 20), v);
    v->digest_computed = (uint32_t)crc;
    if (!v->first_bad[0] && v->has_digest && v->digest_stored != v->digest_computed) {
        v->digest_mismatch = 1;
        snprintf(v->first_bad, sizeof v->first_bad,
                 "its contents do not match its digest (CRC-32 stored %08x, computed %08x): it "
                 "was changed after it was written",
                 (unsigned)v->digest_stored, (unsigned)v->digest_computed);
    }
    return v->first_bad[0] ? -1 : 0;
}

int h5file_write_digest(hid_t f) {
    H5Verify v;
    if (H5Aexists(f, H5FILE_DIGEST_ATTR) > 0 && H5Adelete(f, H5FILE_DIGEST_ATTR) < 0) return -1;
    uLong crc = walk_file(f, LLONG_MAX, &v);
    if (v.first_bad[0]) return -1;
    char text[32];
    snprintf(text, sizeof text, "crc32:%08x", (unsigned)crc);
    return h5_attr_str(f, H5FILE_DIGEST_ATTR, text);
}

// ---- checking a file in a child process ----

// Files this process checked or wrote: (device, inode, size, mtime) of each.
typedef struct {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} FileId;
static FileId verified[16];
static int n_verified;

static int same_id(const FileId *a, const struct stat *sb) {
    return a->dev == sb->st_dev && a->ino == sb->st_ino && a->size == sb->st_size &&
           a->mtime.tv_sec == sb->st_mtim.tv_sec && a->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

static void record_verified(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return;
    FileId *e = &verified[n_verified++ % 16];
    e->dev = sb.st_dev;
    e->ino = sb.st_ino;
    e->size = sb.st_size;
    e->mtime = sb.st_mtim;
}

static int is_verified(const struct stat *sb) {
    for (int i = 0; i < n_verified && i < 16; i++)
        if (same_id(&verified[i], sb)) return 1;
    return 0;
}

enum { CHILD_OK = 0, CHILD_OPEN = 3, CHILD_BAD = 4, CHILD_NOT_HDF5 = 5 };

int h5file_check(const char *path, H5Verify *out, Error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) return error_set(err, "cannot read '%s': %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return error_set(err, "'%s' is not a regular file", path);
    if (!out && is_verified(&sb)) return 0;
    // Two seconds of CPU, more for big files (a healthy file reads at well over 50 MB/s): CPU
    // time, not wall time, so a busy machine does not make a whole file look damaged. The wall
    // clock only bounds a read that blocks.
    int limit = 2 + (int)(sb.st_size / 50000000);
    double wall = 120.0 + 10.0 * limit;
    int fds[2];
    if (pipe(fds) != 0) return error_set(err, "cannot check '%s': %s", path, strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return error_set(err, "cannot check '%s': %s", path, strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        struct rlimit cpu = {(rlim_t)limit, (rlim_t)limit + 1};
        setrlimit(RLIMIT_CPU, &cpu);
        H5Verify v;
        memset(&v, 0, sizeof v);
        int code = H5Fis_hdf5(path) > 0 ? CHILD_OPEN : CHILD_NOT_HDF5;
        hid_t f = code == CHILD_NOT_HDF5 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f >= 0)
            code = h5file_verify_open(f, (long long)sb.st_size, &v) == 0 ? CHILD_OK : CHILD_BAD;
        ssize_t w = write(fds[1], &v, sizeof v);
        (void)w;
        _exit(code); // no HDF5 shutdown, no exit handlers of the parent's libraries
    }
    close(fds[1]);
    struct timespec nap = {0, 2000000};
    double t0 = now_seconds();
    int status = 0, done = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            done = 1;
            break;
        }
        if (r < 0 && errno != EINTR) break;
        if (now_seconds() - t0 > wall) break;
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50000000) nap.tv_nsec *= 2;
    }
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    H5Verify v;
    memset(&v, 0, sizeof v);
    ssize_t got = read(fds[0], &v, sizeof v);
    close(fds[0]);
    v.first_bad[sizeof v.first_bad - 1] = '\0';
    if (out) *out = v;
    if (!done) return error_set(err, "'%s': reading it did not finish within %.0f s", path, wall);
    if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL))
        return error_set(err,
                         "'%s' is corrupt: reading it did not finish within %d s of CPU time "
                         "(damaged metadata?)",
                         path, limit);
    if (WIFSIGNALED(status))
        return error_set(err, "'%s' is corrupt: reading it crashes HDF5 (signal %d)", path,
                         WTERMSIG(status));
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == CHILD_NOT_HDF5)
        return error_set(err, "'%s' is not an HDF5 file (truncated or corrupt?)", path);
    if (code == CHILD_OPEN)
        return error_set(err, "cannot open '%s' as HDF5 (truncated or corrupt?)", path);
    if (code != CHILD_OK && got == (ssize_t)sizeof v && v.digest_mismatch)
        return error_set(err, "'%s' is corrupt: %s", path, v.first_bad);
    if (code != CHILD_OK || got != (ssize_t)sizeof v)
        return error_set(err, "'%s' is corrupt: cannot read %s (checksum mismatch or damaged file)",
                         path, got == (ssize_t)sizeof v && v.first_bad[0] ? v.first_bad : "it");
    if (!v.has_digest && v.written_by_dint)
        fprintf(stderr,
                "dint: notice: '%s' has no content digest (written before dint-bench stored one): "
                "only the HDF5 checksums of its data are verified\n",
                path);
    record_verified(path);
    return 0;
}

hid_t h5file_open_read(const char *path, Error *err) {
    if (h5file_check(path, NULL, err) != 0) return -1;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) error_set(err, "cannot open '%s' as HDF5 (truncated or corrupt?)", path);
    return f;
}

// ---- one writer per file ----

// SIGTERM, SIGINT, SIGHUP or SIGABRT (an internal error) while this process holds a lock: remove
// the .tmp being written and the lock, then die of the signal as before (a kill -9 cannot be
// caught: its .tmp stays until the next writer of the file replaces it).
static void remove_lock_and_tmp(int sig) {
    if (tmp_active) unlink(tmp_in_progress);
    if (lock_fd >= 0) unlink(lock_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void clean_up_on_signals(void) {
    static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old;
        // Only where nobody else (MPI, a sweep's child set-up) chose what the signal does.
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = remove_lock_and_tmp;
            sigemptyset(&sa.sa_mask);
            sigaction(sigs[i], &sa, NULL);
        }
    }
}

// A POSIX record lock (fcntl), not flock: it belongs to this process and is not inherited by
// fork, so a child still running when the writer is killed (h5file_check's reader, a sweep
// worker) cannot keep the file locked after its writer is gone.
static int lock_whole_file(int fd) {
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_SETLK, &l);
}

// The pid of the process holding the lock on fd, from the kernel (exact even before the holder
// has written its pid into the file), or 0.
static long lock_holder(int fd) {
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    if (fcntl(fd, F_GETLK, &l) == 0 && l.l_type != F_UNLCK) return (long)l.l_pid;
    return 0;
}

int h5file_lock(const char *path, Error *err) {
    char real[4200], lp[4300];
    h5file_real_path(path, real, sizeof real);
    snprintf(lp, sizeof lp, "%s.lock", real);
    if (lock_fd >= 0 && strcmp(lp, lock_path) == 0) return 0; // this process holds it already
    for (int attempt = 0; attempt < 10; attempt++) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return error_set(err, "cannot write next to '%s' (lock file '%s': %s)", path, lp,
                             strerror(errno));
        if (lock_whole_file(fd) != 0) {
            long holder = lock_holder(fd);
            char pid[32] = "";
            if (holder > 0) {
                snprintf(pid, sizeof pid, "%ld", holder);
            } else { // the holder let go meanwhile, or a file system without F_GETLK
                ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
                pid[n > 0 ? n : 0] = '\0';
                pid[strcspn(pid, "\n")] = '\0';
            }
            close(fd);
            return error_set(err,
                             "'%s' is being written by another dint process (pid %s, lock %s); "
                             "wait for it to finish or write elsewhere",
                             path, pid[0] ? pid : "?", lp);
        }
        // The lock file we hold must still be the one at lp (a finishing writer removes it).
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lp, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
                // The lock holds without the pid; a second writer asks the kernel instead.
            }
            snprintf(lock_path, sizeof lock_path, "%s", lp);
            lock_fd = fd;
            static int registered;
            if (!registered++) {
                atexit(h5file_unlock);
                clean_up_on_signals();
            }
            return 0;
        }
        close(fd);
    }
    return error_set(err, "cannot take the lock '%s' (it keeps changing)", lp);
}

void h5file_unlock(void) {
    if (lock_fd < 0) return;
    unlink(lock_path);
    close(lock_fd);
    lock_fd = -1;
}
