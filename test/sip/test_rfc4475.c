/* The 49 RFC 4475 torture messages: for each, the stream framing verdict
 * and the datagram-level verdict (parse plus the checks the gateway runs)
 * must match the class and expected handling in MANIFEST.tsv. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/check.h"
#include "sip/edit.h"
#include "sip/uri.h"
#include "sip/via.h"
#include "testutil.h"

#define MAX_BYTES 65535

/* Everything a gateway checks on a message, in order; first failure wins. */
static enum sip_err verdict(const char *buf, size_t len)
{
    struct sip_header hdrs[128];
    struct sip_msg m;
    enum sip_err err = sip_parse(buf, len, &m, hdrs, 128);
    if (err)
        return err;
    if ((err = sip_check_version(&m)) || (err = sip_check_required(&m, false)) ||
        (err = sip_check_single(&m)))
        return err;
    struct sip_cseq cseq;
    if ((err = sip_check_cseq(&m, &cseq)))
        return err;
    unsigned mf;
    bool has_mf;
    if ((err = sip_max_forwards(&m, &mf, &has_mf)))
        return err;
    if (m.is_request) {
        struct sip_uri uri;
        if ((err = sip_check_request_uri(&m, &uri)))
            return err;
    }
    for (size_t i = 0; i < m.nheaders; i++) {
        const struct sip_header *h = &m.headers[i];
        struct sip_str rest = h->value, item;
        struct sip_via via;
        struct sip_name_addr na;
        struct sip_uri uri;
        switch (h->id) {
        case SIP_HDR_VIA:
            while (sip_list_next(&rest, &item))
                if ((err = sip_via_parse(item, &via, NULL, 0)))
                    return err;
            break;
        case SIP_HDR_FROM:
        case SIP_HDR_TO:
            if ((err = sip_name_addr_parse(h->value, &na)))
                return err;
            break;
        case SIP_HDR_CONTACT:
        case SIP_HDR_ROUTE:
        case SIP_HDR_RECORD_ROUTE:
            if (sip_str_ieq(h->value, "*", 1))
                break;
            while (sip_list_next(&rest, &item)) {
                if ((err = sip_name_addr_parse(item, &na)))
                    return err;
                err = sip_uri_parse(na.uri.p, na.uri.len, &uri);
                if (err && err != SIP_ERR_URI_SCHEME)
                    return err;
            }
            break;
        default:
            break;
        }
    }
    return SIP_OK;
}

/* What this scanner answers for each message. MANIFEST.tsv gives the class
 * and expected handling; check_row() ties each row to this table. */
struct expectation {
    const char *file;
    enum sip_frame_event frame; /* stream framing of the whole file */
    enum sip_err frame_err;
    enum sip_err verdict; /* verdict() of the whole file as a datagram */
};

static const struct expectation expected[] = {
    {"wsinv.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"intmeth.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"esc01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"escnull.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"esc02.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"lwsdisp.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"longreq.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"dblreq.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK}, /* trailing INVITE bytes left over */
    {"semiuri.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"transports.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"mpart01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"unreason.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"noreason.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"badinv01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_VIA},
    {"clerr.dat", SIP_FRAME_NEED_MORE, SIP_OK, SIP_ERR_BODY_TRUNCATED},
    {"ncl.dat", SIP_FRAME_ERROR, SIP_ERR_CL_INVALID, SIP_ERR_CL_INVALID},
    {"scalar02.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_CSEQ},
    {"scalarlg.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_CSEQ},
    {"quotbal.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_NAME_ADDR},
    {"ltgtruri.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_REQUEST_URI},
    {"lwsruri.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_REQUEST_URI},
    {"lwsstart.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_REQUEST_URI},
    {"trws.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_START_LINE},
    {"escruri.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_REQUEST_URI},
    {"baddate.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK}, /* Date is not ours to judge */
    {"regbadct.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_NAME_ADDR},
    {"badaspec.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_NAME_ADDR},
    {"baddn.dat", SIP_FRAME_NEED_MORE, SIP_OK, SIP_ERR_NAME_ADDR}, /* no empty line */
    {"badvers.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_VERSION},
    {"mismatch01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_CSEQ_METHOD},
    {"mismatch02.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_CSEQ_METHOD},
    {"bigcode.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_STATUS},
    {"badbranch.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"insuf.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_MISSING_FROM},
    {"unkscm.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_URI_SCHEME},
    {"novelsc.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_URI_SCHEME},
    {"unksm2.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"bext01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"invut.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"regaut01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"multi01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_ERR_MULTIPLE_VALUES},
    {"mcl01.dat", SIP_FRAME_ERROR, SIP_ERR_CL_CONFLICT, SIP_ERR_CL_CONFLICT},
    {"bcast.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"zeromf.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK}, /* 483 via sip_max_forwards == 0 */
    {"cparam01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"cparam02.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"regescrt.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"sdp01.dat", SIP_FRAME_MESSAGE, SIP_OK, SIP_OK},
    {"inv2543.dat", SIP_FRAME_ERROR, SIP_ERR_CL_MISSING, SIP_OK}, /* stream needs Content-Length */
};

#define NFILES (sizeof(expected) / sizeof(expected[0]))

/* One MANIFEST.tsv row. */
struct row {
    char file[32];
    char cls[32];
    char handling[256];
};

static struct row rows[NFILES];
static size_t nrows;

static const struct expectation *find(const char *file)
{
    for (size_t i = 0; i < NFILES; i++)
        if (strcmp(expected[i].file, file) == 0)
            return &expected[i];
    return NULL;
}

static bool says(const struct row *r, const char *phrase)
{
    return strstr(r->handling, phrase) != NULL;
}

static size_t flatten(const struct sip_edit *ed, char *out)
{
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t n, total, off = 0;
    assert_int_equal(sip_edit_iov(ed, iov, SIP_EDIT_MAX_IOV, &n, &total), SIP_OK);
    for (size_t i = 0; i < n; i++) {
        memcpy(out + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return off;
}

/* Client-role rewrite of a framed message: only the top via-parm changes
 * (plus ";alias"), and restoring it gives back the original bytes. */
static void round_trip(const char *file, const char *buf, size_t len)
{
    static const char sent_by[] = "gw.example.com:5061";
    struct sip_header hdrs[128], h2[128];
    struct sip_msg m, m2;
    struct sip_via top, top2;
    struct sip_edit ed;
    char *out = malloc(len + 256), *back = malloc(len + 256);
    assert_int_equal(sip_parse(buf, len, &m, hdrs, 128), SIP_OK);
    assert_int_equal(sip_via_parse_first(&m, &top, NULL, 0), SIP_OK);
    sip_edit_init(&ed, &m);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT(sent_by), true), SIP_OK);
    size_t n = flatten(&ed, out);
    size_t before = (size_t)(top.parm.p - buf), after = len - before - top.parm.len;
    if (memcmp(out, buf, before) != 0 || memcmp(out + n - after, buf + len - after, after) != 0)
        fail_msg("%s: bytes outside the top Via changed", file);
    assert_int_equal(sip_parse(out, n, &m2, h2, 128), SIP_OK);
    assert_int_equal(sip_via_parse_first(&m2, &top2, NULL, 0), SIP_OK);
    if (!top2.alias || !sip_str_ieq(top2.transport, "tls", 3) || top2.branch.len != top.branch.len)
        fail_msg("%s: rewritten Via lost alias, transport or branch", file);
    if (sip_via_splice(out, n, top2.parm, top.parm, back, len + 256) != len ||
        memcmp(back, buf, len) != 0)
        fail_msg("%s: restore did not give back the original bytes", file);
    free(out);
    free(back);
}

static void check_row(void **state)
{
    const struct row *r = *state;
    const struct expectation *e = find(r->file);
    if (e == NULL)
        fail_msg("%s: not in the expectation table", r->file);
    char rel[64];
    snprintf(rel, sizeof(rel), "rfc4475/%s", r->file);
    size_t len;
    char *buf = tu_load(rel, &len);

    /* The table must agree with the manifest's class and handling. */
    bool lenient = says(r, "or accept") || says(r, "may forward");
    if (strcmp(r->cls, "valid") == 0 && e->verdict != SIP_OK)
        fail_msg("%s: valid message, table expects %s", r->file, sip_err_text(e->verdict));
    if (strcmp(r->cls, "invalid") == 0 && e->verdict == SIP_OK && !lenient)
        fail_msg("%s: invalid message, table accepts it", r->file);
    if (says(r, "505") && e->verdict != SIP_ERR_VERSION)
        fail_msg("%s: manifest wants 505", r->file);
    if (says(r, "416") && e->verdict != SIP_ERR_URI_SCHEME)
        fail_msg("%s: manifest wants 416", r->file);
    if ((says(r, "framing error") || says(r, "TCP close")) && e->frame != SIP_FRAME_ERROR)
        fail_msg("%s: manifest wants a framing error", r->file);
    if (says(r, "stream: wait") && e->frame != SIP_FRAME_NEED_MORE)
        fail_msg("%s: manifest wants the stream to wait", r->file);

    /* The scanner must agree with the table. */
    struct sip_frame fr = tu_frame_once(buf, len, MAX_BYTES);
    if (fr.event != e->frame || fr.err != e->frame_err)
        fail_msg("%s: framing gave event %d (%s), want %d (%s)", r->file, fr.event,
                 sip_err_text(fr.err), e->frame, sip_err_text(e->frame_err));
    enum sip_err v = verdict(buf, len);
    if (v != e->verdict)
        fail_msg("%s: verdict %s, want %s", r->file, sip_err_text(v), sip_err_text(e->verdict));
    if (fr.event == SIP_FRAME_MESSAGE) {
        v = verdict(buf, fr.len);
        if (v != e->verdict)
            fail_msg("%s: framed verdict %s, want %s", r->file, sip_err_text(v),
                     sip_err_text(e->verdict));
        if (v == SIP_OK)
            round_trip(r->file, buf, fr.len);
    }
    if (says(r, "483")) {
        struct sip_header hdrs[64];
        struct sip_msg m;
        unsigned mf = 99;
        bool present;
        assert_int_equal(sip_parse(buf, len, &m, hdrs, 64), SIP_OK);
        assert_int_equal(sip_max_forwards(&m, &mf, &present), SIP_OK);
        if (!present || mf != 0)
            fail_msg("%s: Max-Forwards should read 0", r->file);
    }
    /* Every split point through the framer gives the one-shot answer. */
    tu_replay(r->file, buf, len, MAX_BYTES, fr);
    free(buf);
}

static void load_manifest(void)
{
    size_t len;
    char *text = tu_load("rfc4475/MANIFEST.tsv", &len);
    text[len] = '\0';
    char *save = NULL;
    strtok_r(text, "\n", &save); /* column names */
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *cols[5], *s2 = NULL;
        cols[0] = strtok_r(line, "\t", &s2);
        for (int i = 1; i < 5; i++)
            cols[i] = strtok_r(NULL, "\t", &s2);
        if (cols[4] == NULL || nrows == NFILES) {
            fprintf(stderr, "MANIFEST.tsv: bad or extra row %s\n", cols[0]);
            exit(1);
        }
        struct row *r = &rows[nrows++];
        snprintf(r->file, sizeof(r->file), "%s", cols[0]);
        snprintf(r->cls, sizeof(r->cls), "%s", cols[3]);
        snprintf(r->handling, sizeof(r->handling), "%s", cols[4]);
    }
    free(text);
}

int main(void)
{
    load_manifest();
    if (nrows != 49) {
        fprintf(stderr, "MANIFEST.tsv has %zu rows, want 49\n", nrows);
        return 1;
    }
    struct CMUnitTest tests[NFILES];
    for (size_t i = 0; i < nrows; i++)
        tests[i] = (struct CMUnitTest){
            .name = rows[i].file, .test_func = check_row, .initial_state = &rows[i]};
    return _cmocka_run_group_tests("sip_rfc4475", tests, nrows, NULL, NULL);
}
