// Shared by the fuzz targets: the input written to a private temporary file, for parsers that
// read files.
#ifndef DINT_FUZZ_UTIL_H
#define DINT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

// Path of a file holding exactly data[0..size) (rewritten on every call; one per process).
const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix);

#endif
