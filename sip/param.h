/* sip/param.h: the `;name[=value]` parameter lists that Via headers, URIs and
 * name-addrs share. Borrows the caller's bytes; never unescapes or unquotes
 * (a quoted value keeps its quotes). */
#ifndef REUSEGW_SIP_PARAM_H
#define REUSEGW_SIP_PARAM_H

#include "sip/error.h"
#include "sip/str.h"

/* One parameter. value is absent (p == NULL) for a value-less flag such as
 * `lr` or `alias`; `name=` gives a present, empty value. */
struct sip_param {
    struct sip_str name;
    struct sip_str value;
};

/* Reads the next parameter from *rest, which must start (after optional LWS)
 * with ';' or be only LWS. LWS (folded line ends included) is allowed around
 * ';' and '='. On SIP_OK with *found true, *out is filled and *rest moves
 * past it; at the end *found is false. A name or unquoted value is a
 * non-empty run of bytes other than LWS and ;=,?<>" (so a URI's parameters
 * end at '?'), a value may also be a quoted string; anything else returns
 * syntax_err, the code the caller wants reported. */
enum sip_err sip_param_next(struct sip_str *rest, struct sip_param *out, bool *found,
                            enum sip_err syntax_err);

/* Finds a parameter by lower-case name (matched case-insensitively) in a
 * parameter list (e.g. sip_name_addr.params). Returns false when absent or
 * the list is malformed. */
bool sip_param_find(struct sip_str list, const char *lower_name, struct sip_param *out);

#endif
