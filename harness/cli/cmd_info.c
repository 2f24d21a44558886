#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "h5file.h"
#include "results_info.h"
#include "run_info.h"

int cmd_info(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        cli_error("info", "expected one argument, the run file or results file: dint info RUN.h5");
        return EXIT_USAGE;
    }
    Error err;
    // A results file of `dint eval/audit --out`, else a run file.
    int rc = results_info(argv[1], &err);
    if (rc == 1) rc = runfile_info(argv[1], &err);
    if (rc != 0) {
        cli_error("info", err.msg);
        return EXIT_USAGE;
    }
    return 0;
}

// dint check FILE...: read every object and byte of HDF5 files (run files, results files, sweep
// summaries), so that every Fletcher-32 checksum and the file's content digest are verified; one
// line per file.
int cmd_check(int argc, char **argv) {
    if (argc < 2 || argv[1][0] == '-') {
        cli_error("check", "expected the files to check: dint check RUN.h5 [MORE.h5]...");
        return EXIT_USAGE;
    }
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        Error err;
        H5Verify v;
        if (h5file_check(argv[i], &v, &err) != 0) {
            cli_error("check", err.msg);
            bad = 1;
            continue;
        }
        char digest[64];
        if (v.has_digest)
            snprintf(digest, sizeof digest, "digest CRC-32 %08x matches",
                     (unsigned)v.digest_stored);
        else
            snprintf(digest, sizeof digest, "no digest (written before digests)");
        printf(
            "%s: ok: %ld objects, %ld datasets (%ld with Fletcher-32 checksums), %ld attributes, "
            "%lld bytes read, %s\n",
            argv[i], v.objects, v.datasets, v.checksummed, v.attributes, v.bytes, digest);
    }
    return bad ? EXIT_USAGE : 0;
}
