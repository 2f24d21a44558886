#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "runfile.h"

int cmd_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        cli_error("info", "expected one argument, the run file: dint info RUN.h5");
        return EXIT_USAGE;
    }
    Error err;
    if (runfile_info(argv[1], &err) != 0) {
        cli_error("info", err.msg);
        return EXIT_USAGE;
    }
    return 0;
}
