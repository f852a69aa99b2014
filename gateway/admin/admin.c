/* admin: accept, read one request head, answer, close — on the loop.
 *
 * A connection slot is reused only when neither its receive nor its send is
 * in flight any more, so a completion always finds the buffers it used; tags
 * carry the slot's generation so late completions of an older user are
 * recognised and dropped. */
#include "admin/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin/admin_http.h"
#include "config/config.h"
#include "core/log.h"
#include "core/strbuf.h"

enum tag_kind { K_ACCEPT = 1, K_RECV, K_SEND };

struct admin_conn {
    int fd; /* -1 once closed */
    uint32_t gen;
    bool used;
    bool recv_armed;
    bool send_inflight;
    bool answered; /* a response is queued: ignore further input */
    size_t req_len;
    char req[ADMIN_REQUEST_MAX];
    char *resp;
    size_t resp_len, resp_sent;
    struct timer timer;
    struct admin_server *a;
};

struct admin_server {
    struct loop *loop;
    struct timer_heap *timers;
    struct admin_hooks hooks;
    uint8_t tag_op;
    int fd;
    bool accept_armed;
    uint16_t port;
    struct admin_conn conns[ADMIN_MAX_CONNS];
};

static uint64_t make_tag(const struct admin_server *a, enum tag_kind kind, uint32_t slot,
                         uint32_t gen)
{
    return (uint64_t)a->tag_op << 56 | (uint64_t)kind << 48 | (uint64_t)(slot & 0xffff) << 32 | gen;
}

static uint32_t slot_of(const struct admin_server *a, const struct admin_conn *c)
{
    return (uint32_t)(c - a->conns) + 1;
}

static void arm_accept(struct admin_server *a)
{
    if (!a->accept_armed && a->fd >= 0 &&
        loop_accept(a->loop, a->fd, make_tag(a, K_ACCEPT, 0, 0)) == 0)
        a->accept_armed = true;
}

static void arm_recv(struct admin_server *a, struct admin_conn *c)
{
    if (loop_recv(a->loop, c->fd, make_tag(a, K_RECV, slot_of(a, c), c->gen)) == 0)
        c->recv_armed = true;
}

/* release frees the slot once nothing of it is in flight. */
static void release_if_idle(struct admin_conn *c)
{
    if (c->fd >= 0 || c->recv_armed || c->send_inflight)
        return;
    free(c->resp);
    c->resp = NULL;
    c->used = false;
    c->gen++;
}

/* finish closes |c|: stops reading (cancel by tag, never by fd number,
 * which may already belong to someone else once closed) and closes the
 * socket; the slot follows when the last completion is in. */
static void finish(struct admin_server *a, struct admin_conn *c)
{
    timer_disarm(a->timers, &c->timer);
    if (c->recv_armed)
        loop_cancel(a->loop, make_tag(a, K_RECV, slot_of(a, c), c->gen));
    if (c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        close(c->fd);
        c->fd = -1;
    }
    release_if_idle(c);
}

static void on_timeout(void *ctx, struct timer *timer)
{
    struct admin_conn *c = ctx;
    finish(c->a, c);
}

static void send_more(struct admin_server *a, struct admin_conn *c)
{
    if (loop_send(a->loop, c->fd, c->resp + c->resp_sent, c->resp_len - c->resp_sent,
                  make_tag(a, K_SEND, slot_of(a, c), c->gen)) == 0)
        c->send_inflight = true;
    else
        finish(a, c);
}

static void readiness_text(const struct admin_readiness *r, char *buf, size_t cap, unsigned *status)
{
    bool ready = r->listeners_bound && r->certificate_loaded && r->legacy_reachable && !r->draining;
    *status = ready ? 200 : 503;
    if (ready) {
        snprintf(buf, cap, "ready\n");
        return;
    }
    snprintf(buf, cap, "not ready:%s%s%s%s\n", r->listeners_bound ? "" : " listeners_unbound",
             r->certificate_loaded ? "" : " certificate_missing",
             r->legacy_reachable ? "" : " legacy_unreachable", r->draining ? " draining" : "");
}

static bool path_is(const struct admin_request *req, const char *path)
{
    return req->path_len == strlen(path) && memcmp(req->path, path, req->path_len) == 0;
}

/* hook_body writes the body of a path the hooks answer into |buf| (|cap|
 * bytes) and returns its length (>= |cap|: it did not fit); a hook that is
 * NULL answers an honest empty body. A /connections query that does not
 * parse is a JSON 400 naming the parameter. */
static size_t hook_body(const struct admin_hooks *h, const struct admin_request *req, char *buf,
                        size_t cap, unsigned *status, const char **type)
{
    if (path_is(req, "/metrics")) {
        *type = "text/plain; version=0.0.4; charset=utf-8";
        return h->metrics ? h->metrics(h->ctx, buf, cap) : 0;
    }
    *type = "application/json";
    if (path_is(req, "/aliases"))
        return h->aliases ? h->aliases(h->ctx, buf, cap) : (size_t)snprintf(buf, cap, "[]\n");
    if (path_is(req, "/certificates"))
        return h->certificates ? h->certificates(h->ctx, buf, cap)
                               : (size_t)snprintf(buf, cap, "{}\n");
    struct admin_page page;
    struct admin_query_error err;
    if (!admin_parse_page(req->query, req->query_len, &page, &err)) {
        struct strbuf j = {.buf = buf, .cap = cap};
        *status = 400;
        strbuf_printf(&j, "{\"error\": \"bad query\", \"parameter\": ");
        strbuf_json_string(&j, err.param, err.param_len);
        strbuf_printf(&j, ", \"reason\": \"%s\"}\n", err.why);
        return j.len;
    }
    return h->connections ? h->connections(h->ctx, &page, buf, cap)
                          : (size_t)snprintf(buf, cap, "{\"total\": 0, \"connections\": []}\n");
}

/* answer builds the response for a parsed head and starts sending it. */
static void answer(struct admin_server *a, struct admin_conn *c, enum admin_parse parsed,
                   const struct admin_request *req)
{
    static const char text[] = "text/plain; charset=utf-8";
    char small[256];
    char *body = small;
    char *big = NULL;
    size_t body_len = 0;
    unsigned status = 200;
    const char *type = text;
    static const unsigned parse_status[] = {[ADMIN_BAD_REQUEST] = 400,
                                            [ADMIN_BAD_METHOD] = 405,
                                            [ADMIN_BAD_VERSION] = 505,
                                            [ADMIN_TOO_LARGE] = 431};
    if (parsed != ADMIN_REQUEST_OK) {
        status = parse_status[parsed];
        body_len = (size_t)snprintf(small, sizeof(small), "%s\n", admin_status_line(status));
    } else if (path_is(req, "/healthz")) {
        body_len = (size_t)snprintf(small, sizeof(small), "ok\n");
    } else if (path_is(req, "/ready")) {
        struct admin_readiness r = {0};
        if (a->hooks.readiness)
            a->hooks.readiness(a->hooks.ctx, &r);
        readiness_text(&r, small, sizeof(small), &status);
        body_len = strlen(small);
    } else if (path_is(req, "/metrics") || path_is(req, "/aliases") ||
               path_is(req, "/certificates") || path_is(req, "/connections")) {
        big = malloc(ADMIN_BODY_MAX);
        if (big) {
            body = big;
            body_len = hook_body(&a->hooks, req, big, ADMIN_BODY_MAX, &status, &type);
        }
        if (!big || body_len >= ADMIN_BODY_MAX) {
            status = 500;
            type = text;
            body = small;
            body_len = (size_t)snprintf(small, sizeof(small), "response too large\n");
        }
    } else {
        status = 404;
        body_len = (size_t)snprintf(small, sizeof(small), "not found\n");
    }
    c->answered = true;
    size_t cap = body_len + 512;
    c->resp = malloc(cap);
    c->resp_len = c->resp ? admin_write_response(c->resp, cap, status, type, body, body_len) : 0;
    free(big);
    if (!c->resp_len) {
        finish(a, c);
        return;
    }
    c->resp_sent = 0;
    if (c->recv_armed) /* the head is complete: nothing more to read */
        loop_cancel(a->loop, make_tag(a, K_RECV, slot_of(a, c), c->gen));
    send_more(a, c);
}

static void on_accept(struct admin_server *a, const struct loop_event *ev)
{
    if (!ev->more)
        a->accept_armed = false;
    if (ev->res >= 0) {
        struct admin_conn *c = NULL;
        for (size_t i = 0; i < ADMIN_MAX_CONNS && !c; i++)
            if (!a->conns[i].used)
                c = &a->conns[i];
        if (!c) {
            LOG_RATELIMITED(LOG_WARN, "admin: too many connections, closing one",
                            LF_UINT("max", ADMIN_MAX_CONNS));
            close(ev->res);
        } else {
            uint32_t gen = c->gen;
            memset(c, 0, sizeof(*c));
            c->gen = gen;
            c->used = true;
            c->fd = ev->res;
            c->a = a;
            c->timer.fire = on_timeout;
            c->timer.ctx = c;
            if (!timer_arm(a->timers, &c->timer, timer_now_ms() + ADMIN_TIMEOUT_MS)) {
                finish(a, c);
            } else {
                arm_recv(a, c);
                if (!c->recv_armed)
                    finish(a, c);
            }
        }
    } else if (ev->res != -ECANCELED) {
        LOG_RATELIMITED(LOG_WARN, "admin: accept failed", LF_STR("reason", strerror(-ev->res)));
    }
    arm_accept(a);
}

static void on_recv(struct admin_server *a, struct admin_conn *c, const struct loop_event *ev)
{
    if (!ev->more)
        c->recv_armed = false;
    if (c->fd < 0 || c->answered) {
        release_if_idle(c);
        return;
    }
    if (ev->res > 0) {
        size_t room = sizeof(c->req) - c->req_len;
        size_t take = ev->len < room ? ev->len : room;
        memcpy(c->req + c->req_len, ev->data, take);
        c->req_len += take;
        struct admin_request req;
        enum admin_parse parsed = admin_parse_request(c->req, c->req_len, &req);
        if (parsed != ADMIN_NEED_MORE) {
            answer(a, c, parsed, &req);
            return;
        }
    } else if (ev->res != -ENOBUFS) {
        finish(a, c); /* EOF or error before a whole head */
        return;
    }
    if (!c->recv_armed)
        arm_recv(a, c);
}

static void on_send(struct admin_server *a, struct admin_conn *c, const struct loop_event *ev)
{
    c->send_inflight = false;
    if (c->fd < 0) {
        release_if_idle(c);
        return;
    }
    if (ev->res <= 0) {
        finish(a, c);
        return;
    }
    c->resp_sent += (size_t)ev->res;
    if (c->resp_sent < c->resp_len)
        send_more(a, c);
    else
        finish(a, c);
}

void admin_on_event(struct admin_server *a, const struct loop_event *ev)
{
    enum tag_kind kind = (enum tag_kind)((ev->tag >> 48) & 0xff);
    if (kind == K_ACCEPT) {
        on_accept(a, ev);
        return;
    }
    uint32_t slot = (uint32_t)(ev->tag >> 32) & 0xffff;
    if (slot == 0 || slot > ADMIN_MAX_CONNS)
        return;
    struct admin_conn *c = &a->conns[slot - 1];
    if (!c->used || c->gen != (uint32_t)ev->tag)
        return;
    if (kind == K_RECV)
        on_recv(a, c, ev);
    else if (kind == K_SEND)
        on_send(a, c, ev);
}

static int bind_listener(struct admin_server *a, const struct cfg_hostport *hp)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (inet_pton(AF_INET, hp->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(hp->port);
        len = sizeof(*in);
    } else if (inet_pton(AF_INET6, hp->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(hp->port);
        len = sizeof(*in6);
    } else {
        LOG_ERROR("admin.listen is not an IP address", LF_STR("address", hp->host));
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        char name[300];
        cfg_hostport_format(hp, name, sizeof(name));
        LOG_ERROR("admin: cannot listen", LF_STR("address", name),
                  LF_STR("reason", strerror(errno)));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    a->fd = fd;
    a->port = ntohs(ss.ss_family == AF_INET ? in->sin_port : in6->sin6_port);
    return 0;
}

struct admin_server *admin_new(struct loop *loop, struct timer_heap *timers,
                               const struct cfg_hostport *listen, uint8_t tag_op,
                               const struct admin_hooks *hooks)
{
    struct admin_server *a = calloc(1, sizeof(*a));
    if (!a) {
        LOG_ERROR("admin: out of memory");
        return NULL;
    }
    a->loop = loop;
    a->timers = timers;
    a->hooks = *hooks;
    a->tag_op = tag_op;
    a->fd = -1;
    for (size_t i = 0; i < ADMIN_MAX_CONNS; i++)
        a->conns[i].fd = -1;
    if (bind_listener(a, listen) != 0) {
        free(a);
        return NULL;
    }
    arm_accept(a);
    if (!a->accept_armed) {
        LOG_ERROR("admin: cannot arm accept: submission queue full");
        admin_free(a);
        return NULL;
    }
    return a;
}

uint16_t admin_port(const struct admin_server *a)
{
    return a->port;
}

void admin_free(struct admin_server *a)
{
    if (!a)
        return;
    if (a->fd >= 0) {
        if (a->accept_armed)
            loop_cancel(a->loop, make_tag(a, K_ACCEPT, 0, 0));
        close(a->fd);
    }
    for (size_t i = 0; i < ADMIN_MAX_CONNS; i++) {
        struct admin_conn *c = &a->conns[i];
        if (!c->used)
            continue;
        timer_disarm(a->timers, &c->timer);
        if (c->recv_armed)
            loop_cancel(a->loop, make_tag(a, K_RECV, slot_of(a, c), c->gen));
        if (c->fd >= 0)
            close(c->fd);
        /* A send still in flight borrows |resp|; the loop is torn down with
         * the worker right after, so its completion is never delivered. */
        free(c->resp);
    }
    free(a);
}
