/* bench/scale/cpu.h: CPU time as the kernel accounts it: one process's
 * time on a CPU (/proc/PID/task/TID/schedstat, the scheduler's nanosecond
 * clock), this process's (getrusage) and the
 * machine's busy and total time (/proc/stat). Borrows nothing; reads /proc
 * only; never signals or waits for the processes it reads. */
#ifndef REUSEGW_BENCH_SCALE_CPU_H
#define REUSEGW_BENCH_SCALE_CPU_H

#include <stdbool.h>
#include <sys/types.h>

/* Time on a CPU of every thread of pid, in seconds (schedstat,
 * nanoseconds); -1 when the process is gone or unreadable. */
double cpu_pid_seconds(pid_t pid);

/* One thread's time on a CPU. */
struct cpu_thread {
    pid_t tid;
    double seconds;
};

/* Time on a CPU of up to max threads of pid (/proc/PID/task/TID/schedstat),
 * in directory order; returns how many were read (0 when pid is gone). */
unsigned cpu_pid_threads(pid_t pid, struct cpu_thread *out, unsigned max);

/* User + system time of this process, all threads, in seconds. */
double cpu_self_seconds(void);

/* Machine-wide CPU seconds since boot, summed over all cores. */
struct cpu_machine {
    double busy;    /* all but idle, iowait and nice */
    double nice;    /* processes with a positive nice value: they only take
                       cycles nobody else wants (e.g. nice 19 fuzzers) */
    double softirq; /* irq + softirq, inside busy: on loopback, most of it is
                       the bench's own TCP traffic, charged to no process */
    double total;
};

/* Reads /proc/stat's first line; false when it is unreadable. */
bool cpu_machine_read(struct cpu_machine *m);

#endif
