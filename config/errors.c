/* errors: collecting and printing configuration errors. See errors.h. */
#include "config/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cfg_out_of_memory(void)
{
    fputs("reusegw: out of memory while loading the configuration\n", stderr);
    abort();
}

void *cfg_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        cfg_out_of_memory();
    return p;
}

char *cfg_xstrdup(const char *s)
{
    size_t len = strlen(s) + 1;
    return memcpy(cfg_xcalloc(len, 1), s, len);
}

static void append(struct cfg_errors *errors, const char *file, unsigned line, unsigned column,
                   const char *key, const char *message)
{
    if (errors->count == 0)
        errors->items = cfg_xcalloc(CFG_MAX_ERRORS, sizeof *errors->items);
    struct cfg_error *e = &errors->items[errors->count++];
    e->file = cfg_xstrdup(file);
    e->line = line;
    e->column = column;
    e->key = cfg_xstrdup(key);
    e->message = cfg_xstrdup(message);
}

void cfg_errors_add(struct cfg_errors *errors, const char *file, unsigned line, unsigned column,
                    const char *key, const char *fmt, ...)
{
    if (errors->count >= CFG_MAX_ERRORS)
        return;
    if (errors->count == CFG_MAX_ERRORS - 1) {
        append(errors, file, line, column, "", "too many errors; the rest are not reported");
        return;
    }
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    append(errors, file, line, column, key, message);
}

size_t cfg_error_format(const struct cfg_error *error, char *buf, size_t size)
{
    char where[32] = "";
    if (error->line)
        snprintf(where, sizeof where, ":%u:%u", error->line, error->column);
    int n = snprintf(buf, size, "%s%s: %s%s%s", error->file, where, error->key,
                     error->key[0] ? ": " : "", error->message);
    return n < 0 ? 0 : (size_t)n;
}

void cfg_errors_clear(struct cfg_errors *errors)
{
    for (size_t i = 0; i < errors->count; i++) {
        free(errors->items[i].file);
        free(errors->items[i].key);
        free(errors->items[i].message);
    }
    free(errors->items);
    errors->items = NULL;
    errors->count = 0;
}
