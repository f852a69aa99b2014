/* bench/sip_parse: throughput of the gateway's per-message SIP work
 * (framing + header index + top Via + client-role Via rewrite as an iovec)
 * against libosip2's full parser over the same messages, on one core; and
 * the relay's checks today (framing + index + sip/check.h + top Via)
 * against the fast path sip_peek (framing + start line, top Via, CSeq).
 * Prints a markdown table of rates per CPU second of the one thread. Not a
 * test: numbers depend on the machine.
 *
 * usage: sip_parse [CPU_SECONDS_PER_CELL]   (default 1, at most 30) */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sip/check.h"
#include "sip/edit.h"
#include "sip/framing.h"
#include "sip/message.h"
#include "sip/peek.h"
#include "sip/via.h"
#include "sip_parse_osip.h"

#define MAX_MESSAGES 128
#define MAX_BYTES 65535

struct message {
    char name[64];
    char *buf;
    size_t len;
};

struct corpus {
    const char *title;
    struct message msgs[MAX_MESSAGES];
    size_t n;
    size_t bytes;
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(MAX_BYTES + 1);
    *len = buf ? fread(buf, 1, MAX_BYTES, f) : 0;
    fclose(f);
    return buf;
}

/* Adds a file if it frames as one complete stream message; the framed
 * length (not trailing bytes) is what both parsers get. */
static void add(struct corpus *c, const char *dir, const char *name)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    char *buf = read_file(path, &len);
    struct sip_framer f;
    struct sip_frame fr;
    sip_framer_init(&f);
    if (buf == NULL || c->n == MAX_MESSAGES ||
        sip_framer_feed(&f, buf, len, MAX_BYTES, &fr) != SIP_FRAME_MESSAGE) {
        free(buf);
        return;
    }
    struct message *m = &c->msgs[c->n++];
    snprintf(m->name, sizeof(m->name), "%s", name);
    m->buf = buf;
    m->len = fr.len;
    c->bytes += fr.len;
}

/* RFC 4475 messages of class "valid" per MANIFEST.tsv. */
static void load_rfc4475(struct corpus *c, const char *dir)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof(path), "%s/MANIFEST.tsv", dir);
    char *text = read_file(path, &len);
    if (text == NULL)
        return;
    text[len] = '\0';
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char file[64], cls[64];
        if (sscanf(line, "%63[^\t]\t%*[^\t]\t%*[^\t]\t%63[^\t]", file, cls) == 2 &&
            strcmp(cls, "valid") == 0)
            add(c, dir, file);
    }
    free(text);
}

static void load_dir(struct corpus *c, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".sip") != NULL)
            add(c, dir, e->d_name);
    closedir(d);
}

/* CPU time of this thread: on a shared machine, wall time would measure
 * the other tenants too. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile size_t sink;

/* The gateway's per-message work on a message from the legacy proxy. */
static int ours_once(const struct message *m)
{
    static const struct sip_str sent_by = SIP_STR_LIT("proxy.example.com:5061");
    struct sip_framer f;
    struct sip_frame fr;
    struct sip_header hdrs[64];
    struct sip_msg msg;
    struct sip_via via;
    struct sip_edit ed;
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t niov, total;
    sip_framer_init(&f);
    if (sip_framer_feed(&f, m->buf, m->len, MAX_BYTES, &fr) != SIP_FRAME_MESSAGE ||
        sip_parse(m->buf, fr.len, &msg, hdrs, 64) != SIP_OK ||
        sip_via_parse_first(&msg, &via, NULL, 0) != SIP_OK)
        return -1;
    sip_edit_init(&ed, &msg);
    if (sip_edit_via_client(&ed, &via, sent_by, true) != SIP_OK ||
        sip_edit_iov(&ed, iov, SIP_EDIT_MAX_IOV, &niov, &total) != SIP_OK)
        return -1;
    sink += total;
    return 0;
}

/* What the relay's parse() does to every message today: framing, the
 * header index, the checks and the top Via. */
static int relay_full_once(const struct message *m)
{
    struct sip_framer f;
    struct sip_frame fr;
    struct sip_header hdrs[64];
    struct sip_msg msg;
    struct sip_cseq cseq;
    struct sip_via via;
    sip_framer_init(&f);
    if (sip_framer_feed(&f, m->buf, m->len, MAX_BYTES, &fr) != SIP_FRAME_MESSAGE ||
        sip_parse(m->buf, fr.len, &msg, hdrs, 64) != SIP_OK || sip_check_version(&msg) != SIP_OK ||
        sip_check_required(&msg, false) != SIP_OK || sip_check_single(&msg) != SIP_OK ||
        sip_check_cseq(&msg, &cseq) != SIP_OK || sip_via_parse_first(&msg, &via, NULL, 0) != SIP_OK)
        return -1;
    sink += via.branch.len + cseq.number;
    return 0;
}

/* The fast path for rows that need only the start line, top Via and CSeq:
 * framing (which locates them) + sip_peek. */
static int peek_once(const struct message *m)
{
    struct sip_framer f;
    struct sip_frame fr;
    struct sip_peek pk;
    sip_framer_init(&f);
    if (sip_framer_feed(&f, m->buf, m->len, MAX_BYTES, &fr) != SIP_FRAME_MESSAGE ||
        sip_peek(m->buf, &fr, &pk) != SIP_OK)
        return -1;
    sink += pk.via.branch.len + pk.cseq.number;
    return 0;
}

static int osip_once(const struct message *m)
{
    return osip_parse_once(m->buf, m->len);
}

struct result {
    double msgs_per_s;
    double gb_per_s;
    size_t failures; /* messages the parser rejected (per pass) */
};

/* Runs whole passes over the corpus until `seconds` elapse (bounded). */
static struct result run(const struct corpus *c, int (*once)(const struct message *),
                         double seconds)
{
    struct result r = {0, 0, 0};
    for (size_t i = 0; i < c->n; i++) {
        if (once(&c->msgs[i]) != 0) {
            r.failures++;
            fprintf(stderr, "%s rejects %s\n", once == osip_once ? "libosip2" : "sip/",
                    c->msgs[i].name);
        }
    }
    size_t passes = 0;
    double start = now(), elapsed;
    do {
        for (int k = 0; k < 16; k++, passes++)
            for (size_t i = 0; i < c->n; i++)
                once(&c->msgs[i]);
        elapsed = now() - start;
    } while (elapsed < seconds && passes < 100000000);
    r.msgs_per_s = (double)(passes * c->n) / elapsed;
    r.gb_per_s = (double)(passes * c->bytes) / elapsed / 1e9;
    return r;
}

static void report(const struct corpus *c, double seconds)
{
    if (c->n == 0) {
        printf("| %s | (no messages found) | | | | |\n", c->title);
        return;
    }
    struct result a = run(c, ours_once, seconds);
    struct result b = run(c, osip_once, seconds);
    printf("| %s | %zu msgs, %zu B | reusegw sip/ | %.0f | %.3f | %zu |\n", c->title, c->n,
           c->bytes, a.msgs_per_s, a.gb_per_s, a.failures);
    printf("| | | libosip2 | %.0f | %.3f | %zu |\n", b.msgs_per_s, b.gb_per_s, b.failures);
    printf("| | | **ratio** | **%.1fx** | | |\n", a.msgs_per_s / b.msgs_per_s);
    struct result full = run(c, relay_full_once, seconds);
    struct result peek = run(c, peek_once, seconds);
    printf("| | | sip/ relay checks: framing + index + check_* + top Via | %.0f | %.3f | %zu |\n",
           full.msgs_per_s, full.gb_per_s, full.failures);
    printf("| | | sip/ framing + sip_peek (start line, top Via, CSeq) | %.0f | %.3f | %zu |\n",
           peek.msgs_per_s, peek.gb_per_s, peek.failures);
    printf("| | | **peek / checks** | **%.1fx** | | |\n", peek.msgs_per_s / full.msgs_per_s);
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(seconds > 0 && seconds <= 30)) {
        fprintf(stderr, "usage: %s [CPU_SECONDS_PER_CELL (0..30]]\n", argv[0]);
        return 2;
    }
    osip_setup();
    static struct corpus rfc = {.title = "RFC 4475 valid"};
    static struct corpus real = {.title = "realistic 0.5-2 KB"};
    static struct corpus all = {.title = "all"};
    load_rfc4475(&rfc, SIP_PARSE_RFC4475_DIR);
    load_dir(&real, SIP_PARSE_CORPUS_DIR);
    load_rfc4475(&all, SIP_PARSE_RFC4475_DIR);
    load_dir(&all, SIP_PARSE_CORPUS_DIR);

    printf("Per message, reusegw sip/ = framing + header index + top Via + Via rewrite "
           "(iovec);\nlibosip2 = osip_message_init + osip_message_parse + osip_message_free. "
           "One thread, rates per CPU second, %.1f CPU s per cell.\n\n",
           seconds);
    printf("| corpus | size | parser | messages/s | GB/s | rejected |\n");
    printf("| --- | --- | --- | ---: | ---: | ---: |\n");
    report(&rfc, seconds);
    report(&real, seconds);
    report(&all, seconds);
    return 0;
}
