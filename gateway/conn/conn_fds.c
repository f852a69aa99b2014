/* conn_fds: the descriptor reserve and the spare descriptor. */
#include "conn/conn_fds.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn/conn_limits.h"
#include "core/log.h"

enum {
    RESERVE_MIN = 32,   /* descriptors kept back at the least... */
    RESERVE_MAX = 1024, /* ...and at the most (1/32 of the limit in between; 1/4
                           of a limit below 128) */
    SHED_MAX = 1024,    /* connections shed per failed accept: the listen backlog */
};

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void conn_fds_init(struct conn_fds *f)
{
    struct rlimit rl;
    rlim_t cur = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : RLIM_INFINITY;
    f->limit = cur == RLIM_INFINITY || cur > INT_MAX ? INT_MAX : (int)cur;
    int reserve = f->limit / 32;
    reserve = reserve < RESERVE_MIN ? RESERVE_MIN : reserve > RESERVE_MAX ? RESERVE_MAX : reserve;
    if (reserve > f->limit / 4) /* a tiny limit still takes connections */
        reserve = f->limit / 4;
    f->accept_floor = f->limit - reserve;
    f->dial_floor = f->limit - reserve / 2;
    f->spare = open_spare();
}

void conn_fds_free(struct conn_fds *f)
{
    if (f->spare >= 0)
        close(f->spare);
    f->spare = -1;
}

bool conn_fds_out(int err)
{
    return err == EMFILE || err == ENFILE;
}

bool conn_fds_admit(struct conn_layer *cl, int fd, bool dial)
{
    const struct conn_fds *f = &cl->fds;
    if (fd < (dial ? f->dial_floor : f->accept_floor))
        return true;
    limits_hit(cl->metrics, LIMIT_FDS);
    LOG_RATELIMITED(LOG_WARN, "file descriptors running out; refusing a new connection",
                    LF_STR("direction", dial ? "dial" : "accept"), LF_INT("fd", fd),
                    LF_INT("limit", f->limit), LF_INT("reserve", f->limit - f->accept_floor));
    return false;
}

unsigned conn_fds_shed(struct conn_layer *cl, int listen_fd)
{
    struct conn_fds *f = &cl->fds;
    if (f->spare < 0) { /* given up before and not reopened: try now */
        f->spare = open_spare();
        return 0;
    }
    close(f->spare);
    unsigned shed = 0;
    for (unsigned tries = 0; tries < SHED_MAX; tries++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == ECONNABORTED || errno == EINTR)
                continue;
            break;
        }
        close(fd);
        shed++;
        limits_hit(cl->metrics, LIMIT_FDS);
    }
    f->spare = open_spare();
    LOG_RATELIMITED(LOG_WARN, "file descriptors exhausted; closing waiting connections",
                    LF_UINT("shed", shed), LF_INT("limit", f->limit));
    return shed;
}
