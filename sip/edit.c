#include "sip/edit.h"

#include <stdio.h>
#include <string.h>

void sip_edit_init(struct sip_edit *ed, const struct sip_msg *msg)
{
    ed->msg = msg;
    ed->npatches = 0;
}

/* Length of the edited region: header section plus body. */
static size_t source_len(const struct sip_msg *msg)
{
    return msg->header_len + msg->body.len;
}

static enum sip_err add_patch(struct sip_edit *ed, size_t off, size_t del, struct sip_str ins)
{
    if (off > source_len(ed->msg) || del > source_len(ed->msg) - off)
        return SIP_ERR_EDIT_OVERLAP;
    if (ed->npatches == SIP_EDIT_MAX_PATCHES)
        return SIP_ERR_NO_SPACE;
    size_t i = ed->npatches;
    while (i > 0 && ed->patches[i - 1].off > off)
        i--;
    /* Neighbours must not overlap: the previous one ends at or before off,
     * the next one starts at or after our end. Insertions touch nothing. */
    if (i > 0 && ed->patches[i - 1].off + ed->patches[i - 1].del > off)
        return SIP_ERR_EDIT_OVERLAP;
    if (i < ed->npatches && off + del > ed->patches[i].off)
        return SIP_ERR_EDIT_OVERLAP;
    memmove(&ed->patches[i + 1], &ed->patches[i], (ed->npatches - i) * sizeof(ed->patches[0]));
    ed->patches[i] = (struct sip_patch){off, del, ins};
    ed->npatches++;
    return SIP_OK;
}

enum sip_err sip_edit_replace(struct sip_edit *ed, const char *at, size_t del, struct sip_str ins)
{
    const char *base = ed->msg->buf;
    if (at < base || at > base + source_len(ed->msg))
        return SIP_ERR_EDIT_OVERLAP;
    return add_patch(ed, (size_t)(at - base), del, ins);
}

enum sip_err sip_edit_via_client(struct sip_edit *ed, const struct sip_via *top,
                                 struct sip_str sent_by, bool add_alias)
{
    /* All three patches or none: undo from a copy of the patch list. */
    struct sip_patch saved[SIP_EDIT_MAX_PATCHES];
    size_t nsaved = ed->npatches;
    memcpy(saved, ed->patches, nsaved * sizeof(saved[0]));
    const char *sb_end = top->sent_by.p + top->sent_by.len;
    enum sip_err err = sip_edit_replace(ed, top->parm.p, (size_t)(sb_end - top->parm.p),
                                        SIP_STR_LIT("SIP/2.0/TLS "));
    if (!err)
        err = sip_edit_replace(ed, sb_end, 0, sent_by);
    if (!err && add_alias && !top->alias)
        err = sip_edit_replace(ed, top->parm.p + top->parm.len, 0, SIP_STR_LIT(";alias"));
    if (err) {
        memcpy(ed->patches, saved, nsaved * sizeof(saved[0]));
        ed->npatches = nsaved;
    }
    return err;
}

size_t sip_via_splice(const char *msg, size_t len, struct sip_str parm, struct sip_str original,
                      char *out, size_t cap)
{
    if (parm.p < msg || parm.p > msg + len || parm.len > len - (size_t)(parm.p - msg))
        return 0;
    size_t before = (size_t)(parm.p - msg), after = len - before - parm.len;
    if (original.len > cap || before + after > cap - original.len)
        return 0;
    memcpy(out, msg, before);
    memcpy(out + before, original.p, original.len);
    memcpy(out + before + original.len, parm.p + parm.len, after);
    return before + original.len + after;
}

enum sip_err sip_edit_drop_value(struct sip_edit *ed, const struct sip_header *h,
                                 struct sip_str value)
{
    struct sip_str rest = h->value, item, prev = {NULL, 0};
    while (sip_list_next(&rest, &item)) {
        if (item.p != value.p || item.len != value.len) {
            prev = item;
            continue;
        }
        struct sip_str next;
        struct sip_str after = rest;
        const char *cut_from, *cut_to;
        if (sip_list_next(&after, &next)) {
            cut_from = item.p; /* "a, b" -> "b" */
            cut_to = next.p;
        } else if (prev.p != NULL) {
            cut_from = prev.p + prev.len; /* "a, b" -> "a" */
            cut_to = item.p + item.len;
        } else {
            cut_from = h->line.p; /* the only value: the whole line goes */
            cut_to = h->line.p + h->line.len;
        }
        return sip_edit_replace(ed, cut_from, (size_t)(cut_to - cut_from), (struct sip_str){"", 0});
    }
    return SIP_ERR_NOT_FOUND;
}

enum sip_err sip_edit_pop_route(struct sip_edit *ed)
{
    const struct sip_header *h = sip_msg_header(ed->msg, SIP_HDR_ROUTE);
    struct sip_str rest, item;
    if (h == NULL)
        return SIP_ERR_NOT_FOUND;
    rest = h->value;
    if (!sip_list_next(&rest, &item))
        return SIP_ERR_NOT_FOUND;
    return sip_edit_drop_value(ed, h, item);
}

/* Offset just past the start line's line end. */
static size_t after_start_line(const struct sip_msg *msg)
{
    size_t off = (size_t)(msg->start_line.p - msg->buf) + msg->start_line.len;
    if (off < msg->len && msg->buf[off] == '\r')
        off++;
    if (off < msg->len && msg->buf[off] == '\n')
        off++;
    return off;
}

enum sip_err sip_edit_prepend_header(struct sip_edit *ed, struct sip_str line)
{
    return add_patch(ed, after_start_line(ed->msg), 0, line);
}

/* Offset where the empty line ending the header section starts, or the
 * header section's end when the message has no empty line (datagram). */
static size_t empty_line_offset(const struct sip_msg *msg, bool *has_empty)
{
    size_t h = msg->header_len;
    const char *b = msg->buf;
    *has_empty = true;
    if (h >= 2 && b[h - 1] == '\n' && b[h - 2] == '\r' && (h == 2 || b[h - 3] == '\n'))
        return h - 2;
    if (h >= 2 && b[h - 1] == '\n' && b[h - 2] == '\n')
        return h - 1;
    *has_empty = false;
    return h;
}

enum sip_err sip_edit_content_length(struct sip_edit *ed, size_t body_len)
{
    const struct sip_msg *msg = ed->msg;
    const struct sip_header *h = sip_msg_header(msg, SIP_HDR_CONTENT_LENGTH);
    if (h != NULL && msg->has_content_length && msg->content_length == body_len)
        return SIP_OK;
    /* Format aside and fill the scratch only once the patch is accepted:
     * a refused second call must not change the text of the first. */
    char text[sizeof(ed->scratch)];
    bool has_empty = true;
    size_t off;
    int n;
    if (h != NULL) {
        off = (size_t)(h->value.p - msg->buf);
        n = snprintf(text, sizeof(text), "%zu", body_len);
    } else {
        off = empty_line_offset(msg, &has_empty);
        n = snprintf(text, sizeof(text), "Content-Length: %zu\r\n%s", body_len,
                     has_empty ? "" : "\r\n");
    }
    if (n < 0 || (size_t)n >= sizeof(text))
        return SIP_ERR_NO_SPACE;
    enum sip_err err =
        add_patch(ed, off, h ? h->value.len : 0, (struct sip_str){ed->scratch, (size_t)n});
    if (err == SIP_OK)
        memcpy(ed->scratch, text, (size_t)n);
    return err;
}

enum sip_err sip_edit_iov(const struct sip_edit *ed, struct iovec *iov, size_t max_iov,
                          size_t *niov, size_t *total)
{
    const char *base = ed->msg->buf;
    size_t cur = 0, n = 0, bytes = 0;
    for (size_t i = 0; i <= ed->npatches; i++) {
        const struct sip_patch *pt = i < ed->npatches ? &ed->patches[i] : NULL;
        size_t upto = pt ? pt->off : source_len(ed->msg);
        if (upto > cur) {
            if (n == max_iov)
                return SIP_ERR_NO_SPACE;
            iov[n++] = (struct iovec){(void *)(base + cur), upto - cur};
            bytes += upto - cur;
        }
        if (pt == NULL)
            break;
        if (pt->ins.len > 0) {
            if (n == max_iov)
                return SIP_ERR_NO_SPACE;
            iov[n++] = (struct iovec){(void *)pt->ins.p, pt->ins.len};
            bytes += pt->ins.len;
        }
        cur = pt->off + pt->del;
    }
    *niov = n;
    *total = bytes;
    return SIP_OK;
}
