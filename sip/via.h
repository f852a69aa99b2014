/* sip/via.h: Via via-parm parsing (RFC 3261 §20.42, RFC 3581 rport,
 * RFC 5923 alias). Borrows the message bytes; fills caller-provided
 * structures only; never judges whether a sent-by is trustworthy. */
#ifndef REUSEGW_SIP_VIA_H
#define REUSEGW_SIP_VIA_H

#include "sip/host.h"
#include "sip/message.h"
#include "sip/param.h"

/* One parsed via-parm. Known parameters get their own fields; every
 * parameter (known ones included) can also be collected in order. */
struct sip_via {
    struct sip_str parm;      /* the whole via-parm: the range an edit replaces */
    struct sip_str name;      /* "SIP" */
    struct sip_str version;   /* "2.0" */
    struct sip_str transport; /* "TLS", "TCP", "UDP", or any other token */
    struct sip_str sent_by;   /* host[:port] exactly as written */
    struct sip_hostport hp;   /* sent_by parsed */
    struct sip_str params;    /* from the first ';' to the end of parm, or empty */
    struct sip_str branch;    /* values, absent when the parameter is */
    struct sip_str received;
    struct sip_str maddr;
    struct sip_str ttl;
    struct sip_str rport; /* present-but-empty for a bare `rport` */
    bool has_rport;
    bool alias;     /* value-less `alias` flag, any case (R-5923-01) */
    size_t nparams; /* parameters seen, whether or not they fit in the array */
};

/* Parses one via-parm (e.g. an element from sip_list_next on a Via value).
 * When params is not NULL, every parameter is also stored there in order and
 * more than max_params of them is SIP_ERR_TOO_MANY_PARAMS. `alias=value` is
 * a generic parameter, not the flag. Returns SIP_ERR_VIA, SIP_ERR_HOST or
 * SIP_ERR_PORT on bad syntax. */
enum sip_err sip_via_parse(struct sip_str parm, struct sip_via *via, struct sip_param *params,
                           size_t max_params);

/* Parses the topmost via-parm of a message: the first value of its first
 * Via header. SIP_ERR_MISSING_VIA when there is none. */
enum sip_err sip_via_parse_first(const struct sip_msg *msg, struct sip_via *via,
                                 struct sip_param *params, size_t max_params);

/* The port a sent-by implies: its explicit port, else the transport's
 * default (5061 for TLS and TLS-SCTP, else 5060). Never rport (R-5923-17). */
uint16_t sip_via_port(const struct sip_via *via);

#endif
