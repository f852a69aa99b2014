/* bench/scale/phase.h: the phases every thread of a bench tool follows
 * (warm-up, measure, drain, stop), the main thread's side of them, and the
 * one-line key=value report. Owns the shared flags; borrows the threads'
 * meters for the report; never touches a connection. */
#ifndef REUSEGW_BENCH_SCALE_PHASE_H
#define REUSEGW_BENCH_SCALE_PHASE_H

#include <stdatomic.h>
#include <stdio.h>
#include <sys/types.h>

#include "cpu.h"
#include "meter.h"

/* Flags the main thread sets and every bench thread polls once per loop. */
struct phase {
    atomic_bool measuring; /* count transactions and latency */
    atomic_bool sending;   /* false: send no new request (drain) */
    atomic_bool stop;      /* leave the loop */
    atomic_uint settled;   /* threads with nothing in flight and nothing more to send */
};

/* Threads of a watched process whose time is reported one by one. */
#define WATCH_MAX_THREADS 16

/* Processes one watch sums (a relay's master and its children). */
#define WATCH_MAX_PIDS 16

/* Other processes whose CPU time the report includes under one name
 * (-w name=pid[,pid...]), in all and per thread of the first (e.g.
 * reusegw's workers). */
struct watch {
    char name[24];
    pid_t pids[WATCH_MAX_PIDS];
    unsigned npids;
    double start_s; /* CPU seconds at the window's start */
    double used_s;  /* CPU seconds inside the window; -1 if unreadable */
    struct cpu_thread threads[WATCH_MAX_THREADS]; /* at the start, then used */
    unsigned nthreads;
};

#define PHASE_MAX_WATCHES 8

/* How long each phase lasts, seconds. */
struct phase_times {
    double warmup_s;   /* load runs, nothing counted */
    double duration_s; /* the measurement window */
    double drain_s;    /* longest wait for answers after sending stopped */
};

/* The measurement window as the main thread saw it. */
struct window_report {
    double elapsed_s;           /* wall time of the window */
    double self_cpu_s;          /* this process, all threads */
    bool machine_read;          /* /proc/stat was readable at both edges */
    struct cpu_machine machine; /* the machine's time inside the window */
    struct watch watches[PHASE_MAX_WATCHES];
    unsigned nwatches;
};

/* Parses "name=pid[,pid...]" into *w; false on bad syntax. */
bool watch_parse(const char *arg, struct watch *w);

/* Main thread of a load-driving tool: sending already on, waits warm-up,
 * measures for the duration (CPU of this process, of the watches and of the
 * machine), stops sending and waits until all nthreads settled or drain_s
 * passed. The caller then sets stop and joins its threads. */
void phase_drive(struct phase *ph, unsigned nthreads, const struct phase_times *t,
                 struct window_report *r);

/* Main thread of a serving tool: returns on SIGTERM or SIGINT (the caller
 * blocked both in every thread before starting them) or after max_s. */
void phase_serve(double max_s);

/* Prints the report line: tool, mode, counters, tps and latency
 * percentiles over the window (r NULL: a serving tool, counters only). */
void phase_report(FILE *f, const char *tool, const char *mode, const struct meter *m,
                  const struct window_report *r);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t phase_now_ns(void);

#endif
