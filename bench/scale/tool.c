#include "tool.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

void tool_defaults(struct tool_opts *o)
{
    *o = (struct tool_opts){.threads = 1,
                            .conns = 8,
                            .window = 8,
                            .times = {.warmup_s = 1, .duration_s = 3, .drain_s = 5}};
}

bool tool_number(const char *arg, double lo, double hi, double *v)
{
    char *end;
    *v = strtod(arg, &end);
    return *arg && !*end && *v >= lo && *v <= hi;
}

bool tool_option(struct tool_opts *o, int c, const char *arg)
{
    double v = 0;
    bool ok;
    switch (c) {
    case 't':
        ok = tool_number(arg, 1, 64, &v);
        o->threads = (unsigned)v;
        break;
    case 'n':
        ok = tool_number(arg, 1, 100000, &v);
        o->conns = (unsigned)v;
        break;
    case 'W':
        ok = tool_number(arg, 1, 4096, &v);
        o->window = (unsigned)v;
        break;
    case 'r':
        ok = tool_number(arg, 0, 1e8, &o->rate);
        break;
    case 'u':
        ok = tool_number(arg, 0, 3600, &o->times.warmup_s);
        break;
    case 'd':
        ok = tool_number(arg, 0.1, 86400, &o->times.duration_s);
        break;
    case 'D':
        ok = tool_number(arg, 0, 3600, &o->times.drain_s);
        break;
    case 'w':
        ok = o->nwatches < PHASE_MAX_WATCHES && watch_parse(arg, &o->watches[o->nwatches++]);
        break;
    default:
        ok = false;
    }
    if (!ok)
        fprintf(stderr, "bad value for -%c: %s\n", c, arg);
    return ok;
}

void tool_spec(const struct tool_opts *o, struct loop_spec *spec)
{
    spec->window = o->window;
    spec->rate = o->rate / o->threads;
    spec->max_conns = (o->conns + o->threads - 1) / o->threads;
    spec->senders = spec->max_conns;
}

void tool_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int tool_run(struct phase *phase, struct loop *loops, unsigned n, const struct tool_opts *o,
             bool drive, const char *tool, const char *mode, const char *ready_line)
{
    atomic_store(&phase->sending, true);
    for (unsigned i = 0; i < n; i++)
        if (!loop_start(&loops[i])) {
            fprintf(stderr, "%s: cannot start thread %u\n", tool, i);
            exit(1);
        }
    struct window_report r = {.nwatches = o->nwatches};
    for (unsigned i = 0; i < o->nwatches; i++)
        r.watches[i] = o->watches[i];
    int status = 0;
    if (drive) {
        phase_drive(phase, n, &o->times, &r);
    } else {
        /* Settling is bounded by the drain time: a request never answered
         * is counted as lost below. */
        uint64_t deadline = phase_now_ns() + (uint64_t)(o->times.drain_s * 1e9);
        while (atomic_load(&phase->settled) < n && phase_now_ns() < deadline) {
            struct timespec ts = {.tv_nsec = 5000000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&phase->settled) < n)
            status = 1;
        else if (ready_line)
            printf("%s\n", ready_line);
        fflush(stdout);
        if (status == 0)
            phase_serve(o->times.duration_s);
    }
    atomic_store(&phase->stop, true);
    struct meter total = {0};
    for (unsigned i = 0; i < n; i++) {
        loop_finish(&loops[i]);
        meter_merge(&total, &loops[i].meter);
    }
    phase_report(stdout, tool, mode, &total, drive ? &r : NULL);
    if (meter_errors(&total) > 0 || (drive && total.tx == 0))
        status = 1;
    return status;
}
