// INI files read with inih: config files ([model], [train], [data] sections) into a RunConfig,
// and any other INI file (sweep grids) through ini_read.
#ifndef DINT_CONFIG_FILE_H
#define DINT_CONFIG_FILE_H

#include "config.h"

// One entry of an INI file: 0 to go on, -1 (err set) to stop at its line.
typedef int (*IniEntry)(void *user, const char *section, const char *name, const char *value,
                        Error *err);
// Read an INI file with inih, handing it whole lines: a line longer than inih's buffer, an
// indented continuation line and a key set twice are refused, and every error names the file's
// real line ("PATH:LINE: ..."). `what` names the file in other errors ("config file", "grid file").
int ini_read(const char *path, const char *what, IniEntry entry, void *user, Error *err);

int config_load_ini(RunConfig *c, const char *path, Error *err);

#endif
