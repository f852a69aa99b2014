/* report: loading a configuration on behalf of the command line, with every
 * error printed one per line.
 *
 * Owns nothing beyond the call. Borrows the output stream. Never exits the
 * process: main decides the exit code. */
#ifndef REUSEGW_CONFIG_REPORT_H
#define REUSEGW_CONFIG_REPORT_H

#include "config/config.h"

#include <stdio.h>

/* cfg_load_reported is cfg_load_checked (with |readers|, NULL for
 * none) that prints each error to |out| as
 * "FILE:LINE:COLUMN: KEY: MESSAGE" (see cfg_error_format) and frees them.
 * Returns the new snapshot (caller owns one reference) or NULL. */
struct cfg_snapshot *cfg_load_reported(const char *path, const struct cfg_readers *readers,
                                       FILE *out);

#endif
