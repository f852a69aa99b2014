/* key_log: the NSS key log file (RFC 9850, SSLKEYLOGFILE) that lets
 * Wireshark decrypt captured TLS sessions.
 *
 * Owns the file descriptor, a bounded queue of lines and the one writer
 * thread that empties it into the file, so that the thread running a
 * handshake never waits on the disk. Borrows nothing. Never blocks a
 * caller: a line the full queue cannot take is dropped and counted. Never
 * reads the gateway's configuration; a tls_ctx whose options name a file
 * owns one (tls_ctx_new). */
#ifndef REUSEGW_TLS_KEY_LOG_H
#define REUSEGW_TLS_KEY_LOG_H

#include <stddef.h>
#include <stdint.h>

/* TLS_KEY_LOG_QUEUE bounds the lines waiting for the writer thread. */
#define TLS_KEY_LOG_QUEUE 4096
/* TLS_KEY_LOG_LINE bounds one line: the longest BoringSSL writes (a
 * 31-byte label, 64 hex digits of client random, 96 of a SHA-384 secret)
 * with room to spare; a longer one is dropped rather than cut. */
#define TLS_KEY_LOG_LINE 256

struct tls_key_log;

/* tls_key_log_open opens |path| for appending (created mode 0600, an
 * existing file made 0600; a symbolic link or anything but a regular file
 * is refused) and starts its writer thread. Returns NULL after writing the
 * reason into |err| (|err_len| bytes, NUL-terminated). Free with
 * tls_key_log_close. */
struct tls_key_log *tls_key_log_open(const char *path, char *err, size_t err_len);

/* tls_key_log_add queues |line| (borrowed, NUL-terminated, without the
 * newline) for the file. Any thread; never blocks. */
void tls_key_log_add(struct tls_key_log *log, const char *line);

/* tls_key_log_dropped returns how many lines were dropped (queue full, or
 * too long, or the write failed). */
uint64_t tls_key_log_dropped(struct tls_key_log *log);

/* tls_key_log_flush waits until every line queued so far is written (or
 * dropped). For shutdown and tests: it blocks. */
void tls_key_log_flush(struct tls_key_log *log);

/* tls_key_log_close writes what is queued, stops the thread, closes the
 * file and frees |log|. NULL is ignored. */
void tls_key_log_close(struct tls_key_log *log);

#endif
