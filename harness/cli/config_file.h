// INI config files ([model], [train], [data] sections) read with inih into a RunConfig.
#ifndef DINT_CONFIG_FILE_H
#define DINT_CONFIG_FILE_H

#include "config.h"

int config_load_ini(RunConfig *c, const char *path, Error *err);

#endif
