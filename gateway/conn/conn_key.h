/* conn_key: building, hashing and comparing the (address, port) key a TLS
 * connection is found by — one definition for the worker's own index
 * (conn/conn.h) and the shared peer index (conn/peer_index.h).
 *
 * Owns nothing; works on the caller's keys. Never looks at a connection. */
#ifndef REUSEGW_CONN_KEY_H
#define REUSEGW_CONN_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn/conn-t.h"

/* conn_key_from_sockaddr fills |key| from an IPv4/IPv6 address with |port|
 * overriding the address's own port when nonzero. False for other families. */
bool conn_key_from_sockaddr(struct conn_key *key, const struct sockaddr *sa, uint16_t port);

/* conn_key_format writes |key| as "ip:port" ("[ip]:port" for IPv6) into
 * |buf| of |len| bytes; false, and "" written, when it is not indexed
 * (family 0) or |buf| is too small. */
bool conn_key_format(const struct conn_key *key, char *buf, size_t len);

/* conn_key_hash hashes the meaningful bytes of |key|. */
uint32_t conn_key_hash(const struct conn_key *key);

/* conn_key_eq compares two keys (family, address, port). */
bool conn_key_eq(const struct conn_key *a, const struct conn_key *b);

#endif
