/* sip/chars.h: character classes shared by the sip/ parsers (internal).
 * Tables, not ctype.h: no locale, no per-byte function call. */
#ifndef REUSEGW_SIP_CHARS_H
#define REUSEGW_SIP_CHARS_H

/* Non-zero for RFC 3261 token characters: alphanum and -.!%*_+`'~ */
extern const unsigned char sip_token_chars[256];

/* Non-zero for bytes that end an unquoted parameter name or value:
 * LWS and ; = , ? < > " (sip/param.c). */
extern const unsigned char sip_param_stop[256];

/* Non-zero for host-name bytes: alphanum - . _ (sip/host.c). */
extern const unsigned char sip_host_chars[256];

#endif
