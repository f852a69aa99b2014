/* pending: the bounded table of client transactions reusegw relayed from the
 * legacy proxy to a TLS peer, keyed by (Via branch, method class), holding
 * what responses need: the legacy connection to answer on and the exact
 * via-parm to restore; and what CANCEL / non-2xx ACK need: where the INVITE
 * went (R-5923-13).
 *
 * Owns its entry array, hash buckets and the list of entries waiting for
 * Timer F (one heap timer for all of them: they expire in the order they
 * came). Borrows the worker's timer heap to schedule RFC 3261 expiry and
 * its registry to count expiries. Never looks
 * at SIP bytes beyond the strings it is handed. */
#ifndef REUSEGW_PENDING_H
#define REUSEGW_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "core/timer.h"
#include "relay/relay-t.h"

/* pending_table_init sizes the table for |capacity| entries, arming expiry
 * on |timers| and counting expiries in |metrics| (both borrowed for the
 * table's life). False when out of memory. */
bool pending_table_init(struct pending_table *t, uint32_t capacity, struct timer_heap *timers,
                        struct metrics *metrics);

/* pending_table_track gives the table a list of entries per connection
 * slot (|conn_slots| of them) and a pool of at most |kept_blocks| blocks
 * of PENDING_KEPT_BLOCK bytes for what entries keep (pending.kept). False
 * when out of memory. Without it the lists below are never used. */
bool pending_table_track(struct pending_table *t, uint32_t conn_slots, uint32_t kept_blocks);

/* pending_table_free disarms every entry and releases the table. */
void pending_table_free(struct pending_table *t);

/* pending_method_of classifies a request method. */
enum pending_method pending_method_of(const char *method, size_t len);

/* pending_add creates the entry for (|branch|, |method|), or returns the
 * existing one (a retransmission) refreshed. The entry expires |now_ms| plus
 * Timer C or F unless a final response shortens it. Returns NULL when the
 * table is full, the branch is empty or longer than PENDING_BRANCH_MAX, or
 * |via_len| exceeds PENDING_VIA_MAX. */
struct pending *pending_add(struct pending_table *t, const char *branch, size_t branch_len,
                            enum pending_method method, const char *via, size_t via_len,
                            uint64_t now_ms);

/* pending_find returns the entry for (|branch|, |method|) or NULL. */
struct pending *pending_find(const struct pending_table *t, const char *branch, size_t branch_len,
                             enum pending_method method);

/* pending_on_response updates |p| for a response with |status|. When both
 * hops are reliable (TCP, TLS), a non-INVITE or CANCEL transaction ends
 * with its final response (RFC 3261 §17.1.2.2: Timer K = 0) and |p| is
 * removed: do not use it afterwards. One that came over UDP (|unreliable|)
 * lingers PENDING_UDP_LINGER_MS after any final response instead (Timer J,
 * and Timer H for an INVITE), absorbing the proxy's retransmissions. An INVITE lingers 64*T1 after
 * a final response, 2xx included (RFC 6026 Timer M: 2xx retransmissions, and the ACK of a non-2xx
 * must still find where the INVITE went, R-5923-13); a provisional restarts its Timer C. */
void pending_on_response(struct pending_table *t, struct pending *p, unsigned status,
                         uint64_t now_ms);

/* pending_remove deletes |p| now (off its connection's list, what it kept
 * back to the pool). */
void pending_remove(struct pending_table *t, struct pending *p);

/* pending_link moves |p| to the end of the list of connection slot |slot|
 * (slot+1 numbering, as conn_ref; 0: only off the list it is on). */
void pending_link(struct pending_table *t, struct pending *p, uint32_t slot);

/* pending_first_on is the oldest entry on the list of |slot|, or NULL;
 * pending_next_on the one after |p| on its list, or NULL. */
struct pending *pending_first_on(const struct pending_table *t, uint32_t slot);
struct pending *pending_next_on(const struct pending_table *t, const struct pending *p);

#endif
