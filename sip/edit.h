/* sip/edit.h: message edits expressed as an iovec list over the original
 * bytes. Owns a short, fixed patch list and a few bytes of scratch for
 * generated numbers; borrows the message and every inserted string until
 * the iovec has been written; never copies the body or allocates. */
#ifndef REUSEGW_SIP_EDIT_H
#define REUSEGW_SIP_EDIT_H

#include <sys/uio.h>

#include "sip/message.h"
#include "sip/via.h"

/* Patches one edit session holds; each needs at most two iovec entries. */
#define SIP_EDIT_MAX_PATCHES 8

/* iovec entries sip_edit_iov can need: two per patch plus the tail. */
#define SIP_EDIT_MAX_IOV (2 * SIP_EDIT_MAX_PATCHES + 1)

/* Replace `del` bytes at `off` of the original by `ins` (either may be 0). */
struct sip_patch {
    size_t off;
    size_t del;
    struct sip_str ins;
};

/* One edit session over one parsed message. Patches are kept sorted by
 * offset; insertions at the same offset keep the order they were made in. */
struct sip_edit {
    const struct sip_msg *msg;
    struct sip_patch patches[SIP_EDIT_MAX_PATCHES];
    size_t npatches;
    char scratch[48]; /* "Content-Length: <any size_t>\r\n\r\n" fits */
};

/* Starts an edit session over msg (borrowed, with its buffer, until the
 * iovec is consumed). The output covers the header section and the body,
 * not trailing bytes past Content-Length. */
void sip_edit_init(struct sip_edit *ed, const struct sip_msg *msg);

/* Replaces del bytes at `at` (inside the message) with ins (borrowed).
 * SIP_ERR_EDIT_OVERLAP if the range crosses an earlier patch or leaves the
 * message, SIP_ERR_NO_SPACE when the patch list is full. */
enum sip_err sip_edit_replace(struct sip_edit *ed, const char *at, size_t del, struct sip_str ins);

/* Client-role rewrite of the topmost Via (top from sip_via_parse_first on
 * the same message): `SIP/2.0/TLS <sent_by><original params>` and, when
 * add_alias is set and the Via has no alias flag yet, `;alias` at the end.
 * Branch and every other parameter stay byte for byte. sent_by borrowed.
 * All or nothing: on error the session is as before the call. */
enum sip_err sip_edit_via_client(struct sip_edit *ed, const struct sip_via *top,
                                 struct sip_str sent_by, bool add_alias);

/* Writes msg[0..len) into out (cap bytes) with the span |parm| (the
 * topmost via-parm, a slice of msg) replaced by |original| (bytes the
 * caller kept from the request): the Via restore of a response, the one
 * edit it needs, so it takes no parsed message and no edit session and
 * works on a message sip_peek only looked at. Returns the length written,
 * or 0 when |parm| is not inside msg or the result does not fit. */
size_t sip_via_splice(const char *msg, size_t len, struct sip_str parm, struct sip_str original,
                      char *out, size_t cap);

/* Removes one value of a comma-list header: `value` must be an element
 * that sip_list_next returned for h->value. The header line goes entirely
 * when it was the only value; otherwise the value and one comma go. */
enum sip_err sip_edit_drop_value(struct sip_edit *ed, const struct sip_header *h,
                                 struct sip_str value);

/* Pops the topmost Route value (first value of the first Route header).
 * SIP_ERR_NOT_FOUND without Route. */
enum sip_err sip_edit_pop_route(struct sip_edit *ed);

/* Inserts a complete header line (with its CRLF, borrowed) right after
 * the start line. */
enum sip_err sip_edit_prepend_header(struct sip_edit *ed, struct sip_str line);

/* Makes Content-Length say body_len: rewrites the first Content-Length
 * value if it differs, or adds a header before the empty line when there is
 * none. Nothing changes when it is already right. Uses the session's one
 * scratch buffer: call it at most once per session. */
enum sip_err sip_edit_content_length(struct sip_edit *ed, size_t body_len);

/* Writes the edited message as at most max_iov entries of iov (use
 * SIP_EDIT_MAX_IOV to never run short); *niov and *total receive the entry
 * count and the byte count. SIP_ERR_NO_SPACE when iov is too short. */
enum sip_err sip_edit_iov(const struct sip_edit *ed, struct iovec *iov, size_t max_iov,
                          size_t *niov, size_t *total);

#endif
