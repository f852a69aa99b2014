/* bench/scale/tool.h: what scale_load and scale_sink share around their
 * threads: the common command-line options and the run itself (start the
 * loops, drive or serve, stop, merge the meters, report). Borrows the
 * caller's loops and phase flags; never opens sockets. */
#ifndef REUSEGW_BENCH_SCALE_TOOL_H
#define REUSEGW_BENCH_SCALE_TOOL_H

#include "loop.h"

/* getopt letters tool_option handles; each tool appends its own. */
#define TOOL_OPTSTRING "t:n:W:r:u:d:D:w:"

/* Usage lines of the common options. */
#define TOOL_USAGE                                                                                 \
    "  -t THREADS   event-loop threads (default 1; one per core: -t $(nproc))\n"                   \
    "  -n CONNS     connections (default 8)\n"                                                     \
    "  -W WINDOW    requests in flight per connection (default 8)\n"                               \
    "  -r RATE      pace to RATE requests/s in all (default 0: as fast as answers come)\n"         \
    "  -u SECONDS   warm-up before measuring (default 1)\n"                                        \
    "  -d SECONDS   measurement window; serving: longest run (default 3)\n"                        \
    "  -D SECONDS   longest wait for answers after the window (default 5)\n"                       \
    "  -w NAME=PID[,PID...]  also report those processes' CPU seconds in the window,\n"            \
    "               summed (up to 8 names, 16 processes each)\n"

/* Options both tools take. */
struct tool_opts {
    unsigned threads, conns, window;
    double rate;
    struct phase_times times;
    struct watch watches[PHASE_MAX_WATCHES];
    unsigned nwatches;
};

/* Fills in the defaults above. */
void tool_defaults(struct tool_opts *o);

/* Parses |arg| as a number in [lo, hi] into |v|; false when it is not
 * one (nothing is printed). */
bool tool_number(const char *arg, double lo, double hi, double *v);

/* Applies common option c (a letter of TOOL_OPTSTRING) with its argument;
 * false with a message on stderr for a bad value. */
bool tool_option(struct tool_opts *o, int c, const char *arg);

/* The loop spec fields that follow from the options, for one of
 * o->threads threads: window, rate share, connection share (rounded up). */
void tool_spec(const struct tool_opts *o, struct loop_spec *spec);

/* Blocks SIGTERM and SIGINT in the calling thread (and so in the loops it
 * starts afterwards) and ignores SIGPIPE. Call before loop_start. */
void tool_block_signals(void);

/* Runs the started-to-be loops: phase flags in `phase` (zeroed by the
 * caller and shared with the loops' specs). drive: warm-up, window, drain,
 * then the report with tps and latency. Otherwise serve: waits until every
 * loop settled (its SEND_ONCE requests answered) and prints ready_line, then
 * answers until SIGTERM/SIGINT or the duration, then reports counters.
 * Returns the exit status: 0 when no error was counted (and, driving, at
 * least one transaction completed in the window), 1 otherwise. */
int tool_run(struct phase *phase, struct loop *loops, unsigned n, const struct tool_opts *o,
             bool drive, const char *tool, const char *mode, const char *ready_line);

#endif
