/* sip/uri.h: SIP and SIPS URIs (RFC 3261 §19.1) and the name-addr /
 * addr-spec forms of From, To, Contact and Route (§20.10). Borrows the
 * caller's bytes; never unescapes, resolves or normalises. */
#ifndef REUSEGW_SIP_URI_H
#define REUSEGW_SIP_URI_H

#include "sip/host.h"
#include "sip/param.h"

/* URI schemes the gateway routes on. */
enum sip_scheme {
    SIP_SCHEME_SIP,
    SIP_SCHEME_SIPS,
    SIP_SCHEME_OTHER, /* tel:, http:, ...: only scheme_str is filled */
};

/* A parsed sip:/sips: URI; components are slices of the input. */
struct sip_uri {
    enum sip_scheme scheme;
    struct sip_str scheme_str; /* as written, without the colon */
    struct sip_str user;       /* escaped as written; absent without userinfo */
    struct sip_str password;   /* absent when userinfo has no ':' */
    struct sip_hostport hp;
    struct sip_str params;    /* ";transport=tls;lr", or empty */
    struct sip_str headers;   /* after '?', absent when none */
    struct sip_str transport; /* uri-parameter values, absent when missing */
    struct sip_str maddr;
    struct sip_str user_param; /* user=phone */
    bool lr;
};

/* Parses a whole URI, e.g. a Request-URI or the inside of <...>. Returns
 * SIP_ERR_URI_SCHEME (with scheme OTHER and scheme_str set) for a
 * syntactically valid absoluteURI of another scheme, SIP_ERR_URI, _HOST or
 * _PORT on bad syntax. */
enum sip_err sip_uri_parse(const char *p, size_t len, struct sip_uri *uri);

/* A name-addr or addr-spec with its header parameters. */
struct sip_name_addr {
    struct sip_str display; /* quoted string (quotes kept) or tokens; absent when none */
    struct sip_str uri;     /* between < and >, or the addr-spec */
    bool angle;             /* the URI was enclosed in <> */
    struct sip_str params;  /* header parameters after the URI (";tag=x"), or empty */
};

/* Parses one name-addr / addr-spec (one element of a comma list). In the
 * addr-spec form everything after the first ';' is a header parameter and a
 * '?' in the URI is an error (§20.10: such URIs need <>). Does not parse the
 * URI itself: call sip_uri_parse on na->uri. Returns SIP_ERR_NAME_ADDR. */
enum sip_err sip_name_addr_parse(struct sip_str value, struct sip_name_addr *na);

#endif
