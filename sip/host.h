/* sip/host.h: host and port as they appear in Via sent-by and SIP URIs
 * (RFC 3261 §25.1 hostport). Borrows the caller's bytes; never resolves
 * names or converts addresses to binary form. */
#ifndef REUSEGW_SIP_HOST_H
#define REUSEGW_SIP_HOST_H

#include "sip/error.h"
#include "sip/str.h"

/* What kind of host a hostport names. */
enum sip_host_kind {
    SIP_HOST_DNS,  /* a host name */
    SIP_HOST_IPV4, /* dotted quad */
    SIP_HOST_IPV6, /* IPv6reference: host keeps the brackets */
};

/* A parsed host[:port]. */
struct sip_hostport {
    struct sip_str host; /* as written; IPv6 with its brackets */
    enum sip_host_kind kind;
    bool has_port;
    uint16_t port; /* 1..65535 when has_port, else 0 */
};

/* Parses a hostport at the start of [p, end) and stops at the first byte
 * that cannot continue it. Returns the stop position, or NULL with *err set
 * (SIP_ERR_HOST or SIP_ERR_PORT). */
const char *sip_hostport_parse(const char *p, const char *end, struct sip_hostport *hp,
                               enum sip_err *err);

/* The IPv6 address of an IPv6 host without its brackets; other hosts as is. */
struct sip_str sip_host_address(const struct sip_hostport *hp);

#endif
