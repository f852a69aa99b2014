/* conn_proxy: the PROXY protocol on tls.listen (tls.proxy_protocol). A
 * connection from a trusted balancer must begin with a v1 or v2 header;
 * the client it names becomes the connection's peer — alias key, per-peer
 * limit, logs, /aliases — before the TLS engine sees a byte. A connection
 * from any other source must not send one.
 *
 * Owns nothing: a connection waiting for its header keeps the part
 * received so far in its framing block (c->in, at most PP_MAX_HEADER
 * bytes), released before the handshake starts. Borrows the layer, its
 * snapshot (the trusted ranges, the header timeout) and the parser
 * (core/proxy_proto.h). Never logs the opened line before the real peer is
 * known, and never logs the closing of a connection that never had one: a
 * refused header has its own warning, a health check (v2 LOCAL) is quiet. */
#ifndef REUSEGW_CONN_PROXY_H
#define REUSEGW_CONN_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn/conn-t.h"
#include "core/proxy_proto.h"

/* proxy_reject extends enum pp_error with the reasons only a connection
 * knows: the source is not trusted, the header did not come within
 * tls.proxy_protocol.timeout, the balancer hung up within it. The whole
 * enum is the reason label of reusegw_proxy_protocol_rejected_total. */
enum proxy_reject {
    PROXY_REJECT_UNTRUSTED = PP_ERRORS,
    PROXY_REJECT_TIMEOUT,
    PROXY_REJECT_TRUNCATED,
    PROXY_REJECTS
};

/* conn_proxy_on reports whether tls.proxy_protocol trusts any source. */
bool conn_proxy_on(const struct conn_layer *cl);

/* conn_proxy_trusts reports whether |peer| (IPv4-mapped IPv6 read as IPv4)
 * is in tls.proxy_protocol.trusted. */
bool conn_proxy_trusts(const struct conn_layer *cl, const struct sockaddr_storage *peer);

/* conn_proxy_await makes just-accepted |c| (from a trusted balancer) wait
 * for its header, under the header deadline. */
void conn_proxy_await(struct conn_layer *cl, struct conn *c);

/* conn_proxy_ingest takes bytes received on |c| while c->proxy_wait or
 * c->proxy_sniff (|data| borrowed for the call): with a whole header, the
 * real peer replaces the balancer, the limits judge it, and the handshake
 * starts on the bytes after the header; a LOCAL header closes |c| quietly;
 * anything wrong closes it, logged and counted. An untrusted source's
 * first bytes go to the engine unless they begin like a header. */
void conn_proxy_ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len);

/* conn_proxy_reject closes waiting |c| for |why| (enum pp_error or enum
 * proxy_reject): logged (rate-limited) and counted. */
void conn_proxy_reject(struct conn_layer *cl, struct conn *c, unsigned why);

/* conn_proxy_hung_up handles EOF or a reset on waiting |c|: truncated
 * when part of a header had come, quiet when nothing had (a balancer's
 * plain TCP check). The caller closes |c|. */
void conn_proxy_hung_up(struct conn_layer *cl, struct conn *c);

#endif
