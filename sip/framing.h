/* sip/framing.h: stream framing of SIP over TCP/TLS (RFC 3261 §18.3) and
 * RFC 5626 keepalives. Owns a few words of resumable scan state; borrows the
 * caller's receive buffer for the length of one call; never copies,
 * allocates, or looks past the header section except to count body bytes. */
#ifndef REUSEGW_SIP_FRAMING_H
#define REUSEGW_SIP_FRAMING_H

#include <stddef.h>

#include "sip/error.h"

/* What the bytes at the start of the buffer turned out to be. */
enum sip_frame_event {
    SIP_FRAME_NEED_MORE, /* incomplete: call again with the same bytes plus more */
    SIP_FRAME_MESSAGE,   /* one complete message of out->len bytes */
    SIP_FRAME_PING,      /* RFC 5626 double-CRLF keepalive (4 bytes): answer "\r\n" */
    SIP_FRAME_PONG,      /* single CRLF (2 bytes) or stray LF (1 byte) before a
                            message: drop it */
    SIP_FRAME_ERROR,     /* unrecoverable: out->err says why; close the stream */
};

/* Resumable scan state for one stream. Zero-initialise it (or call
 * sip_framer_init); it resets itself after every MESSAGE, PING or PONG.
 * After ERROR the stream cannot be resynchronised: init it before reuse. */
struct sip_framer {
    size_t line_start; /* offset of the header line being scanned */
    size_t scan;       /* where the search for the next LF resumes */
    size_t cl_line;    /* offset of the first Content-Length line */
    size_t cl_count;   /* Content-Length header lines seen so far */
    size_t total;      /* message length once the header section ended, else 0 */
    size_t header_len; /* header section length incl. the empty line, once known */
    size_t via_line;   /* offset of the first Via line, 0 until one is seen */
    size_t cseq_line;  /* offset of the first CSeq line, 0 until one is seen */
    size_t addr_line;  /* offset of the first Contact or Record-Route line, or 0 */
};

/* The outcome of one sip_framer_feed call. */
struct sip_frame {
    enum sip_frame_event event;
    size_t len;        /* MESSAGE/PING/PONG: bytes to consume from the buffer start */
    size_t header_len; /* MESSAGE: start line + headers + empty line */
    /* MESSAGE: offsets of the first Via (or compact `v`) and the first CSeq
     * header line, found by the same scan; 0 when absent (offset 0 is the
     * start line, never a header). sip_peek (sip/peek.h) reads them. */
    size_t via_line, cseq_line;
    /* MESSAGE: offset of the first Contact (or compact `m`) or
     * Record-Route line, 0 when there is none: the lines that advertise an
     * address, which a relay may have to look at (a response with none
     * names no address of the legacy side to a peer). */
    size_t addr_line;
    enum sip_err err; /* ERROR: the reason; else SIP_OK */
};

/* Resets a framer to the start-of-message state. */
void sip_framer_init(struct sip_framer *f);

/* Frames the unconsumed stream bytes buf[0..len). Between calls that return
 * NEED_MORE the caller must keep buf[0..len) unchanged and only append (the
 * buffer may move); each call costs O(new bytes), so a peer sending one byte
 * at a time costs O(n) in total. Content-Length (or compact `l`) is required
 * exactly once; the whole message, header section included, must fit in
 * max_message_bytes. Leading CRLFs are reported as PING/PONG events, not
 * skipped silently. A CRLF is a PONG only once the byte after it is known
 * not to continue a ping, so a lone pong waits in the buffer (NEED_MORE)
 * until more bytes arrive, and a split ping is never misread. Line ends may
 * be CRLF or bare LF. Fills *out and returns out->event. */
enum sip_frame_event sip_framer_feed(struct sip_framer *f, const char *buf, size_t len,
                                     size_t max_message_bytes, struct sip_frame *out);

/* Frames one UDP datagram buf[0..len) (RFC 3261 §18.3): one datagram is
 * one message. Leading CR/LF bytes (keepalives, or stray line ends before
 * a start line) are a PONG of their length: skip them and call again with
 * the rest. Content-Length may be absent: the body is the rest of the
 * datagram; when present, bytes after it are discarded (MESSAGE's len says
 * where it ends), and a value larger than what the datagram carries is
 * SIP_ERR_BODY_TRUNCATED. A header section without its empty line is
 * SIP_ERR_HEADER_SYNTAX; duplicate or invalid Content-Length and the size
 * limit are reported as sip_framer_feed does. Stateless: fills *out and
 * returns out->event (never NEED_MORE or PING). */
enum sip_frame_event sip_frame_datagram(const char *buf, size_t len, size_t max_message_bytes,
                                        struct sip_frame *out);

/* Parses a Content-Length value starting after the colon of its header line
 * and running to `end` (the end of the logical header, folding allowed):
 * optional LWS, 1*DIGIT, optional LWS. Values above 2^32 are rejected. */
enum sip_err sip_content_length_parse(const char *p, const char *end, size_t *value);

#endif
