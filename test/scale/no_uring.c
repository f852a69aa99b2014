/* no_uring PROGRAM [ARGS...]: runs PROGRAM with io_uring refused by seccomp,
 * as under Docker's or containerd's default profile. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "deny_uring.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: no_uring PROGRAM [ARGS...]\n");
        return 2;
    }
    int err = deny_uring();
    if (err) {
        fprintf(stderr, "no_uring: cannot install the seccomp filter: %s\n", strerror(-err));
        return 1;
    }
    execvp(argv[1], argv + 1);
    fprintf(stderr, "no_uring: cannot run %s: %s\n", argv[1], strerror(errno));
    return 127;
}
