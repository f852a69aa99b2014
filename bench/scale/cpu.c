#include "cpu.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* The first field of a schedstat file: time on a CPU in nanoseconds, as
 * seconds; -1 if unreadable. The scheduler's clock: tick-sampled utime and
 * stime under-count on this kind of VM (bench-baseline's finding). */
static double schedstat_seconds(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    unsigned long long ns;
    int got = fscanf(f, "%llu", &ns);
    fclose(f);
    return got == 1 ? (double)ns / 1e9 : -1;
}

unsigned cpu_pid_threads(pid_t pid, struct cpu_thread *out, unsigned max)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    unsigned n = 0;
    struct dirent *e;
    while (n < max && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char stat[sizeof(path) + sizeof(e->d_name) + 16];
        snprintf(stat, sizeof(stat), "%s/%s/schedstat", path, e->d_name);
        double s = schedstat_seconds(stat);
        if (s >= 0)
            out[n++] = (struct cpu_thread){.tid = (pid_t)atoi(e->d_name), .seconds = s};
    }
    closedir(d);
    return n;
}

double cpu_pid_seconds(pid_t pid)
{
    /* Enough for a thread per connection (stunnel) at the bench's sizes. */
    static _Thread_local struct cpu_thread threads[4096];
    unsigned n = cpu_pid_threads(pid, threads, sizeof(threads) / sizeof(threads[0]));
    if (n == 0)
        return -1;
    double sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += threads[i].seconds;
    return sum;
}

double cpu_self_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

bool cpu_machine_read(struct cpu_machine *m)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return false;
    /* user nice system idle iowait irq softirq steal */
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 7)
        return false;
    unsigned long long all = 0;
    for (int i = 0; i < 8; i++)
        all += v[i];
    double tick = (double)sysconf(_SC_CLK_TCK);
    m->total = (double)all / tick;
    m->busy = (double)(all - v[1] - v[3] - v[4]) / tick;
    m->nice = (double)v[1] / tick;
    m->softirq = (double)(v[5] + v[6]) / tick;
    return true;
}
