/* main: command line of the reusegw binary. */
#include "worker/gateway.h"
#include "core/log.h"

#include "config/report.h"
#include "worker/config_load.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes, documented in README.md. */
enum {
    EXIT_OK = 0,
    EXIT_CONFIG = 1, /* the configuration is invalid */
    EXIT_USAGE = 2,  /* bad command line */
    EXIT_RUNTIME = 3 /* could not start or failed while running */
};

static void usage(FILE *out)
{
    fputs("usage: reusegw -c FILE            run the gateway\n"
          "       reusegw --check-config -c FILE\n"
          "                                 validate FILE, print every error, exit 0 or 1\n"
          "       reusegw --version         print the version\n"
          "       reusegw --help            print this text\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    const char *config_path = NULL;
    int check_only = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            check_only = 1;
            break;
        case 'V':
            printf("reusegw %s\n", REUSEGW_VERSION);
            return EXIT_OK;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind != argc || !config_path) {
        usage(stderr);
        return EXIT_USAGE;
    }
    struct cfg_snapshot *cfg = cfg_load_reported(config_path, &gateway_readers, stderr);
    if (!cfg)
        return EXIT_CONFIG;
    if (check_only) {
        printf("%s: configuration OK\n", config_path);
        cfg_unref(cfg);
        return EXIT_OK;
    }
    gateway_apply_log_config(cfg);
    int status = gateway_run(cfg);
    cfg_unref(cfg);
    return status;
}
