/* test/fuzz/fuzz_check.h: invariant checks for the libFuzzer targets: print
 * the failed condition and abort, so libFuzzer saves the input. */
#ifndef REUSEGW_TEST_FUZZ_CHECK_H
#define REUSEGW_TEST_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
