/* bench/scale/hist.h: a fixed-size log-linear latency histogram (1/64
 * relative resolution, 0 ns to ~18 minutes). Owns its bucket array inline;
 * borrows nothing; never allocates, so recording is safe on a hot path. */
#ifndef REUSEGW_BENCH_SCALE_HIST_H
#define REUSEGW_BENCH_SCALE_HIST_H

#include <stdint.h>

/* Values below 2^HIST_SUB_BITS ns get one bucket each; above, each power of
 * two is split into 2^(HIST_SUB_BITS-1) buckets. */
#define HIST_SUB_BITS 7
/* Largest recordable value is 2^HIST_MAX_BITS - 1 ns; larger ones clamp. */
#define HIST_MAX_BITS 40
#define HIST_BUCKETS                                                                               \
    ((1u << HIST_SUB_BITS) + (HIST_MAX_BITS - HIST_SUB_BITS) * (1u << (HIST_SUB_BITS - 1)))

/* Counts per bucket plus the total. Zero-initialise before use. */
struct hist {
    uint64_t count;
    uint64_t buckets[HIST_BUCKETS];
};

/* Records one value in nanoseconds. */
void hist_record(struct hist *h, uint64_t ns);

/* Adds every count of src into dst (per-thread histograms into one). */
void hist_merge(struct hist *dst, const struct hist *src);

/* The value at quantile q (0..1) in nanoseconds: the middle of the bucket
 * holding the ceil(q * count)-th value; 0 for an empty histogram. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
