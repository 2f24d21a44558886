// The labelled-set loader (label<TAB>text lines): loaded with its split, or refused.
#include <stdlib.h>

#include "fuzz_util.h"
#include "labelled.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    LabelledSet s;
    Error err;
    if (labelled_load(&s, fuzz_file(data, size, ".tsv"), 0.2f, 7, &err) == 0) {
        int tests = 0;
        for (int i = 0; i < s.n; i++) {
            if (s.label[i] < 0 || s.label[i] >= s.n_labels) abort();
            tests += s.is_test[i];
        }
        if (tests < 1 || tests >= s.n) abort(); // the documented split guarantees
        labelled_free(&s);
    }
    return 0;
}
