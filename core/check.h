// Always-on invariant checks and one-line error reporting.
#ifndef DINT_CHECK_H
#define DINT_CHECK_H

#include <stddef.h>

// Abort with file:line when an internal invariant is broken (a bug, not bad input).
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) check_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                           \
    } while (0)

void check_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

// malloc/calloc that abort with a clear message instead of returning NULL.
void *xmalloc(size_t bytes);
void *xcalloc(size_t count, size_t size);

// Errors meant for users (bad input): a message buffer filled by the failing function.
typedef struct {
    char msg[512];
} Error;

// Fill err->msg (printf-style) and return -1, so callers can `return error_set(...)`.
int error_set(Error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The one error line a command prints: "dint <command>: error: <msg>" on stderr.
void error_report(const char *command, const char *msg);

#endif
