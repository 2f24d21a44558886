// Command-line options of the form --flag VALUE (and bare --flag switches), described by a
// table: strict parsing with one clear error for an unknown flag, a missing value or a
// malformed number.
#ifndef DINT_OPTIONS_H
#define DINT_OPTIONS_H

#include "check.h"

typedef enum {
    OPT_STR,  // dst: const char **
    OPT_INT,  // dst: int *
    OPT_U64,  // dst: unsigned long long *
    OPT_FLAG, // no value; dst: int *, set to 1
    OPT_CALL, // dst: const OptionCall *, called with the value (checks it, stores it)
} OptKind;

typedef struct {
    const char *flag; // "--run"
    OptKind kind;
    void *dst;
} Option;

// An option whose value needs its own check or storage (a range, a repeated --set, a config
// key). Returns 0, or -1 with err filled.
typedef struct {
    int (*take)(void *ctx, const char *value, Error *err);
    void *ctx;
} OptionCall;

// How a command words its errors beyond the defaults.
typedef struct {
    const char *unknown_hint;     // appended to "unknown option '...'", e.g. " (see dint --help)"
    int unknown_max_chars;        // print at most this much of an unknown option (0: all of it)
    int missing_value_is_unknown; // a flag given without its value reads as an unknown option
} OptionsStyle;

// The value of an OPT_U64 option, for commands that parse it later: decimal digits only, at
// most 2^64 - 1. Returns 0, or -1 with err filled.
int options_parse_u64(const char *flag, const char *text, unsigned long long *out, Error *err);

// Parse argv[1..argc) as --flag VALUE pairs and switches, in order. Returns 0, or -1 with err
// filled.
int options_parse(int argc, char **argv, const Option *opts, int n_opts, Error *err);
// The same with a command's own wording of errors (style may be NULL: the defaults).
int options_parse_styled(int argc, char **argv, const Option *opts, int n_opts,
                         const OptionsStyle *style, Error *err);

#endif
