/* gateway: the run path of the reusegw binary — TLS context from the
 * configuration, one worker, listeners, signals, exit status.
 *
 * Borrows the configuration snapshot (takes its own references where it
 * keeps it). Never parses the command line or the configuration file. */
#ifndef REUSEGW_GATEWAY_H
#define REUSEGW_GATEWAY_H

struct cfg_snapshot;

/* Process exit statuses (README.md). */
enum gateway_exit {
    GATEWAY_EXIT_OK = 0,
    GATEWAY_EXIT_CONFIG = 1,  /* the configuration is invalid */
    GATEWAY_EXIT_USAGE = 2,   /* bad command line */
    GATEWAY_EXIT_RUNTIME = 3, /* could not start (bind, TLS files) or failed while running */
};

/* gateway_run serves |cfg| until SIGTERM or SIGINT has drained and returns
 * the process exit status. */
int gateway_run(struct cfg_snapshot *cfg);

#endif
