/* metrics_bridge: the series a worker knows without bumping them — its
 * connection table counted by kind and state, its alias rows — and the
 * backend name a scrape reports. Every event count
 * is bumped where it happens, in the registry itself (metrics.h).
 *
 * Owns nothing. Borrows a worker's connection table and registry, on its
 * own thread only. Never bumps a
 * series: it sets each one it fills, so a scrape can run any number of
 * times. */
#ifndef REUSEGW_METRICS_BRIDGE_H
#define REUSEGW_METRICS_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

struct conn_table;
struct loop;
struct metrics;

/* metrics_bridge_absorb refreshes the gauges of |m| counted from the
 * connection table |table|. */
void metrics_bridge_absorb(const struct conn_table *table, struct metrics *m);

/* metrics_bridge_backend writes the backend family of |loop| ("io_uring"
 * for every io_uring set-up, else the backend's own name) into |buf|. */
const char *metrics_bridge_backend(const struct loop *loop, char *buf, size_t cap);

#endif
