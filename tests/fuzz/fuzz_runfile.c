// The run-file reader: any bytes as RUN.h5 are read (config, then model and weights) or refused
// with a message, within the reader's own time limit, and never crash the reader.
#include "h5io.h"
#include "fuzz_util.h"
#include "model.h"
#include "runfile.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    h5_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".h5");
    RunConfig cfg;
    Model m;
    char spec[4096];
    Error err;
    if (runfile_load_model(path, &m, &cfg, spec, sizeof spec, &err) == 0) model_free(&m);
    return 0;
}
