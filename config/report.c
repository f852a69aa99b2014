/* report: cfg_load with errors printed. See report.h. */
#include "config/report.h"

struct cfg_snapshot *cfg_load_reported(const char *path, const struct cfg_readers *readers,
                                       FILE *out)
{
    struct cfg_errors errors = {0};
    struct cfg_snapshot *snap = cfg_load_checked(path, readers, &errors);
    for (size_t i = 0; i < errors.count; i++) {
        char line[1024];
        cfg_error_format(&errors.items[i], line, sizeof line);
        fprintf(out, "%s\n", line);
    }
    cfg_errors_clear(&errors);
    return snap;
}
