/* errors: the list of problems of one configuration load (struct cfg_errors
 * of config.h) and how the loader appends to it.
 *
 * Owns the strings of every error it stores. Borrows the texts it is handed.
 * Never stores more than CFG_MAX_ERRORS: a file full of garbage gets a
 * bounded answer. */
#ifndef REUSEGW_CONFIG_ERRORS_H
#define REUSEGW_CONFIG_ERRORS_H

#include "config/config.h"

/* CFG_MAX_ERRORS bounds one load's report; the last slot says that the list
 * was cut. */
#define CFG_MAX_ERRORS 100

/* cfg_errors_add appends one error (line and column 1-based, 0 for none;
 * |key| "" for the document) with a printf-style message. Aborts when memory
 * runs out: a configuration load has no sane way to go on. */
void cfg_errors_add(struct cfg_errors *errors, const char *file, unsigned line, unsigned column,
                    const char *key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* cfg_out_of_memory ends the process: a configuration load that cannot
 * allocate has no sane way to go on. */
_Noreturn void cfg_out_of_memory(void);

/* cfg_xstrdup copies |s| or aborts when memory runs out. */
char *cfg_xstrdup(const char *s);

/* cfg_xcalloc allocates zeroed memory for |n| items of |size| or aborts. */
void *cfg_xcalloc(size_t n, size_t size);

#endif
