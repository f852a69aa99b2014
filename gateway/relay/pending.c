/* pending: fixed entry array, free list, and a chained hash on (branch,
 * method) that grows by linear hashing (Litwin 1980): bucket b splits into
 * b and b + n when the split pointer passes it, one bucket per insert, with
 * no allocation and no pause. Sized to what it holds, the heads a lookup
 * reads stay in cache; one sized to |capacity| (millions) made every new
 * branch a cache and TLB miss (bench/ladder/backward.md). */
#include "relay/pending.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum {
    PENDING_BUCKETS_MIN = 64,       /* buckets in use from the start */
    PENDING_BUCKETS_MAX = 1u << 22, /* at most; past it chains lengthen */
};

static void fifo_fire(void *ctx, struct timer *timer);

bool pending_table_init(struct pending_table *t, uint32_t capacity, struct timer_heap *timers,
                        struct metrics *metrics)
{
    memset(t, 0, sizeof(*t));
    uint32_t nb = PENDING_BUCKETS_MIN;
    while (nb < capacity && nb < PENDING_BUCKETS_MAX)
        nb <<= 1;
    t->entries = calloc(capacity ? capacity : 1, sizeof(*t->entries));
    t->buckets = calloc(nb, sizeof(*t->buckets));
    t->chain = calloc(capacity ? capacity : 1, sizeof(*t->chain));
    if (!t->entries || !t->buckets || !t->chain) {
        free(t->entries);
        free(t->buckets);
        free(t->chain);
        return false;
    }
    t->capacity = capacity;
    t->bucket_max = nb;
    t->bucket_mask = PENDING_BUCKETS_MIN - 1;
    t->timers = timers;
    t->metrics = metrics;
    t->fifo_timer.fire = fifo_fire;
    t->fifo_timer.ctx = t;
    return true;
}

bool pending_table_track(struct pending_table *t, uint32_t conn_slots, uint32_t kept_blocks)
{
    t->on_conn = calloc(conn_slots ? conn_slots : 1, sizeof(*t->on_conn));
    if (!t->on_conn)
        return false;
    t->conn_slots = conn_slots;
    buf_pool_init(&t->kept_pool, PENDING_KEPT_BLOCK, kept_blocks);
    return true;
}

void pending_table_free(struct pending_table *t)
{
    for (uint32_t i = 0; i < t->high; i++)
        if (t->entries[i].in_use) {
            timer_disarm(t->timers, &t->entries[i].timer);
            if (t->keep)
                buf_queue_clear(&t->entries[i].last, t->keep);
            buf_queue_clear(&t->entries[i].kept, &t->kept_pool);
        }
    timer_disarm(t->timers, &t->fifo_timer);
    buf_pool_free(&t->kept_pool);
    free(t->on_conn);
    free(t->entries);
    free(t->buckets);
    free(t->chain);
    memset(t, 0, sizeof(*t));
}

static uint32_t index_of(const struct pending_table *t, const struct pending *p)
{
    return (uint32_t)(p - t->entries) + 1;
}

/* The list of a slot: its head in on_conn, linked forward by on_next; the
 * head's on_prev is the tail, so appending is O(1). */
void pending_link(struct pending_table *t, struct pending *p, uint32_t slot)
{
    uint32_t me = index_of(t, p);
    if (p->on_slot) {
        uint32_t *head = &t->on_conn[p->on_slot - 1];
        struct pending *first = &t->entries[*head - 1];
        if (*head == me) {
            *head = p->on_next;
            if (p->on_next)
                t->entries[p->on_next - 1].on_prev = p->on_prev;
        } else {
            t->entries[p->on_prev - 1].on_next = p->on_next;
            if (p->on_next)
                t->entries[p->on_next - 1].on_prev = p->on_prev;
            else
                first->on_prev = p->on_prev;
        }
        p->on_slot = p->on_prev = p->on_next = 0;
    }
    if (slot == 0 || slot > t->conn_slots)
        return;
    uint32_t *head = &t->on_conn[slot - 1];
    p->on_slot = slot;
    p->on_next = 0;
    if (!*head) {
        *head = me;
        p->on_prev = me;
        return;
    }
    struct pending *first = &t->entries[*head - 1];
    p->on_prev = first->on_prev;
    t->entries[first->on_prev - 1].on_next = me;
    first->on_prev = me;
}

struct pending *pending_first_on(const struct pending_table *t, uint32_t slot)
{
    if (slot == 0 || slot > t->conn_slots || !t->on_conn[slot - 1])
        return NULL;
    return &t->entries[t->on_conn[slot - 1] - 1];
}

struct pending *pending_next_on(const struct pending_table *t, const struct pending *p)
{
    return p->on_next ? &t->entries[p->on_next - 1] : NULL;
}

enum pending_method pending_method_of(const char *method, size_t len)
{
    if (len == 6 && memcmp(method, "INVITE", 6) == 0)
        return PENDING_INVITE;
    if (len == 6 && memcmp(method, "CANCEL", 6) == 0)
        return PENDING_CANCEL;
    return PENDING_OTHER;
}

/* hash mixes |branch| eight bytes at a time (a byte-at-a-time FNV was a
 * chain of dependent multiplies per byte, the table's largest cost). */
static uint32_t hash(const char *branch, size_t len, enum pending_method method)
{
    const uint64_t k = 0x9e3779b97f4a7c15u;
    uint64_t h = (len << 8 | (uint64_t)method) * k;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, branch + i, len - i < 8 ? len - i : 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    h *= k;
    return (uint32_t)(h >> 32);
}

/* bucket_of is the head of hash |h|'s chain: below the split pointer the
 * bucket has already split, and one more bit of |h| chooses the half. */
static uint32_t *bucket_of(const struct pending_table *t, uint32_t h)
{
    uint32_t b = h & t->bucket_mask;
    if (b < t->split)
        b = h & (2 * t->bucket_mask + 1);
    return &t->buckets[b];
}

/* grow splits the next bucket while the table holds more entries than it
 * has buckets in use, until every bucket of |bucket_max| is. */
static void grow(struct pending_table *t)
{
    uint32_t n = t->bucket_mask + 1;
    if (t->used <= n + t->split || 2 * n > t->bucket_max)
        return;
    uint32_t *from = &t->buckets[t->split], *to = &t->buckets[t->split + n];
    uint32_t i = *from;
    *from = *to = 0;
    while (i) {
        struct pending_chain *c = &t->chain[i - 1];
        uint32_t next = c->next;
        uint32_t *head = c->hash & n ? to : from;
        c->next = *head;
        *head = i;
        i = next;
    }
    if (++t->split == n) {
        t->bucket_mask = 2 * n - 1;
        t->split = 0;
    }
}

/* find_hashed is pending_find for a key whose hash is |h|. */
static struct pending *find_hashed(const struct pending_table *t, uint32_t h, const char *branch,
                                   size_t branch_len, enum pending_method method)
{
    for (uint32_t i = *bucket_of(t, h); i; i = t->chain[i - 1].next) {
        if (t->chain[i - 1].hash != h)
            continue;
        struct pending *p = &t->entries[i - 1];
        /* RFC 3261 §17.2.3: branch comparison is case-sensitive. */
        if (p->method == method && p->branch_len == branch_len &&
            memcmp(p->branch, branch, branch_len) == 0)
            return p;
    }
    return NULL;
}

struct pending *pending_find(const struct pending_table *t, const char *branch, size_t branch_len,
                             enum pending_method method)
{
    if (branch_len == 0 || branch_len > PENDING_BRANCH_MAX)
        return NULL;
    return find_hashed(t, hash(branch, branch_len, method), branch, branch_len, method);
}

static void pending_expire_fire(void *ctx, struct timer *timer)
{
    struct pending_table *t = ctx;
    struct pending *p = (struct pending *)((char *)timer - offsetof(struct pending, timer));
    metrics_inc(t->metrics, M_TIMEOUT_TRANSACTION);
    pending_remove(t, p);
}

static uint64_t open_deadline(enum pending_method method, uint64_t now_ms)
{
    return now_ms + (method == PENDING_INVITE ? PENDING_INVITE_MS : PENDING_NON_INVITE_MS);
}

/* fifo_unlink takes |p| off the Timer F list, if it is on it. The list's
 * timer stays armed for a later deadline (it re-arms when it fires) unless
 * the list is empty. */
static void fifo_unlink(struct pending_table *t, struct pending *p)
{
    if (!p->in_fifo)
        return;
    if (p->fifo_prev)
        t->entries[p->fifo_prev - 1].fifo_next = p->fifo_next;
    else
        t->fifo_head = p->fifo_next;
    if (p->fifo_next)
        t->entries[p->fifo_next - 1].fifo_prev = p->fifo_prev;
    else
        t->fifo_tail = p->fifo_prev;
    p->in_fifo = false;
    p->fifo_prev = p->fifo_next = 0;
    if (!t->fifo_head)
        timer_disarm(t->timers, &t->fifo_timer);
}

/* expire_at schedules |p|'s expiry at |deadline_ms|: on the Timer F list
 * (|timer_f|: the deadline is now plus Timer F, so no earlier than any on
 * it) or on the heap. */
static void expire_at(struct pending_table *t, struct pending *p, uint64_t deadline_ms,
                      bool timer_f)
{
    fifo_unlink(t, p);
    if (!timer_f) {
        /* The heap is sized for every entry, so arming cannot fail. */
        timer_arm(t->timers, &p->timer, deadline_ms);
        return;
    }
    timer_disarm(t->timers, &p->timer);
    uint32_t me = index_of(t, p);
    p->timer.deadline_ms = deadline_ms;
    p->in_fifo = true;
    p->fifo_prev = t->fifo_tail;
    if (t->fifo_tail)
        t->entries[t->fifo_tail - 1].fifo_next = me;
    else
        t->fifo_head = me;
    t->fifo_tail = me;
    if (!timer_armed(&t->fifo_timer))
        timer_arm(t->timers, &t->fifo_timer, deadline_ms);
}

/* fifo_fire expires every entry of the list due by the deadline |timer|
 * fired for, then waits for the next one (timer_run fires it again in the
 * same turn when that one is due too). */
static void fifo_fire(void *ctx, struct timer *timer)
{
    struct pending_table *t = ctx;
    uint64_t due = timer->deadline_ms;
    while (t->fifo_head && t->entries[t->fifo_head - 1].timer.deadline_ms <= due) {
        metrics_inc(t->metrics, M_TIMEOUT_TRANSACTION);
        pending_remove(t, &t->entries[t->fifo_head - 1]);
    }
    if (t->fifo_head)
        timer_arm(t->timers, &t->fifo_timer, t->entries[t->fifo_head - 1].timer.deadline_ms);
}

struct pending *pending_add(struct pending_table *t, const char *branch, size_t branch_len,
                            enum pending_method method, const char *via, size_t via_len,
                            uint64_t now_ms)
{
    if (branch_len == 0 || branch_len > PENDING_BRANCH_MAX || via_len > PENDING_VIA_MAX)
        return NULL;
    uint32_t h = hash(branch, branch_len, method);
    struct pending *p = find_hashed(t, h, branch, branch_len, method);
    if (!p) {
        if (t->used >= t->capacity)
            return NULL;
        uint32_t index;
        if (t->free_head) {
            index = t->free_head;
            t->free_head = t->chain[index - 1].next;
        } else {
            index = ++t->high;
        }
        p = &t->entries[index - 1];
        memset(p, 0, offsetof(struct pending, domain)); /* the arrays: by length */
        p->domain[0] = 0;
        p->in_use = true;
        p->method = (uint8_t)method;
        p->branch_len = (uint8_t)branch_len;
        memcpy(p->branch, branch, branch_len);
        p->timer.fire = pending_expire_fire;
        p->timer.ctx = t;
        uint32_t *head = bucket_of(t, h);
        t->chain[index - 1] = (struct pending_chain){.next = *head, .hash = h};
        *head = index;
        t->used++;
        grow(t);
    }
    if (p->final_seen || !(timer_armed(&p->timer) || p->in_fifo))
        t->open++;
    p->final_seen = false;
    p->via_len = (uint16_t)via_len;
    memcpy(p->via, via, via_len);
    expire_at(t, p, open_deadline(method, now_ms), method != PENDING_INVITE);
    return p;
}

void pending_on_response(struct pending_table *t, struct pending *p, unsigned status,
                         uint64_t now_ms)
{
    if (status >= 200 && p->method != PENDING_INVITE && !p->unreliable) {
        pending_remove(t, p); /* Timer K is 0 on reliable transports */
    } else if (status >= 200) {
        /* Only a 2xx travels end to end and is retransmitted for 64*T1
         * (RFC 3261 13.3.1.4). A non-2xx is ACKed hop by hop and Timer D is
         * 0 on TCP/TLS: its entry waits only for the ACK and a late
         * duplicate, so a busy table is not full of finished calls.
         * Over UDP (Timers J and H) the legacy proxy's retransmissions
         * must still find it: 64*T1 whatever the status. */
        uint64_t linger = p->unreliable  ? PENDING_UDP_LINGER_MS
                          : status < 300 ? PENDING_LINGER_MS
                                         : PENDING_NON2XX_LINGER_MS;
        uint64_t until = now_ms + linger;
        bool had_final = p->final_seen;
        if (!p->final_seen)
            t->open--;
        p->final_seen = true;
        if (!had_final || (status < 300 && until > p->timer.deadline_ms))
            expire_at(t, p, until, false);
    } else if (!p->final_seen && p->method == PENDING_INVITE) {
        expire_at(t, p, open_deadline(PENDING_INVITE, now_ms), false);
    }
}

void pending_remove(struct pending_table *t, struct pending *p)
{
    uint32_t index = index_of(t, p);
    uint32_t *link = bucket_of(t, t->chain[index - 1].hash);
    while (*link) {
        if (*link == index) {
            *link = t->chain[index - 1].next;
            break;
        }
        link = &t->chain[*link - 1].next;
    }
    timer_disarm(t->timers, &p->timer);
    fifo_unlink(t, p);
    if (!p->final_seen)
        t->open--;
    if (t->keep)
        buf_queue_clear(&p->last, t->keep);
    pending_link(t, p, 0);
    buf_queue_clear(&p->kept, &t->kept_pool);
    p->in_use = false;
    t->chain[index - 1].next = t->free_head;
    t->free_head = index;
    t->used--;
}
