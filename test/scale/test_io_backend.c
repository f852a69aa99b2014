/* runtime.io_backend policy on the real kernel: explicit choices, then auto
 * after io_uring has really been refused by a seccomp filter (deny_uring),
 * with the one warning captured from stderr. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "deny_uring.h"
#include "core/io_backend.h"
#include "core/log.h"

static const struct loop_options options = {
    .entries = 64,
    .recv_buffer_count = 16,
    .recv_buffer_size = 4096,
};

static void ignore(void *ctx, const struct loop_event *ev)
{
    (void)ctx;
    (void)ev;
}

/* capture_stderr sends stderr to a fresh temporary file and returns it. */
static FILE *capture_stderr(int *saved)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    fflush(stderr);
    *saved = dup(STDERR_FILENO);
    assert_true(dup2(fileno(f), STDERR_FILENO) >= 0);
    return f;
}

static char *release_stderr(FILE *f, int saved)
{
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    static char text[8192];
    rewind(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = 0;
    fclose(f);
    return text;
}

static size_t occurrences(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Runs before any filter: both backends exist on this kernel. */
static void test_explicit_choices_use_that_backend(void **state)
{
    (void)state;
    assert_null(io_backend_in_use());
    struct loop *l = io_backend_loop_new(CFG_IO_EPOLL, &options, ignore, NULL);
    assert_non_null(l);
    assert_string_equal(loop_backend_name(l), "epoll");
    assert_string_equal(io_backend_in_use(), "epoll");
    loop_free(l);
    l = io_backend_loop_new(CFG_IO_URING, &options, ignore, NULL);
    assert_non_null(l);
    assert_int_equal(strncmp(loop_backend_name(l), "io_uring", 8), 0);
    assert_string_equal(io_backend_in_use(), "io_uring");
    loop_free(l);
    l = io_backend_loop_new(CFG_IO_AUTO, &options, ignore, NULL);
    assert_non_null(l);
    assert_string_equal(io_backend_in_use(), "io_uring"); /* auto prefers io_uring */
    loop_free(l);
}

static void test_auto_falls_back_once_when_seccomp_refuses(void **state)
{
    (void)state;
    assert_int_equal(deny_uring(), 0);
    int saved;
    FILE *f = capture_stderr(&saved);
    struct loop *forced = io_backend_loop_new(CFG_IO_URING, &options, ignore, NULL);
    int forced_errno = errno;
    struct loop *a = io_backend_loop_new(CFG_IO_AUTO, &options, ignore, NULL);
    struct loop *b = io_backend_loop_new(CFG_IO_AUTO, &options, ignore, NULL); /* 2nd worker */
    char *log = release_stderr(f, saved);
    print_message("%s", log);

    assert_null(forced); /* an explicit io_uring never silently degrades */
    assert_int_equal(forced_errno, EPERM);
    assert_non_null(strstr(log, "level=error msg=\"runtime.io_backend is io_uring but io_uring "
                                "is unavailable"));
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(loop_backend_name(a), "epoll");
    assert_string_equal(loop_backend_name(b), "epoll");
    assert_string_equal(io_backend_in_use(), "epoll");
    assert_int_equal(
        occurrences(log, "msg=\"io_uring unavailable (Operation not permitted), using epoll\""), 1);
    loop_free(a);
    loop_free(b);
}

int main(void)
{
    log_configure(LOG_INFO, LOG_FORMAT_LOGFMT);
    /* Order matters: the filter is irreversible. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_explicit_choices_use_that_backend),
        cmocka_unit_test(test_auto_falls_back_once_when_seccomp_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
