/* Unit tests of cfg_load: a full file parses into exactly the expected
 * snapshot, defaults, path resolution, reference counting, error formatting
 * and every class of error. Certificate files are placeholders written by the
 * test: the loader only checks that they are readable files (tls/ parses
 * them). */
#include "config/config.h"
#include "config/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* A valid core: identity on line 1, tls on lines 2-6, legacy on line 7. */
#define IDENTITY "identity: {sent_by: a.test}\n"
#define TLS                                                                                        \
    "tls:\n"                                                                                       \
    "  listen: [\"127.0.0.1:5061\"]\n"                                                             \
    "  certificate: tls/proxy.pem\n"                                                               \
    "  private_key: tls/proxy.key\n"                                                               \
    "  ca: tls/ca.pem\n"
#define LEGACY "legacy: {forward_to: \"127.0.0.1:5060\", listen: \"127.0.0.1:5070\"}\n"
#define VALID IDENTITY TLS LEGACY

struct fixture {
    char dir[64];
    char file[128];
    struct cfg_errors errors;
};

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/reusegw-config-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/tls", fx->dir);
    mkdir(path, 0700);
    /* b.*: the extra identity of config/example.yaml. */
    static const char *const names[] = {"proxy.pem", "proxy.key", "ca.pem", "b.pem", "b.key"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/tls/%s", fx->dir, names[i]);
        write_file(path, "placeholder\n", 12);
    }
    snprintf(fx->file, sizeof fx->file, "%s/reusegw.yaml", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    cfg_errors_clear(&fx->errors);
    char command[PATH_MAX + 16];
    snprintf(command, sizeof command, "rm -rf '%s'", fx->dir);
    int rc = system(command);
    free(fx);
    return rc == 0 ? 0 : -1;
}

static struct cfg_snapshot *load_text(struct fixture *fx, const char *text)
{
    write_file(fx->file, text, strlen(text));
    cfg_errors_clear(&fx->errors);
    return cfg_load(fx->file, &fx->errors);
}

static const char *first_error(struct fixture *fx)
{
    static char line[1024];
    assert_true(fx->errors.count > 0);
    cfg_error_format(&fx->errors.items[0], line, sizeof line);
    /* Strip the directory so expectations stay readable. */
    const char *name = strstr(line, "reusegw.yaml");
    return name ? name : line;
}

static void full_config_parses_every_key(void **state)
{
    struct fixture *fx = *state;
    struct cfg_snapshot *s =
        load_text(fx, "identity:\n"
                      "  sent_by: \"[2001:db8::5]\"\n"
                      "tls:\n"
                      "  listen: [\"0.0.0.0:5061\", \"[::]:5062\"]\n"
                      "  certificate: tls/proxy.pem\n"
                      "  private_key: tls/proxy.key\n"
                      "  ca: tls/ca.pem\n"
                      "  client_certificate: optional\n"
                      "  handshake_timeout: 250ms\n"
                      "  require_sip_eku: true\n"
                      "legacy:\n"
                      "  forward_to: 127.0.0.2:5060\n"
                      "  listen: localhost:5070\n"
                      "  transparent: true\n"
                      "reuse:\n"
                      "  accept_alias: false\n"
                      "  request_alias: false\n"
                      "  require_sent_by_identity: true\n"
                      "  idle_timeout: 2h\n"
                      "routes:\n"
                      "  - domain: peer-a.example.com\n"
                      "    targets: [\"192.0.2.10:5061\", \"[2001:db8::10]:5071\"]\n"
                      "  - domain: peer-b.example.com\n"
                      "    targets: [\"peer-b1.example.com:5061\"]\n"
                      "dns:\n"
                      "  servers: [\"127.0.0.53\", \"[::1]:5353\"]\n"
                      "limits:\n"
                      "  max_connections: 5000\n"
                      "  max_message_bytes: 8192\n"
                      "  max_connections_per_peer: 20\n"
                      "  max_pending_transactions: 300\n"
                      "  max_buffered_bytes: 65536\n"
                      "  max_concurrent_handshakes: 64\n"
                      "  handshake_rate: 500\n"
                      "  message_timeout: 1500ms\n"
                      "  send_timeout: 2m\n"
                      "admin:\n"
                      "  listen: \"[::1]:9999\"\n"
                      "runtime:\n"
                      "  workers: auto\n"
                      "  io_backend: epoll\n"
                      "  drain_timeout: 3s\n"
                      "log:\n"
                      "  level: debug\n"
                      "  format: json\n");
    assert_int_equal(fx->errors.count, 0);
    assert_non_null(s);
    assert_string_equal(s->path, fx->file);
    assert_string_equal(s->identity.sent_by.host, "2001:db8::5");
    assert_true(s->identity.sent_by.is_ipv6_literal);
    assert_int_equal(s->identity.sent_by.port, 5061);

    assert_int_equal(s->tls.n_listen, 2);
    assert_string_equal(s->tls.listen[0].host, "0.0.0.0");
    assert_int_equal(s->tls.listen[0].port, 5061);
    assert_false(s->tls.listen[0].is_ipv6_literal);
    assert_string_equal(s->tls.listen[1].host, "::");
    assert_int_equal(s->tls.listen[1].port, 5062);
    assert_true(s->tls.listen[1].is_ipv6_literal);
    char expected[PATH_MAX + 32];
    snprintf(expected, sizeof expected, "%s/tls/proxy.pem", fx->dir);
    assert_string_equal(s->tls.certificate, expected);
    snprintf(expected, sizeof expected, "%s/tls/proxy.key", fx->dir);
    assert_string_equal(s->tls.private_key, expected);
    snprintf(expected, sizeof expected, "%s/tls/ca.pem", fx->dir);
    assert_string_equal(s->tls.ca, expected);
    assert_int_equal(s->tls.client_certificate, CFG_CLIENT_CERT_OPTIONAL);
    assert_int_equal(s->tls.handshake_timeout_ms, 250);
    assert_true(s->tls.require_sip_eku);

    assert_string_equal(s->legacy.forward_to.host, "127.0.0.2");
    assert_int_equal(s->legacy.forward_to.port, 5060);
    assert_string_equal(s->legacy.listen.host, "localhost");
    assert_int_equal(s->legacy.listen.port, 5070);
    assert_true(s->legacy.transparent);

    assert_false(s->reuse.accept_alias);
    assert_false(s->reuse.request_alias);
    assert_true(s->reuse.require_sent_by_identity);
    assert_int_equal(s->reuse.idle_timeout_ms, 2 * 3600 * 1000);

    assert_int_equal(s->n_routes, 2);
    assert_string_equal(s->routes[0].domain, "peer-a.example.com");
    assert_int_equal(s->routes[0].n_targets, 2);
    assert_string_equal(s->routes[0].targets[0].host, "192.0.2.10");
    assert_int_equal(s->routes[0].targets[0].port, 5061);
    assert_string_equal(s->routes[0].targets[1].host, "2001:db8::10");
    assert_int_equal(s->routes[0].targets[1].port, 5071);
    assert_true(s->routes[0].targets[1].is_ipv6_literal);
    assert_string_equal(s->routes[1].domain, "peer-b.example.com");
    assert_int_equal(s->routes[1].n_targets, 1);
    assert_string_equal(s->routes[1].targets[0].host, "peer-b1.example.com");
    assert_ptr_equal(cfg_route_find(s, "Peer-B.Example.COM", 18), &s->routes[1]);
    assert_null(cfg_route_find(s, "peer-b.example.co", 17));

    assert_int_equal(s->dns.n_servers, 2);
    assert_string_equal(s->dns.servers[0].host, "127.0.0.53");
    assert_int_equal(s->dns.servers[0].port, 53);
    assert_string_equal(s->dns.servers[1].host, "::1");
    assert_int_equal(s->dns.servers[1].port, 5353);

    assert_int_equal(s->limits.max_connections, 5000);
    assert_int_equal(s->limits.max_message_bytes, 8192);
    assert_int_equal(s->limits.max_connections_per_peer, 20);
    assert_int_equal(s->limits.max_pending_transactions, 300);
    assert_int_equal(s->limits.max_buffered_bytes, 65536);
    assert_int_equal(s->limits.max_concurrent_handshakes, 64);
    assert_int_equal(s->limits.handshake_rate, 500);
    assert_int_equal(s->limits.message_timeout_ms, 1500);
    assert_int_equal(s->limits.send_timeout_ms, 120000);

    assert_string_equal(s->admin.listen.host, "::1");
    assert_int_equal(s->admin.listen.port, 9999);
    assert_true(s->admin.listen.is_ipv6_literal);

    assert_int_equal(s->runtime.workers, 0);
    assert_int_equal(s->runtime.io_backend, CFG_IO_EPOLL);
    assert_int_equal(s->runtime.drain_timeout_ms, 3000);
    assert_int_equal(s->log.level, CFG_LOG_DEBUG);
    assert_int_equal(s->log.format, CFG_LOG_JSON);
    cfg_unref(s);
}

/* identities and peers: every key lands in its struct; a peer policy that
 * leaves a key out takes the tls section's value, whichever section comes
 * first in the file. */
static void identities_and_peers_parse_with_inherited_defaults(void **state)
{
    struct fixture *fx = *state;
    struct cfg_snapshot *s = load_text(fx, "peers:\n"
                                           "  - domain: carrier.example.net\n"
                                           "    ca: tls/ca.pem\n"
                                           "    sni: sip.carrier.example.net\n"
                                           "    client_certificate: required\n"
                                           "    allow_server_auth_only: true\n"
                                           "    require_sip_eku: false\n"
                                           "  - domain: other.example.net\n"
                                           "identities:\n"
                                           "  - sent_by: tenant-b.example.com\n"
                                           "    certificate: tls/proxy.pem\n"
                                           "    private_key: tls/proxy.key\n"
                                           "    domains: [tenant-b.example.com, b2.example.com]\n"
                                           "    legacy_listen: 127.0.0.1:5071\n"
                                           "  - sent_by: tenant-c.example.com:5062\n"
                                           "    certificate: tls/proxy.pem\n"
                                           "    private_key: tls/proxy.key\n" IDENTITY "tls:\n"
                                           "  listen: [\"127.0.0.1:5061\"]\n"
                                           "  certificate: tls/proxy.pem\n"
                                           "  private_key: tls/proxy.key\n"
                                           "  ca: tls/ca.pem\n"
                                           "  client_certificate: optional\n"
                                           "  require_sip_eku: true\n" LEGACY);
    assert_int_equal(fx->errors.count, 0);
    assert_non_null(s);

    assert_int_equal(s->n_identities, 2);
    const struct cfg_identity *b = &s->identities[0], *c = &s->identities[1];
    assert_string_equal(b->sent_by.host, "tenant-b.example.com");
    assert_int_equal(b->sent_by.port, 5061);
    char expected[PATH_MAX + 32];
    snprintf(expected, sizeof expected, "%s/tls/proxy.pem", fx->dir);
    assert_string_equal(b->certificate, expected);
    snprintf(expected, sizeof expected, "%s/tls/proxy.key", fx->dir);
    assert_string_equal(b->private_key, expected);
    assert_int_equal(b->n_domains, 2);
    assert_string_equal(b->domains[0], "tenant-b.example.com");
    assert_string_equal(b->domains[1], "b2.example.com");
    assert_true(b->has_legacy_listen);
    assert_string_equal(b->legacy_listen.host, "127.0.0.1");
    assert_int_equal(b->legacy_listen.port, 5071);
    assert_int_equal(c->sent_by.port, 5062);
    assert_int_equal(c->n_domains, 0);
    assert_false(c->has_legacy_listen);

    assert_int_equal(s->n_peers, 2);
    const struct cfg_peer *carrier = &s->peers[0], *other = &s->peers[1];
    assert_string_equal(carrier->domain, "carrier.example.net");
    snprintf(expected, sizeof expected, "%s/tls/ca.pem", fx->dir);
    assert_string_equal(carrier->ca, expected);
    assert_string_equal(carrier->sni, "sip.carrier.example.net");
    assert_int_equal(carrier->client_certificate, CFG_CLIENT_CERT_REQUIRED);
    assert_true(carrier->allow_server_auth_only);
    assert_false(carrier->require_sip_eku);
    assert_string_equal(other->domain, "other.example.net");
    assert_null(other->ca);
    assert_null(other->sni);
    assert_int_equal(other->client_certificate, CFG_CLIENT_CERT_OPTIONAL);
    assert_false(other->allow_server_auth_only);
    assert_true(other->require_sip_eku);
    cfg_unref(s);
}

static void minimal_config_gets_every_default(void **state)
{
    struct fixture *fx = *state;
    struct cfg_snapshot *s = load_text(fx, VALID);
    assert_int_equal(fx->errors.count, 0);
    assert_non_null(s);
    assert_int_equal(s->identity.sent_by.port, 5061);
    assert_int_equal(s->tls.client_certificate, CFG_CLIENT_CERT_REQUIRED);
    assert_int_equal(s->tls.handshake_timeout_ms, 10000);
    assert_false(s->tls.require_sip_eku);
    assert_false(s->legacy.transparent);
    assert_true(s->reuse.accept_alias);
    assert_true(s->reuse.request_alias);
    assert_false(s->reuse.require_sent_by_identity);
    assert_int_equal(s->reuse.idle_timeout_ms, 600000);
    assert_int_equal(s->n_routes, 0);
    assert_null(s->routes);
    assert_int_equal(s->dns.n_servers, 0);
    assert_int_equal(s->limits.max_connections, 100000);
    assert_int_equal(s->limits.max_message_bytes, 65535);
    assert_int_equal(s->limits.max_connections_per_peer, 1000);
    assert_int_equal(s->limits.max_pending_transactions, 65536);
    assert_int_equal(s->limits.max_buffered_bytes, 1048576);
    assert_int_equal(s->limits.max_concurrent_handshakes, 1024);
    assert_int_equal(s->limits.handshake_rate, 2000);
    assert_int_equal(s->limits.message_timeout_ms, 30000);
    assert_int_equal(s->limits.send_timeout_ms, 60000);
    assert_string_equal(s->admin.listen.host, "127.0.0.1");
    assert_int_equal(s->admin.listen.port, 9091);
    assert_int_equal(s->runtime.workers, 1);
    assert_int_equal(s->runtime.io_backend, CFG_IO_AUTO);
    assert_int_equal(s->runtime.drain_timeout_ms, 20000);
    assert_int_equal(s->log.level, CFG_LOG_INFO);
    assert_int_equal(s->log.format, CFG_LOG_LOGFMT);
    cfg_unref(s);
}

static void capture_is_off_until_its_section_is_given(void **state)
{
    struct fixture *fx = *state;
    struct cfg_snapshot *s = load_text(fx, VALID);
    assert_non_null(s);
    assert_false(s->capture.hep.enabled);
    assert_null(s->tls.key_log);
    cfg_unref(s);
    s = load_text(fx, VALID "capture:\n  hep: {address: 127.0.0.9}\n");
    assert_non_null(s);
    assert_true(s->capture.hep.enabled);
    assert_string_equal(s->capture.hep.address.host, "127.0.0.9");
    assert_int_equal(s->capture.hep.address.port, 9060);
    assert_int_equal(s->capture.hep.transport, CFG_CAPTURE_UDP);
    assert_int_equal(s->capture.hep.capture_id, 2001);
    assert_null(s->capture.hep.password);
    assert_string_equal(s->capture.hep.node_name, "reusegw");
    assert_int_equal(s->capture.hep.legs, CFG_CAPTURE_LEG_TLS | CFG_CAPTURE_LEG_LEGACY);
    cfg_unref(s);
}

/* A capture section setting every key away from its default. */
#define FULL_CAPTURE                                                                               \
    "capture:\n"                                                                                   \
    "  hep:\n"                                                                                     \
    "    address: \"[::1]:9999\"\n"                                                                \
    "    transport: tcp\n"                                                                         \
    "    capture_id: 4294967295\n"                                                                 \
    "    password: s3cret\n"                                                                       \
    "    node_name: \"\"\n"                                                                        \
    "    legs: [legacy]\n"

static void capture_and_key_log_keep_what_was_written(void **state)
{
    struct fixture *fx = *state;
    struct cfg_snapshot *s =
        load_text(fx, IDENTITY TLS "  key_log: keys/../tls.keys\n" LEGACY FULL_CAPTURE);
    assert_int_equal(fx->errors.count, 1); /* keys/ does not exist yet */
    assert_string_equal(fx->errors.items[0].key, "tls.key_log");
    assert_null(s);
    s = load_text(fx, IDENTITY TLS "  key_log: tls.keys\n" LEGACY FULL_CAPTURE);
    assert_int_equal(fx->errors.count, 0);
    assert_non_null(s);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/tls.keys", fx->dir);
    assert_string_equal(s->tls.key_log, want);
    assert_string_equal(s->capture.hep.address.host, "::1");
    assert_int_equal(s->capture.hep.address.port, 9999);
    assert_int_equal(s->capture.hep.transport, CFG_CAPTURE_TCP);
    assert_int_equal(s->capture.hep.capture_id, UINT32_MAX);
    assert_string_equal(s->capture.hep.password, "s3cret");
    assert_null(s->capture.hep.node_name);
    assert_int_equal(s->capture.hep.legs, CFG_CAPTURE_LEG_LEGACY);
    cfg_unref(s);
}

static void example_yaml_loads_next_to_its_files(void **state)
{
    struct fixture *fx = *state;
    FILE *f = fopen(REUSEGW_SOURCE_DIR "/config/example.yaml", "rb");
    assert_non_null(f);
    static char text[64 * 1024];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    struct cfg_snapshot *s = load_text(fx, text);
    assert_int_equal(fx->errors.count, 0);
    assert_non_null(s);
    assert_int_equal(s->n_routes, 1);
    assert_int_equal(s->n_identities, 1);
    assert_int_equal(s->n_peers, 1);
    assert_int_equal(s->tls.n_listen, 2);
    assert_true(s->capture.hep.enabled);
    cfg_unref(s);
}

static void relative_paths_resolve_against_the_file(void **state)
{
    struct fixture *fx = *state;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/etc", fx->dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/etc/sub.yaml", fx->dir);
    const char *text = IDENTITY "tls:\n"
                                "  listen: [\"127.0.0.1:5061\"]\n"
                                "  certificate: ../tls/proxy.pem\n"
                                "  private_key: ../tls/proxy.key\n"
                                "  ca: /dev/null\n" LEGACY;
    write_file(path, text, strlen(text));

    /* Loaded through a relative name: the directory comes from the cwd. */
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(fx->dir), 0);
    struct cfg_snapshot *s = cfg_load("etc/sub.yaml", &fx->errors);
    assert_int_equal(chdir(cwd), 0);
    /* /dev/null is readable but not a regular file. */
    assert_null(s);
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(fx->errors.items[0].file, "etc/sub.yaml");
    assert_string_equal(fx->errors.items[0].key, "tls.ca");
    assert_string_equal(fx->errors.items[0].message, "\"/dev/null\" is not a regular file");
    cfg_errors_clear(&fx->errors);

    char ca[PATH_MAX + 32];
    snprintf(ca, sizeof ca, "%s/tls/ca.pem", fx->dir);
    char fixed[2 * PATH_MAX];
    snprintf(fixed, sizeof fixed,
             IDENTITY "tls:\n"
                      "  listen: [\"127.0.0.1:5061\"]\n"
                      "  certificate: ../tls/proxy.pem\n"
                      "  private_key: ../tls/proxy.key\n"
                      "  ca: %s\n" LEGACY,
             ca);
    write_file(path, fixed, strlen(fixed));
    assert_int_equal(chdir(fx->dir), 0);
    s = cfg_load("etc/sub.yaml", &fx->errors);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(s);
    snprintf(path, sizeof path, "%s/etc/../tls/proxy.pem", fx->dir);
    assert_string_equal(s->tls.certificate, path);
    snprintf(path, sizeof path, "%s/etc/../tls/proxy.key", fx->dir);
    assert_string_equal(s->tls.private_key, path);
    assert_string_equal(s->tls.ca, ca);
    snprintf(path, sizeof path, "%s/etc/sub.yaml", fx->dir);
    assert_string_equal(s->path, path);
    cfg_unref(s);
}

static void references_keep_the_snapshot_alive(void **state)
{
    struct fixture *fx = *state;
    struct cfg_snapshot *s = load_text(fx, VALID);
    assert_non_null(s);
    assert_int_equal(atomic_load(&s->refcount), 1);
    assert_ptr_equal(cfg_ref(s), s);
    assert_int_equal(atomic_load(&s->refcount), 2);
    cfg_unref(s);
    assert_int_equal(atomic_load(&s->refcount), 1);
    /* Still usable after the first release (ASan would catch a free). */
    assert_string_equal(s->identity.sent_by.host, "a.test");
    cfg_unref(s);
    cfg_unref(NULL);
}

static void error_format_has_every_shape(void **state)
{
    char buf[256];
    struct cfg_error e = {
        .file = "f.yaml", .line = 3, .column = 7, .key = "tls.ca", .message = "m"};
    assert_int_equal(cfg_error_format(&e, buf, sizeof buf), strlen("f.yaml:3:7: tls.ca: m"));
    assert_string_equal(buf, "f.yaml:3:7: tls.ca: m");
    e.key = "";
    cfg_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "f.yaml:3:7: m");
    e.line = 0;
    cfg_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "f.yaml: m");
    e.key = "k";
    assert_int_equal(cfg_error_format(&e, buf, 5), strlen("f.yaml: k: m"));
    assert_string_equal(buf, "f.ya");
}

/* One bad file and the one error it must produce. */
struct bad_case {
    const char *text;
    const char *error; /* formatted, starting at the file's base name */
};

static const struct bad_case bad_cases[] = {
    {VALID "reuse: {idle_timeout: 10}\n",
     "reusegw.yaml:8:23: reuse.idle_timeout: duration \"10\" needs a unit: ms, s, m or h"},
    {VALID "reuse: {idle_timeout: 0s}\n",
     "reusegw.yaml:8:23: reuse.idle_timeout: duration 0s is out of range 1ms..168h"},
    {VALID "runtime: {drain_timeout: 2h}\n",
     "reusegw.yaml:8:26: runtime.drain_timeout: duration 2h is out of range 0ms..1h"},
    {VALID "reuse: {accept_alias: yes}\n",
     "reusegw.yaml:8:23: reuse.accept_alias: expected true or false, got \"yes\""},
    {VALID "reuse: {accept_alias: [true]}\n",
     "reusegw.yaml:8:23: reuse.accept_alias: expected true or false, got a list"},
    {VALID "reuse: {accept_alias: }\n",
     "reusegw.yaml:8:23: reuse.accept_alias: expected true or false, got nothing"},
    {VALID "runtime: {workers: 0}\n",
     "reusegw.yaml:8:20: runtime.workers: expected auto or an integer in 1..256, got \"0\""},
    {VALID "runtime: {workers: 300}\n",
     "reusegw.yaml:8:20: runtime.workers: expected auto or an integer in 1..256, got \"300\""},
    {VALID "runtime: {io_backend: kqueue}\n",
     "reusegw.yaml:8:23: runtime.io_backend: expected one of auto, io_uring, epoll; got "
     "\"kqueue\""},
    {VALID "log: {level: verbose}\n",
     "reusegw.yaml:8:14: log.level: expected one of error, warn, info, debug; got \"verbose\""},
    {VALID "log: {format: xml}\n",
     "reusegw.yaml:8:15: log.format: expected one of logfmt, json; got \"xml\""},
    {VALID "limits: {max_connections: many}\n",
     "reusegw.yaml:8:27: limits.max_connections: expected an integer in 1..10000000, got "
     "\"many\""},
    {VALID "limits: {max_message_bytes: 100}\n",
     "reusegw.yaml:8:29: limits.max_message_bytes: 100 is out of range 1024..16777216"},
    {VALID "admin: {listen: \"127.0.0.1:0\"}\n",
     "reusegw.yaml:8:17: admin.listen: port 0 is out of range 1..65535 in \"127.0.0.1:0\""},
    {VALID "admin: {listen: \"127.0.0.1\"}\n",
     "reusegw.yaml:8:17: admin.listen: expected host:port, got \"127.0.0.1\""},
    {VALID "admin: {listen: \"127.0.0.1:5061\"}\n",
     "reusegw.yaml:8:17: admin.listen: duplicate listen address 127.0.0.1:5061 (also "
     "tls.listen[0])"},
    {IDENTITY TLS "legacy: {forward_to: \"127.0.0.1:5061\", listen: \"127.0.0.1:5070\"}\n",
     "reusegw.yaml:7:22: legacy.forward_to: 127.0.0.1:5061 is reusegw's own tls.listen[0]: "
     "traffic would loop"},
    {VALID "dns: {servers: [resolver.test]}\n",
     "reusegw.yaml:8:17: dns.servers[0]: expected an IP address, got host name "
     "\"resolver.test\""},
    {VALID "dns: {servers: \"127.0.0.1\"}\n",
     "reusegw.yaml:8:16: dns.servers: expected a list of host[:port], got \"127.0.0.1\""},
    {VALID "dns: {servers: [1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4, 1.1.1.5, 1.1.1.6, 1.1.1.7, "
           "1.1.1.8, 1.1.1.9]}\n",
     "reusegw.yaml:8:16: dns.servers: at most 8 addresses are allowed, got 9"},
    {VALID "routes:\n",
     "reusegw.yaml:8:8: routes: expected a list of routes (write [] for none), got nothing"},
    {VALID "routes: [{domain: a.test}]\n",
     "reusegw.yaml:8:10: routes[0].targets: required key is missing"},
    {VALID "routes: [{domain: a.test, targets: []}]\n",
     "reusegw.yaml:8:36: routes[0].targets: needs at least 1 address"},
    {VALID "routes: [{domain: \"*.test\", targets: [\"a.test:5061\"]}]\n",
     "reusegw.yaml:8:19: routes[0].domain: expected a domain name, got \"*.test\""},
    {VALID "routes: [{domain: a.test, targets: [\"b.test:1\"]}, {domain: A.TEST, targets: "
           "[\"c.test:1\"]}]\n",
     "reusegw.yaml:8:51: routes[1]: duplicate route for domain \"A.TEST\" (also routes[0])"},
    {VALID "reuse: {idle_timeot: 1s}\n",
     "reusegw.yaml:8:9: reuse.idle_timeot: unknown key \"idle_timeot\"; did you mean "
     "\"idle_timeout\"?"},
    {VALID "frobnicate: 1\n",
     "reusegw.yaml:8:1: frobnicate: unknown key \"frobnicate\"; valid keys: identity, tls, "
     "legacy, reuse, routes, identities, peers, dns, limits, admin, runtime, log, capture"},
    {VALID "reuse: [1]\n",
     "reusegw.yaml:8:8: reuse: expected a mapping (keys: accept_alias, request_alias, "
     "require_sent_by_identity, idle_timeout), got a list"},
    {VALID "log: {level: info, level: debug}\n",
     "reusegw.yaml:8:20: log.level: duplicate key \"level\" (first at line 8)"},
    {VALID "log: {[a]: 1}\n", "reusegw.yaml:8:7: log: keys must be plain names, got a list"},
    {IDENTITY TLS "legacy: {listen: \"127.0.0.1:5070\"}\n",
     "reusegw.yaml:7:9: legacy.forward_to: required key is missing"},
    {TLS LEGACY, "reusegw.yaml:1:1: identity: required key is missing"},
    {IDENTITY "tls:\n  listen: []\n  certificate: tls/proxy.pem\n  private_key: tls/proxy.key\n"
              "  ca: tls/ca.pem\n" LEGACY,
     "reusegw.yaml:3:11: tls.listen: needs at least 1 address"},
    {IDENTITY "tls:\n  listen: [\"127.0.0.1:5061\", \"[::1]:5061\", \"[0::1]:5061\"]\n"
              "  certificate: tls/proxy.pem\n  private_key: tls/proxy.key\n"
              "  ca: tls/ca.pem\n" LEGACY,
     "reusegw.yaml:3:44: tls.listen[2]: duplicate listen address [0::1]:5061 (also "
     "tls.listen[1])"},
    {IDENTITY "tls:\n  listen: [\"127.0.0.1:5061\"]\n  certificate: tls/missing.pem\n"
              "  private_key: tls/proxy.key\n  ca: tls/ca.pem\n" LEGACY,
     "reusegw.yaml:4:16: tls.certificate: cannot read \"DIR/tls/missing.pem\": No such file or "
     "directory"},
    {IDENTITY "tls:\n  listen: [\"127.0.0.1:5061\"]\n  certificate: tls\n"
              "  private_key: tls/proxy.key\n  ca: tls/ca.pem\n" LEGACY,
     "reusegw.yaml:4:16: tls.certificate: \"DIR/tls\" is not a regular file"},
    {IDENTITY "tls:\n  listen: [\"127.0.0.1:5061\"]\n  certificate: tls/proxy.pem\n"
              "  private_key: |\n    -----BEGIN PRIVATE KEY-----\n    MIGHAgEAMBMGByqGSM49AgEG\n"
              "  ca: tls/ca.pem\n" LEGACY,
     "reusegw.yaml:5:16: tls.private_key: expected a file path, got <multi-line text>"},
    {"- a\n- b\n", "reusegw.yaml:1:1: expected a mapping (keys: identity, tls, legacy, reuse, "
                   "routes, identities, peers, dns, "
                   "limits, admin, runtime, log, capture), got a list"},
    {"just a string\n", "reusegw.yaml:1:1: expected a mapping (keys: identity, tls, legacy, reuse, "
                        "routes, identities, peers, dns, "
                        "limits, admin, runtime, log, capture), got \"just a string\""},
    {"", "reusegw.yaml:1:1: the file is empty; expected a mapping with identity, tls and legacy"},
    {"# only a comment\n",
     "reusegw.yaml:1:1: the file is empty; expected a mapping with identity, tls and legacy"},
    {VALID "---\nlog: {}\n",
     "reusegw.yaml:9:1: only one YAML document is allowed; this is a second one"},
    {VALID "log: {level: [}\n",
     "reusegw.yaml:8:15: YAML syntax error: did not find expected node content (while parsing a "
     "flow node at line 8, column 15)"},
    {VALID "tls: *nowhere\n", "reusegw.yaml:8:6: YAML syntax error: found undefined alias"},
    {VALID "log:\n  level: info\n bad: 1\n",
     "reusegw.yaml:10:2: YAML syntax error: did not find expected key (while parsing a block "
     "mapping at line 1, column 1)"},
};

static void every_error_class_has_its_message(void **state)
{
    struct fixture *fx = *state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct cfg_snapshot *s = load_text(fx, bad_cases[i].text);
        char expected[1024];
        const char *dir_mark = strstr(bad_cases[i].error, "DIR");
        if (dir_mark)
            snprintf(expected, sizeof expected, "%.*s%s%s", (int)(dir_mark - bad_cases[i].error),
                     bad_cases[i].error, fx->dir, dir_mark + 3);
        else
            snprintf(expected, sizeof expected, "%s", bad_cases[i].error);
        if (s || fx->errors.count != 1 || strcmp(first_error(fx), expected) != 0) {
            print_error("case %zu: %zu errors, first: %s\nexpected: %s\n", i, fx->errors.count,
                        fx->errors.count ? first_error(fx) : "-", expected);
            for (size_t j = 1; j < fx->errors.count; j++)
                print_error("  also: %s: %s\n", fx->errors.items[j].key,
                            fx->errors.items[j].message);
            failed++;
        }
        cfg_unref(s);
    }
    assert_int_equal(failed, 0);
}

static void all_errors_of_a_file_are_reported_in_order(void **state)
{
    struct fixture *fx = *state;
    struct cfg_snapshot *s = load_text(fx, "identity: {sent_by: \"a.test:0\"}\n"
                                           "tls:\n"
                                           "  listen: [\"x\"]\n"
                                           "  certificate: tls/proxy.pem\n"
                                           "  private_key: tls/proxy.key\n"
                                           "legacy: {forward_to: 1, listen: \"127.0.0.1:5070\"}\n"
                                           "log: {level: loud, format: yaml}\n");
    assert_null(s);
    static const char *const keys[] = {"identity.sent_by",  "tls.listen[0]", "tls.ca",
                                       "legacy.forward_to", "log.level",     "log.format"};
    static const unsigned lines[] = {1, 3, 3, 6, 7, 7};
    assert_int_equal(fx->errors.count, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(fx->errors.items[i].key, keys[i]);
        assert_int_equal(fx->errors.items[i].line, lines[i]);
    }
}

static void error_count_is_bounded(void **state)
{
    struct fixture *fx = *state;
    static char text[64 * 1024];
    size_t used = (size_t)snprintf(text, sizeof text, "%s", VALID "routes:\n");
    for (int i = 0; i < 500; i++)
        used += (size_t)snprintf(text + used, sizeof text - used,
                                 "  - {domain: bad_%d, targets: [\"a.test:1\"]}\n", i);
    assert_null(load_text(fx, text));
    assert_int_equal(fx->errors.count, CFG_MAX_ERRORS);
    assert_string_equal(fx->errors.items[0].key, "routes[0].domain");
    assert_string_equal(fx->errors.items[CFG_MAX_ERRORS - 2].key, "routes[98].domain");
    assert_string_equal(fx->errors.items[CFG_MAX_ERRORS - 1].message,
                        "too many errors; the rest are not reported");
}

static void deep_and_wide_documents_are_refused_quickly(void **state)
{
    struct fixture *fx = *state;
    /* Half a million open brackets: libyaml alone would take minutes. */
    size_t depth = 500000;
    char *text = malloc(3 + 2 * depth + 1);
    memcpy(text, "a: ", 3);
    memset(text + 3, '[', depth);
    memset(text + 3 + depth, ']', depth);
    text[3 + 2 * depth] = '\0';
    assert_null(load_text(fx, text));
    free(text);
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(first_error(fx), "reusegw.yaml:1:19: nesting is deeper than 16 levels");

    static char wide[64 * 1024];
    size_t used = (size_t)snprintf(wide, sizeof wide, "%s", VALID "log:\n");
    for (int i = 0; i < 2000; i++)
        used += (size_t)snprintf(wide + used, sizeof wide - used, "  k%d: 1\n", i);
    assert_null(load_text(fx, wide));
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(first_error(fx),
                        "reusegw.yaml:9:3: log: a mapping of 2000 keys; at most 64 are allowed");
}

static void oversized_file_is_refused_unparsed(void **state)
{
    struct fixture *fx = *state;
    size_t len = 1024 * 1024 + 1;
    char *text = malloc(len);
    memset(text, '#', len);
    write_file(fx->file, text, len);
    free(text);
    assert_null(cfg_load(fx->file, &fx->errors));
    assert_int_equal(fx->errors.count, 1);
    assert_int_equal(fx->errors.items[0].line, 0);
    assert_string_equal(
        fx->errors.items[0].message,
        "file is 1048577 bytes, more than the limit of 1048576 (1 MiB); not parsed");
}

static void binary_and_missing_files_get_clear_errors(void **state)
{
    struct fixture *fx = *state;
    write_file(fx->file, "log:\n  le\0vel: x\n", 17);
    assert_null(cfg_load(fx->file, &fx->errors));
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(first_error(fx),
                        "reusegw.yaml:2:5: binary data (a NUL byte); expected YAML text");
    cfg_errors_clear(&fx->errors);

    write_file(fx->file, "log: \xff\xfe\n", 8);
    assert_null(cfg_load(fx->file, &fx->errors));
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(first_error(fx), "reusegw.yaml:1:6: not valid YAML text: invalid leading "
                                         "UTF-8 octet (byte 0xff); is this a binary file?");
    cfg_errors_clear(&fx->errors);

    assert_null(cfg_load("/nonexistent/reusegw.yaml", &fx->errors));
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(first_error(fx), "reusegw.yaml: cannot open: No such file or directory");
    cfg_errors_clear(&fx->errors);

    assert_null(cfg_load(fx->dir, &fx->errors));
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(fx->errors.items[0].message, "not a regular file");
    cfg_errors_clear(&fx->errors);

    /* A FIFO without a writer would block a plain open(2) forever. */
    char fifo[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%s/fifo.yaml", fx->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_null(cfg_load(fifo, &fx->errors));
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(fx->errors.items[0].message, "not a regular file");
    cfg_errors_clear(&fx->errors);

    assert_null(load_text(fx, IDENTITY "tls:\n  listen: [\"127.0.0.1:5061\"]\n"
                                       "  certificate: tls/proxy.pem\n"
                                       "  private_key: tls/proxy.key\n  ca: fifo.yaml\n" LEGACY));
    assert_int_equal(fx->errors.count, 1);
    assert_string_equal(fx->errors.items[0].key, "tls.ca");
    char expected[PATH_MAX + 64];
    snprintf(expected, sizeof expected, "\"%s\" is not a regular file", fifo);
    assert_string_equal(fx->errors.items[0].message, expected);
}

/* The route table finds each of many routes, whatever the case of the
 * name asked for, and nothing for names one byte off (shorter, longer,
 * changed): the compare is the whole name, never a prefix. */
static void route_index_finds_every_route_and_only_it(void **state)
{
    (void)state;
    enum { N = 1000 };
    static struct cfg_route routes[N];
    static char names[N][32];
    struct cfg_snapshot snap = {.routes = routes, .n_routes = N};
    for (size_t i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "T%zu.Tenant.example", i);
        routes[i].domain = names[i];
    }
    cfg_index_routes(&snap);
    assert_true(snap.route_slot_mask + 1 >= 2 * N);
    for (size_t i = 0; i < N; i++) {
        char ask[40];
        int n = snprintf(ask, sizeof ask, "t%zu.tenant.EXAMPLE", i);
        assert_ptr_equal(cfg_route_find(&snap, ask, (size_t)n), &routes[i]);
        assert_null(cfg_route_find(&snap, ask, (size_t)n - 1));
        ask[n] = 'x';
        assert_null(cfg_route_find(&snap, ask, (size_t)n + 1));
        ask[1] = ask[1] == '9' ? '0' : (char)(ask[1] + 1);
        assert_ptr_not_equal(cfg_route_find(&snap, ask, (size_t)n), &routes[i]);
    }
    assert_null(cfg_route_find(&snap, "", 0));
    cfg_unindex_routes(&snap);
    assert_null(cfg_route_find(&snap, "t1.tenant.example", 17));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(full_config_parses_every_key),
        T(minimal_config_gets_every_default),
        T(identities_and_peers_parse_with_inherited_defaults),
        T(example_yaml_loads_next_to_its_files),
        T(capture_is_off_until_its_section_is_given),
        T(capture_and_key_log_keep_what_was_written),
        T(relative_paths_resolve_against_the_file),
        T(references_keep_the_snapshot_alive),
        T(error_format_has_every_shape),
        T(every_error_class_has_its_message),
        T(all_errors_of_a_file_are_reported_in_order),
        T(error_count_is_bounded),
        T(deep_and_wide_documents_are_refused_quickly),
        T(oversized_file_is_refused_unparsed),
        T(binary_and_missing_files_get_clear_errors),
        cmocka_unit_test(route_index_finds_every_route_and_only_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
