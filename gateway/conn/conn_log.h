/* conn_log: the one INFO line a connection gets when it opens and the one
 * it gets when it closes — peer, kind, identity, duration, reason — and
 * nothing per message.
 *
 * Owns nothing. Borrows the layer and the connection of each call. Never
 * changes a connection. */
#ifndef REUSEGW_CONN_LOG_H
#define REUSEGW_CONN_LOG_H

#include <stddef.h>
#include <sys/socket.h>

#include "core/addr.h" /* addr_format, ADDR_TEXT_MAX: how its lines write addresses */

struct conn;
struct conn_layer;

/* conn_log_opened logs that |c| was accepted or dialled; it also starts
 * the clock conn_log_closed reports. */
void conn_log_opened(struct conn_layer *cl, struct conn *c);

/* conn_log_closed logs that |c| is closing now, with its certificate's
 * first identity (when it has one), how long it lived, and the reason its
 * closer gave (c->close_why). Call it once, before |c| releases its
 * identities. */
void conn_log_closed(struct conn_layer *cl, const struct conn *c);

#endif
