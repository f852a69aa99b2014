/* test/fuzz/fuzz_check.h: invariant checks for the libFuzzer targets: print
 * the failed condition and abort, so libFuzzer saves the input. */
#ifndef REUSEGW_TEST_FUZZ_CHECK_H
#define REUSEGW_TEST_FUZZ_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* fuzz_copy returns a heap copy of exactly |size| bytes of |data| (one byte
 * allocated for an empty input), so that ASan flags any read past the
 * input, which libFuzzer's own buffer may not; NULL when out of memory.
 * The caller owns the copy and frees it with free(). */
static inline char *fuzz_copy(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (buf)
        memcpy(buf, data, size);
    return buf;
}

#endif
