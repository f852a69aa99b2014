/* ops_loop: a real gateway loop (loop.h + timer heap) for the ops tests,
 * dispatching completions by tag op to the DNS resolver and admin server,
 * plus helpers to run dnsmasq on a loopback address.
 *
 * Owns the loop and timer heap it creates and the dnsmasq child it starts.
 * Borrows the resolver and admin server it dispatches to. Never sleeps to
 * synchronise: it runs the loop until a condition holds or a deadline. */
#ifndef REUSEGW_TEST_OPS_LOOP_H
#define REUSEGW_TEST_OPS_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "admin/admin.h"
#include "dns/dns.h"
#include "core/loop.h"
#include "core/timer.h"

/* Tag ops: completions for the resolver, the admin server, and any other
 * operation, which just sets |stopped| (a test's "stop" signal). */
enum { OPS_TAG_DNS = 0x41, OPS_TAG_ADMIN = 0x42, OPS_TAG_STOP = 0x43 };

struct ops_loop {
    struct loop *loop;
    struct timer_heap timers;
    struct dns_resolver *dns;   /* borrowed; may be NULL */
    struct admin_server *admin; /* borrowed; may be NULL */
    bool stopped;               /* an OPS_TAG_STOP operation completed */
};

/* ops_loop_init creates the loop and a timer heap; aborts the test on
 * failure. Release with ops_loop_free. */
void ops_loop_init(struct ops_loop *l);
void ops_loop_free(struct ops_loop *l);

/* ops_loop_run turns the loop until *|done| is true or |timeout_ms| passed;
 * returns *|done|. */
bool ops_loop_run(struct ops_loop *l, const bool *done, uint64_t timeout_ms);

/* ops_loop_run_while_pending turns the loop until the resolver has nothing
 * in flight or |timeout_ms| passed; returns true when it drained. */
bool ops_loop_run_while_pending(struct ops_loop *l, uint64_t timeout_ms);

/* dnsmasq_server is one dnsmasq child answering on |addr|:|port| (UDP). */
struct dnsmasq_server {
    pid_t pid;
    char addr[32];
    uint16_t port;
};

/* dnsmasq_start runs dnsmasq in the foreground on a fresh loopback address
 * with authority for the zone "test", answering with TTL |ttl| seconds from
 * the extra options |records| (NULL terminated), and waits until it
 * answers. Returns false when it cannot. */
bool dnsmasq_start(struct dnsmasq_server *s, unsigned ttl, const char *const *records);

/* dnsmasq_stop terminates and reaps the child. */
void dnsmasq_stop(struct dnsmasq_server *s);

#endif
