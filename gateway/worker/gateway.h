/* gateway: the run path of the reusegw binary — TLS context from the
 * configuration, one worker, listeners, signals, exit status.
 *
 * Borrows the configuration snapshot (takes its own references where it
 * keeps it). Never parses the command line or the configuration file. */
#ifndef REUSEGW_GATEWAY_H
#define REUSEGW_GATEWAY_H

struct cfg_snapshot;

/* The two exit statuses of the run path (the others belong to main.c's
 * command line and configuration checks; README.md lists all four). */
enum gateway_exit {
    GATEWAY_EXIT_OK = 0,
    GATEWAY_EXIT_RUNTIME = 3, /* could not start (bind, TLS files) or failed while running */
};

/* gateway_apply_log_config hands |cfg|'s log level and format to the log
 * module: at start-up and on every accepted reload. */
void gateway_apply_log_config(const struct cfg_snapshot *cfg);

/* gateway_run serves |cfg| (borrowed; the worker takes its own reference)
 * until SIGTERM or SIGINT has drained, and returns the process exit status. */
int gateway_run(struct cfg_snapshot *cfg);

#endif
