/* key_log: a bounded line queue and its writer thread. See key_log.h. */
#include "tls/key_log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tls_key_log {
    int fd;
    pthread_t writer;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* lines queued, or stop */
    pthread_cond_t drained; /* the writer caught up */
    bool stop;
    uint64_t queued, written; /* line counts; written includes drops */
    uint64_t dropped;
    size_t head, count;
    char lines[TLS_KEY_LOG_QUEUE][TLS_KEY_LOG_LINE + 1]; /* each ends in '\n' */
};

/* write_all writes |len| bytes or fails: a regular file only writes short
 * when the disk is full. */
static bool write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* writer empties the queue a batch at a time, copying the lines out under
 * the lock and writing them without it. */
static void *writer(void *arg)
{
    struct tls_key_log *log = arg;
    char batch[64 * (TLS_KEY_LOG_LINE + 1)];
    pthread_mutex_lock(&log->lock);
    for (;;) {
        while (log->count == 0 && !log->stop)
            pthread_cond_wait(&log->wake, &log->lock);
        if (log->count == 0 && log->stop)
            break;
        size_t used = 0, taken = 0;
        while (log->count > 0 && taken < 64) {
            const char *line = log->lines[log->head];
            size_t n = strlen(line);
            memcpy(batch + used, line, n);
            used += n;
            log->head = (log->head + 1) % TLS_KEY_LOG_QUEUE;
            log->count--;
            taken++;
        }
        pthread_mutex_unlock(&log->lock);
        bool ok = write_all(log->fd, batch, used);
        pthread_mutex_lock(&log->lock);
        if (!ok)
            log->dropped += taken;
        log->written += taken;
        pthread_cond_broadcast(&log->drained);
    }
    pthread_mutex_unlock(&log->lock);
    return NULL;
}

static void set_error(char *err, size_t err_len, const char *what, const char *path)
{
    snprintf(err, err_len, "key log %s: %s", path, what);
}

struct tls_key_log *tls_key_log_open(const char *path, char *err, size_t err_len)
{
    /* O_NOFOLLOW: a link planted in the log's place cannot redirect the
     * secrets; O_NONBLOCK: a FIFO there cannot hang the start. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
    if (fd < 0) {
        set_error(err, err_len, strerror(errno), path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        set_error(err, err_len, "not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((st.st_mode & 0777) != 0600 && fchmod(fd, 0600) != 0) {
        set_error(err, err_len, "cannot make it mode 0600", path);
        close(fd);
        return NULL;
    }
    struct tls_key_log *log = calloc(1, sizeof(*log));
    if (!log) {
        set_error(err, err_len, "out of memory", path);
        close(fd);
        return NULL;
    }
    log->fd = fd;
    pthread_mutex_init(&log->lock, NULL);
    pthread_cond_init(&log->wake, NULL);
    pthread_cond_init(&log->drained, NULL);
    /* The writer takes no signal: the process' handlers run where the
     * gateway chose (a thread started before it blocked them would take
     * SIGTERM's default action). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&log->writer, NULL, writer, log);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        set_error(err, err_len, "cannot start its writer thread", path);
        pthread_mutex_destroy(&log->lock);
        pthread_cond_destroy(&log->wake);
        pthread_cond_destroy(&log->drained);
        close(fd);
        free(log);
        return NULL;
    }
    return log;
}

void tls_key_log_add(struct tls_key_log *log, const char *line)
{
    size_t n = strlen(line);
    pthread_mutex_lock(&log->lock);
    log->queued++;
    if (n > TLS_KEY_LOG_LINE - 1 || log->count == TLS_KEY_LOG_QUEUE) {
        log->dropped++;
        log->written++;
    } else {
        char *slot = log->lines[(log->head + log->count) % TLS_KEY_LOG_QUEUE];
        memcpy(slot, line, n);
        slot[n] = '\n';
        slot[n + 1] = '\0';
        log->count++;
        pthread_cond_signal(&log->wake);
    }
    pthread_mutex_unlock(&log->lock);
}

uint64_t tls_key_log_dropped(struct tls_key_log *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t n = log->dropped;
    pthread_mutex_unlock(&log->lock);
    return n;
}

void tls_key_log_flush(struct tls_key_log *log)
{
    pthread_mutex_lock(&log->lock);
    uint64_t target = log->queued;
    while (log->written < target)
        pthread_cond_wait(&log->drained, &log->lock);
    pthread_mutex_unlock(&log->lock);
}

void tls_key_log_close(struct tls_key_log *log)
{
    if (!log)
        return;
    pthread_mutex_lock(&log->lock);
    log->stop = true;
    pthread_cond_signal(&log->wake);
    pthread_mutex_unlock(&log->lock);
    pthread_join(log->writer, NULL);
    pthread_mutex_destroy(&log->lock);
    pthread_cond_destroy(&log->wake);
    pthread_cond_destroy(&log->drained);
    close(log->fd);
    free(log);
}
