// What every subcommand shares: its one-line error.
#include "cli.h"

#include <stdio.h>

void cli_error(const char *cmd, const char *msg) {
    error_report(cmd, msg);
}
