/* load: cfg_load, reading a file with libyaml and walking the document
 * against schema.c. Every problem is recorded and the walk goes on, so one
 * run reports all the errors of a file. */
#include "config/config.h"

#include "config/errors.h"
#include "config/scalar.h"
#include "config/schema.h"
#include "config/snapshot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* CFG_MAX_FILE_BYTES: larger files are refused before parsing. */
#define CFG_MAX_FILE_BYTES (1024 * 1024)
#define KEY_PATH_MAX 256
/* The schema nests four levels deep; libyaml's scanner is quadratic in flow
 * nesting, so deeper input is refused before the document is built. */
#define MAX_DEPTH 16
/* No mapping of the schema has more than ten keys; a huge one is refused
 * whole instead of being checked key by key (duplicates are O(n^2)). */
#define MAX_MAPPING_KEYS 64
/* Every listen address: tls.listen (at most 16), legacy.listen, admin.listen,
 * and one legacy_listen per extra identity. */
#define MAX_LISTENS (18 + CFG_MAX_IDENTITIES)

struct listen_seen {
    struct cfg_hostport addr;
    char key[KEY_PATH_MAX];
};

/* addresses_clash: two endpoints that are, or bind over, the same socket. */
static bool addresses_clash(const struct cfg_hostport *a, const struct cfg_hostport *b)
{
    return cfg_hostport_equal(a, b) || cfg_hostport_overlaps(a, b);
}

struct loader {
    const char *file; /* as the user wrote it: errors name it that way */
    char absolute[PATH_MAX];
    char dir[PATH_MAX]; /* relative paths in the file are resolved against it */
    yaml_document_t *doc;
    struct cfg_errors *errors;
    struct listen_seen listens[MAX_LISTENS];
    size_t n_listens;
    struct listen_seen forward; /* legacy.forward_to, once seen (key not "") */
    /* identities[i]'s mapping, for checks that need the whole file first. */
    const yaml_node_t *identity_nodes[CFG_MAX_IDENTITIES];
    cfg_cert_names_fn cert_names; /* NULL: certificates are not read */
    cfg_crl_check_fn crl;         /* NULL: CRL files are not read */
};

static void report(struct loader *ld, const yaml_node_t *node, const char *key, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static void report(struct loader *ld, const yaml_node_t *node, const char *key, const char *fmt,
                   ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    cfg_errors_add(ld->errors, ld->file, (unsigned)node->start_mark.line + 1,
                   (unsigned)node->start_mark.column + 1, key, "%s", message);
}

static bool is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
           !strcmp(v, "NULL");
}

/* describe names what a node is, for "expected X, got Y". */
static const char *describe(const yaml_node_t *node, char *buf, size_t size)
{
    if (node->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (node->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (is_null(node))
        return "nothing";
    cfg_quote((const char *)node->data.scalar.value, buf, size);
    return buf;
}

static void report_type(struct loader *ld, const yaml_node_t *node, const char *key,
                        const char *expected)
{
    char quoted[64];
    report(ld, node, key, "expected %s, got %s", expected, describe(node, quoted, sizeof quoted));
}

/* scalar returns the text of a non-null scalar, or reports and returns NULL. */
static const char *scalar(struct loader *ld, const yaml_node_t *node, const char *key,
                          const char *expected)
{
    if (node->type != YAML_SCALAR_NODE || is_null(node)) {
        report_type(ld, node, key, expected);
        return NULL;
    }
    return (const char *)node->data.scalar.value;
}

/* Key paths follow the schema, so they are short; a cut one ends in "...". */
static void mark_cut(char out[KEY_PATH_MAX], int len)
{
    if (len < 0 || len >= KEY_PATH_MAX)
        memcpy(out + KEY_PATH_MAX - 4, "...", 4);
}

static void join_key(char out[KEY_PATH_MAX], const char *parent, const char *name)
{
    mark_cut(out, snprintf(out, KEY_PATH_MAX, "%s%s%s", parent, parent[0] ? "." : "", name));
}

static void index_key(char out[KEY_PATH_MAX], const char *parent, size_t i)
{
    mark_cut(out, snprintf(out, KEY_PATH_MAX, "%s[%zu]", parent, i));
}

static void format_duration(uint64_t ms, char *buf, size_t size)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms && ms % units[i].ms == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%llums", (unsigned long long)ms);
}

static void note_listen(struct loader *ld, const yaml_node_t *node, const char *key,
                        const struct cfg_hostport *addr)
{
    for (size_t i = 0; i < ld->n_listens; i++) {
        const struct listen_seen *earlier = &ld->listens[i];
        char text[300], other[300];
        cfg_hostport_format(addr, text, sizeof text);
        if (cfg_hostport_equal(&earlier->addr, addr)) {
            report(ld, node, key, "duplicate listen address %s (also %s)", text, earlier->key);
            return;
        }
        if (cfg_hostport_overlaps(&earlier->addr, addr)) {
            cfg_hostport_format(&earlier->addr, other, sizeof other);
            report(ld, node, key, "listen address %s overlaps %s (%s): both cannot be bound", text,
                   other, earlier->key);
            return;
        }
    }
    if (ld->forward.key[0] && addresses_clash(&ld->forward.addr, addr)) {
        char text[300];
        cfg_hostport_format(addr, text, sizeof text);
        report(ld, node, key, "%s is also %s, the legacy proxy's address: traffic would loop", text,
               ld->forward.key);
        return;
    }
    if (ld->n_listens < MAX_LISTENS) {
        ld->listens[ld->n_listens].addr = *addr;
        snprintf(ld->listens[ld->n_listens].key, KEY_PATH_MAX, "%s", key);
        ld->n_listens++;
    }
}

/* note_forward keeps legacy.forward_to away from reusegw's own addresses:
 * whichever of the two comes later in the file gets the error. */
static void note_forward(struct loader *ld, const yaml_node_t *node, const char *key,
                         const struct cfg_hostport *addr)
{
    for (size_t i = 0; i < ld->n_listens; i++) {
        if (addresses_clash(&ld->listens[i].addr, addr)) {
            char text[300];
            cfg_hostport_format(addr, text, sizeof text);
            report(ld, node, key, "%s is reusegw's own %s: traffic would loop", text,
                   ld->listens[i].key);
            return;
        }
    }
    ld->forward.addr = *addr;
    snprintf(ld->forward.key, KEY_PATH_MAX, "%s", key);
}

static bool load_hostport(struct loader *ld, const struct cfg_field *f, const yaml_node_t *node,
                          const char *key, struct cfg_hostport *out)
{
    const char *expected = f->default_port ? "host[:port]" : "host:port";
    const char *text = scalar(ld, node, key, expected);
    if (!text)
        return false;
    char problem[CFG_PROBLEM_MAX];
    if (!cfg_parse_hostport(text, f->default_port, out, problem)) {
        report(ld, node, key, "%s", problem);
        return false;
    }
    char ip[16];
    if (f->ip_only && inet_pton(AF_INET, out->host, ip) != 1 && !out->is_ipv6_literal) {
        char quoted[64];
        cfg_quote(out->host, quoted, sizeof quoted);
        report(ld, node, key, "expected an IP address, got host name %s", quoted);
        return false;
    }
    if (f->is_listen)
        note_listen(ld, node, key, out);
    if (f->is_forward)
        note_forward(ld, node, key, out);
    return true;
}

/* item_loader loads one list item |item| (path |item_key|) into element |i|
 * of |array|. */
typedef void (*item_loader)(struct loader *ld, const struct cfg_field *f, yaml_node_t *item,
                            const char *item_key, void *array, size_t i);

/* load_sequence is the walk every list field shares: |node| must be a
 * sequence of f->min..f->max items (|what| names the expected type, |noun|
 * one item, |nouns| several); it allocates one |size|-byte element per item,
 * stores the array and its count in the field, and loads each item. */
static void load_sequence(struct loader *ld, const struct cfg_field *f, const yaml_node_t *node,
                          const char *key, void *base, const char *what, const char *noun,
                          const char *nouns, size_t size, item_loader load_item)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        report_type(ld, node, key, what);
        return;
    }
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n < f->min) {
        report(ld, node, key, "needs at least %llu %s", (unsigned long long)f->min,
               f->min == 1 ? noun : nouns);
        return;
    }
    if (n > f->max) {
        report(ld, node, key, "at most %llu %s are allowed, got %zu", (unsigned long long)f->max,
               nouns, n);
        return;
    }
    void *array = cfg_xcalloc(n, size);
    *(void **)((char *)base + f->offset) = array;
    *(size_t *)((char *)base + f->count_offset) = n;
    for (size_t i = 0; i < n; i++) {
        char item_key[KEY_PATH_MAX];
        index_key(item_key, key, i);
        load_item(ld, f, yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]),
                  item_key, array, i);
    }
}

static void load_hostport_item(struct loader *ld, const struct cfg_field *f, yaml_node_t *item,
                               const char *item_key, void *array, size_t i)
{
    load_hostport(ld, f, item, item_key, &((struct cfg_hostport *)array)[i]);
}

static void load_cidr_item(struct loader *ld, const struct cfg_field *f, yaml_node_t *item,
                           const char *item_key, void *array, size_t i)
{
    (void)f;
    const char *text = scalar(ld, item, item_key, "an IP address or a range such as 10.0.0.0/8");
    char problem[CFG_PROBLEM_MAX];
    if (text && !cfg_parse_cidr(text, &((struct cfg_cidr *)array)[i], problem))
        report(ld, item, item_key, "%s", problem);
}

static void load_hostport_list(struct loader *ld, const struct cfg_field *f,
                               const yaml_node_t *node, const char *key, void *base)
{
    load_sequence(ld, f, node, key, base,
                  f->default_port ? "a list of host[:port]" : "a list of host:port", "address",
                  "addresses", sizeof(struct cfg_hostport), load_hostport_item);
}

/* resolve_path turns |text|, a file path of the configuration, into an
 * absolute one in |resolved| (relative to the file's directory) and its
 * quoted form in |quoted|; false after reporting why it cannot. */
static bool resolve_path(struct loader *ld, const yaml_node_t *node, const char *key,
                         const char *text, char resolved[PATH_MAX], char quoted[PATH_MAX + 16])
{
    cfg_quote(text, quoted, PATH_MAX + 16);
    if (quoted[0] != '"') { /* multi-line or PEM: a pasted secret, not a path */
        report(ld, node, key, "expected a file path, got %s", quoted);
        return false;
    }
    int len = text[0] == '/' ? snprintf(resolved, PATH_MAX, "%s", text)
                             : snprintf(resolved, PATH_MAX, "%s/%s", ld->dir, text);
    if (len < 0 || len >= PATH_MAX) {
        report(ld, node, key, "path %s is too long", quoted);
        return false;
    }
    cfg_quote(resolved, quoted, PATH_MAX + 16);
    return true;
}

static void load_path(struct loader *ld, const struct cfg_field *f, const yaml_node_t *node,
                      const char *key, char **out)
{
    const char *text = scalar(ld, node, key, "a file path");
    char resolved[PATH_MAX], quoted[PATH_MAX + 16];
    if (text && !text[0] && f->empty_none)
        return;
    if (!text || !resolve_path(ld, node, key, text, resolved, quoted))
        return;
    /* O_NONBLOCK: a FIFO must be refused below, not hang the load. */
    int fd = open(resolved, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        report(ld, node, key, "cannot read %s: %s", quoted, strerror(errno));
        return;
    }
    struct stat st;
    bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular) {
        report(ld, node, key, "%s is not a regular file", quoted);
        return;
    }
    char problem[CFG_PROBLEM_MAX];
    if (f->is_crl && ld->crl && ld->crl(resolved, problem, sizeof problem) != 0) {
        report(ld, node, key, "%s", problem);
        return;
    }
    *out = cfg_xstrdup(resolved);
}

/* load_output_path reads a file reusegw will write ("" switches it off):
 * its directory must exist, and the file, when it exists already, must be
 * a regular file (never a link: it is opened with O_NOFOLLOW). Nothing is
 * created here: --check-config leaves no trace. */
static void load_output_path(struct loader *ld, const yaml_node_t *node, const char *key,
                             char **out)
{
    const char *text = scalar(ld, node, key, "a file path, or \"\" for none");
    char resolved[PATH_MAX], quoted[PATH_MAX + 16];
    if (!text || !*text || !resolve_path(ld, node, key, text, resolved, quoted))
        return;
    struct stat st;
    if (lstat(resolved, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            report(ld, node, key, "%s exists and is not a regular file", quoted);
            return;
        }
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", resolved);
        char *slash = strrchr(dir, '/');
        slash[slash == dir ? 1 : 0] = '\0';
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            char quoted_dir[PATH_MAX + 16];
            cfg_quote(dir, quoted_dir, sizeof quoted_dir);
            report(ld, node, key, "cannot create %s: directory %s does not exist", quoted,
                   quoted_dir);
            return;
        }
    }
    free(*out);
    *out = cfg_xstrdup(resolved);
}

/* load_text reads one line of text of at most f->max bytes ("" is NULL:
 * none). A secret is never echoed, not even in part. */
static void load_text(struct loader *ld, const struct cfg_field *f, const yaml_node_t *node,
                      const char *key, char **out)
{
    if (node->type == YAML_SCALAR_NODE && node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
        node->data.scalar.length == 0) {
        free(*out);
        *out = NULL;
        return;
    }
    const char *text = scalar(ld, node, key, "a string");
    if (!text)
        return;
    size_t len = strlen(text);
    char shown[64];
    if (f->secret)
        snprintf(shown, sizeof shown, "the value");
    else
        cfg_quote(text, shown, sizeof shown);
    if (len > f->max) {
        report(ld, node, key, "%s is %zu bytes long; at most %llu are allowed", shown, len,
               (unsigned long long)f->max);
        return;
    }
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f) {
            report(ld, node, key, "%s holds a control character; expected one line of text", shown);
            return;
        }
    free(*out);
    *out = len ? cfg_xstrdup(text) : NULL;
}

/* load_enum_set reads a list of distinct f->names into a bit set. */
static void load_enum_set(struct loader *ld, const struct cfg_field *f, const yaml_node_t *node,
                          const char *key, uint32_t *out)
{
    char expected[128] = "a list of";
    for (size_t i = 0; f->names[i]; i++) {
        size_t used = strlen(expected);
        snprintf(expected + used, sizeof expected - used, "%s %s", i ? "," : "", f->names[i]);
    }
    if (node->type != YAML_SEQUENCE_NODE) {
        report_type(ld, node, key, expected);
        return;
    }
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n < f->min) {
        report(ld, node, key, "needs at least %llu of:%s", (unsigned long long)f->min,
               expected + strlen("a list of"));
        return;
    }
    uint32_t set = 0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        char item_key[KEY_PATH_MAX], problem[CFG_PROBLEM_MAX];
        index_key(item_key, key, i);
        const yaml_node_t *item =
            yaml_document_get_node(ld->doc, node->data.sequence.items.start[i]);
        const char *text = scalar(ld, item, item_key, "a name");
        int index;
        if (!text) {
            ok = false;
        } else if (!cfg_parse_enum(text, f->names, &index, problem)) {
            report(ld, item, item_key, "%s", problem);
            ok = false;
        } else if (set & (UINT32_C(1) << index)) {
            report(ld, item, item_key, "\"%s\" is listed twice", f->names[index]);
            ok = false;
        } else {
            set |= UINT32_C(1) << index;
        }
    }
    if (ok)
        *out = set;
}

static void load_map(struct loader *ld, const yaml_node_t *node, const char *path,
                     const struct cfg_map_schema *schema, void *base);

/* report_duplicate_domain reports item |i| of |array| (|size|-byte items
 * whose first member is their `domain`) when an earlier item has the same
 * domain, case-insensitively. */
static void report_duplicate_domain(struct loader *ld, const yaml_node_t *item,
                                    const char *item_key, const void *array, size_t size, size_t i,
                                    const char *what, const char *list)
{
    const char *domain = *(char *const *)((const char *)array + i * size);
    for (size_t j = 0; domain && j < i; j++) {
        const char *earlier = *(char *const *)((const char *)array + j * size);
        if (earlier && strcasecmp(earlier, domain) == 0) {
            report(ld, item, item_key, "duplicate %s for domain \"%s\" (also %s[%zu])", what,
                   domain, list, j);
            return;
        }
    }
}

static void load_route_item(struct loader *ld, const struct cfg_field *f, yaml_node_t *item,
                            const char *item_key, void *array, size_t i)
{
    load_map(ld, item, item_key, f->map, &((struct cfg_route *)array)[i]);
    report_duplicate_domain(ld, item, item_key, array, sizeof(struct cfg_route), i, "route",
                            "routes");
}

static void load_peer_item(struct loader *ld, const struct cfg_field *f, yaml_node_t *item,
                           const char *item_key, void *array, size_t i)
{
    load_map(ld, item, item_key, f->map, &((struct cfg_peer *)array)[i]);
    report_duplicate_domain(ld, item, item_key, array, sizeof(struct cfg_peer), i, "peer policy",
                            "peers");
}

static void load_domain_item(struct loader *ld, const struct cfg_field *f, yaml_node_t *item,
                             const char *item_key, void *array, size_t i)
{
    (void)f;
    char **domains = array;
    const char *text = scalar(ld, item, item_key, "a domain name");
    if (!text)
        return;
    char quoted[64];
    cfg_quote(text, quoted, sizeof quoted);
    if (!cfg_is_hostname(text)) {
        report(ld, item, item_key, "expected a domain name, got %s", quoted);
        return;
    }
    for (size_t j = 0; j < i; j++) {
        if (domains[j] && strcasecmp(domains[j], text) == 0) {
            report(ld, item, item_key, "domain %s is listed twice", quoted);
            return;
        }
    }
    domains[i] = cfg_xstrdup(text);
}

static void load_identity_item(struct loader *ld, const struct cfg_field *f, yaml_node_t *item,
                               const char *item_key, void *array, size_t i)
{
    ld->identity_nodes[i] = item;
    load_map(ld, item, item_key, f->map, &((struct cfg_identity *)array)[i]);
}

static void load_list(struct loader *ld, const struct cfg_field *f, const yaml_node_t *node,
                      const char *key, void *base)
{
    switch (f->kind) {
    case CFG_F_ROUTES:
        load_sequence(ld, f, node, key, base, "a list of routes (write [] for none)", "route",
                      "routes", sizeof(struct cfg_route), load_route_item);
        return;
    case CFG_F_IDENTITIES:
        load_sequence(ld, f, node, key, base, "a list of identities (write [] for none)",
                      "identity", "identities", sizeof(struct cfg_identity), load_identity_item);
        return;
    case CFG_F_PEERS:
        load_sequence(ld, f, node, key, base, "a list of peer policies (write [] for none)",
                      "peer policy", "peer policies", sizeof(struct cfg_peer), load_peer_item);
        return;
    case CFG_F_DOMAIN_LIST:
        load_sequence(ld, f, node, key, base, "a list of domain names", "domain", "domains",
                      sizeof(char *), load_domain_item);
        return;
    case CFG_F_CIDR_LIST:
        load_sequence(ld, f, node, key, base, "a list of IP addresses or ranges (CIDR)",
                      "address range", "address ranges", sizeof(struct cfg_cidr), load_cidr_item);
        return;
    default:
        return;
    }
}

static void load_field(struct loader *ld, const struct cfg_field *f, const yaml_node_t *node,
                       const char *key, void *base)
{
    void *dst = (char *)base + f->offset;
    char problem[CFG_PROBLEM_MAX];
    const char *text;
    uint64_t number;
    switch (f->kind) {
    case CFG_F_MAP:
        if (f->marks_presence)
            *(bool *)dst = true;
        load_map(ld, node, key, f->map, base);
        return;
    case CFG_F_ROUTES:
    case CFG_F_IDENTITIES:
    case CFG_F_PEERS:
    case CFG_F_DOMAIN_LIST:
    case CFG_F_CIDR_LIST:
        load_list(ld, f, node, key, base);
        return;
    case CFG_F_HOSTPORT: {
        struct cfg_hostport parsed;
        if (load_hostport(ld, f, node, key, &parsed))
            *(struct cfg_hostport *)dst = parsed;
        return;
    }
    case CFG_F_HOSTPORT_LIST:
        load_hostport_list(ld, f, node, key, base);
        return;
    case CFG_F_PATH:
        load_path(ld, f, node, key, (char **)dst);
        return;
    case CFG_F_DURATION:
        if (!(text = scalar(ld, node, key, "a duration such as 10s or 250ms")))
            return;
        if (!cfg_parse_duration(text, &number, problem)) {
            report(ld, node, key, "%s", problem);
        } else if (number < f->min || number > f->max) {
            char lo[32], hi[32];
            format_duration(f->min, lo, sizeof lo);
            format_duration(f->max, hi, sizeof hi);
            report(ld, node, key, "duration %s is out of range %s..%s", text, lo, hi);
        } else {
            *(uint64_t *)dst = number;
        }
        return;
    case CFG_F_BOOL:
        if ((text = scalar(ld, node, key, "true or false")) &&
            !cfg_parse_bool(text, (bool *)dst, problem))
            report(ld, node, key, "%s", problem);
        return;
    case CFG_F_UINT32:
        if (!(text = scalar(ld, node, key, "an integer")))
            return;
        if (cfg_parse_uint(text, f->min, f->max, &number, problem))
            *(uint32_t *)dst = (uint32_t)number;
        else
            report(ld, node, key, "%s", problem);
        return;
    case CFG_F_ENUM: {
        int index;
        if (!(text = scalar(ld, node, key, "a name")))
            return;
        if (cfg_parse_enum(text, f->names, &index, problem))
            *(int *)dst = index;
        else
            report(ld, node, key, "%s", problem);
        return;
    }
    case CFG_F_WORKERS:
        if (!(text = scalar(ld, node, key, "auto or an integer")))
            return;
        if (strcmp(text, "auto") == 0) {
            *(uint32_t *)dst = 0;
        } else if (cfg_parse_uint(text, f->min, f->max, &number, problem)) {
            *(uint32_t *)dst = (uint32_t)number;
        } else {
            char quoted[64];
            cfg_quote(text, quoted, sizeof quoted);
            report(ld, node, key, "expected auto or an integer in %llu..%llu, got %s",
                   (unsigned long long)f->min, (unsigned long long)f->max, quoted);
        }
        return;
    case CFG_F_TEXT:
        load_text(ld, f, node, key, (char **)dst);
        return;
    case CFG_F_ENUM_SET:
        load_enum_set(ld, f, node, key, (uint32_t *)dst);
        return;
    case CFG_F_OUTPUT_PATH:
        load_output_path(ld, node, key, (char **)dst);
        return;
    case CFG_F_DOMAIN:
        if (!(text = scalar(ld, node, key, "a domain name")))
            return;
        if (cfg_is_hostname(text)) {
            *(char **)dst = cfg_xstrdup(text);
        } else {
            char quoted[64];
            cfg_quote(text, quoted, sizeof quoted);
            report(ld, node, key, "expected a domain name, got %s", quoted);
        }
        return;
    }
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t lb = strlen(b);
    if (lb >= 64 || strlen(a) >= 64)
        return SIZE_MAX;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; a[i - 1]; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diagonal = up;
        }
    }
    return row[lb];
}

/* is_plain_key: keys safe to print in a key path (no quoting needed). */
static bool is_plain_key(const char *name)
{
    size_t len = strlen(name);
    return len > 0 && len <= 64 &&
           strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == len;
}

static void report_unknown_key(struct loader *ld, const yaml_node_t *key_node, const char *path,
                               const char *name, const struct cfg_map_schema *schema)
{
    char key[KEY_PATH_MAX], quoted[64], valid[256] = "";
    if (is_plain_key(name))
        join_key(key, path, name);
    else
        snprintf(key, sizeof key, "%s", path);
    cfg_quote(name, quoted, sizeof quoted);
    const char *closest = NULL;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < schema->n_fields; i++) {
        const char *candidate = schema->fields[i].name;
        size_t d = edit_distance(name, candidate);
        if (d < best) {
            best = d;
            closest = candidate;
        }
        size_t used = strlen(valid);
        snprintf(valid + used, sizeof valid - used, "%s%s", i ? ", " : "", candidate);
    }
    if (closest && (best <= 2 || best * 3 <= strlen(closest)))
        report(ld, key_node, key, "unknown key %s; did you mean \"%s\"?", quoted, closest);
    else
        report(ld, key_node, key, "unknown key %s; valid keys: %s", quoted, valid);
}

static void load_map(struct loader *ld, const yaml_node_t *node, const char *path,
                     const struct cfg_map_schema *schema, void *base)
{
    if (node->type != YAML_MAPPING_NODE) {
        char expected[300] = "a mapping (keys: ";
        for (size_t i = 0; i < schema->n_fields; i++) {
            size_t used = strlen(expected);
            snprintf(expected + used, sizeof expected - used, "%s%s", i ? ", " : "",
                     schema->fields[i].name);
        }
        size_t used = strlen(expected);
        snprintf(expected + used, sizeof expected - used, ")");
        report_type(ld, node, path, expected);
        return;
    }
    bool seen[CFG_MAX_FIELDS] = {false};
    const yaml_node_pair_t *pairs = node->data.mapping.pairs.start;
    size_t n_pairs = (size_t)(node->data.mapping.pairs.top - pairs);
    if (n_pairs > MAX_MAPPING_KEYS) {
        report(ld, node, path, "a mapping of %zu keys; at most %d are allowed", n_pairs,
               MAX_MAPPING_KEYS);
        return;
    }
    for (size_t p = 0; p < n_pairs; p++) {
        const yaml_node_t *key_node = yaml_document_get_node(ld->doc, pairs[p].key);
        const yaml_node_t *value = yaml_document_get_node(ld->doc, pairs[p].value);
        if (key_node->type != YAML_SCALAR_NODE) {
            report(ld, key_node, path, "keys must be plain names, got %s",
                   key_node->type == YAML_MAPPING_NODE ? "a mapping" : "a list");
            continue;
        }
        const char *name = (const char *)key_node->data.scalar.value;
        char key[KEY_PATH_MAX];
        join_key(key, path, name);
        bool duplicate = false;
        for (size_t q = 0; q < p && !duplicate; q++) {
            const yaml_node_t *earlier = yaml_document_get_node(ld->doc, pairs[q].key);
            if (earlier->type == YAML_SCALAR_NODE &&
                strcmp((const char *)earlier->data.scalar.value, name) == 0) {
                char quoted[64];
                cfg_quote(name, quoted, sizeof quoted);
                report(ld, key_node, is_plain_key(name) ? key : path,
                       "duplicate key %s (first at line %u)", quoted,
                       (unsigned)earlier->start_mark.line + 1);
                duplicate = true;
            }
        }
        if (duplicate)
            continue;
        size_t i = 0;
        while (i < schema->n_fields && strcmp(schema->fields[i].name, name) != 0)
            i++;
        if (i == schema->n_fields) {
            report_unknown_key(ld, key_node, path, name, schema);
            continue;
        }
        seen[i] = true;
        if (schema->fields[i].has_seen_offset)
            *(bool *)((char *)base + schema->fields[i].seen_offset) = true;
        load_field(ld, &schema->fields[i], value, key, base);
    }
    for (size_t i = 0; i < schema->n_fields; i++) {
        if (schema->fields[i].required && !seen[i]) {
            char key[KEY_PATH_MAX];
            join_key(key, path, schema->fields[i].name);
            report(ld, node, key, "required key is missing");
        }
    }
}

/* map_value is the value node of key |name| in mapping |node|, or |node|
 * itself when the key is not there (errors then point at the mapping). */
static const yaml_node_t *map_value(const struct loader *ld, const yaml_node_t *node,
                                    const char *name)
{
    if (node->type != YAML_MAPPING_NODE)
        return node;
    for (const yaml_node_pair_t *p = node->data.mapping.pairs.start;
         p < node->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(ld->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, name) == 0)
            return yaml_document_get_node(ld->doc, p->value);
    }
    return node;
}

/* identity_domains is the set of domains one identity serves: those it
 * lists, else what its certificate proves (when certificates are read). */
struct identity_domains {
    char names[CFG_CERT_NAMES_MAX][CFG_NAME_MAX];
    int n;
};

static bool names_contain(const char (*names)[CFG_NAME_MAX], int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(names[i], name) == 0)
            return true;
    return false;
}

/* read_cert_names asks the caller's reader what |file| proves; a failure is
 * reported at |at| under |key|. Returns the count or -1. */
static int read_cert_names(struct loader *ld, const yaml_node_t *at, const char *key,
                           const char *file, char names[CFG_CERT_NAMES_MAX][CFG_NAME_MAX])
{
    char problem[CFG_PROBLEM_MAX];
    int n = ld->cert_names(file, names, problem, sizeof problem);
    if (n < 0)
        report(ld, at, key, "%s", problem);
    return n;
}

/* check_identity_certificate checks identities[i] against what its
 * certificate proves and fills |out| with the domains it serves. */
static void check_identity_certificate(struct loader *ld, const struct cfg_identity *id, size_t i,
                                       struct identity_domains *out)
{
    const yaml_node_t *item = ld->identity_nodes[i];
    char key[KEY_PATH_MAX];
    mark_cut(key, snprintf(key, KEY_PATH_MAX, "identities[%zu].certificate", i));
    char proven[CFG_CERT_NAMES_MAX][CFG_NAME_MAX];
    int n = read_cert_names(ld, map_value(ld, item, "certificate"), key, id->certificate, proven);
    if (n < 0)
        return;
    if (!names_contain((const char(*)[CFG_NAME_MAX])proven, n, id->sent_by.host)) {
        char list[512] = "nothing";
        for (int k = 0, used = 0; k < n && used < (int)sizeof list; k++)
            used +=
                snprintf(list + used, sizeof list - (size_t)used, "%s%s", k ? ", " : "", proven[k]);
        report(ld, map_value(ld, item, "certificate"), key,
               "the certificate proves %s (RFC 5922), not the sent_by host \"%s\"", list,
               id->sent_by.host);
    }
    const yaml_node_t *domains = map_value(ld, item, "domains");
    for (size_t k = 0; k < id->n_domains; k++) {
        if (!id->domains[k] ||
            names_contain((const char(*)[CFG_NAME_MAX])proven, n, id->domains[k]))
            continue;
        char dkey[KEY_PATH_MAX];
        mark_cut(dkey, snprintf(dkey, KEY_PATH_MAX, "identities[%zu].domains[%zu]", i, k));
        const yaml_node_t *at = domains;
        if (domains->type == YAML_SEQUENCE_NODE)
            at = yaml_document_get_node(ld->doc, domains->data.sequence.items.start[k]);
        report(ld, at, dkey, "domain \"%s\" is not proven by identities[%zu].certificate",
               id->domains[k], i);
    }
    if (id->n_domains == 0) {
        memcpy(out->names, proven, sizeof proven);
        out->n = n;
    }
}

/* check_identities runs once the whole file is read, because identity and
 * identities may come in either order. Every identity needs a sent-by of its
 * own, or peers could not tell our tenants apart, and every domain one
 * identity, or the certificate chosen for it would be arbitrary. */
static void check_identities(struct loader *ld, const struct cfg_snapshot *snap)
{
    if (snap->n_identities == 0)
        return;
    struct identity_domains *served = cfg_xcalloc(snap->n_identities + 1, sizeof *served);
    struct identity_domains *defaults = &served[snap->n_identities];
    /* An unreadable default certificate is tls/'s to report when it loads. */
    char ignored[CFG_PROBLEM_MAX];
    if (ld->cert_names && snap->tls.certificate)
        defaults->n =
            ld->cert_names(snap->tls.certificate, defaults->names, ignored, sizeof ignored);
    if (defaults->n < 0)
        defaults->n = 0;
    for (size_t i = 0; i < snap->n_identities; i++) {
        const struct cfg_identity *id = &snap->identities[i];
        const yaml_node_t *item = ld->identity_nodes[i];
        if (!item || !id->sent_by.host[0])
            continue;
        char key[KEY_PATH_MAX], text[300];
        mark_cut(key, snprintf(key, KEY_PATH_MAX, "identities[%zu].sent_by", i));
        cfg_hostport_format(&id->sent_by, text, sizeof text);
        const yaml_node_t *at = map_value(ld, item, "sent_by");
        if (cfg_hostport_equal(&id->sent_by, &snap->identity.sent_by))
            report(ld, at, key, "%s is identity.sent_by, the default identity's", text);
        for (size_t j = 0; j < i; j++) {
            if (cfg_hostport_equal(&id->sent_by, &snap->identities[j].sent_by)) {
                report(ld, at, key, "%s is also identities[%zu].sent_by", text, j);
                break;
            }
        }
        struct identity_domains *mine = &served[i];
        for (size_t k = 0; k < id->n_domains && mine->n < CFG_CERT_NAMES_MAX; k++)
            if (id->domains[k])
                snprintf(mine->names[mine->n++], CFG_NAME_MAX, "%s", id->domains[k]);
        if (ld->cert_names && id->certificate)
            check_identity_certificate(ld, id, i, mine);
        /* A listed domain is reported at the list, a derived one at the
         * identity, with the way out. */
        const yaml_node_t *dup_at = id->n_domains ? map_value(ld, item, "domains") : item;
        mark_cut(key, snprintf(key, KEY_PATH_MAX,
                               id->n_domains ? "identities[%zu].domains" : "identities[%zu]", i));
        for (int k = 0; k < mine->n; k++) {
            const char *domain = mine->names[k];
            char owner[64] = "";
            if (names_contain((const char(*)[CFG_NAME_MAX])defaults->names, defaults->n, domain))
                snprintf(owner, sizeof owner, "the default identity's (tls.certificate)");
            for (size_t j = 0; j < i && !owner[0]; j++)
                if (names_contain((const char(*)[CFG_NAME_MAX])served[j].names, served[j].n,
                                  domain))
                    snprintf(owner, sizeof owner, "identities[%zu]'s", j);
            if (owner[0])
                report(ld, dup_at, key, "domain \"%s\" is also %s: each domain has one identity%s",
                       domain, owner,
                       id->n_domains ? "" : " (list this identity's own under domains)");
        }
    }
    free(served);
}

/* inherit_peer_defaults gives every peer policy the tls section's value for
 * each key it left out, so that consumers read one effective value. */
/* check_legacy_udp refuses what a UDP legacy side cannot do: the loop
 * sends datagrams to addresses, never to names, and SO_ORIGINAL_DST
 * (legacy.transparent) exists for TCP only. */
static void check_legacy_udp(struct loader *ld, const struct cfg_snapshot *snap)
{
    if (snap->legacy.transport != CFG_LEGACY_UDP)
        return;
    const yaml_node_t *legacy = map_value(ld, yaml_document_get_root_node(ld->doc), "legacy");
    const yaml_node_t *at = map_value(ld, legacy, "transport");
    if (snap->legacy.transparent)
        report(
            ld, at, "legacy.transport",
            "udp cannot be combined with legacy.transparent: true (transparent mode is TCP only)");
    static const char *const keys[] = {"forward_to", "listen"};
    const struct cfg_hostport *hps[] = {&snap->legacy.forward_to, &snap->legacy.listen};
    for (size_t i = 0; i < 2; i++) {
        unsigned char bin[16];
        int family = hps[i]->is_ipv6_literal ? AF_INET6 : AF_INET;
        if (hps[i]->host[0] && inet_pton(family, hps[i]->host, bin) != 1) {
            char key[32];
            snprintf(key, sizeof(key), "legacy.%s", keys[i]);
            report(ld, map_value(ld, legacy, keys[i]), key,
                   "with legacy.transport udp this must be an IP address, got host name \"%s\"",
                   hps[i]->host);
        }
    }
}

static void inherit_peer_defaults(struct cfg_snapshot *snap)
{
    for (size_t i = 0; i < snap->n_peers; i++) {
        struct cfg_peer *p = &snap->peers[i];
        if (!p->has_client_certificate)
            p->client_certificate = snap->tls.client_certificate;
        if (!p->has_require_sip_eku)
            p->require_sip_eku = snap->tls.require_sip_eku;
    }
}

/* offset_position turns a byte offset of |text| into a 1-based line and column. */
static void offset_position(const char *text, size_t offset, unsigned *line, unsigned *column)
{
    *line = 1;
    *column = 1;
    for (size_t i = 0; i < offset; i++) {
        if (text[i] == '\n') {
            ++*line;
            *column = 1;
        } else {
            ++*column;
        }
    }
}

static void report_yaml_error(struct loader *ld, const yaml_parser_t *parser, const char *text)
{
    unsigned line, column;
    if (parser->error == YAML_READER_ERROR) {
        offset_position(text, parser->problem_offset, &line, &column);
        cfg_errors_add(ld->errors, ld->file, line, column, "",
                       "not valid YAML text: %s (byte 0x%02x); is this a binary file?",
                       parser->problem ? parser->problem : "unreadable input",
                       (unsigned)parser->problem_value & 0xff);
        return;
    }
    line = (unsigned)parser->problem_mark.line + 1;
    column = (unsigned)parser->problem_mark.column + 1;
    const char *problem = parser->problem ? parser->problem : "cannot parse";
    if (parser->context)
        cfg_errors_add(ld->errors, ld->file, line, column, "",
                       "YAML syntax error: %s (%s at line %u, column %u)", problem, parser->context,
                       (unsigned)parser->context_mark.line + 1,
                       (unsigned)parser->context_mark.column + 1);
    else
        cfg_errors_add(ld->errors, ld->file, line, column, "", "YAML syntax error: %s", problem);
}

/* read_file loads the whole file into a NUL-terminated buffer the caller
 * frees, or reports why it cannot. */
static char *read_file(struct loader *ld, size_t *size)
{
    /* O_NONBLOCK: a FIFO must be refused below, not hang the load. */
    int fd = open(ld->file, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        cfg_errors_add(ld->errors, ld->file, 0, 0, "", "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        cfg_errors_add(ld->errors, ld->file, 0, 0, "", "not a regular file");
        close(fd);
        return NULL;
    }
    if (st.st_size > CFG_MAX_FILE_BYTES) {
        cfg_errors_add(ld->errors, ld->file, 0, 0, "",
                       "file is %lld bytes, more than the limit of %d (1 MiB); not parsed",
                       (long long)st.st_size, CFG_MAX_FILE_BYTES);
        close(fd);
        return NULL;
    }
    /* A file that grows while it is read is cut at its size from fstat. */
    size_t want = (size_t)st.st_size;
    char *text = cfg_xcalloc(want + 1, 1);
    size_t used = 0;
    while (used < want) {
        ssize_t n = read(fd, text + used, want - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cfg_errors_add(ld->errors, ld->file, 0, 0, "", "cannot read: %s", strerror(errno));
            close(fd);
            free(text);
            return NULL;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    *size = used;
    return text;
}

static bool set_directory(struct loader *ld, const char *path)
{
    char *absolute = ld->absolute;
    if (path[0] == '/') {
        if (snprintf(absolute, PATH_MAX, "%s", path) >= PATH_MAX)
            return false;
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd) ||
            snprintf(absolute, PATH_MAX, "%s/%s", cwd, path) >= PATH_MAX)
            return false;
    }
    char *slash = strrchr(absolute, '/');
    size_t len = slash == absolute ? 1 : (size_t)(slash - absolute);
    memcpy(ld->dir, absolute, len);
    ld->dir[len] = '\0';
    return true;
}

/* check_depth runs libyaml's event parser over |text| and refuses nesting
 * deeper than MAX_DEPTH. A syntax error ends the check quietly: loading the
 * document reports it. */
static bool check_depth(struct loader *ld, const char *text, size_t size)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        cfg_out_of_memory();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    int depth = 0;
    bool ok = true, done = false;
    while (!done) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event))
            break;
        switch (event.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > MAX_DEPTH) {
                cfg_errors_add(ld->errors, ld->file, (unsigned)event.start_mark.line + 1,
                               (unsigned)event.start_mark.column + 1, "",
                               "nesting is deeper than %d levels", MAX_DEPTH);
                ok = false;
                done = true;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            depth--;
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&parser);
    return ok;
}

/* parse_document parses |text| into |doc| and checks that it is the only
 * document and a mapping; reports and returns false otherwise. */
static bool parse_document(struct loader *ld, const char *text, size_t size, yaml_document_t *doc)
{
    const char *nul = memchr(text, '\0', size);
    if (nul) {
        unsigned line, column;
        offset_position(text, (size_t)(nul - text), &line, &column);
        cfg_errors_add(ld->errors, ld->file, line, column, "",
                       "binary data (a NUL byte); expected YAML text");
        return false;
    }
    if (!check_depth(ld, text, size))
        return false;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        cfg_out_of_memory();
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    bool ok = yaml_parser_load(&parser, doc);
    if (!ok) {
        report_yaml_error(ld, &parser, text);
        yaml_parser_delete(&parser);
        return false;
    }
    const yaml_node_t *root = yaml_document_get_root_node(doc);
    yaml_document_t next;
    if (!root) {
        cfg_errors_add(ld->errors, ld->file, 1, 1, "",
                       "the file is empty; expected a mapping with identity, tls and legacy");
        ok = false;
    } else if (!yaml_parser_load(&parser, &next)) {
        report_yaml_error(ld, &parser, text);
        ok = false;
    } else {
        const yaml_node_t *extra = yaml_document_get_root_node(&next);
        if (extra) {
            report(ld, extra, "", "only one YAML document is allowed; this is a second one");
            ok = false;
        }
        yaml_document_delete(&next);
    }
    yaml_parser_delete(&parser);
    if (!ok)
        yaml_document_delete(doc);
    return ok;
}

struct cfg_snapshot *cfg_load(const char *path, struct cfg_errors *errors)
{
    return cfg_load_checked(path, NULL, errors);
}

struct cfg_snapshot *cfg_load_checked(const char *path, const struct cfg_readers *readers,
                                      struct cfg_errors *errors)
{
    struct loader ld = {.file = path,
                        .errors = errors,
                        .cert_names = readers ? readers->cert_names : NULL,
                        .crl = readers ? readers->crl : NULL};
    size_t first_error = errors->count;
    if (!set_directory(&ld, path)) {
        cfg_errors_add(errors, path, 0, 0, "", "path is too long");
        return NULL;
    }
    size_t size;
    char *text = read_file(&ld, &size);
    if (!text)
        return NULL;
    yaml_document_t doc;
    bool parsed = parse_document(&ld, text, size, &doc);
    free(text);
    if (!parsed)
        return NULL;

    struct cfg_snapshot *snap = cfg_snapshot_new();
    ld.doc = &doc;
    load_map(&ld, yaml_document_get_root_node(&doc), "", &cfg_top_schema, snap);
    check_identities(&ld, snap);
    check_legacy_udp(&ld, snap);
    inherit_peer_defaults(snap);
    yaml_document_delete(&doc);
    if (errors->count != first_error) {
        cfg_unref(snap);
        return NULL;
    }
    cfg_index_routes(snap);
    snap->path = cfg_xstrdup(ld.absolute);
    return snap;
}
