/* bench/scale/meter.h: what one bench thread counts: transactions, answers,
 * errors by kind, latency. Owns its counters and histogram inline; borrows
 * nothing; written by one thread only and read by the main thread after
 * that thread has been joined, so nothing here is atomic. */
#ifndef REUSEGW_BENCH_SCALE_METER_H
#define REUSEGW_BENCH_SCALE_METER_H

#include <stdbool.h>
#include <stdint.h>

#include "hist.h"

/* Counters of one thread (or, after meter_merge, of a whole tool). */
struct meter {
    bool measuring;      /* inside the measurement window: count tx and latency */
    uint64_t tx;         /* requests of ours answered 200 inside the window */
    uint64_t sent;       /* requests of ours sent, whole run */
    uint64_t completed;  /* requests of ours answered 200, whole run */
    uint64_t answered;   /* requests of others answered 200 by us, whole run */
    uint64_t err_status; /* a final response other than 200 to our request */
    uint64_t err_match;  /* a response to no request in flight on its connection */
    uint64_t err_parse;  /* a message that does not frame or parse */
    uint64_t err_conn;   /* a connection closed or failed mid-run */
    uint64_t lost;       /* requests still unanswered when the run ended */
    uint64_t closed;     /* connections the other side closed mid-run, cleanly
                            or not (a holding end wants 0; not an error) */
    struct hist latency; /* request sent to 200 received, inside the window */
};

/* Sum of the error counters. */
uint64_t meter_errors(const struct meter *m);

/* Adds src's counters and histogram into dst. */
void meter_merge(struct meter *dst, const struct meter *src);

#endif
