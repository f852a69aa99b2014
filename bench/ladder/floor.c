/* floor: the physical floor of one relayed transaction at window W: the CPU
 * that a relay between a TLS side and a TCP side cannot avoid when W
 * messages travel together, measured on this machine with the BoringSSL
 * reusegw links.
 *
 *   floor [-m MSG_BYTES] [-W WINDOW] [-t SECONDS]
 *
 * A transaction is a request of MSG_BYTES and its response of MSG_BYTES. A
 * relay decrypts the request on the TLS side, sends it on the TCP side,
 * receives the response there and encrypts it for the TLS side. With W
 * messages per batch (batch = W * MSG_BYTES bytes, in TLS records of at
 * most 16,384 bytes), per transaction it pays at least
 *
 *   (open(batch) + seal(batch)) / W          AEAD, record-sized calls
 *   2 * (send(batch) + recv(batch)) / W      two messages in, two out
 *
 * where send+recv is one loopback TCP write of the batch and the read that
 * drains it on the other end, both in this thread: on loopback the sender
 * runs the receiving stack (softirq in its context) and the receiver the
 * copy out, so one send+recv pair is what a relay pays per message it
 * receives and forwards. Nothing else (no SIP, no event loop, no
 * allocation). Each cost is the mean CPU time (CLOCK_PROCESS_CPUTIME_ID)
 * over repeated calls for SECONDS each, so other load on the machine slows
 * it little.
 *
 * Output: one key=value line: the costs in ns per call and per transaction,
 * and tx_per_cpu_s for AES-128-GCM (what the ladder's relays negotiate) and
 * for ChaCha20-Poly1305. Not a test: its numbers depend on the machine. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/aead.h>

/* TLS's largest record plaintext. */
#define FLOOR_RECORD_MAX 16384
/* AEAD tag bytes of both ciphers. */
#define FLOOR_TAG 16
/* A TLS 1.3 record header: the additional data of each record. */
#define FLOOR_HEADER 5

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* One AEAD direction over a batch: its context, the nonce it counts up,
 * the plaintext and the sealed records. */
struct aead_bench {
    EVP_AEAD_CTX ctx;
    uint64_t seq;
    size_t batch, nrecords;
    uint8_t *plain, *sealed; /* sealed: records of record + tag bytes */
    size_t sealed_len[(65536 + FLOOR_RECORD_MAX - 1) / FLOOR_RECORD_MAX];
};

static void nonce_of(uint64_t seq, uint8_t nonce[12])
{
    memset(nonce, 0, 12);
    for (int i = 0; i < 8; i++)
        nonce[11 - i] = (uint8_t)(seq >> (8 * i));
}

/* Seals the batch record by record; with open, verifies and opens the
 * records sealed last instead. Exits on an AEAD failure. */
static void aead_pass(struct aead_bench *b, bool open)
{
    static const uint8_t header[FLOOR_HEADER] = {23, 3, 3, 0, 0};
    size_t off = 0;
    for (size_t r = 0; r < b->nrecords; r++) {
        size_t len = b->batch - off < FLOOR_RECORD_MAX ? b->batch - off : FLOOR_RECORD_MAX;
        uint8_t nonce[12];
        uint8_t *rec = b->sealed + r * (FLOOR_RECORD_MAX + FLOOR_TAG);
        size_t out_len;
        int ok;
        if (open) {
            nonce_of(b->seq - b->nrecords + r, nonce);
            ok = EVP_AEAD_CTX_open(&b->ctx, b->plain + off, &out_len, len, nonce, 12, rec,
                                   b->sealed_len[r], header, sizeof(header));
        } else {
            nonce_of(b->seq++, nonce);
            ok = EVP_AEAD_CTX_seal(&b->ctx, rec, &b->sealed_len[r], FLOOR_RECORD_MAX + FLOOR_TAG,
                                   nonce, 12, b->plain + off, len, header, sizeof(header));
        }
        if (!ok) {
            fprintf(stderr, "floor: AEAD %s failed\n", open ? "open" : "seal");
            exit(1);
        }
        off += len;
    }
}

/* Mean ns of sealing and of opening one batch with aead. */
static void aead_cost(const EVP_AEAD *aead, size_t batch, double seconds, double *seal_ns,
                      double *open_ns)
{
    static const uint8_t key[32] = {1, 2, 3};
    struct aead_bench b = {.batch = batch,
                           .nrecords = (batch + FLOOR_RECORD_MAX - 1) / FLOOR_RECORD_MAX};
    b.plain = calloc(1, batch);
    b.sealed = malloc(b.nrecords * (FLOOR_RECORD_MAX + FLOOR_TAG));
    if (!b.plain || !b.sealed ||
        !EVP_AEAD_CTX_init(&b.ctx, aead, key, EVP_AEAD_key_length(aead), FLOOR_TAG, NULL)) {
        fprintf(stderr, "floor: AEAD set-up failed\n");
        exit(1);
    }
    /* Clock reads are system calls: time runs of calls. The opens verify
     * the records of the last seal, again and again. */
    enum { RUN = 64 };
    double sum[2] = {0, 0}, start = cpu_ns();
    unsigned long n = 0;
    while (cpu_ns() - start < 2 * seconds * 1e9) {
        for (int open = 0; open < 2; open++) {
            double t0 = cpu_ns();
            for (int i = 0; i < RUN; i++)
                aead_pass(&b, open);
            sum[open] += cpu_ns() - t0;
        }
        n += RUN;
    }
    *seal_ns = sum[0] / (double)n;
    *open_ns = sum[1] / (double)n;
    EVP_AEAD_CTX_cleanup(&b.ctx);
    free(b.plain);
    free(b.sealed);
}

/* A connected loopback TCP pair with TCP_NODELAY; exits on failure. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0) {
        perror("floor: listen");
        exit(1);
    }
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof(a)) != 0 ||
        (fds[1] = accept(l, NULL, NULL)) < 0) {
        perror("floor: connect");
        exit(1);
    }
    close(l);
    for (int i = 0; i < 2; i++)
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Mean ns of one send of batch bytes and the recv calls that drain it. */
static double tcp_cost(size_t batch, double seconds)
{
    int fds[2];
    tcp_pair(fds);
    char *buf = calloc(1, batch);
    if (!buf)
        exit(1);
    double t0 = cpu_ns(), t;
    unsigned long n = 0;
    do {
        if (send(fds[0], buf, batch, 0) != (ssize_t)batch) {
            perror("floor: send");
            exit(1);
        }
        for (size_t got = 0; got < batch;) {
            ssize_t r = recv(fds[1], buf + got, batch - got, 0);
            if (r <= 0) {
                perror("floor: recv");
                exit(1);
            }
            got += (size_t)r;
        }
        n++;
        t = cpu_ns();
    } while (t - t0 < seconds * 1e9);
    close(fds[0]);
    close(fds[1]);
    free(buf);
    return (t - t0) / (double)n;
}

static void usage(void)
{
    fprintf(stderr, "usage: floor [-m MSG_BYTES (300)] [-W WINDOW (1)] [-t SECONDS (0.3)]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long msg = 300, window = 1;
    double seconds = 0.3;
    int c;
    while ((c = getopt(argc, argv, "m:W:t:")) != -1) {
        switch (c) {
        case 'm':
            msg = atol(optarg);
            break;
        case 'W':
            window = atol(optarg);
            break;
        case 't':
            seconds = atof(optarg);
            break;
        default:
            usage();
        }
    }
    if (msg < 1 || window < 1 || msg * window > 65536 || seconds <= 0 || seconds > 60)
        usage();
    size_t batch = (size_t)(msg * window);
    double gcm_seal, gcm_open, chacha_seal, chacha_open;
    aead_cost(EVP_aead_aes_128_gcm(), batch, seconds, &gcm_seal, &gcm_open);
    aead_cost(EVP_aead_chacha20_poly1305(), batch, seconds, &chacha_seal, &chacha_open);
    double tcp = tcp_cost(batch, seconds), w = (double)window;
    double tcp_tx = 2 * tcp / w;
    double gcm_tx = (gcm_seal + gcm_open) / w + tcp_tx;
    double chacha_tx = (chacha_seal + chacha_open) / w + tcp_tx;
    printf("tool=floor msg_bytes=%ld window=%ld batch_bytes=%zu records=%zu"
           " aes128gcm_seal_ns=%.0f aes128gcm_open_ns=%.0f chacha20_seal_ns=%.0f"
           " chacha20_open_ns=%.0f tcp_send_recv_ns=%.0f"
           " tx_aes128gcm_ns=%.1f tx_chacha20_ns=%.1f tx_tcp_ns=%.1f"
           " tx_per_cpu_s=%.0f tx_per_cpu_s_chacha20=%.0f\n",
           msg, window, batch, (batch + FLOOR_RECORD_MAX - 1) / FLOOR_RECORD_MAX, gcm_seal,
           gcm_open, chacha_seal, chacha_open, tcp, (gcm_seal + gcm_open) / w,
           (chacha_seal + chacha_open) / w, tcp_tx, 1e9 / gcm_tx, 1e9 / chacha_tx);
    return 0;
}
