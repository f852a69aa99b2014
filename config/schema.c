/* schema: the configuration contract as tables. See schema.h; defaults live
 * in snapshot.c, the meaning of every key in docs/configuration.md. */
#include "config/schema.h"

#include "config/config.h"

#define SNAP(member) offsetof(struct cfg_snapshot, member)
#define ROUTE(member) offsetof(struct cfg_route, member)
#define IDENTITY(member) offsetof(struct cfg_identity, member)
#define PEER(member) offsetof(struct cfg_peer, member)
#define SCHEMA(fields)                                                                             \
    {                                                                                              \
        fields, sizeof fields / sizeof fields[0]                                                   \
    }

#define MS_SECOND UINT64_C(1000)
#define MS_HOUR (3600 * MS_SECOND)
#define MS_DAY (24 * MS_HOUR)

static const char *const client_certificate_names[] = {"required", "optional", NULL};
static const char *const io_backend_names[] = {"auto", "io_uring", "epoll", NULL};
static const char *const log_level_names[] = {"error", "warn", "info", "debug", NULL};
static const char *const log_format_names[] = {"logfmt", "json", NULL};
static const char *const capture_transport_names[] = {"udp", "tcp", NULL};
/* In the bit order of enum cfg_capture_leg. */
static const char *const legacy_transport_names[] = {"tcp", "udp", NULL};
static const char *const capture_leg_names[] = {"tls", "legacy", NULL};

static const struct cfg_field identity_fields[] = {
    {.name = "sent_by",
     .kind = CFG_F_HOSTPORT,
     .offset = SNAP(identity.sent_by),
     .required = true,
     .default_port = 5061},
};

static const struct cfg_field proxy_protocol_fields[] = {
    {.name = "trusted",
     .kind = CFG_F_CIDR_LIST,
     .offset = SNAP(tls.proxy_protocol.trusted),
     .count_offset = SNAP(tls.proxy_protocol.n_trusted),
     .required = true,
     .min = 1,
     .max = 256},
    {.name = "timeout",
     .kind = CFG_F_DURATION,
     .offset = SNAP(tls.proxy_protocol.timeout_ms),
     .min = 1,
     .max = 60 * MS_SECOND},
};
static const struct cfg_map_schema proxy_protocol_schema = SCHEMA(proxy_protocol_fields);

static const struct cfg_field tls_fields[] = {
    {.name = "listen",
     .kind = CFG_F_HOSTPORT_LIST,
     .offset = SNAP(tls.listen),
     .count_offset = SNAP(tls.n_listen),
     .required = true,
     .is_listen = true,
     .min = 1,
     .max = 16},
    {.name = "certificate", .kind = CFG_F_PATH, .offset = SNAP(tls.certificate), .required = true},
    {.name = "private_key", .kind = CFG_F_PATH, .offset = SNAP(tls.private_key), .required = true},
    {.name = "ca", .kind = CFG_F_PATH, .offset = SNAP(tls.ca), .required = true},
    {.name = "client_certificate",
     .kind = CFG_F_ENUM,
     .offset = SNAP(tls.client_certificate),
     .names = client_certificate_names},
    {.name = "proxy_protocol", .kind = CFG_F_MAP, .map = &proxy_protocol_schema},
    {.name = "handshake_timeout",
     .kind = CFG_F_DURATION,
     .offset = SNAP(tls.handshake_timeout_ms),
     .min = 1,
     .max = MS_HOUR},
    {.name = "require_sip_eku", .kind = CFG_F_BOOL, .offset = SNAP(tls.require_sip_eku)},
    {.name = "key_log", .kind = CFG_F_OUTPUT_PATH, .offset = SNAP(tls.key_log)},
    {.name = "crl",
     .kind = CFG_F_PATH,
     .offset = SNAP(tls.crl),
     .is_crl = true,
     .empty_none = true},
    {.name = "crl_strict", .kind = CFG_F_BOOL, .offset = SNAP(tls.crl_strict)},
    {.name = "watch", .kind = CFG_F_BOOL, .offset = SNAP(tls.watch)},
};

static const struct cfg_field legacy_fields[] = {
    {.name = "forward_to",
     .kind = CFG_F_HOSTPORT,
     .offset = SNAP(legacy.forward_to),
     .required = true,
     .is_forward = true},
    {.name = "listen",
     .kind = CFG_F_HOSTPORT,
     .offset = SNAP(legacy.listen),
     .required = true,
     .is_listen = true},
    {.name = "transparent", .kind = CFG_F_BOOL, .offset = SNAP(legacy.transparent)},
    {.name = "transport",
     .kind = CFG_F_ENUM,
     .offset = SNAP(legacy.transport),
     .names = legacy_transport_names},
};

static const struct cfg_field reuse_fields[] = {
    {.name = "accept_alias", .kind = CFG_F_BOOL, .offset = SNAP(reuse.accept_alias)},
    {.name = "request_alias", .kind = CFG_F_BOOL, .offset = SNAP(reuse.request_alias)},
    {.name = "require_sent_by_identity",
     .kind = CFG_F_BOOL,
     .offset = SNAP(reuse.require_sent_by_identity)},
    {.name = "idle_timeout",
     .kind = CFG_F_DURATION,
     .offset = SNAP(reuse.idle_timeout_ms),
     .min = 1,
     .max = 7 * MS_DAY},
};

static const struct cfg_field route_fields[] = {
    {.name = "domain", .kind = CFG_F_DOMAIN, .offset = ROUTE(domain), .required = true},
    {.name = "targets",
     .kind = CFG_F_HOSTPORT_LIST,
     .offset = ROUTE(targets),
     .count_offset = ROUTE(n_targets),
     .required = true,
     .min = 1,
     .max = 16},
};
static const struct cfg_map_schema route_schema = SCHEMA(route_fields);

static const struct cfg_field identity_item_fields[] = {
    {.name = "sent_by",
     .kind = CFG_F_HOSTPORT,
     .offset = IDENTITY(sent_by),
     .required = true,
     .default_port = 5061},
    {.name = "certificate", .kind = CFG_F_PATH, .offset = IDENTITY(certificate), .required = true},
    {.name = "private_key", .kind = CFG_F_PATH, .offset = IDENTITY(private_key), .required = true},
    {.name = "domains",
     .kind = CFG_F_DOMAIN_LIST,
     .offset = IDENTITY(domains),
     .count_offset = IDENTITY(n_domains),
     .min = 1,
     .max = 64},
    {.name = "legacy_listen",
     .kind = CFG_F_HOSTPORT,
     .offset = IDENTITY(legacy_listen),
     .is_listen = true,
     .has_seen_offset = true,
     .seen_offset = IDENTITY(has_legacy_listen)},
};
static const struct cfg_map_schema identity_item_schema = SCHEMA(identity_item_fields);

static const struct cfg_field peer_fields[] = {
    {.name = "domain", .kind = CFG_F_DOMAIN, .offset = PEER(domain), .required = true},
    {.name = "ca", .kind = CFG_F_PATH, .offset = PEER(ca)},
    {.name = "sni", .kind = CFG_F_DOMAIN, .offset = PEER(sni)},
    {.name = "client_certificate",
     .kind = CFG_F_ENUM,
     .offset = PEER(client_certificate),
     .names = client_certificate_names,
     .has_seen_offset = true,
     .seen_offset = PEER(has_client_certificate)},
    {.name = "allow_server_auth_only", .kind = CFG_F_BOOL, .offset = PEER(allow_server_auth_only)},
    {.name = "require_sip_eku",
     .kind = CFG_F_BOOL,
     .offset = PEER(require_sip_eku),
     .has_seen_offset = true,
     .seen_offset = PEER(has_require_sip_eku)},
};
static const struct cfg_map_schema peer_schema = SCHEMA(peer_fields);

static const struct cfg_field dns_fields[] = {
    {.name = "servers",
     .kind = CFG_F_HOSTPORT_LIST,
     .offset = SNAP(dns.servers),
     .count_offset = SNAP(dns.n_servers),
     .ip_only = true,
     .default_port = 53,
     .max = 8},
};

static const struct cfg_field limits_fields[] = {
    {.name = "max_connections",
     .kind = CFG_F_UINT32,
     .offset = SNAP(limits.max_connections),
     .min = 1,
     .max = 10000000},
    {.name = "max_message_bytes",
     .kind = CFG_F_UINT32,
     .offset = SNAP(limits.max_message_bytes),
     .min = 1024,
     .max = 16 * 1024 * 1024},
    {.name = "max_connections_per_peer",
     .kind = CFG_F_UINT32,
     .offset = SNAP(limits.max_connections_per_peer),
     .min = 1,
     .max = 10000000},
    {.name = "max_pending_transactions",
     .kind = CFG_F_UINT32,
     .offset = SNAP(limits.max_pending_transactions),
     .min = 1,
     .max = 10000000},
    {.name = "max_buffered_bytes",
     .kind = CFG_F_UINT32,
     .offset = SNAP(limits.max_buffered_bytes),
     .min = 4096,
     .max = 1024 * 1024 * 1024},
    {.name = "max_concurrent_handshakes",
     .kind = CFG_F_UINT32,
     .offset = SNAP(limits.max_concurrent_handshakes),
     .min = 1,
     .max = 10000000},
    {.name = "handshake_rate",
     .kind = CFG_F_UINT32,
     .offset = SNAP(limits.handshake_rate),
     .min = 1,
     .max = 10000000},
    {.name = "message_timeout",
     .kind = CFG_F_DURATION,
     .offset = SNAP(limits.message_timeout_ms),
     .min = 1,
     .max = MS_HOUR},
    {.name = "send_timeout",
     .kind = CFG_F_DURATION,
     .offset = SNAP(limits.send_timeout_ms),
     .min = 1,
     .max = MS_HOUR},
};

static const struct cfg_field admin_fields[] = {
    {.name = "listen", .kind = CFG_F_HOSTPORT, .offset = SNAP(admin.listen), .is_listen = true},
};

static const struct cfg_field runtime_fields[] = {
    {.name = "workers",
     .kind = CFG_F_WORKERS,
     .offset = SNAP(runtime.workers),
     .min = 1,
     .max = 256},
    {.name = "io_backend",
     .kind = CFG_F_ENUM,
     .offset = SNAP(runtime.io_backend),
     .names = io_backend_names},
    {.name = "drain_timeout",
     .kind = CFG_F_DURATION,
     .offset = SNAP(runtime.drain_timeout_ms),
     .min = 0,
     .max = MS_HOUR},
};

static const struct cfg_field hep_fields[] = {
    {.name = "address",
     .kind = CFG_F_HOSTPORT,
     .offset = SNAP(capture.hep.address),
     .required = true,
     .ip_only = true, /* the loop never waits on DNS */
     .default_port = 9060},
    {.name = "transport",
     .kind = CFG_F_ENUM,
     .offset = SNAP(capture.hep.transport),
     .names = capture_transport_names},
    {.name = "capture_id",
     .kind = CFG_F_UINT32,
     .offset = SNAP(capture.hep.capture_id),
     .min = 0,
     .max = UINT32_MAX},
    {.name = "password",
     .kind = CFG_F_TEXT,
     .offset = SNAP(capture.hep.password),
     .secret = true,
     .max = 255},
    {.name = "node_name", .kind = CFG_F_TEXT, .offset = SNAP(capture.hep.node_name), .max = 255},
    {.name = "legs",
     .kind = CFG_F_ENUM_SET,
     .offset = SNAP(capture.hep.legs),
     .names = capture_leg_names,
     .min = 1},
};
static const struct cfg_map_schema hep_schema = SCHEMA(hep_fields);

static const struct cfg_field capture_fields[] = {
    {.name = "hep",
     .kind = CFG_F_MAP,
     .offset = SNAP(capture.hep.enabled),
     .marks_presence = true,
     .map = &hep_schema},
};

static const struct cfg_field log_fields[] = {
    {.name = "level", .kind = CFG_F_ENUM, .offset = SNAP(log.level), .names = log_level_names},
    {.name = "format", .kind = CFG_F_ENUM, .offset = SNAP(log.format), .names = log_format_names},
};

static const struct cfg_map_schema identity_schema = SCHEMA(identity_fields);
static const struct cfg_map_schema tls_schema = SCHEMA(tls_fields);
static const struct cfg_map_schema legacy_schema = SCHEMA(legacy_fields);
static const struct cfg_map_schema reuse_schema = SCHEMA(reuse_fields);
static const struct cfg_map_schema dns_schema = SCHEMA(dns_fields);
static const struct cfg_map_schema limits_schema = SCHEMA(limits_fields);
static const struct cfg_map_schema admin_schema = SCHEMA(admin_fields);
static const struct cfg_map_schema runtime_schema = SCHEMA(runtime_fields);
static const struct cfg_map_schema log_schema = SCHEMA(log_fields);
static const struct cfg_map_schema capture_schema = SCHEMA(capture_fields);

static const struct cfg_field top_fields[] = {
    {.name = "identity", .kind = CFG_F_MAP, .required = true, .map = &identity_schema},
    {.name = "tls", .kind = CFG_F_MAP, .required = true, .map = &tls_schema},
    {.name = "legacy", .kind = CFG_F_MAP, .required = true, .map = &legacy_schema},
    {.name = "reuse", .kind = CFG_F_MAP, .map = &reuse_schema},
    {.name = "routes",
     .kind = CFG_F_ROUTES,
     .offset = SNAP(routes),
     .count_offset = SNAP(n_routes),
     .max = 4096,
     .map = &route_schema},
    {.name = "identities",
     .kind = CFG_F_IDENTITIES,
     .offset = SNAP(identities),
     .count_offset = SNAP(n_identities),
     .max = CFG_MAX_IDENTITIES,
     .map = &identity_item_schema},
    {.name = "peers",
     .kind = CFG_F_PEERS,
     .offset = SNAP(peers),
     .count_offset = SNAP(n_peers),
     .max = 4096,
     .map = &peer_schema},
    {.name = "dns", .kind = CFG_F_MAP, .map = &dns_schema},
    {.name = "limits", .kind = CFG_F_MAP, .map = &limits_schema},
    {.name = "admin", .kind = CFG_F_MAP, .map = &admin_schema},
    {.name = "runtime", .kind = CFG_F_MAP, .map = &runtime_schema},
    {.name = "log", .kind = CFG_F_MAP, .map = &log_schema},
    {.name = "capture", .kind = CFG_F_MAP, .map = &capture_schema},
};

const struct cfg_map_schema cfg_top_schema = SCHEMA(top_fields);

/* The loader's seen-set holds CFG_MAX_FIELDS keys per mapping. */
#define FITS(fields) _Static_assert(sizeof fields / sizeof fields[0] <= CFG_MAX_FIELDS, #fields)
FITS(identity_fields);
FITS(tls_fields);
FITS(proxy_protocol_fields);
FITS(legacy_fields);
FITS(reuse_fields);
FITS(route_fields);
FITS(identity_item_fields);
FITS(peer_fields);
FITS(dns_fields);
FITS(limits_fields);
FITS(admin_fields);
FITS(runtime_fields);
FITS(log_fields);
FITS(hep_fields);
FITS(capture_fields);
FITS(top_fields);

/* Enum keys are stored through an int; the enums of config.h must be int-sized. */
_Static_assert(sizeof(enum cfg_client_cert) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_io_backend) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_log_format) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_capture_transport) == sizeof(int), "enum size");
_Static_assert(sizeof(enum cfg_legacy_transport) == sizeof(int), "enum size");
