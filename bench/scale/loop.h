/* bench/scale/loop.h: one bench thread: an epoll loop over its connections
 * (and, for a server, its listening socket) that keeps each connection's
 * window of requests full, or paced to a rate, until the phase says stop.
 * Owns its connections and epoll instance; borrows the phase flags and the
 * target names; allocates only when a connection is added, never per
 * message. */
#ifndef REUSEGW_BENCH_SCALE_LOOP_H
#define REUSEGW_BENCH_SCALE_LOOP_H

#include <pthread.h>

#include "conn.h"
#include "phase.h"

/* Which requests a thread's connections send. */
enum send_policy {
    SEND_NONE, /* answer only */
    SEND_ONCE, /* one request per connection (e.g. to register an alias) */
    SEND_LOAD, /* keep the window full while the phase says sending */
};

/* What a thread needs to know; set before loop_init, then read-only. */
struct loop_spec {
    struct phase *phase; /* borrowed, shared by all threads */
    enum send_policy policy;
    unsigned max_conns;           /* connections this thread may hold */
    unsigned senders;             /* the first this many added send; the rest
                                     only answer (idle connections) */
    unsigned window;              /* requests in flight per connection */
    double rate;                  /* requests/s of this thread; 0: window-bound */
    const char *const *targets;   /* request i of connection c goes to */
    unsigned ntargets;            /* targets[(c.id + i) % ntargets] */
    int listen_fd;                /* accept plain TCP here; -1: none (owned) */
    struct peer_form accept_form; /* form of accepted connections */
};

/* A bench thread: connections, counters, epoll. */
struct loop {
    struct loop_spec spec;
    pthread_t tid;
    int ep;
    struct conn *conns;
    unsigned nconns;
    unsigned next_id; /* id of the next accepted connection */
    unsigned rr;      /* where paced sending resumes */
    double tokens;
    uint64_t last_ns;
    bool settled;
    struct meter meter;
};

/* Allocates the connection table and the epoll instance; takes ownership
 * of spec->listen_fd. False on failure. */
bool loop_init(struct loop *l, const struct loop_spec *spec);

/* Adds a connected, non-blocking socket (takes ownership of fd and ssl,
 * NULL for plain TCP): before loop_start, or on the loop's own thread
 * (accepted connections). A closed connection's slot is reused. False when
 * every slot is in use or memory runs out (fd and ssl then still belong to
 * the caller). */
bool loop_add(struct loop *l, int fd, SSL *ssl, unsigned id, const struct peer_form *form);

/* Runs the loop on a new thread. */
bool loop_start(struct loop *l);

/* Joins the thread (after phase.stop), closes every connection (counting
 * what is in flight as lost) and frees everything but the meter. */
void loop_finish(struct loop *l);

#endif
