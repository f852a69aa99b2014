/* tag: the 64-bit completion tag every loop operation carries, and the
 * operation kinds the worker's dispatcher routes by. A tag packs op (8
 * bits), slot (24 bits) and generation (32 bits), so a late completion for
 * a recycled slot is recognised by its generation.
 *
 * Owns nothing; plain data and inline packers only. Never names what a
 * slot indexes: each layer reads its own ops' slots (conn/conn-t.h turns
 * one into a conn_ref). */
#ifndef REUSEGW_TAG_H
#define REUSEGW_TAG_H

#include <stdint.h>

/* tag_op_kind is the kind of loop operation a completion tag belongs to;
 * the dispatcher (worker/worker.c) routes each to the layer owning it. */
enum tag_op_kind {
    OP_ACCEPT = 1, /* slot = listener index + 1 */
    OP_RECV,
    OP_SEND,
    OP_CONNECT,
    OP_CLOSE,
    OP_SIGNAL,
    OP_DNS,     /* c-ares socket polls (dns/dns.h) */
    OP_ADMIN,   /* admin endpoint (admin/admin.h) */
    OP_PROBE,   /* legacy reachability probe (admin/admin_probe.h) */
    OP_HANDOFF, /* hand-off wake-ups (worker/worker.c); slot says how it came */
    OP_CAPTURE, /* the HEP sender's socket (capture/capture.h) */
    OP_WATCH,   /* tls.watch's inotify descriptor (worker/watch.h) */
};

static inline uint64_t tag_make(enum tag_op_kind op, uint32_t slot, uint32_t gen)
{
    return (uint64_t)op << 56 | (uint64_t)(slot & 0xffffffu) << 32 | gen;
}

static inline enum tag_op_kind tag_op(uint64_t tag)
{
    return (enum tag_op_kind)(tag >> 56);
}

/* tag_slot is the 24-bit slot of |tag|. */
static inline uint32_t tag_slot(uint64_t tag)
{
    return (uint32_t)(tag >> 32) & 0xffffffu;
}

/* tag_gen is the 32-bit generation of |tag|. */
static inline uint32_t tag_gen(uint64_t tag)
{
    return (uint32_t)tag;
}

#endif
