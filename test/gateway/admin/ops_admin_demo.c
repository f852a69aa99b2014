/* ops_admin_demo: the admin endpoint on a real loop, serving two worker
 * registries filled with known values, for test_admin.py (promtool and the
 * HTTP behaviour). A test fixture, not a fake: the server, loop and
 * renderer are the real ones; only the numbers are made up.
 *
 * Usage: ops_admin_demo ready|unready. Prints "port N" once listening and
 * serves until its stdin reaches EOF. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config/config.h"
#include "core/metrics.h"
#include "ops_loop.h"

static struct metrics workers[2];
static bool ready;
static int64_t cert_not_after;

static size_t render(void *ctx, char *buf, size_t cap)
{
    const struct metrics *regs[2] = {&workers[0], &workers[1]};
    const struct metrics_cert cert = {.identity = "b.test", .not_after = cert_not_after};
    struct metrics_info info = {
        .io_backend = "io_uring", .certs = &cert, .n_certs = 1, .now = time(NULL)};
    return metrics_render(regs, 2, &info, buf, cap);
}

static void readiness(void *ctx, struct admin_readiness *out)
{
    out->listeners_bound = true;
    out->certificate_loaded = true;
    out->legacy_reachable = ready;
    out->draining = !ready;
}

/* fill sets values the test checks: per-worker parts that must be summed. */
static void fill(void)
{
    metrics_add(&workers[0], M_REUSE_REUSED, 5);
    metrics_add(&workers[1], M_REUSE_REUSED, 7);
    metrics_add(&workers[1], M_REUSE_IDENTITY_MISMATCH, 2);
    metrics_add(&workers[0], M_503_DNS_TIMEOUT, 3);
    metrics_add(&workers[0], M_BYTES_TO_PEER, 1000);
    metrics_add(&workers[1], M_BYTES_TO_PEER, 234);
    metrics_inc(&workers[0], M_MSG_TO_LEGACY_REQUEST);
    metrics_gauge_add(&workers[0], metrics_conn_id(0, 2), 3); /* tls_in open */
    metrics_gauge_add(&workers[1], metrics_conn_id(0, 2), -1);
    metrics_gauge_add(&workers[1], M_ALIAS_ROWS, 4);
    metrics_inc(&workers[0], metrics_parse_error_id(SIP_ERR_CL_MISSING));
    metrics_add(&workers[0], M_LIMIT_FIRST + 7, 2); /* message_timeout */
    metrics_inc(&workers[1], M_LIMIT_FIRST + 7);
    metrics_observe_batch(&workers[0], 1);
    metrics_observe_batch(&workers[0], 3);
    metrics_observe_batch(&workers[1], 300);
    cert_not_after = time(NULL) + 86400;
}

int main(int argc, char **argv)
{
    ready = argc > 1 && strcmp(argv[1], "ready") == 0;
    fill();
    struct ops_loop l;
    ops_loop_init(&l);
    struct cfg_hostport listen = {.host = "127.0.0.1", .port = 0};
    struct admin_hooks hooks = {.readiness = readiness, .metrics = render};
    l.admin = admin_new(l.loop, &l.timers, &listen, OPS_TAG_ADMIN, &hooks);
    if (!l.admin)
        return 1;
    printf("port %u\n", admin_port(l.admin));
    fflush(stdout);
    char byte;
    loop_read(l.loop, 0, &byte, 1, (uint64_t)OPS_TAG_STOP << 56);
    while (!l.stopped)
        ops_loop_run(&l, &l.stopped, 1000);
    admin_free(l.admin);
    ops_loop_free(&l);
    return 0;
}
