/* /connections' edges without a gateway: the limit/offset query (defaults,
 * ranges, and a named parameter for every way to get it wrong), the one
 * JSON string escaper (hostile certificate names stay one valid string),
 * and the rendering of connection boards (paging across workers, the
 * totals, a body too small for every row). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/admin_http.h"
#include "admin/conn_board.h"
#include "config/config.h"
#include "core/strbuf.h"

static bool page(const char *q, struct admin_page *p, struct admin_query_error *err)
{
    return admin_parse_page(q, strlen(q), p, err);
}

/* bad expects |q| to fail naming |param|. */
static void bad(const char *q, const char *param)
{
    struct admin_page p;
    struct admin_query_error err = {0};
    assert_false(page(q, &p, &err));
    assert_int_equal(err.param_len, strlen(param));
    assert_memory_equal(err.param, param, err.param_len);
    assert_non_null(err.why);
}

static void query_defaults_and_ranges(void **state)
{
    struct admin_page p;
    struct admin_query_error err;
    assert_true(page("", &p, &err));
    assert_int_equal(p.limit, ADMIN_PAGE_LIMIT);
    assert_int_equal(p.offset, 0);
    assert_true(page("limit=5&offset=10", &p, &err));
    assert_int_equal(p.limit, 5);
    assert_int_equal(p.offset, 10);
    assert_true(page("offset=4294967295&limit=1000", &p, &err));
    assert_int_equal(p.limit, 1000);
    assert_int_equal(p.offset, UINT32_MAX);
    assert_true(page("limit=0", &p, &err)); /* only the totals */
    assert_int_equal(p.limit, 0);
    assert_true(page("&limit=007&", &p, &err)); /* empty pairs are skipped */
    assert_int_equal(p.limit, 7);
}

static void query_errors_name_the_parameter(void **state)
{
    bad("limit=1001", "limit");
    bad("limit=-1", "limit");
    bad("limit=abc", "limit");
    bad("limit=", "limit");
    bad("limit", "limit");
    bad("limit=1e3", "limit");
    bad("limit=+5", "limit");
    bad("limit=5%30", "limit");
    bad("limit=99999999999999999999", "limit");
    bad("offset=4294967296", "offset");
    bad("offset=-3", "offset");
    bad("limit=1&limit=2", "limit");
    bad("limit=1&sort=age", "sort");
    bad("Limit=1", "Limit");
    bad("=5", "");
    bad("lim%69t=1", "lim%69t");
}

static size_t escape(const char *s, size_t len, char *out, size_t cap)
{
    struct strbuf j = {.buf = out, .cap = cap};
    strbuf_json_string(&j, s, len);
    return j.len;
}

static void json_escaping(void **state)
{
    char out[128];
    assert_int_equal(escape("plain.example.com", 17, out, sizeof(out)), 19);
    assert_string_equal(out, "\"plain.example.com\"");
    /* A SAN that tries to close the string and add a field. */
    static const char hostile[] = "a\", \"admin\": true, \"x\\\x01\x7f\n\r\t";
    escape(hostile, sizeof(hostile) - 1, out, sizeof(out));
    assert_string_equal(out, "\"a\\\", \\\"admin\\\": true, \\\"x\\\\\\u0001\\u007f\\n\\r\\t\"");
    /* A NUL inside the bytes given. */
    escape("a\0b", 3, out, sizeof(out));
    assert_string_equal(out, "\"a\\u0000b\"");
    /* Well-formed UTF-8 stays; ill-formed bytes (a lone continuation, an
     * overlong '/', a surrogate, a truncated sequence) become \u00XX. */
    escape("caf\xc3\xa9 \xe2\x82\xac", 9, out, sizeof(out));
    assert_string_equal(out, "\"caf\xc3\xa9 \xe2\x82\xac\"");
    escape("\x80\xc0\xaf\xed\xa0\x80\xe2\x82", 8, out, sizeof(out));
    assert_string_equal(out, "\"\\u0080\\u00c0\\u00af\\u00ed\\u00a0\\u0080\\u00e2\\u0082\"");
    /* Too small: counted like snprintf, never written past the end. */
    char small[8];
    memset(small, 'z', sizeof(small));
    assert_int_equal(escape("abcdefghij", 10, small, 4), 12);
    assert_memory_equal(small, "\"abc", 4);
    assert_int_equal(small[4], 'z');
    /* A C string, and NULL as null. */
    struct strbuf j = {.buf = out, .cap = sizeof(out)};
    strbuf_json_cstr(&j, "a\"b");
    strbuf_append(&j, ",", 1);
    strbuf_json_cstr(&j, NULL);
    assert_string_equal(out, "\"a\\\"b\",null");
}

/* board_with fills |b| (worker |worker|) with |n| TLS rows, the first
 * carrying |name| as its proven identity. */
static void board_with(struct conn_board *b, unsigned worker, uint32_t n, const char *name)
{
    assert_true(conn_board_init(b, worker));
    for (uint32_t i = 0; i < n; i++) {
        struct conn_row *r = &b->shown.rows[i];
        *r = (struct conn_row){
            .slot = i + 1,
            .kind = CONN_TLS_IN,
            .kind_name = "tls-in",
            .state = CONN_OPEN,
            .peer = {.family = AF_INET, .port = (uint16_t)(40000 + i), .addr = {127, 0, 0, 1}},
            .opened_ms = 1000,
            .active_ms = 1500,
            .msgs_in = 3,
            .version = "TLSv1.3",
            .cipher = "TLS_AES_128_GCM_SHA256"};
        if (i == 0) {
            snprintf(r->names, sizeof(r->names), "%s", name);
            r->n_names = 1;
        }
    }
    b->shown.n = b->shown.total = n;
    b->shown.at_ms = 1900;
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

static void boards_render_pages_across_workers(void **state)
{
    static struct cfg_snapshot cfg;
    snprintf(cfg.identity.sent_by.host, sizeof(cfg.identity.sent_by.host), "b.test");
    struct conn_board b0, b1;
    board_with(&b0, 0, 3, "sip:a\"}]{\\.test");
    board_with(&b1, 1, 2, "peer.test");
    b1.shown.total = 7; /* more than it shows */
    struct conn_board *boards[] = {&b0, &b1};
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    struct admin_page p = {.limit = 100, .offset = 0};
    size_t len = conn_board_render(boards, 2, &p, &cfg, 2000, buf, cap);
    assert_true(len < cap);
    assert_non_null(strstr(buf, "\"total\": 10, \"listed\": 5, \"truncated\": true"));
    assert_non_null(strstr(buf, "\"identities\": [\"sip:a\\\"}]{\\\\.test\"]"));
    assert_non_null(strstr(buf, "\"age_ms\": 1000, \"idle_ms\": 500"));
    assert_non_null(strstr(buf, "\"ours\": \"b.test\""));
    assert_non_null(strstr(buf, "\"count\": 5, \"next_offset\": null}"));
    assert_int_equal(count_of(buf, "\"worker\": 1, \"connection\""), 2);
    /* A page that starts in worker 0 and ends in worker 1. */
    p = (struct admin_page){.limit = 2, .offset = 2};
    conn_board_render(boards, 2, &p, &cfg, 2000, buf, cap);
    assert_non_null(strstr(buf, "{\"worker\": 0, \"connection\": 3,"));
    assert_non_null(strstr(buf, "{\"worker\": 1, \"connection\": 1,"));
    assert_int_equal(count_of(buf, "\"connection\": "), 2);
    assert_non_null(strstr(buf, "\"count\": 2, \"next_offset\": 4}"));
    /* Past the end: no rows, still the totals. */
    p = (struct admin_page){.limit = 10, .offset = 50};
    conn_board_render(boards, 2, &p, &cfg, 2000, buf, cap);
    assert_non_null(strstr(buf, "\"connections\": [],\n \"count\": 0, \"next_offset\": null}"));
    /* A body with room for two rows: two, and where the rest starts. */
    p = (struct admin_page){.limit = 100, .offset = 0};
    size_t small = strstr(buf, "\"connections\": [") - buf + 1000;
    len = conn_board_render(boards, 2, &p, &cfg, 2000, buf, small);
    assert_true(len < small);
    assert_non_null(strstr(buf, "\"count\": 2, \"next_offset\": 2}"));
    free(buf);
    conn_board_free(&b0);
    conn_board_free(&b1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(query_defaults_and_ranges),
        cmocka_unit_test(query_errors_name_the_parameter),
        cmocka_unit_test(json_escaping),
        cmocka_unit_test(boards_render_pages_across_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
