// Helpers for tests that drive the `dint` executable: run a command, read its stderr,
// make small corpora, compare files and HDF5 groups.
#ifndef DINT_TEST_CLI_UTIL_H
#define DINT_TEST_CLI_UTIL_H

#include <stddef.h>

// Paths given by CMake: the dint binary, the SOTU text directory (fetched by data/fetch.sh).
const char *dint_bin(void);
const char *sotu_dir(void);

// A fresh scratch directory for one test (under the build tree); returns its path.
const char *scratch_dir(const char *test_name);

// Run `dint <args>` with stdout and stderr captured; returns the exit status.
// err/out (may be NULL) receive the captured text.
int run_dint(const char *args, char *out, size_t out_cap, char *err, size_t err_cap);

// Lines of text in s (a trailing newline does not start a new line).
int count_lines(const char *s);

void write_text(const char *path, const char *text);
int file_exists(const char *path);
// Whole file contents (caller frees); *len gets the size.
char *read_all(const char *path, size_t *len);

// Number of datasets under `group` that differ (bytes or presence) between two HDF5 files, and
// of attributes of its subgroups (recursively; "sub/name" or "sub@attr" in first_diff).
int h5_group_diff(const char *a, const char *b, const char *group, char *first_diff, size_t cap);

// Common tiny-model settings for CLI training tests.
#define TINY_SETS                                                                                  \
    "--set model.n_layer=1 --set model.d_model=32 --set model.head_dim=8 "                         \
    "--set train.seq_len=32 --set train.batch_size=2 --set train.warmup=2 "                        \
    "--set train.eval_batches=2 --set train.log_every=100 "

#endif
