/* deny_uring: makes this process (and what it execs) see io_uring as a
 * container runtime's default seccomp profile shows it: io_uring_setup,
 * io_uring_enter and io_uring_register fail with EPERM.
 *
 * Owns nothing once installed: the kernel holds the filter for the life of
 * the process. Borrows nothing. Never touches any other syscall. */
#ifndef REUSEGW_TEST_DENY_URING_H
#define REUSEGW_TEST_DENY_URING_H

/* deny_uring installs the filter (after PR_SET_NO_NEW_PRIVS, so no privilege
 * is needed). Returns 0 or -errno. Irreversible. */
int deny_uring(void);

#endif
