/* scalar: parsers for the value types of the configuration file (durations,
 * host:port, booleans, bounded integers, enums) and safe quoting of values.
 *
 * Owns nothing: every function reads a borrowed NUL-terminated string and
 * writes into caller storage. Never allocates, never touches YAML or files,
 * so each rule can be tested on its own. */
#ifndef REUSEGW_CONFIG_SCALAR_H
#define REUSEGW_CONFIG_SCALAR_H

#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CFG_PROBLEM_MAX bounds every problem text a parser writes. */
#define CFG_PROBLEM_MAX 256

/* cfg_parse_duration reads "<digits><unit>" with unit ms, s, m or h into
 * milliseconds. On failure it writes why into |problem| and returns false. */
bool cfg_parse_duration(const char *text, uint64_t *ms, char problem[CFG_PROBLEM_MAX]);

/* cfg_parse_hostport reads "host:port", "[v6]:port", or, when
 * |default_port| is not 0, also "host" and "[v6]" alone (which get
 * |default_port|). Hosts are DNS names or IPv4 literals; IPv6 literals need
 * brackets. On failure it writes why into |problem| and returns false. */
bool cfg_parse_hostport(const char *text, uint16_t default_port, struct cfg_hostport *out,
                        char problem[CFG_PROBLEM_MAX]);

/* cfg_parse_bool accepts exactly "true" or "false" (YAML 1.1 yes/on/y are
 * refused on purpose: they surprise people). */
bool cfg_parse_bool(const char *text, bool *out, char problem[CFG_PROBLEM_MAX]);

/* cfg_parse_uint reads decimal digits into a value within [min, max]. */
bool cfg_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out,
                    char problem[CFG_PROBLEM_MAX]);

/* cfg_parse_enum finds |text| in the NULL-terminated |names| and stores its
 * index. */
bool cfg_parse_enum(const char *text, const char *const *names, int *out,
                    char problem[CFG_PROBLEM_MAX]);

/* cfg_parse_cidr reads an address range "ADDR/BITS" or one address "ADDR"
 * (all its bits), IPv4 dotted or IPv6 without brackets. A range with bits
 * set past its prefix is refused, naming the network meant: a typo there
 * would trust more, or other, sources than written. */
bool cfg_parse_cidr(const char *text, struct cfg_cidr *out, char problem[CFG_PROBLEM_MAX]);

/* cfg_is_hostname reports whether |name| is a syntactically valid DNS name
 * (letters, digits, '-', dot-separated labels of 1..63 bytes, 1..253 in all). */
bool cfg_is_hostname(const char *name);

/* cfg_quote writes |text| as a double-quoted, escaped excerpt of at most
 * about 48 characters into |buf|. A value spanning several lines (inline PEM,
 * a pasted key) is never echoed: it becomes <multi-line text>, so secrets
 * that land in the wrong key do not end up in logs. */
void cfg_quote(const char *text, char *buf, size_t size);

/* cfg_hostport_equal reports whether two endpoints name the same address and
 * port (IP literals compared as addresses, names case-insensitively). */
bool cfg_hostport_equal(const struct cfg_hostport *a, const struct cfg_hostport *b);

/* cfg_hostport_overlaps reports whether binding both endpoints would clash
 * although they differ: same port, same address family, and one of them the
 * wildcard address (0.0.0.0 or ::). */
bool cfg_hostport_overlaps(const struct cfg_hostport *a, const struct cfg_hostport *b);

#endif
