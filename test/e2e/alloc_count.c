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
 *   <label> allocs=<n> frees=<n>                 (totals since start-up)
 *   <label> module=<file> allocs=<n> frees=<n>  (since the previous report,
 *                                               by the caller's module)
 *   <label> site=<module>+0x<offset> allocs=<n> (the busiest callers)
 *   <label> end
 * "?" is a caller no module claims, or every caller in a sanitizer build,
 * where the hooks do not see who called. The reporter formats on its stack
 * and never allocates, so a report does not count against its window. */
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

/* Calls by the caller's return address, so that a report names who
 * allocated. Open addressing without removal; a caller that finds the table
 * full is counted at address 0 ("?"). */
enum { SITES = 2048, TOP_SITES = 12, MODULES = 32 };
struct site {
    _Atomic(uintptr_t) addr;
    atomic_ullong count;
};
static struct site alloc_sites[SITES], free_sites[SITES];

static void count_at(struct site *table, const void *caller)
{
    uintptr_t a = (uintptr_t)caller;
    for (size_t i = 0, h = (a >> 4) % SITES; a != 0 && i < SITES; i++, h = (h + 1) % SITES) {
        uintptr_t seen = atomic_load_explicit(&table[h].addr, memory_order_relaxed);
        if (seen == 0 && atomic_compare_exchange_strong(&table[h].addr, &seen, a))
            seen = a;
        if (seen == a) {
            atomic_fetch_add_explicit(&table[h].count, 1, memory_order_relaxed);
            return;
        }
    }
    atomic_fetch_add_explicit(&table[0].count, 1, memory_order_relaxed);
}

static void count_alloc(const void *caller)
{
    atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed);
    count_at(alloc_sites, caller);
}

static void count_free(const void *p, const void *caller)
{
    if (p == NULL)
        return;
    atomic_fetch_add_explicit(&frees, 1, memory_order_relaxed);
    count_at(free_sites, caller);
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
    count_free((const void *)p, NULL);
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
    count_free(p, CALLER);
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

/* where: the module holding |addr| and |addr|'s offset in it. */
static const char *where(uintptr_t addr, uintptr_t *offset)
{
    Dl_info info = {0};
    *offset = addr;
    if (addr == 0 || dladdr((void *)addr, &info) == 0 || info.dli_fname == NULL)
        return "?";
    *offset = addr - (uintptr_t)info.dli_fbase;
    const char *slash = strrchr(info.dli_fname, '/');
    return slash ? slash + 1 : info.dli_fname;
}

static void put_line(int out, const char *line, int len)
{
    if (len > 0 && write(out, line, (size_t)len) < 0)
        return; /* the test notices the missing line */
}

/* report_sites takes every caller's counts since the last report and
 * appends them by module, then the busiest allocating callers. */
static void report_sites(int out, const char *label)
{
    static unsigned long long taken_allocs[SITES], taken_frees[SITES]; /* reporter's alone */
    static struct {
        const char *name;
        unsigned long long allocs, frees;
    } modules[MODULES];
    size_t n_modules = 0;
    for (int kind = 0; kind < 2; kind++) {
        struct site *table = kind == 0 ? alloc_sites : free_sites;
        unsigned long long *taken = kind == 0 ? taken_allocs : taken_frees;
        for (size_t i = 0; i < SITES; i++) {
            taken[i] = atomic_exchange(&table[i].count, 0);
            if (taken[i] == 0)
                continue;
            uintptr_t offset;
            const char *name = where(atomic_load(&table[i].addr), &offset);
            size_t m = 0;
            while (m < n_modules && strcmp(modules[m].name, name) != 0)
                m++;
            if (m == n_modules) {
                if (n_modules == MODULES)
                    m = MODULES - 1; /* more modules than rows: the last row lumps them */
                else
                    modules[n_modules++] = (typeof(modules[0])){.name = name};
            }
            *(kind == 0 ? &modules[m].allocs : &modules[m].frees) += taken[i];
        }
    }
    char line[512];
    for (size_t m = 0; m < n_modules; m++)
        put_line(out, line,
                 snprintf(line, sizeof(line), "%s module=%s allocs=%llu frees=%llu\n", label,
                          modules[m].name, modules[m].allocs, modules[m].frees));
    for (int n = 0; n < TOP_SITES; n++) {
        size_t best = SITES;
        for (size_t i = 0; i < SITES; i++)
            if (taken_allocs[i] > 0 && (best == SITES || taken_allocs[i] > taken_allocs[best]))
                best = i;
        if (best == SITES)
            return;
        uintptr_t offset;
        const char *name = where(atomic_load(&alloc_sites[best].addr), &offset);
        put_line(out, line,
                 snprintf(line, sizeof(line), "%s site=%s+0x%lx allocs=%llu\n", label, name,
                          (unsigned long)offset, taken_allocs[best]));
        taken_allocs[best] = 0;
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
            put_line(out, line,
                     snprintf(line, sizeof(line), "%s allocs=%llu frees=%llu\n", label, a, f));
            report_sites(out, label);
            put_line(out, line, snprintf(line, sizeof(line), "%s end\n", label));
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
