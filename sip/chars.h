/* sip/chars.h: character classes shared by the sip/ parsers (internal).
 * Tables, not ctype.h: no locale, no per-byte function call. */
#ifndef REUSEGW_SIP_CHARS_H
#define REUSEGW_SIP_CHARS_H

/* Non-zero for RFC 3261 token characters: alphanum and -.!%*_+`'~ */
extern const unsigned char sip_token_chars[256];

#endif
