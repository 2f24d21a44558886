// The sweep grid reader: any input is read and checked (cells built, baseline found) or refused
// with a message; nothing is run.
#include "fuzz_util.h"
#include "grid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Error err;
    int cells = 0;
    sweep_grid_check(fuzz_file(data, size, ".ini"), &cells, &err);
    return 0;
}
