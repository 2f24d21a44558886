// The sweep grid reader: any input is read and checked (cells built, baseline found) or refused
// with a message; nothing is run.
#include <stdio.h>

#include "cli.h"
#include "fuzz_util.h"

// main.c's, which this executable does not link.
void cli_error(const char *cmd, const char *msg) {
    fprintf(stderr, "dint %s: error: %s\n", cmd, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Error err;
    int cells = 0;
    sweep_grid_check(fuzz_file(data, size, ".ini"), &cells, &err);
    return 0;
}
