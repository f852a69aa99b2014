/* dns: the RFC 3263 state machine over c-ares, its socket polling through
 * the loop and its timeout through the timer heap.
 *
 * A query walks NAPTR -> SRV -> address lookups (in parallel, one per SRV
 * target). Query slots are reused only once every c-ares call they issued
 * has called back, so c-ares callbacks always find live memory; the caller's
 * handle carries a generation so dns_cancel and late results never reach a
 * caller that gave up. */
#include "dns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "config/config.h"
#include "core/log.h"
#include "core/metrics.h"

enum {
    DNS_MAX_SOCKS = 32,     /* c-ares sockets open at once (UDP + TCP per server) */
    DNS_MAX_NAPTR = 4,      /* SIPS+D2T records tried in order */
    DNS_ADDRS_PER_HOST = 8, /* addresses kept per SRV target */
    DNS_SIPS_PORT = 5061,
    DNS_T_NAPTR = 35,
    DNS_T_SRV = 33,
    DNS_C_IN = 1,
};

struct dns_query;

/* dns_call is the c-ares callback argument of one lookup of a query. */
struct dns_call {
    struct dns_query *q;
    uint8_t index; /* SRV record for address lookups */
};

/* dns_host_addrs collects one SRV target's addresses as they arrive. */
struct dns_host_addrs {
    char host[DNS_HOST_MAX + 1];
    int status; /* ARES_* of its lookup */
    uint8_t n;
    struct dns_addr addrs[DNS_ADDRS_PER_HOST];
};

struct dns_query {
    uint32_t gen;
    bool used;
    bool starting;       /* inside dns_resolve: finish() must not call back */
    bool finished;       /* finished while starting */
    bool host_only;      /* looking up the URI host itself, not SRV targets */
    uint8_t outstanding; /* c-ares calls issued and not yet called back */
    uint8_t n_names, next_name;
    int status;      /* enum dns_status once finished */
    dns_callback cb; /* NULL once cancelled or delivered */
    void *ctx;
    struct dns_resolver *r;
    uint32_t next_free; /* index + 1 while on the free list */
    uint32_t ttl_s;     /* least TTL seen along the chain */
    uint16_t port;      /* explicit URI port, 0 when none */
    char host[DNS_HOST_MAX + 1];
    char names[DNS_MAX_NAPTR][DNS_HOST_MAX + 12]; /* SRV names: room for "_sips._tcp." */
    struct dns_answer answer;
    struct dns_host_addrs hosts[DNS_MAX_SRV];
    struct dns_call calls[DNS_MAX_SRV];
};

/* dns_sock is one c-ares socket and the poll the loop keeps on it. */
struct dns_sock {
    int fd; /* -1: free */
    uint32_t gen;
    unsigned events; /* POLLIN / POLLOUT wanted */
    bool armed;
};

struct dns_resolver {
    ares_channel channel;
    struct loop *loop;
    struct timer_heap *timers;
    struct metrics *metrics;
    struct timer timer; /* c-ares' next timeout */
    uint8_t tag_op;
    bool destroying;
    bool library_ready; /* ares_library_init succeeded: pair it with cleanup */
    uint64_t rng;
    uint32_t negative_ttl_ms;
    uint32_t max_ttl_ms;
    struct dns_query *queries;
    uint32_t n_queries;
    uint32_t free_head; /* index + 1 */
    uint32_t in_flight;
    struct dns_sock socks[DNS_MAX_SOCKS];
    struct dns_cache cache;
};

static const char *const status_text[] = {
    [DNS_OK] = "resolved",
    [DNS_ERR_NXDOMAIN] = "DNS: domain does not exist",
    [DNS_ERR_NODATA] = "DNS: no SIPS target for domain",
    [DNS_ERR_TIMEOUT] = "DNS: timeout",
    [DNS_ERR_SERVER] = "DNS: server failure",
    [DNS_ERR_BAD_NAME] = "DNS: invalid host name",
    [DNS_ERR_BUSY] = "DNS: too many resolutions in flight",
    [DNS_ERR_OTHER] = "DNS: resolution failed",
};

const char *dns_status_text(enum dns_status status)
{
    return (unsigned)status < sizeof(status_text) / sizeof(status_text[0]) ? status_text[status]
                                                                           : "DNS: unknown";
}

static enum dns_status from_ares(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return DNS_OK;
    case ARES_ENOTFOUND:
        return DNS_ERR_NXDOMAIN;
    case ARES_ENODATA:
        return DNS_ERR_NODATA;
    case ARES_ETIMEOUT:
        return DNS_ERR_TIMEOUT;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
        return DNS_ERR_SERVER;
    case ARES_EBADNAME:
        return DNS_ERR_BAD_NAME;
    default:
        return DNS_ERR_OTHER;
    }
}

static void count(struct dns_resolver *r, enum metric_id id)
{
    if (r->metrics)
        metrics_inc(r->metrics, id);
}

/* ---- loop integration ---------------------------------------------------- */

static uint64_t sock_tag(const struct dns_resolver *r, size_t i)
{
    return (uint64_t)r->tag_op << 56 | (uint64_t)(i + 1) << 32 | r->socks[i].gen;
}

static void sock_arm(struct dns_resolver *r, size_t i)
{
    struct dns_sock *s = &r->socks[i];
    if (loop_poll(r->loop, s->fd, s->events, sock_tag(r, i)) == 0)
        s->armed = true;
    else
        LOG_RATELIMITED(LOG_WARN, "cannot poll a DNS socket: submission queue full");
}

static void sock_disarm(struct dns_resolver *r, size_t i)
{
    struct dns_sock *s = &r->socks[i];
    if (s->armed)
        loop_cancel(r->loop, sock_tag(r, i));
    s->armed = false;
    s->gen++; /* a late completion of the old poll is now stale */
}

/* on_sock_state is c-ares telling which of its sockets want which events. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns_resolver *r = data;
    size_t i, free_i = DNS_MAX_SOCKS;
    for (i = 0; i < DNS_MAX_SOCKS && r->socks[i].fd != fd; i++)
        if (r->socks[i].fd < 0 && free_i == DNS_MAX_SOCKS)
            free_i = i;
    unsigned events = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
    if (i < DNS_MAX_SOCKS) {
        if (r->socks[i].events == events && r->socks[i].armed)
            return;
        sock_disarm(r, i);
        if (!events) {
            r->socks[i].fd = -1;
            return;
        }
    } else {
        if (!events)
            return;
        if (free_i == DNS_MAX_SOCKS) {
            LOG_RATELIMITED(LOG_WARN, "too many DNS sockets; queries will time out",
                            LF_UINT("max", DNS_MAX_SOCKS));
            return;
        }
        i = free_i;
        r->socks[i].fd = fd;
    }
    r->socks[i].events = events;
    sock_arm(r, i);
}

static void on_timer(void *ctx, struct timer *timer);

/* reschedule arms the timer for c-ares' next retransmission or timeout. */
static void reschedule(struct dns_resolver *r)
{
    struct timeval tv;
    if (r->destroying || !ares_timeout(r->channel, NULL, &tv)) {
        timer_disarm(r->timers, &r->timer);
        return;
    }
    uint64_t ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
    timer_arm(r->timers, &r->timer, timer_now_ms() + ms);
}

static void on_timer(void *ctx, struct timer *timer)
{
    struct dns_resolver *r = ctx;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    reschedule(r);
}

void dns_on_event(struct dns_resolver *r, const struct loop_event *ev)
{
    uint32_t slot = (uint32_t)(ev->tag >> 32) & 0xffffffu;
    uint32_t gen = (uint32_t)ev->tag;
    if (slot == 0 || slot > DNS_MAX_SOCKS)
        return;
    struct dns_sock *s = &r->socks[slot - 1];
    if (s->fd < 0 || s->gen != gen)
        return; /* a poll we already replaced or cancelled */
    if (!ev->more)
        s->armed = false;
    if (ev->res < 0 && ev->res != -ECANCELED) {
        /* A poll that fails would fail again: leave the socket to c-ares'
         * own timeout instead of spinning. */
        LOG_RATELIMITED(LOG_WARN, "DNS socket poll failed", LF_STR("reason", strerror(-ev->res)));
        reschedule(r);
        return;
    }
    if (ev->res > 0) {
        int fd = s->fd;
        ares_socket_t rfd = ev->res & (POLLIN | POLLERR | POLLHUP) ? fd : ARES_SOCKET_BAD;
        ares_socket_t wfd = ev->res & POLLOUT ? fd : ARES_SOCKET_BAD;
        ares_process_fd(r->channel, rfd, wfd);
    }
    /* c-ares may have closed or replaced the socket while processing. */
    if (s->fd >= 0 && s->gen == gen && !s->armed)
        sock_arm(r, (size_t)(slot - 1));
    reschedule(r);
}

/* ---- query slots ---------------------------------------------------------- */

static struct dns_query *query_take(struct dns_resolver *r)
{
    if (!r->free_head)
        return NULL;
    struct dns_query *q = &r->queries[r->free_head - 1];
    r->free_head = q->next_free;
    uint32_t gen = q->gen;
    memset(q, 0, sizeof(*q));
    q->gen = gen;
    q->used = true;
    q->r = r;
    q->ttl_s = UINT32_MAX;
    r->in_flight++;
    return q;
}

static void query_release(struct dns_resolver *r, struct dns_query *q)
{
    q->used = false;
    q->cb = NULL;
    q->gen++;
    q->next_free = r->free_head;
    r->free_head = (uint32_t)(q - r->queries) + 1;
    r->in_flight--;
}

static void result_init(struct dns_result *res, const char *host, enum dns_status status)
{
    res->status = status;
    res->from_cache = false;
    res->n_targets = 0;
    snprintf(res->domain, sizeof(res->domain), "%s", host);
}

/* finish ends |q| with |status|: caches the outcome, counts failures, and
 * calls the caller back unless it cancelled or dns_resolve is still on the
 * stack (then dns_resolve returns the result itself). */
static void finish(struct dns_query *q, enum dns_status status)
{
    struct dns_resolver *r = q->r;
    uint64_t now = timer_now_ms();
    if (status == DNS_OK) {
        uint64_t ttl_ms = q->ttl_s == UINT32_MAX ? 0 : (uint64_t)q->ttl_s * 1000;
        if (ttl_ms > r->max_ttl_ms)
            ttl_ms = r->max_ttl_ms;
        if (ttl_ms)
            dns_cache_store(&r->cache, q->host, q->port, DNS_OK, &q->answer, now + ttl_ms);
    } else if (status == DNS_ERR_NXDOMAIN || status == DNS_ERR_NODATA) {
        dns_cache_store(&r->cache, q->host, q->port, status, NULL, now + r->negative_ttl_ms);
    }
    static const enum metric_id failure_ids[] = {
        [DNS_ERR_NXDOMAIN] = M_DNS_FAIL_NXDOMAIN, [DNS_ERR_NODATA] = M_DNS_FAIL_NODATA,
        [DNS_ERR_TIMEOUT] = M_DNS_FAIL_TIMEOUT,   [DNS_ERR_SERVER] = M_DNS_FAIL_SERVER,
        [DNS_ERR_BAD_NAME] = M_DNS_FAIL_OTHER,    [DNS_ERR_BUSY] = M_DNS_FAIL_OTHER,
        [DNS_ERR_OTHER] = M_DNS_FAIL_OTHER,
    };
    if (status != DNS_OK)
        count(r, failure_ids[status]);
    q->status = status;
    if (q->starting) {
        q->finished = true;
        return;
    }
    dns_callback cb = q->cb;
    void *ctx = q->ctx;
    if (cb) {
        struct dns_result res;
        result_init(&res, q->host, status);
        if (status == DNS_OK)
            res.n_targets = dns_answer_targets(&q->answer, &r->rng, res.targets, DNS_MAX_TARGETS);
        query_release(r, q);
        cb(ctx, &res);
    } else {
        query_release(r, q);
    }
}

static void note_ttl(struct dns_query *q, uint32_t ttl_s)
{
    if (ttl_s < q->ttl_s)
        q->ttl_s = ttl_s;
}

/* answer_ttl is the least TTL of the |type| records in a raw DNS answer;
 * c-ares' NAPTR and SRV parsers do not report TTLs. Reads stay within
 * |alen| bytes whatever the packet says. */
static uint32_t answer_ttl(const unsigned char *abuf, int alen, unsigned type)
{
    size_t len = alen > 0 ? (size_t)alen : 0, at = 12;
    if (len < 12)
        return 0;
    unsigned qd = (unsigned)abuf[4] << 8 | abuf[5];
    unsigned an = (unsigned)abuf[6] << 8 | abuf[7];
    uint32_t ttl = UINT32_MAX;
    for (unsigned rr = 0; rr < qd + an && at < len; rr++) {
        while (at < len && abuf[at] && (abuf[at] & 0xc0) != 0xc0)
            at += 1u + abuf[at];
        at += at < len && abuf[at] ? 2 : 1; /* compression pointer or root label */
        if (rr < qd) {
            at += 4;
            continue;
        }
        if (at + 10 > len)
            break;
        const unsigned char *p = abuf + at;
        unsigned t = (unsigned)p[0] << 8 | p[1];
        uint32_t rttl = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
        at += 10u + ((unsigned)p[8] << 8 | p[9]);
        if (t == type && rttl < ttl)
            ttl = rttl;
    }
    return ttl == UINT32_MAX ? 0 : ttl;
}

/* ---- the RFC 3263 chain ----------------------------------------------------- */

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen);
static void on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *ai);

static void query_srv(struct dns_query *q)
{
    q->outstanding++;
    count(q->r, M_DNS_QUERY_SRV);
    ares_query(q->r->channel, q->names[q->next_name++], DNS_C_IN, DNS_T_SRV, on_srv, &q->calls[0]);
}

/* query_addrs looks up every SRV target (or the host itself) at once. */
static void query_addrs(struct dns_query *q)
{
    struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_flags = ARES_AI_NOSORT};
    uint8_t n = q->answer.n_srv;
    q->outstanding += n; /* before any call: a callback may come at once */
    for (uint8_t i = 0; i < n; i++) {
        q->calls[i] = (struct dns_call){.q = q, .index = i};
        count(q->r, M_DNS_QUERY_ADDRESS);
        ares_getaddrinfo(q->r->channel, q->hosts[i].host, NULL, &hints, on_addr, &q->calls[i]);
    }
}

/* query_host_only is RFC 3263 §4.2 without SRV: the host itself on the
 * explicit port, or 5061. */
static void query_host_only(struct dns_query *q)
{
    q->host_only = true;
    q->answer.n_srv = 1;
    q->answer.srv[0] = (struct dns_srv){.port = q->port ? q->port : DNS_SIPS_PORT};
    snprintf(q->hosts[0].host, sizeof(q->hosts[0].host), "%s", q->host);
    query_addrs(q);
}

static int naptr_cmp(const void *a, const void *b)
{
    const struct ares_naptr_reply *x = *(struct ares_naptr_reply *const *)a;
    const struct ares_naptr_reply *y = *(struct ares_naptr_reply *const *)b;
    if (x->order != y->order)
        return x->order < y->order ? -1 : 1;
    return x->preference < y->preference ? -1 : x->preference > y->preference;
}

/* on_naptr keeps the SIPS+D2T records that point at SRV names ("s" flag), in
 * order/preference order. A client resolving for TLS discards every other
 * service (RFC 3263 §4.1: SIP+D2T is plain TCP). */
static void on_naptr(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_call *call = arg;
    struct dns_query *q = call->q;
    q->outstanding--;
    if (q->r->destroying)
        return;
    if (status == ARES_SUCCESS) {
        struct ares_naptr_reply *list = NULL;
        if (ares_parse_naptr_reply(abuf, alen, &list) == ARES_SUCCESS) {
            struct ares_naptr_reply *keep[DNS_MAX_NAPTR];
            size_t n = 0;
            for (struct ares_naptr_reply *p = list; p && n < DNS_MAX_NAPTR; p = p->next)
                if (strcasecmp((const char *)p->service, "SIPS+D2T") == 0 &&
                    strcasecmp((const char *)p->flags, "s") == 0 && p->replacement[0])
                    keep[n++] = p;
            qsort(keep, n, sizeof(keep[0]), naptr_cmp);
            for (size_t i = 0; i < n; i++)
                snprintf(q->names[i], sizeof(q->names[i]), "%s", keep[i]->replacement);
            q->n_names = (uint8_t)n;
            if (n)
                note_ttl(q, answer_ttl(abuf, alen, DNS_T_NAPTR));
            ares_free_data(list);
        }
    } else if (status != ARES_ENODATA && status != ARES_ENOTFOUND) {
        finish(q, from_ares(status)); /* the server is unwell: stop here */
        return;
    } else if (status == ARES_ENOTFOUND) {
        finish(q, DNS_ERR_NXDOMAIN);
        return;
    }
    if (q->n_names == 0) {
        snprintf(q->names[0], sizeof(q->names[0]), "_sips._tcp.%s", q->host);
        q->n_names = 1;
    }
    query_srv(q);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_call *call = arg;
    struct dns_query *q = call->q;
    q->outstanding--;
    if (q->r->destroying)
        return;
    struct ares_srv_reply *list = NULL;
    if (status == ARES_SUCCESS && ares_parse_srv_reply(abuf, alen, &list) == ARES_SUCCESS) {
        uint8_t n = 0;
        for (struct ares_srv_reply *p = list; p && n < DNS_MAX_SRV; p = p->next) {
            /* "." means the service is decidedly not offered (RFC 2782). */
            if (p->host[0] == '\0' || strcmp(p->host, ".") == 0)
                continue;
            q->answer.srv[n] =
                (struct dns_srv){.priority = p->priority, .weight = p->weight, .port = p->port};
            snprintf(q->hosts[n].host, sizeof(q->hosts[n].host), "%s", p->host);
            n++;
        }
        ares_free_data(list);
        q->answer.n_srv = n;
        if (n == 0) {
            finish(q, DNS_ERR_NODATA);
            return;
        }
        note_ttl(q, answer_ttl(abuf, alen, DNS_T_SRV));
        query_addrs(q);
        return;
    }
    if (status != ARES_SUCCESS && status != ARES_ENODATA && status != ARES_ENOTFOUND) {
        finish(q, from_ares(status));
        return;
    }
    if (q->next_name < q->n_names) {
        query_srv(q); /* the next NAPTR record */
        return;
    }
    query_host_only(q); /* no SRV: RFC 3263 §4.2 falls back to A/AAAA */
}

static void on_addr(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
    struct dns_call *call = arg;
    struct dns_query *q = call->q;
    struct dns_host_addrs *h = &q->hosts[call->index];
    q->outstanding--;
    h->status = status;
    for (struct ares_addrinfo_node *n = ai ? ai->nodes : NULL; n && h->n < DNS_ADDRS_PER_HOST;
         n = n->ai_next) {
        struct dns_addr *a = &h->addrs[h->n];
        if (n->ai_family == AF_INET) {
            a->family = AF_INET;
            memcpy(a->bytes, &((struct sockaddr_in *)n->ai_addr)->sin_addr, 4);
        } else if (n->ai_family == AF_INET6) {
            a->family = AF_INET6;
            memcpy(a->bytes, &((struct sockaddr_in6 *)n->ai_addr)->sin6_addr, 16);
        } else {
            continue;
        }
        h->n++;
        note_ttl(q, n->ai_ttl > 0 ? (uint32_t)n->ai_ttl : 0);
    }
    if (ai)
        ares_freeaddrinfo(ai);
    if (q->r->destroying || q->outstanding)
        return;
    /* Every target has answered: lay the addresses out per SRV record. */
    struct dns_answer *ans = &q->answer;
    int first_error = ARES_SUCCESS;
    ans->n_addr = 0;
    for (uint8_t i = 0; i < ans->n_srv; i++) {
        struct dns_host_addrs *hi = &q->hosts[i];
        ans->srv[i].first_addr = ans->n_addr;
        for (uint8_t k = 0; k < hi->n && ans->n_addr < DNS_MAX_ADDRS; k++)
            ans->addrs[ans->n_addr++] = hi->addrs[k];
        ans->srv[i].n_addr = (uint8_t)(ans->n_addr - ans->srv[i].first_addr);
        if (hi->status != ARES_SUCCESS && first_error == ARES_SUCCESS)
            first_error = hi->status;
    }
    if (ans->n_addr)
        finish(q, DNS_OK);
    else if (first_error == ARES_ENOTFOUND && q->host_only)
        finish(q, DNS_ERR_NXDOMAIN); /* the URI host itself does not exist */
    else
        finish(q, first_error == ARES_SUCCESS || first_error == ARES_ENOTFOUND
                      ? DNS_ERR_NODATA
                      : from_ares(first_error));
}

/* ---- public API ------------------------------------------------------------- */

static bool valid_host(const char *host, size_t len)
{
    if (len == 0 || len > DNS_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)host[i]) && host[i] != '-' && host[i] != '.' && host[i] != '_')
            return false;
    return true;
}

/* literal_target answers an IP literal without DNS. */
static bool literal_target(const char *host, uint16_t port, struct dns_result *res)
{
    struct dns_target *t = &res->targets[0];
    memset(t, 0, sizeof(*t));
    t->port = port ? port : DNS_SIPS_PORT;
    struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(t->port);
        t->addr_len = sizeof(*in);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(t->port);
        t->addr_len = sizeof(*in6);
    } else {
        return false;
    }
    res->n_targets = 1;
    return true;
}

enum dns_start dns_resolve(struct dns_resolver *r, const char *host, uint16_t port, dns_callback cb,
                           void *ctx, struct dns_result *now, struct dns_handle *handle)
{
    *handle = (struct dns_handle){0};
    result_init(now, host, DNS_OK);
    if (literal_target(host, port, now))
        return DNS_DONE;
    size_t len = strlen(host);
    if (!valid_host(host, len)) {
        now->status = DNS_ERR_BAD_NAME;
        return DNS_DONE;
    }
    const struct dns_cache_entry *e = dns_cache_lookup(&r->cache, host, port, timer_now_ms());
    if (e) {
        count(r, M_DNS_CACHE_HIT);
        now->from_cache = true;
        now->status = e->status;
        if (e->status == DNS_OK)
            now->n_targets = dns_answer_targets(&e->answer, &r->rng, now->targets, DNS_MAX_TARGETS);
        return DNS_DONE;
    }
    count(r, M_DNS_CACHE_MISS);
    struct dns_query *q = query_take(r);
    if (!q) {
        now->status = DNS_ERR_BUSY;
        count(r, M_DNS_FAIL_OTHER);
        return DNS_DONE;
    }
    memcpy(q->host, host, len + 1);
    q->port = port;
    q->cb = cb;
    q->ctx = ctx;
    q->calls[0] = (struct dns_call){.q = q};
    q->starting = true;
    if (port) {
        query_host_only(q);
    } else {
        q->outstanding++;
        count(r, M_DNS_QUERY_NAPTR);
        ares_query(r->channel, q->host, DNS_C_IN, DNS_T_NAPTR, on_naptr, &q->calls[0]);
    }
    q->starting = false;
    reschedule(r);
    if (q->finished) {
        now->status = q->status;
        if (q->status == DNS_OK)
            now->n_targets = dns_answer_targets(&q->answer, &r->rng, now->targets, DNS_MAX_TARGETS);
        query_release(r, q);
        return DNS_DONE;
    }
    *handle = (struct dns_handle){.slot = (uint32_t)(q - r->queries) + 1, .gen = q->gen};
    return DNS_PENDING;
}

void dns_cancel(struct dns_resolver *r, struct dns_handle handle)
{
    if (handle.slot == 0 || handle.slot > r->n_queries)
        return;
    struct dns_query *q = &r->queries[handle.slot - 1];
    if (q->used && q->gen == handle.gen)
        q->cb = NULL;
}

size_t dns_pending(const struct dns_resolver *r)
{
    return r->in_flight;
}

/* set_servers points the channel at the configured servers (IP literals). */
static int set_servers(struct dns_resolver *r, const struct cfg_hostport *servers, size_t n)
{
    struct ares_addr_port_node *nodes = calloc(n, sizeof(*nodes));
    if (!nodes)
        return ARES_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct ares_addr_port_node *node = &nodes[i];
        node->next = i + 1 < n ? &nodes[i + 1] : NULL;
        node->udp_port = node->tcp_port = servers[i].port ? servers[i].port : 53;
        if (inet_pton(AF_INET, servers[i].host, &node->addr.addr4) == 1) {
            node->family = AF_INET;
        } else if (inet_pton(AF_INET6, servers[i].host, &node->addr.addr6) == 1) {
            node->family = AF_INET6;
        } else {
            LOG_ERROR("dns.servers entry is not an IP address", LF_STR("server", servers[i].host));
            free(nodes);
            return ARES_EBADSTR;
        }
    }
    int err = ares_set_servers_ports(r->channel, nodes);
    free(nodes);
    return err;
}

struct dns_resolver *dns_resolver_new(struct loop *loop, struct timer_heap *timers,
                                      struct metrics *metrics, const struct dns_options *o)
{
    struct dns_resolver *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->loop = loop;
    r->timers = timers;
    r->metrics = metrics;
    r->tag_op = o->tag_op;
    r->negative_ttl_ms = o->negative_ttl_ms ? o->negative_ttl_ms : 30000;
    r->max_ttl_ms = o->max_ttl_ms ? o->max_ttl_ms : 3600000;
    r->rng = o->seed;
    while (r->rng == 0 && getrandom(&r->rng, sizeof(r->rng), 0) != sizeof(r->rng))
        ;
    r->timer.fire = on_timer;
    r->timer.ctx = r;
    for (size_t i = 0; i < DNS_MAX_SOCKS; i++)
        r->socks[i].fd = -1;
    r->n_queries = o->max_queries ? o->max_queries : 256;
    r->queries = calloc(r->n_queries, sizeof(*r->queries));
    if (!r->queries || !dns_cache_init(&r->cache, o->cache_entries ? o->cache_entries : 1024)) {
        LOG_ERROR("out of memory sizing the DNS resolver");
        dns_resolver_free(r);
        return NULL;
    }
    for (uint32_t i = 0; i < r->n_queries; i++)
        r->queries[i].next_free = i + 1 < r->n_queries ? i + 2 : 0;
    r->free_head = 1;

    int err = ares_library_init(ARES_LIB_INIT_ALL);
    r->library_ready = err == ARES_SUCCESS;
    char lookups[] = "b"; /* DNS only: /etc/hosts is not an RFC 3263 answer */
    struct ares_options opts = {
        .flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES,
        .timeout = (int)(o->timeout_ms ? o->timeout_ms : 2000),
        .tries = (int)(o->tries ? o->tries : 2),
        .ndots = 1,
        .ndomains = 0,
        .lookups = lookups,
        .sock_state_cb = on_sock_state,
        .sock_state_cb_data = r,
        .resolvconf_path = (char *)(o->resolv_conf ? o->resolv_conf : "/etc/resolv.conf"),
    };
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
               ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_RESOLVCONF;
    if (err == ARES_SUCCESS)
        err = ares_init_options(&r->channel, &opts, mask);
    else
        r->channel = NULL;
    if (err == ARES_SUCCESS && o->n_servers)
        err = set_servers(r, o->servers, o->n_servers);
    if (err != ARES_SUCCESS) {
        LOG_ERROR("cannot set up the DNS resolver", LF_STR("reason", ares_strerror(err)));
        dns_resolver_free(r);
        return NULL;
    }
    return r;
}

void dns_resolver_free(struct dns_resolver *r)
{
    if (!r)
        return;
    r->destroying = true;
    if (r->channel)
        ares_destroy(r->channel); /* calls back every query with ARES_EDESTRUCTION */
    if (r->library_ready)
        ares_library_cleanup();
    timer_disarm(r->timers, &r->timer);
    for (size_t i = 0; i < DNS_MAX_SOCKS; i++)
        if (r->socks[i].fd >= 0)
            sock_disarm(r, i);
    dns_cache_free(&r->cache);
    free(r->queries);
    free(r);
}
