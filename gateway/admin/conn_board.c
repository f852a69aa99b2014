/* conn_board: filling, swapping and rendering the boards. */
#include "admin/conn_board.h"

#include <stdlib.h>
#include <string.h>

#include "conn/conn.h"
#include "conn/conn_key.h"
#include "conn/conn_ours.h"
#include "core/addr.h"
#include "core/strbuf.h"
#include "tls/conn.h"
#include "tls/identities.h"

/* Room kept at the end of the body for what follows the last row. */
enum { RENDER_TAIL = 128 };

bool conn_board_init(struct conn_board *b, unsigned worker)
{
    memset(b, 0, sizeof(*b));
    b->worker = worker;
    b->shown.rows = calloc(CONN_BOARD_ROWS, sizeof(struct conn_row));
    b->filling.rows = calloc(CONN_BOARD_ROWS, sizeof(struct conn_row));
    if (!b->shown.rows || !b->filling.rows || pthread_mutex_init(&b->lock, NULL) != 0) {
        free(b->shown.rows);
        free(b->filling.rows);
        b->shown.rows = b->filling.rows = NULL;
        return false;
    }
    return true;
}

void conn_board_free(struct conn_board *b)
{
    if (!b->shown.rows)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b->shown.rows);
    free(b->filling.rows);
    b->shown.rows = b->filling.rows = NULL;
}

/* fill_row copies what /connections shows of |c| into |r|. */
static void fill_row(struct conn_row *r, uint32_t slot, struct conn *c)
{
    /* A socket still connecting may not have its address yet (the connect
     * can still be queued): read it, once, from the handshake on. */
    const struct sockaddr *local = c->state != CONN_CONNECTING ? conn_local(c) : NULL;
    *r = (struct conn_row){.slot = slot,
                           .kind = c->kind,
                           .kind_name = conn_kind_name(c),
                           .state = c->state,
                           .ours = c->ours,
                           .key = c->key,
                           .opened_ms = c->opened_ms,
                           .active_ms = c->last_active_ms,
                           .msgs_in = c->msgs_in,
                           .msgs_out = c->msgs_out,
                           .bytes_in = c->bytes_in,
                           .bytes_out = c->bytes_out};
    if (c->peer_len)
        conn_key_from_sockaddr(&r->peer, (const struct sockaddr *)&c->peer, 0);
    if (local)
        conn_key_from_sockaddr(&r->local, local, 0);
    if (c->tls && (c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
        r->version = tls_conn_version(c->tls);
        r->cipher = tls_conn_cipher(c->tls);
        r->resumed = tls_conn_resumed(c->tls);
    }
    size_t used = 0;
    for (size_t i = 0; i < tls_identities_count(c->ids); i++) {
        const char *name = tls_identities_get(c->ids, i);
        size_t len = strlen(name) + 1;
        if (used + len > sizeof(r->names) || r->n_names == UINT8_MAX) {
            r->names_cut = true;
            break;
        }
        memcpy(r->names + used, name, len);
        used += len;
        r->n_names++;
    }
}

void conn_board_publish(struct conn_board *b, struct conn_table *table, uint64_t now_ms)
{
    struct conn_board_side *f = &b->filling;
    f->n = f->total = 0;
    f->at_ms = now_ms;
    for (uint32_t i = 1; i <= table->high; i++) {
        struct conn *c = conn_at(table, i);
        if (c->state == CONN_FREE || c->state == CONN_DEAD)
            continue;
        f->total++;
        if (f->n < CONN_BOARD_ROWS)
            fill_row(&f->rows[f->n++], i, c);
    }
    if (pthread_mutex_trylock(&b->lock) != 0)
        return; /* being read: the next publish shows it */
    struct conn_board_side shown = b->shown;
    b->shown = *f;
    *f = shown;
    pthread_mutex_unlock(&b->lock);
}

/* put_endpoint writes |k| as a JSON "ip:port" string (IPv6 in brackets),
 * or null when it is unknown. */
static void put_endpoint(struct strbuf *j, const struct conn_key *k)
{
    char text[ADDR_TEXT_MAX];
    if (conn_key_format(k, text, sizeof(text)))
        strbuf_printf(j, "\"%s\"", text);
    else
        strbuf_printf(j, "null");
}

static uint64_t since(uint64_t now_ms, uint64_t then_ms)
{
    return then_ms && now_ms > then_ms ? now_ms - then_ms : 0;
}

/* put_row writes one connection of worker |worker| as a JSON object. */
static void put_row(struct strbuf *j, const struct conn_row *r, unsigned worker,
                    const struct cfg_snapshot *cfg, uint64_t now_ms, bool first)
{
    static const char *const states[] = {[CONN_CONNECTING] = "connecting",
                                         [CONN_HANDSHAKE] = "handshake",
                                         [CONN_OPEN] = "open",
                                         [CONN_CLOSING] = "closing"};
    bool tls = r->kind == CONN_TLS_IN || r->kind == CONN_TLS_OUT;
    strbuf_printf(j,
                  "%s\n  {\"worker\": %u, \"connection\": %u, \"kind\": \"%s\", \"state\": \"%s\"",
                  first ? "" : ",", worker, r->slot, r->kind_name, states[r->state]);
    strbuf_printf(j, ", \"peer\": ");
    put_endpoint(j, &r->peer);
    strbuf_printf(j, ", \"local\": ");
    put_endpoint(j, &r->local);
    strbuf_printf(j, ", \"ours\": ");
    strbuf_json_cstr(j, tls || r->kind == CONN_EGRESS ? conn_ours_name(cfg, r->ours) : NULL);
    strbuf_printf(j, ", \"identities\": [");
    const char *name = r->names;
    for (unsigned i = 0; i < r->n_names; i++, name += strlen(name) + 1) {
        strbuf_printf(j, "%s", i ? ", " : "");
        strbuf_json_string(j, name, strlen(name));
    }
    strbuf_printf(j, "], \"identities_truncated\": %s, \"alias_keys\": [",
                  r->names_cut ? "true" : "false");
    if (r->kind == CONN_TLS_IN && r->key.family)
        put_endpoint(j, &r->key);
    strbuf_printf(j, "], \"target\": ");
    put_endpoint(j, r->kind == CONN_TLS_OUT ? &r->key : &(struct conn_key){0});
    strbuf_printf(j,
                  ", \"age_ms\": %llu, \"idle_ms\": %llu, \"messages_in\": %llu, "
                  "\"messages_out\": %llu, \"bytes_in\": %llu, \"bytes_out\": %llu, "
                  "\"tls_version\": ",
                  (unsigned long long)since(now_ms, r->opened_ms),
                  (unsigned long long)since(now_ms, r->active_ms), (unsigned long long)r->msgs_in,
                  (unsigned long long)r->msgs_out, (unsigned long long)r->bytes_in,
                  (unsigned long long)r->bytes_out);
    strbuf_json_cstr(j, r->version);
    strbuf_printf(j, ", \"cipher\": ");
    strbuf_json_cstr(j, r->cipher);
    strbuf_printf(j, ", \"resumed\": %s}",
                  !tls || !r->version ? "null"
                  : r->resumed        ? "true"
                                      : "false");
}

size_t conn_board_render(struct conn_board *const *boards, size_t n, const struct admin_page *page,
                         const struct cfg_snapshot *cfg, uint64_t now_ms, char *buf, size_t cap)
{
    struct strbuf j = {.buf = buf, .cap = cap};
    if (cap)
        buf[0] = '\0';
    /* Every board at once, so the totals and the rows agree; an owner only
     * tries the lock, so holding several cannot deadlock. */
    for (size_t w = 0; w < n; w++)
        pthread_mutex_lock(&boards[w]->lock);
    uint64_t total = 0, listed = 0;
    bool truncated = false;
    for (size_t w = 0; w < n; w++) {
        total += boards[w]->shown.total;
        listed += boards[w]->shown.n;
        truncated |= boards[w]->shown.total > boards[w]->shown.n;
    }
    strbuf_printf(&j,
                  "{\"total\": %llu, \"listed\": %llu, \"truncated\": %s, \"offset\": %u, "
                  "\"limit\": %u,\n \"workers\": [",
                  (unsigned long long)total, (unsigned long long)listed,
                  truncated ? "true" : "false", page->offset, page->limit);
    for (size_t w = 0; w < n; w++) {
        const struct conn_board_side *s = &boards[w]->shown;
        strbuf_printf(&j,
                      "%s{\"worker\": %u, \"connections\": %u, \"listed\": %u, \"truncated\": %s, "
                      "\"snapshot_age_ms\": %llu}",
                      w ? ", " : "", boards[w]->worker, s->total, s->n,
                      s->total > s->n ? "true" : "false",
                      (unsigned long long)since(now_ms, s->at_ms));
    }
    strbuf_printf(&j, "],\n \"connections\": [");
    uint64_t at = 0, count = 0;
    bool full = false;
    for (size_t w = 0; w < n && !full && count < page->limit; w++) {
        const struct conn_board_side *s = &boards[w]->shown;
        for (uint32_t i = 0; i < s->n && count < page->limit; i++, at++) {
            if (at < page->offset)
                continue;
            size_t before = j.len;
            put_row(&j, &s->rows[i], boards[w]->worker, cfg, now_ms, count == 0);
            if (j.len + RENDER_TAIL > cap) { /* the rest on the next page */
                j.len = before;
                full = true;
                break;
            }
            count++;
        }
    }
    for (size_t w = 0; w < n; w++)
        pthread_mutex_unlock(&boards[w]->lock);
    uint64_t next = (uint64_t)page->offset + count;
    strbuf_printf(&j, "%s],\n \"count\": %llu, \"next_offset\": ", count ? "\n " : "",
                  (unsigned long long)count);
    if (next < listed)
        strbuf_printf(&j, "%llu}\n", (unsigned long long)next);
    else
        strbuf_printf(&j, "null}\n");
    return j.len;
}
