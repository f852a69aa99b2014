/* schema: the YAML contract of docs/design.md as data: which keys exist, their
 * types, bounds, and where each lands in struct cfg_snapshot.
 *
 * Owns only constant tables. Borrows nothing. Never parses: load.c walks a
 * document against these tables, so adding a key is adding one row. */
#ifndef REUSEGW_CONFIG_SCHEMA_H
#define REUSEGW_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cfg_field_kind {
    CFG_F_MAP,           /* nested mapping: |map| */
    CFG_F_ROUTES,        /* list of struct cfg_route, each a |map| */
    CFG_F_HOSTPORT,      /* struct cfg_hostport */
    CFG_F_HOSTPORT_LIST, /* struct cfg_hostport * plus size_t count */
    CFG_F_PATH,          /* char *, absolute, readable regular file */
    CFG_F_DURATION,      /* uint64_t milliseconds */
    CFG_F_BOOL,          /* bool */
    CFG_F_UINT32,        /* uint32_t */
    CFG_F_ENUM,          /* an enum of config.h, index into |names| */
    CFG_F_WORKERS,       /* uint32_t: "auto" is 0 */
    CFG_F_DOMAIN,        /* char *, a DNS name */
    CFG_F_DOMAIN_LIST,   /* char ** plus size_t count, DNS names */
    CFG_F_IDENTITIES,    /* list of struct cfg_identity, each a |map| */
    CFG_F_PEERS,         /* list of struct cfg_peer, each a |map| */
    CFG_F_TEXT,          /* char *, one line of at most |max| bytes; "" is NULL */
    CFG_F_ENUM_SET,      /* uint32_t: a list of |names|, bit i for names[i] */
    CFG_F_OUTPUT_PATH,   /* char *, absolute, a file reusegw writes; "" is NULL */
    CFG_F_CIDR_LIST,     /* struct cfg_cidr * plus size_t count */
};

struct cfg_field;

/* cfg_map_schema is the set of keys one mapping accepts. */
struct cfg_map_schema {
    const struct cfg_field *fields;
    size_t n_fields;
};

/* cfg_field is one key. Offsets are into the struct the mapping fills:
 * struct cfg_snapshot for sections, struct cfg_route for route entries. */
struct cfg_field {
    const char *name;
    enum cfg_field_kind kind;
    size_t offset;
    size_t count_offset; /* lists: where the size_t count goes */
    bool required;
    /* Keys whose default comes from elsewhere (peers inherit from tls): when
     * |has_seen_offset|, the loader sets the bool at |seen_offset| of the
     * filled struct once the key is present, so the default can be applied
     * after the whole file is read. */
    bool has_seen_offset;
    size_t seen_offset;
    bool is_listen;  /* an address reusegw binds: no two may be equal */
    bool is_forward; /* reusegw connects there: must not be its own listen address */
    bool ip_only;    /* host must be an IP literal (DNS servers) */
    bool secret;     /* CFG_F_TEXT: never echoed in an error */
    bool is_crl;     /* CFG_F_PATH: the file must hold CRLs (cfg_readers.crl) */
    bool empty_none; /* CFG_F_PATH: "" means no file (NULL) */
    /* CFG_F_MAP: when set, the bool at |offset| records that the mapping
     * was given (a section that switches a feature on). */
    bool marks_presence;
    uint16_t default_port;            /* host:port: 0 makes the port required */
    uint64_t min, max;                /* integers, durations (ms); lists: entry counts */
    const char *const *names;         /* CFG_F_ENUM, NULL-terminated */
    const struct cfg_map_schema *map; /* CFG_F_MAP and the lists of mappings */
};

/* CFG_MAX_FIELDS bounds the keys of one mapping (the loader's seen-set). */
#define CFG_MAX_FIELDS 16

/* cfg_top_schema is the top-level mapping of a configuration file. */
extern const struct cfg_map_schema cfg_top_schema;

#endif
