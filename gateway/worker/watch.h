/* watch: tls.watch — a reload when a certificate, key, CA or CRL file
 * changes, for rotations that send no signal (cert-manager, ACME clients).
 *
 * Owns one inotify descriptor, its watches and a debounce timer. Borrows
 * the loop and timer heap of worker 0 (which owns reload) and the
 * snapshot it is installed with, for the call. Never loads a file itself:
 * when the files have been quiet for WATCH_QUIET_MS it calls |fire|,
 * which runs the one reload path SIGHUP runs (worker/reload.h), so a
 * broken or mismatched pair is refused exactly as there.
 *
 * It watches the directories, not the files: the Kubernetes atomic writer
 * swaps a `..data` symlink, editors and ACME clients rename a new file
 * into place, and either replaces the inode a file watch would follow. A
 * path that is a symlink gets the directory of its target watched too. */
#ifndef REUSEGW_WATCH_H
#define REUSEGW_WATCH_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/inotify.h>

#include "core/loop.h"
#include "core/timer.h"

struct cfg_snapshot;

/* How long the watched files must stay unchanged before a reload: long
 * enough to see a key and its certificate written one after the other as
 * one change, short against any rotation schedule. */
enum { WATCH_QUIET_MS = 300 };

/* WATCH_MAX_NAMES bounds the (directory, file name) pairs watched: every
 * certificate, key and CA of the configuration, once directly and once
 * through a symlink's target. */
#define WATCH_MAX_NAMES 256

struct watch_name {
    int wd;         /* the inotify watch of its directory */
    char name[256]; /* the file name inside it */
};

struct cert_watch {
    int fd; /* -1 while tls.watch is off */
    struct loop *loop;
    struct timer_heap *timers;
    struct timer quiet;
    void (*fire)(void *ctx);
    void *ctx;
    struct watch_name names[WATCH_MAX_NAMES];
    size_t n_names;
    bool reading;
    alignas(struct inotify_event) char buf[4096];
};

/* cert_watch_init prepares |w| (off) to call |fire|(|ctx|) on |loop|. */
void cert_watch_init(struct cert_watch *w, struct loop *loop, struct timer_heap *timers,
                     void (*fire)(void *ctx), void *ctx);

/* cert_watch_install watches the files of |cfg| (borrowed for the call)
 * when its tls.watch is on, replacing what was watched before; switches
 * the watch off otherwise. A directory that cannot be watched is logged
 * and skipped. Call it at start and after every reload attempt: a
 * symlink's target may have moved. */
void cert_watch_install(struct cert_watch *w, const struct cfg_snapshot *cfg);

/* cert_watch_on_event handles an OP_WATCH completion. */
void cert_watch_on_event(struct cert_watch *w, const struct loop_event *ev);

/* cert_watch_close closes the descriptor; after loop_free, which ends the
 * read in flight on |w|'s buffer. */
void cert_watch_close(struct cert_watch *w);

#endif
