#include "hist.h"

#include <math.h>

static unsigned bucket_of(uint64_t v)
{
    const uint64_t linear = 1u << HIST_SUB_BITS;
    if (v >= (uint64_t)1 << HIST_MAX_BITS)
        v = ((uint64_t)1 << HIST_MAX_BITS) - 1;
    if (v < linear)
        return (unsigned)v;
    /* shift >= 1 brings v into [linear/2, linear): its top HIST_SUB_BITS-1
     * bits after the leading one select the bucket inside the octave. */
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - (HIST_SUB_BITS - 1);
    unsigned sub = (unsigned)(v >> shift) - (unsigned)(linear / 2);
    return (unsigned)linear + (shift - 1) * (unsigned)(linear / 2) + sub;
}

/* The middle of a bucket's value range. */
static uint64_t bucket_value(unsigned b)
{
    const unsigned linear = 1u << HIST_SUB_BITS, half = linear / 2;
    if (b < linear)
        return b;
    unsigned shift = (b - linear) / half + 1;
    uint64_t low = (uint64_t)(half + (b - linear) % half) << shift;
    return low + ((uint64_t)1 << (shift - 1));
}

void hist_record(struct hist *h, uint64_t ns)
{
    h->buckets[bucket_of(ns)]++;
    h->count++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->count == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank)
            return bucket_value(i);
    }
    return bucket_value(HIST_BUCKETS - 1);
}
