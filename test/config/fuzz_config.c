/* fuzz_config: cfg_load on arbitrary bytes. The input goes to a memfd that
 * is loaded by its /proc path, so the whole loader runs as in production:
 * size check, NUL and depth pre-checks, libyaml, the schema walk, error
 * formatting. Any crash, leak or sanitizer report is a finding; the loader
 * must also never accept a snapshot while reporting errors, and every route
 * it accepts must be found by its domain. */
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_config.yaml", MFD_CLOEXEC);
        if (fd < 0)
            abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();

    struct cfg_errors errors = {0};
    struct cfg_snapshot *snap = cfg_load(path, &errors);
    if (snap && errors.count)
        abort();
    if (!snap && !errors.count)
        abort();
    /* Every route of an accepted snapshot is found by its own domain. */
    for (size_t i = 0; snap && i < snap->n_routes; i++) {
        const char *d = snap->routes[i].domain;
        if (cfg_route_find(snap, d, strlen(d)) != &snap->routes[i])
            abort();
    }
    for (size_t i = 0; i < errors.count; i++) {
        char line[1024];
        cfg_error_format(&errors.items[i], line, sizeof line);
    }
    cfg_errors_clear(&errors);
    cfg_unref(snap);
    return 0;
}
