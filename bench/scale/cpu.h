/* bench/scale/cpu.h: CPU time as the kernel accounts it: one process's
 * utime+stime (/proc/PID/stat), this process's (getrusage) and the
 * machine's busy and total time (/proc/stat). Borrows nothing; reads /proc
 * only; never signals or waits for the processes it reads. */
#ifndef REUSEGW_BENCH_SCALE_CPU_H
#define REUSEGW_BENCH_SCALE_CPU_H

#include <stdbool.h>
#include <sys/types.h>

/* utime + stime of every thread of pid, in seconds (clock-tick
 * resolution, 10 ms); -1 when the process is gone or unreadable. */
double cpu_pid_seconds(pid_t pid);

/* User + system time of this process, all threads, in seconds. */
double cpu_self_seconds(void);

/* Machine-wide CPU seconds since boot summed over all cores: *busy (all
 * but idle, iowait and nice), *nice (processes with a positive nice value,
 * which only take cycles nobody else wants, e.g. the lead's nice 19
 * fuzzers) and *total. False when /proc/stat is unreadable. */
bool cpu_machine_seconds(double *busy, double *nice, double *total);

#endif
