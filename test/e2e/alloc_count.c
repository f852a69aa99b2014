/* alloc_count: an LD_PRELOAD library that counts every heap allocation and
 * release of the process it is loaded into, for test_relay_alloc.py.
 *
 * Owns its counters and one reporter thread. Borrows nothing. Never changes
 * what an allocation returns: every call goes on to glibc (or, in a
 * sanitizer build, the sanitizer's allocator reports to it through hooks).
 *
 * Counted: malloc, calloc, realloc, free of a non-NULL pointer,
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc; BoringSSL's
 * OPENSSL_malloc and its record buffers end in these. The counters are
 * process-wide atomics, so no thread's allocation escapes them.
 *
 * Reading them cannot lie: the reporter thread blocks on the FIFO named by
 * ALLOC_COUNT_FIFO; each line written to it makes it append one line to the
 * file named by ALLOC_COUNT_OUT:
 *   <label> allocs=<n> frees=<n>
 *   <label> site=<module>+0x<offset> allocs=<n>   (the busiest callers since
 *                                                  the previous report)
 * The reporter formats on its stack and never allocates, so a report does
 * not count against the window it closes. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_ullong allocs, frees;

/* Callers by return address, so that a failing test names what allocated.
 * Open addressing without removal; a full table only loses attribution. */
enum { SITES = 1024, TOP_SITES = 12 };
static struct site {
    _Atomic(uintptr_t) addr;
    atomic_ullong count;
} sites[SITES];

static void count_alloc(const void *caller)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    uintptr_t a = (uintptr_t)caller;
    for (size_t i = 0, h = (a >> 4) % SITES; i < SITES; i++, h = (h + 1) % SITES) {
        uintptr_t seen = atomic_load_explicit(&sites[h].addr, memory_order_relaxed);
        if (seen == 0 && atomic_compare_exchange_strong(&sites[h].addr, &seen, a))
            seen = a;
        if (seen == a) {
            atomic_fetch_add_explicit(&sites[h].count, 1, memory_order_relaxed);
            return;
        }
    }
}

static void count_free(const void *p)
{
    if (p != NULL)
        atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
}

#ifdef ALLOC_COUNT_HOOKS
#include <sanitizer/allocator_interface.h>

/* The sanitizer owns malloc; its hooks see every allocation. The caller is
 * the sanitizer's interceptor here, so sites are not attributed. */
static void on_malloc(const volatile void *p, size_t size)
{
    count_alloc(NULL);
}

static void on_free(const volatile void *p)
{
    count_free((const void *)p);
}

static void install(void)
{
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}
#else
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
void __libc_free(void *p);

#define CALLER __builtin_return_address(0)

void *malloc(size_t size)
{
    count_alloc(CALLER);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    count_alloc(CALLER);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    count_alloc(CALLER);
    return __libc_realloc(p, size);
}

void free(void *p)
{
    count_free(p);
    __libc_free(p);
}

void *memalign(size_t align, size_t size)
{
    count_alloc(CALLER);
    return __libc_memalign(align, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    count_alloc(CALLER);
    return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    count_alloc(CALLER);
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    void *p = __libc_memalign(align, size);
    if (p == NULL)
        return ENOMEM;
    *out = p;
    return 0;
}

void *valloc(size_t size)
{
    count_alloc(CALLER);
    return __libc_valloc(size);
}

void *pvalloc(size_t size)
{
    count_alloc(CALLER);
    return __libc_pvalloc(size);
}

static void install(void) {}
#endif

/* report_sites takes every caller's count since the last report and
 * appends the busiest. */
static void report_sites(int out, const char *label)
{
    static unsigned long long taken[SITES]; /* the reporter thread's alone */
    for (size_t i = 0; i < SITES; i++)
        taken[i] = atomic_exchange(&sites[i].count, 0);
    for (int n = 0; n < TOP_SITES; n++) {
        size_t best = SITES;
        for (size_t i = 0; i < SITES; i++)
            if (taken[i] > 0 && (best == SITES || taken[i] > taken[best]))
                best = i;
        if (best == SITES)
            return;
        uintptr_t a = atomic_load(&sites[best].addr);
        Dl_info info = {0};
        const char *module = "?";
        uintptr_t base = 0;
        if (a != 0 && dladdr((void *)a, &info) != 0 && info.dli_fname != NULL) {
            const char *slash = strrchr(info.dli_fname, '/');
            module = slash ? slash + 1 : info.dli_fname;
            base = (uintptr_t)info.dli_fbase;
        }
        char line[512];
        int len = snprintf(line, sizeof(line), "%s site=%s+0x%lx allocs=%llu\n", label, module,
                           (unsigned long)(a - base), taken[best]);
        taken[best] = 0;
        if (len > 0 && write(out, line, (size_t)len) < 0)
            return;
    }
}

static void *reporter(void *arg)
{
    const char *fifo = getenv("ALLOC_COUNT_FIFO"), *path = getenv("ALLOC_COUNT_OUT");
    int in = open(fifo, O_RDWR); /* a writer of our own: EOF never ends the loop */
    int out = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (in < 0 || out < 0)
        return NULL;
    char buf[128], label[128];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(in, buf + have, sizeof(buf) - 1 - have);
        if (n <= 0)
            return NULL;
        have += (size_t)n;
        char *nl;
        while ((nl = memchr(buf, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - buf);
            memcpy(label, buf, len);
            label[len] = '\0';
            /* frees first: a window's allocs can then only be over-counted */
            unsigned long long f = atomic_load(&frees), a = atomic_load(&allocs);
            char line[256];
            int l = snprintf(line, sizeof(line), "%s allocs=%llu frees=%llu\n", label, a, f);
            if (l > 0 && write(out, line, (size_t)l) < 0)
                return NULL;
            report_sites(out, label);
            have -= len + 1;
            memmove(buf, nl + 1, have);
        }
        if (have == sizeof(buf) - 1)
            have = 0; /* an over-long label: drop it */
    }
}

__attribute__((constructor)) static void alloc_count_start(void)
{
    install();
    if (getenv("ALLOC_COUNT_FIFO") == NULL || getenv("ALLOC_COUNT_OUT") == NULL)
        return;
    /* The process's signals are its own business: the reporter takes none
     * (reusegw hears SIGTERM through a signalfd with the signal blocked). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, reporter, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}
