#include "phase.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t phase_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

bool watch_parse(const char *arg, struct watch *w)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(w->name))
        return false;
    *w = (struct watch){0};
    memcpy(w->name, arg, (size_t)(eq - arg));
    const char *p = eq;
    do {
        char *end;
        long pid = strtol(p + 1, &end, 10);
        if (end == p + 1 || pid <= 0 || w->npids == WATCH_MAX_PIDS || (*end && *end != ','))
            return false;
        w->pids[w->npids++] = (pid_t)pid;
        p = end;
    } while (*p);
    return true;
}

/* CPU seconds of every process of w; -1 when one is gone. */
static double watch_seconds(const struct watch *w)
{
    double sum = 0;
    for (unsigned i = 0; i < w->npids; i++) {
        double s = cpu_pid_seconds(w->pids[i]);
        if (s < 0)
            return -1;
        sum += s;
    }
    return sum;
}

void phase_drive(struct phase *ph, unsigned nthreads, const struct phase_times *t,
                 struct window_report *r)
{
    sleep_s(t->warmup_s);
    struct cpu_machine m0, m1;
    bool machine = cpu_machine_read(&m0);
    for (unsigned i = 0; i < r->nwatches; i++) {
        struct watch *w = &r->watches[i];
        w->start_s = watch_seconds(w);
        w->nthreads = cpu_pid_threads(w->pids[0], w->threads, WATCH_MAX_THREADS);
    }
    double self0 = cpu_self_seconds();
    uint64_t t0 = phase_now_ns();
    atomic_store(&ph->measuring, true);

    sleep_s(t->duration_s);

    atomic_store(&ph->measuring, false);
    uint64_t t1 = phase_now_ns();
    r->self_cpu_s = cpu_self_seconds() - self0;
    for (unsigned i = 0; i < r->nwatches; i++) {
        struct watch *w = &r->watches[i];
        double now = watch_seconds(w);
        w->used_s = (w->start_s < 0 || now < 0) ? -1 : now - w->start_s;
        struct cpu_thread end[WATCH_MAX_THREADS];
        unsigned nend = cpu_pid_threads(w->pids[0], end, WATCH_MAX_THREADS);
        for (unsigned j = 0; j < w->nthreads; j++) {
            struct cpu_thread *th = &w->threads[j];
            double then = th->seconds;
            th->seconds = 0; /* a thread gone by the end used nothing we saw */
            for (unsigned k = 0; k < nend; k++)
                if (end[k].tid == th->tid)
                    th->seconds = end[k].seconds - then;
        }
    }
    r->machine_read = machine && cpu_machine_read(&m1);
    if (r->machine_read)
        r->machine = (struct cpu_machine){.busy = m1.busy - m0.busy,
                                          .nice = m1.nice - m0.nice,
                                          .softirq = m1.softirq - m0.softirq,
                                          .total = m1.total - m0.total};
    r->elapsed_s = (double)(t1 - t0) / 1e9;

    atomic_store(&ph->sending, false);
    uint64_t deadline = phase_now_ns() + (uint64_t)(t->drain_s * 1e9);
    while (atomic_load(&ph->settled) < nthreads && phase_now_ns() < deadline)
        sleep_s(0.005);
}

void phase_serve(double max_s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    struct timespec ts = {.tv_sec = (time_t)max_s};
    sigtimedwait(&set, NULL, &ts);
}

void phase_report(FILE *f, const char *tool, const char *mode, const struct meter *m,
                  const struct window_report *r)
{
    fprintf(f, "tool=%s mode=%s sent=%llu completed=%llu answered=%llu errors=%llu", tool, mode,
            (unsigned long long)m->sent, (unsigned long long)m->completed,
            (unsigned long long)m->answered, (unsigned long long)meter_errors(m));
    fprintf(f, " err_status=%llu err_match=%llu err_parse=%llu err_conn=%llu lost=%llu closed=%llu",
            (unsigned long long)m->err_status, (unsigned long long)m->err_match,
            (unsigned long long)m->err_parse, (unsigned long long)m->err_conn,
            (unsigned long long)m->lost, (unsigned long long)m->closed);
    if (r) {
        fprintf(f, " elapsed_s=%.3f tx=%llu tps=%.0f p50_us=%.1f p99_us=%.1f self_cpu_s=%.3f",
                r->elapsed_s, (unsigned long long)m->tx, (double)m->tx / r->elapsed_s,
                (double)hist_quantile(&m->latency, 0.50) / 1e3,
                (double)hist_quantile(&m->latency, 0.99) / 1e3, r->self_cpu_s);
        for (unsigned i = 0; i < r->nwatches; i++) {
            const struct watch *w = &r->watches[i];
            fprintf(f, " cpu_%s_s=%.3f", w->name, w->used_s);
            if (w->nthreads > 1) {
                fprintf(f, " cpu_%s_threads_s=", w->name);
                for (unsigned t = 0; t < w->nthreads; t++)
                    fprintf(f, "%s%.2f", t ? "," : "", w->threads[t].seconds);
            }
        }
        if (r->machine_read)
            fprintf(f, " busy_cpu_s=%.3f softirq_cpu_s=%.3f nice_cpu_s=%.3f total_cpu_s=%.3f",
                    r->machine.busy, r->machine.softirq, r->machine.nice, r->machine.total);
    }
    fputc('\n', f);
    fflush(f);
}
