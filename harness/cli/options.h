// Command-line options of the form --flag VALUE, described by a table: strict parsing with one
// clear error for an unknown flag, a missing value or a malformed number.
#ifndef DINT_OPTIONS_H
#define DINT_OPTIONS_H

#include "check.h"

typedef enum { OPT_STR, OPT_INT, OPT_U64 } OptKind;

typedef struct {
    const char *flag; // "--run"
    OptKind kind;
    void *dst; // const char **, int * or unsigned long long *
} Option;

// Parse argv[1..argc) as --flag VALUE pairs. Returns 0, or -1 with err filled.
int options_parse(int argc, char **argv, const Option *opts, int n_opts, Error *err);

#endif
