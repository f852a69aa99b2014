/* config: the YAML configuration contract of reusegw (docs/design.md) as one
 * immutable, reference-counted snapshot.
 *
 * Owns every string and array inside a snapshot; callers borrow them for as
 * long as they hold a reference. Never changes a snapshot after it is
 * returned: SIGHUP loads a new one and swaps the pointer. Knows nothing of
 * sockets, TLS or SIP. */
#ifndef REUSEGW_CONFIG_H
#define REUSEGW_CONFIG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* cfg_hostport is a parsed "host:port". |host| is the name or address
 * without IPv6 brackets; |is_ipv6_literal| says it was written in brackets. */
struct cfg_hostport {
    char host[256];
    uint16_t port;
    bool is_ipv6_literal;
};

/* cfg_route is one static RFC 3263 answer: requests for |domain| go to
 * |targets| in order (failover). */
struct cfg_route {
    char *domain;
    struct cfg_hostport *targets;
    size_t n_targets;
};

enum cfg_client_cert { CFG_CLIENT_CERT_REQUIRED, CFG_CLIENT_CERT_OPTIONAL };

/* cfg_cidr is one address range ("10.0.0.0/8", "2001:db8::/32", or one
 * address): |prefix| leading bits of |addr| (network order, AF_INET uses
 * the first 4 bytes) and every bit after them zero. */
struct cfg_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t prefix;
    uint8_t addr[16];
};

/* CFG_MAX_IDENTITIES bounds `identities`: each may bind one egress address
 * and holds a TLS context per worker. */
#define CFG_MAX_IDENTITIES 64

/* cfg_identity is one extra identity of ours (`identities`), beside the
 * default one (identity.sent_by with tls.certificate / tls.private_key).
 * |domains| as written; none means "what the certificate proves" (RFC 5922
 * section 7.1), which the TLS layer derives: config/ never reads a
 * certificate's contents. |legacy_listen| is an extra egress address whose
 * requests take this identity (valid when |has_legacy_listen|). */
struct cfg_identity {
    struct cfg_hostport sent_by; /* required; port defaults to 5061 */
    char *certificate;           /* required */
    char *private_key;           /* required */
    char **domains;
    size_t n_domains;
    struct cfg_hostport legacy_listen;
    bool has_legacy_listen;
};

/* cfg_peer is the TLS policy for one peer domain (`peers`), matched by the
 * target domain when dialling and by the proven identities when accepting.
 * After cfg_load every field holds its effective value: a key left out
 * takes its default from the tls section (the has_* flags say which were
 * written). */
struct cfg_peer {
    char *domain;                            /* required */
    char *ca;                                /* NULL: tls.ca */
    char *sni;                               /* NULL: the target domain */
    enum cfg_client_cert client_certificate; /* default tls.client_certificate */
    bool allow_server_auth_only;             /* default false */
    bool require_sip_eku;                    /* default tls.require_sip_eku */
    bool has_client_certificate;
    bool has_require_sip_eku;
};
enum cfg_io_backend { CFG_IO_AUTO, CFG_IO_URING, CFG_IO_EPOLL };
enum cfg_log_level { CFG_LOG_ERROR, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };
enum cfg_log_format { CFG_LOG_LOGFMT, CFG_LOG_JSON };
enum cfg_capture_transport { CFG_CAPTURE_UDP, CFG_CAPTURE_TCP };
/* cfg_legacy_transport is how reusegw talks to the legacy proxy. */
enum cfg_legacy_transport { CFG_LEGACY_TCP, CFG_LEGACY_UDP };
/* cfg_capture_leg: one bit per name of capture.hep.legs. */
enum cfg_capture_leg { CFG_CAPTURE_LEG_TLS = 1u << 0, CFG_CAPTURE_LEG_LEGACY = 1u << 1 };

/* cfg_snapshot mirrors the YAML keys one to one. Durations are in
 * milliseconds; file paths are absolute (resolved against the directory of
 * the configuration file). */
struct cfg_snapshot {
    _Atomic int refcount;
    char *path; /* the file this snapshot was loaded from */

    struct {
        struct cfg_hostport sent_by; /* required; port defaults to 5061 */
    } identity;

    struct {
        struct cfg_hostport *listen; /* required, at least one */
        size_t n_listen;
        char *certificate;                       /* required */
        char *private_key;                       /* required */
        char *ca;                                /* required */
        enum cfg_client_cert client_certificate; /* default required */
        uint64_t handshake_timeout_ms;           /* default 10s */
        bool require_sip_eku;                    /* default false (RFC 5924 knob) */
        char *key_log;   /* NSS key log file (RFC 9850) reusegw appends to; NULL: off */
        char *crl;       /* PEM file of CRLs checked for every peer chain; NULL: none */
        bool crl_strict; /* default false: an expired CRL is still used (logged, counted) */
        bool watch;      /* default false: reload when the certificate files change */
        /* PROXY protocol (v1/v2) on tls.listen: connections from |trusted|
         * sources must begin with a header naming the real client, others
         * must not send one. None trusted (the default): off. */
        struct {
            struct cfg_cidr *trusted;
            size_t n_trusted;
            uint64_t timeout_ms; /* default 5s: longest wait for the whole header */
        } proxy_protocol;
    } tls;

    struct {
        struct cfg_hostport forward_to;      /* required */
        struct cfg_hostport listen;          /* required */
        bool transparent;                    /* default false */
        enum cfg_legacy_transport transport; /* default tcp */
    } legacy;

    struct {
        bool accept_alias;             /* default true */
        bool request_alias;            /* default true */
        bool require_sent_by_identity; /* default false */
        uint64_t idle_timeout_ms;      /* default 10m */
    } reuse;

    struct cfg_route *routes; /* default none */
    size_t n_routes;
    /* |routes| by domain (cfg_route_find): |route_slot_mask| + 1 slots,
     * open-addressed, each 0 (empty) or 1 + an index into |routes|; NULL
     * until cfg_index_routes. Routing looks up every request there, and a
     * proxy with many tenants has many routes. */
    uint32_t *route_slots;
    size_t route_slot_mask;

    struct cfg_identity *identities; /* default none: only the default identity */
    size_t n_identities;
    struct cfg_peer *peers; /* default none: tls applies to every peer */
    size_t n_peers;

    struct {
        struct cfg_hostport *servers; /* port defaults to 53; none: resolv.conf */
        size_t n_servers;
    } dns;

    struct {
        uint32_t max_connections;   /* default 100000 */
        uint32_t max_message_bytes; /* default 65535 */
        /* Extensions of the docs/design.md contract (same section, new keys). */
        uint32_t max_connections_per_peer;  /* default 1000, per peer IP address */
        uint32_t max_pending_transactions;  /* default 65536 */
        uint32_t max_buffered_bytes;        /* default 1 MiB queued per connection */
        uint32_t max_concurrent_handshakes; /* default 1024 inbound TLS handshakes at once */
        uint32_t handshake_rate;     /* default 2000 new inbound handshakes/s, burst = rate */
        uint64_t message_timeout_ms; /* default 30s: longest a partial SIP message may sit */
        uint64_t send_timeout_ms;    /* default 60s: longest a send queue may go undrained */
    } limits;

    struct {
        struct cfg_hostport listen; /* default 127.0.0.1:9091 */
    } admin;

    struct {
        uint32_t workers;               /* default 1; 0 means auto (one per core) */
        enum cfg_io_backend io_backend; /* default auto */
        uint64_t drain_timeout_ms;      /* default 20s: SIGTERM drain bound */
    } runtime;

    /* HEPv3 copies of the SIP messages to a collector (Homer, sngrep). */
    struct {
        struct {
            bool enabled;                         /* the capture.hep mapping is there */
            struct cfg_hostport address;          /* required in it; an IP address */
            enum cfg_capture_transport transport; /* default udp */
            uint32_t capture_id;                  /* default 2001 */
            char *password;                       /* HEP auth key; NULL: none */
            char *node_name;                      /* default "reusegw" */
            uint32_t legs;                        /* cfg_capture_leg bits; default both */
        } hep;
    } capture;

    struct {
        enum cfg_log_level level;   /* default info */
        enum cfg_log_format format; /* default logfmt */
    } log;
};

/* cfg_error is one problem found in a file: where, which key, what. */
struct cfg_error {
    char *file;
    unsigned line;   /* 1-based; 0 when the problem has no position */
    unsigned column; /* 1-based */
    char *key;       /* key path such as "tls.listen[1]"; "" for the document */
    char *message;
};

/* cfg_errors collects every error of one load, in file order. */
struct cfg_errors {
    struct cfg_error *items;
    size_t count;
};

/* CFG_CERT_NAMES_MAX bounds the names read from one certificate, and
 * CFG_NAME_MAX their length with the NUL (RFC 1035 presentation form). */
#define CFG_CERT_NAMES_MAX 16
#define CFG_NAME_MAX 254

/* cfg_cert_names_fn lets the loader check what a certificate file proves,
 * which config/ never parses itself (tls/ does; the caller glues the two).
 * It fills |names| with up to CFG_CERT_NAMES_MAX domains the leaf of
 * |certificate_file| proves (RFC 5922 section 7.1) and returns how many, or
 * -1 after writing into |problem| (|problem_len| bytes) why it cannot. */
typedef int (*cfg_cert_names_fn)(const char *certificate_file,
                                 char names[CFG_CERT_NAMES_MAX][CFG_NAME_MAX], char *problem,
                                 size_t problem_len);

/* cfg_crl_check_fn lets the loader check that a file holds CRLs it can
 * use (config/ never parses them): 0, or -1 after writing into |problem|
 * (|problem_len| bytes) why not. */
typedef int (*cfg_crl_check_fn)(const char *crl_file, char *problem, size_t problem_len);

/* cfg_readers are the caller's readers of the files a configuration names;
 * a NULL member skips its checks. */
struct cfg_readers {
    cfg_cert_names_fn cert_names;
    cfg_crl_check_fn crl;
};

/* cfg_load_checked is cfg_load that also reads the files the configuration
 * names through |readers| (NULL: none). With cert_names each of
 * `identities` is checked against its certificate: the certificate must
 * prove the identity's sent_by host and each domain it lists, and no domain
 * may belong to two identities, the default one (what tls.certificate
 * proves) included. With crl, tls.crl must hold usable CRLs. */
struct cfg_snapshot *cfg_load_checked(const char *path, const struct cfg_readers *readers,
                                      struct cfg_errors *errors);

/* cfg_load reads and validates |path|; |errors| must be empty on entry.
 * Relative file paths in the file are resolved against its directory. On
 * success it returns a new snapshot with a reference count of one (release
 * with cfg_unref) and leaves |errors| empty. On failure it returns NULL and fills |errors| with
 * every problem of the file, not just the first; the caller frees them with cfg_errors_clear. */
struct cfg_snapshot *cfg_load(const char *path, struct cfg_errors *errors);

/* cfg_ref takes another reference to |snap| and returns it. */
struct cfg_snapshot *cfg_ref(struct cfg_snapshot *snap);

/* cfg_unref drops a reference; the last one frees the snapshot. NULL is a
 * no-op. */
void cfg_unref(struct cfg_snapshot *snap);

/* cfg_index_routes builds |snap|'s table of routes by domain from its
 * final |routes| (cfg_load does; a snapshot made field by field must too),
 * replacing any earlier one; aborts when memory runs out, as the loader
 * does. cfg_unindex_routes frees it (cfg_unref does). */
void cfg_index_routes(struct cfg_snapshot *snap);
void cfg_unindex_routes(struct cfg_snapshot *snap);

/* cfg_route_find returns the route of domain |host| (|len| bytes, not
 * NUL-terminated, compared ignoring ASCII case), or NULL when there is none.
 * O(1): one hash and, on average, about one compare. Borrows |snap|. */
const struct cfg_route *cfg_route_find(const struct cfg_snapshot *snap, const char *host,
                                       size_t len);

/* cfg_error_format writes "FILE:LINE:COLUMN: KEY: MESSAGE" into |buf| (at
 * most |size| bytes, NUL-terminated) and returns the length it wanted.
 * "KEY: " is left out when the key is "" (the whole document), ":LINE:COLUMN"
 * when the line is 0 (the whole file, e.g. too large to parse). */
size_t cfg_error_format(const struct cfg_error *error, char *buf, size_t size);

/* cfg_errors_clear frees every error in |errors| and empties it. */
void cfg_errors_clear(struct cfg_errors *errors);

/* cfg_hostport_format writes "host:port" ("[v6]:port" for IPv6 literals). */
size_t cfg_hostport_format(const struct cfg_hostport *hp, char *buf, size_t size);

#endif
