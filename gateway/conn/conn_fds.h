/* conn_fds: the descriptor reserve under RLIMIT_NOFILE and the spare
 * descriptor (issue 20 item 7).
 *
 * A new connection, accepted or dialled, is refused when its descriptor
 * number shows that fewer than a reserve remain under the soft
 * RLIMIT_NOFILE (the kernel hands out the lowest free number, so a socket
 * numbered n means n descriptors are in use): an accepted one is closed at
 * once, so the peer learns in one round trip instead of timing out in the
 * listen backlog; a dial keeps half the reserve, so the requests of
 * connections already admitted still reach their mirror or peer; the last
 * half serves the admin endpoint, DNS and the rest. When accept fails for
 * want of descriptors all the same (EMFILE, ENFILE), the spare descriptor
 * held open on /dev/null is given up for a moment to accept and close what
 * waits in the backlog. Each refusal counts in
 * reusegw_limit_hits_total{limit="fds"}, logged rate-limited.
 *
 * Owns the spare descriptor and the thresholds (struct conn_fds, in the
 * conn_layer). Borrows the layer's registry and the listener it sheds.
 * Never closes a connection's socket itself except the ones it refuses. */
#ifndef REUSEGW_CONN_FDS_H
#define REUSEGW_CONN_FDS_H

#include <stdbool.h>

#include "conn/conn-t.h"

/* conn_fds_init reads RLIMIT_NOFILE into |f|'s thresholds and opens the
 * spare descriptor (-1 when even that fails). */
void conn_fds_init(struct conn_fds *f);

/* conn_fds_free closes the spare descriptor. */
void conn_fds_free(struct conn_fds *f);

/* conn_fds_admit decides whether new socket |fd|, accepted (|dial| false)
 * or made for a dial (|dial| true), leaves the reserve intact. On false
 * the hit is counted and logged (rate-limited) and the caller closes |fd|. */
bool conn_fds_admit(struct conn_layer *cl, int fd, bool dial);

/* conn_fds_out reports whether accept or socket error |err| means that
 * descriptors ran out (EMFILE, ENFILE). */
bool conn_fds_out(int err);

/* conn_fds_shed runs after accept on |listen_fd| failed with EMFILE or
 * ENFILE: it closes the spare, accepts and closes at once what waits in
 * the backlog (a bounded number, each counted), and opens the spare again.
 * Returns how many it shed: 0 when the backlog was empty or there was no
 * spare to give up, and the caller should rest the listener a moment
 * instead of accepting again at once. */
unsigned conn_fds_shed(struct conn_layer *cl, int listen_fd);

#endif
