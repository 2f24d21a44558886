// The INI config reader and the --set parser: a config file made of the input, then every line
// of the input as a --set assignment; whatever is accepted must resolve or be refused cleanly,
// and a resolved config must survive its JSON round trip unchanged.
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_file.h"
#include "fuzz_util.h"

static void round_trip(RunConfig *c) {
    Error err;
    if (config_resolve(c, &err) != 0) return;
    char *a = config_to_json(c);
    RunConfig again;
    if (config_from_json(&again, a, &err) != 0) abort(); // its own JSON refused
    char *b = config_to_json(&again);
    if (strcmp(a, b) != 0) abort(); // the round trip changed the config
    free(a);
    free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    RunConfig c;
    Error err;
    config_defaults(&c);
    if (config_load_ini(&c, fuzz_file(data, size, ".ini"), &err) == 0) round_trip(&c);
    config_defaults(&c);
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save))
        config_set_assignment(&c, line, &err);
    round_trip(&c);
    free(text);
    return 0;
}
