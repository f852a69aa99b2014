/* conn_board: what /connections shows of one worker's connections — a
 * bounded copy of its table (the first CONN_BOARD_ROWS live connections by
 * slot, and how many there are in all), published by the worker that owns
 * the table and read by the admin endpoint's worker — and the JSON that
 * pages through every worker's board.
 *
 * Owns its two row arrays (one the owner fills, one readers see) and the
 * lock between them. conn_board_publish runs on the owner's thread only
 * (the table is its own); it only ever tries the lock, so a publish that
 * finds the board being read is skipped until the next one and the owner
 * never waits. conn_board_render reads boards on the admin worker's thread
 * under their locks. Never points into a connection: rows hold copies and
 * static strings only. */
#ifndef REUSEGW_CONN_BOARD_H
#define REUSEGW_CONN_BOARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin_http.h"
#include "conn/conn-t.h"

struct cfg_snapshot;

/* CONN_BOARD_ROWS bounds the rows a board holds (the rest is counted);
 * CONN_ROW_NAMES the bytes of a row's proven identities. */
enum { CONN_BOARD_ROWS = 1024, CONN_ROW_NAMES = 384 };

/* conn_row is one connection as /connections shows it. */
struct conn_row {
    uint32_t slot;
    uint8_t kind;          /* enum conn_kind */
    const char *kind_name; /* conn_kind_name's static string */
    uint8_t state;         /* enum conn_state */
    uint8_t ours;          /* identity of ours (conn.ours) */
    uint8_t n_names;
    bool names_cut; /* the certificate proved more than |names| holds */
    bool resumed;
    struct conn_key peer, local; /* family 0: unknown */
    struct conn_key key;         /* the alias key (in) or dialled target (out); 0: none */
    /* Static strings (tls/conn.h); NULL on plain connections and before
     * the handshake completed. */
    const char *version, *cipher;
    uint64_t opened_ms, active_ms; /* CLOCK_MONOTONIC ms (timer_now_ms) */
    uint64_t msgs_in, msgs_out, bytes_in, bytes_out;
    char names[CONN_ROW_NAMES]; /* |n_names| NUL-terminated names back to back */
};

/* conn_board_side is one array of rows and what it counts. */
struct conn_board_side {
    struct conn_row *rows; /* [CONN_BOARD_ROWS] */
    uint32_t n;            /* rows filled */
    uint32_t total;        /* live connections of the worker, >= n */
    uint64_t at_ms;        /* when it was filled; 0: never */
};

/* conn_board is one worker's published connections. */
struct conn_board {
    pthread_mutex_t lock; /* guards |shown| and the swap */
    struct conn_board_side shown, filling;
    unsigned worker;
};

/* conn_board_init prepares |b| for worker |worker|. False (nothing to
 * free) when memory ran out. Release with conn_board_free. */
bool conn_board_init(struct conn_board *b, unsigned worker);

/* conn_board_free releases |b|'s rows; no thread may use it any more. */
void conn_board_free(struct conn_board *b);

/* conn_board_publish copies the live connections of |table| (the calling
 * worker's own) onto |b| as of |now_ms|. Reads each connection's local
 * address once (conn_local). */
void conn_board_publish(struct conn_board *b, struct conn_table *table, uint64_t now_ms);

/* conn_board_render writes /connections into |buf| (|cap| bytes) from the
 * |n| boards (in worker order): the totals, each worker's count, and the
 * rows |page| selects across all the boards' rows in order, as many as fit
 * in |cap| (next_offset says where the rest starts). |cfg| names our
 * identities; |now_ms| dates ages and idle times. Returns the length, like
 * snprintf. */
size_t conn_board_render(struct conn_board *const *boards, size_t n, const struct admin_page *page,
                         const struct cfg_snapshot *cfg, uint64_t now_ms, char *buf, size_t cap);

#endif
