/* NSS key log (RFC 9850): real handshakes between two engines write the
 * secrets of both directions, on both sides, into files made 0600; the file
 * rules and the bounded queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls/conn.h"
#include "tls/key_log.h"
#include "tls_test_support.h"

static char *slurp(const char *path)
{
    static char text[64 * 1024];
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static size_t count_lines(const char *text, const char *label)
{
    size_t n = 0;
    size_t len = strlen(label);
    for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, label, len) == 0 && p[len] == ' ')
            n++;
        if (!strchr(p, '\n'))
            break;
    }
    return n;
}

/* handshake_logged runs one mutual handshake, the client's ctx logging to
 * |client_log| and the server's to |server_log|, and returns when both
 * files hold every line. */
static void handshake_logged(bool max_tls12, const char *client_log, const char *server_log)
{
    struct tls_ctx *cctx = pki_ctx_with("gw-a", (struct tls_ctx_options){
                                                    .client_cert_required = true,
                                                    .max_tls12 = max_tls12,
                                                    .key_log_file = client_log,
                                                });
    struct tls_ctx *sctx = pki_ctx_with("gw-b", (struct tls_ctx_options){
                                                    .client_cert_required = true,
                                                    .max_tls12 = max_tls12,
                                                    .key_log_file = server_log,
                                                });
    struct tls_conn *c = tls_conn_new_client(cctx, "b.test", NULL, NULL, 0);
    struct tls_conn *s = tls_conn_new_server(sctx);
    assert_true(pump_handshake(c, s));
    wire_free(c);
    wire_free(s);
    tls_ctx_unref(cctx); /* the last reference: its log is written out and closed */
    tls_ctx_unref(sctx);
}

static void assert_mode_0600(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

/* TLS 1.3: the handshake and application secrets of both directions, on
 * both sides, each keyed by the same client random. */
static void tls13_logs_both_directions_on_both_sides(void **state)
{
    const char *client = strdup(pki_path("client13.keys"));
    const char *server = strdup(pki_path("server13.keys"));
    handshake_logged(false, client, server);
    static const char *const labels[] = {
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
    };
    char client_text[8192];
    snprintf(client_text, sizeof(client_text), "%s", slurp(client));
    const char *server_text = slurp(server);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(count_lines(client_text, labels[i]), 1);
        assert_int_equal(count_lines(server_text, labels[i]), 1);
    }
    /* Line format: LABEL <64 hex client random> <hex secret>; the two
     * sides agree on every byte. */
    const char *line = strstr(client_text, "CLIENT_TRAFFIC_SECRET_0 ");
    assert_non_null(line);
    const char *eol = strchr(line, '\n');
    assert_non_null(strstr(server_text, "CLIENT_TRAFFIC_SECRET_0 "));
    assert_memory_equal(line, strstr(server_text, "CLIENT_TRAFFIC_SECRET_0 "),
                        (size_t)(eol - line));
    assert_int_equal(strspn(line + 24, "0123456789abcdef"), 64);
    assert_mode_0600(client);
    assert_mode_0600(server);
    free((char *)client);
    free((char *)server);
}

static void tls12_logs_the_client_random_line(void **state)
{
    const char *client = strdup(pki_path("client12.keys"));
    const char *server = strdup(pki_path("server12.keys"));
    handshake_logged(true, client, server);
    char client_text[8192];
    snprintf(client_text, sizeof(client_text), "%s", slurp(client));
    assert_int_equal(count_lines(client_text, "CLIENT_RANDOM"), 1);
    assert_string_equal(client_text, slurp(server));
    free((char *)client);
    free((char *)server);
}

/* An existing file is appended to, never truncated, and made 0600. */
static void existing_file_is_appended_and_made_private(void **state)
{
    const char *path = strdup(pki_path("existing.keys"));
    FILE *f = fopen(path, "w");
    fputs("# earlier session\n", f);
    fclose(f);
    assert_int_equal(chmod(path, 0644), 0);
    char err[256];
    struct tls_key_log *log = tls_key_log_open(path, err, sizeof(err));
    assert_non_null(log);
    tls_key_log_add(log, "CLIENT_RANDOM 00 11");
    tls_key_log_close(log);
    assert_string_equal(slurp(path), "# earlier session\nCLIENT_RANDOM 00 11\n");
    assert_mode_0600(path);
    free((char *)path);
}

/* A link in the log's place, or a directory, is refused with a reason. */
static void links_and_directories_are_refused(void **state)
{
    char target[512], link[512];
    snprintf(target, sizeof(target), "%s", pki_path("target.keys"));
    snprintf(link, sizeof(link), "%s", pki_path("link.keys"));
    assert_int_equal(symlink(target, link), 0);
    char err[256] = "";
    assert_null(tls_key_log_open(link, err, sizeof(err)));
    assert_non_null(strstr(err, "link.keys"));
    assert_int_not_equal(access(target, F_OK), 0); /* nothing created through the link */
    assert_null(tls_key_log_open(pki_path(""), err, sizeof(err)));
    /* A ctx whose key log cannot be opened is not built. */
    struct tls_ctx_options opts = {.key_log_file = link};
    opts.certificate_file = pki_path("gw-a.chain.pem");
    opts.private_key_file = pki_path("gw-a.key");
    opts.ca_file = pki_path("ca.pem");
    assert_null(tls_ctx_new(&opts, err, sizeof(err)));
    assert_non_null(strstr(err, "key log"));
}

/* The queue is bounded: what it cannot take is counted, never waited for,
 * and every line it took reaches the file whole. */
static void a_full_queue_drops_and_counts(void **state)
{
    const char *path = strdup(pki_path("flood.keys"));
    char err[256];
    struct tls_key_log *log = tls_key_log_open(path, err, sizeof(err));
    assert_non_null(log);
    enum { LINES = 3 * TLS_KEY_LOG_QUEUE };
    for (int i = 0; i < LINES; i++) {
        char line[64];
        snprintf(line, sizeof(line), "CLIENT_RANDOM %08d 00", i);
        tls_key_log_add(log, line);
    }
    char too_long[TLS_KEY_LOG_LINE + 8];
    memset(too_long, 'x', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    tls_key_log_add(log, too_long);
    tls_key_log_flush(log);
    uint64_t dropped = tls_key_log_dropped(log);
    tls_key_log_close(log);
    assert_true(dropped >= 1);
    FILE *f = fopen(path, "rb");
    char line[128];
    uint64_t written = 0;
    while (fgets(line, sizeof(line), f)) {
        assert_int_equal(strlen(line), strlen("CLIENT_RANDOM 00000000 00\n"));
        written++;
    }
    fclose(f);
    assert_int_equal(written + dropped, LINES + 1);
    free((char *)path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tls13_logs_both_directions_on_both_sides),
        cmocka_unit_test(tls12_logs_the_client_random_line),
        cmocka_unit_test(existing_file_is_appended_and_made_private),
        cmocka_unit_test(links_and_directories_are_refused),
        cmocka_unit_test(a_full_queue_drops_and_counts),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
