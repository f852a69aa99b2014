/* watch: inotify on the directories of the certificate files, debounced. */
#include "worker/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"
#include "core/tag.h"

/* Changes that can replace or rewrite a file: written and closed, renamed
 * into place (the `..data` swap is one), created, deleted, attributes
 * (chmod of a new Secret), and the directory itself going away. */
#define WATCH_EVENTS                                                                               \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |            \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)

static void quiet_over(void *ctx, struct timer *timer)
{
    (void)timer;
    struct cert_watch *w = ctx;
    w->fire(w->ctx);
}

void cert_watch_init(struct cert_watch *w, struct loop *loop, struct timer_heap *timers,
                     void (*fire)(void *ctx), void *ctx)
{
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->loop = loop;
    w->timers = timers;
    w->fire = fire;
    w->ctx = ctx;
    w->quiet.fire = quiet_over;
    w->quiet.ctx = w;
}

/* watch_name watches the directory of |path| for its last component. */
static void watch_name(struct cert_watch *w, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || w->n_names == WATCH_MAX_NAMES) {
        if (slash)
            LOG_WARN("tls.watch: too many files; this one is not watched", LF_STR("file", path));
        return;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    int wd = inotify_add_watch(w->fd, dir, WATCH_EVENTS | IN_ONLYDIR);
    if (wd < 0) {
        LOG_ERROR("tls.watch: cannot watch directory", LF_STR("directory", dir),
                  LF_STR("reason", strerror(errno)));
        return;
    }
    struct watch_name *n = &w->names[w->n_names++];
    n->wd = wd;
    snprintf(n->name, sizeof(n->name), "%s", slash + 1);
}

/* watch_file watches |path| (NULL: not configured) and, when it is a
 * symlink, what it resolves to: an in-place write there changes nothing
 * in the link's own directory. */
static void watch_file(struct cert_watch *w, const char *path)
{
    if (!path)
        return;
    watch_name(w, path);
    char real[PATH_MAX];
    if (realpath(path, real) && strcmp(real, path) != 0)
        watch_name(w, real);
}

static void arm_read(struct cert_watch *w)
{
    if (!w->reading && w->fd >= 0 &&
        loop_read(w->loop, w->fd, w->buf, sizeof(w->buf), tag_make(OP_WATCH, 0, 0)) == 0)
        w->reading = true;
}

void cert_watch_install(struct cert_watch *w, const struct cfg_snapshot *cfg)
{
    /* Watches of the same directory share one wd: drop them all, then
     * watch again what |cfg| names. */
    for (size_t i = 0; i < w->n_names; i++)
        inotify_rm_watch(w->fd, w->names[i].wd);
    w->n_names = 0;
    if (!cfg->tls.watch) {
        if (w->fd >= 0) {
            loop_cancel_fd(w->loop, w->fd);
            timer_disarm(w->timers, &w->quiet);
            LOG_INFO("tls.watch is off");
        }
        return; /* the descriptor stays for a later reload that turns it on */
    }
    if (w->fd < 0 && (w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0) {
        LOG_ERROR("tls.watch: inotify unavailable; certificates reload on SIGHUP only",
                  LF_STR("reason", strerror(errno)));
        return;
    }
    watch_file(w, cfg->tls.certificate);
    watch_file(w, cfg->tls.private_key);
    watch_file(w, cfg->tls.ca);
    watch_file(w, cfg->tls.crl);
    for (size_t i = 0; i < cfg->n_identities; i++) {
        watch_file(w, cfg->identities[i].certificate);
        watch_file(w, cfg->identities[i].private_key);
    }
    for (size_t i = 0; i < cfg->n_peers; i++)
        watch_file(w, cfg->peers[i].ca);
    arm_read(w);
}

/* concerns says whether |ev| may change a file we watch: one of its names
 * in one of the current watches, a `..`-name (the Kubernetes atomic
 * writer's `..data` and its timestamped directories), or a watched
 * directory going away. Events of watches dropped by a reinstall match
 * nothing. */
static bool concerns(const struct cert_watch *w, const struct inotify_event *ev)
{
    for (size_t i = 0; i < w->n_names; i++) {
        if (w->names[i].wd != ev->wd)
            continue;
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF))
            return true;
        if (ev->len && (strcmp(ev->name, w->names[i].name) == 0 || strncmp(ev->name, "..", 2) == 0))
            return true;
    }
    return false;
}

void cert_watch_on_event(struct cert_watch *w, const struct loop_event *ev)
{
    w->reading = false;
    if (ev->res == -ECANCELED || w->fd < 0)
        return;
    bool changed = false;
    for (int off = 0; ev->res > 0 && off + (int)sizeof(struct inotify_event) <= ev->res;) {
        const struct inotify_event *e = (const struct inotify_event *)(w->buf + off);
        changed |= (e->mask & IN_Q_OVERFLOW) || concerns(w, e);
        off += (int)sizeof(struct inotify_event) + (int)e->len;
    }
    if (ev->res < 0 && ev->res != -EAGAIN && ev->res != -EINTR) {
        LOG_ERROR("tls.watch: reading inotify failed; certificates reload on SIGHUP only",
                  LF_STR("reason", strerror(-ev->res)));
        return;
    }
    /* Every change restarts the quiet window: a key written before its
     * certificate reloads once, after both. */
    if (changed && !timer_arm(w->timers, &w->quiet, w->timers->now_ms + WATCH_QUIET_MS))
        LOG_WARN("tls.watch: no timer free; the change waits for the next one");
    arm_read(w);
}

void cert_watch_close(struct cert_watch *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}
