/*
 * The ostrich binary: command line, configuration, then the relay.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "config/cfg.h"
#include "relay/relay.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ostrich [--config FILE]          run the relay (no file: built-in defaults)\n"
            "       ostrich --check-config FILE      check a configuration file and exit\n"
            "       ostrich --print-config [--config FILE]\n"
            "                                        print the effective configuration\n"
            "       ostrich --version                print the version and exit\n"
            "       ostrich --help                   print this help and exit\n"
            "\n"
            "The configuration reference, with every option and its default, is\n"
            "config/ostrich.toml in the source tree.\n");
}

/* Loads path over the defaults; prints the one-line error on failure. */
static int load(struct cfg *c, const char *path)
{
    struct buf err;
    buf_init(&err);
    int rc = cfg_load_file(c, path, &err);
    if (rc < 0) {
        const char *msg = buf_cstr(&err);
        fprintf(stderr, "%s\n", msg ? msg : "out of memory");
    }
    buf_fini(&err);
    return rc;
}

int main(int argc, char **argv)
{
    const char *config = NULL;
    const char *check = NULL;
    bool print = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("ostrich %s\n", OSTRICH_VERSION);
            return 0;
        }
        if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(a, "--check-config") == 0 && i + 1 < argc) {
            check = argv[++i];
        } else if (strcmp(a, "--print-config") == 0) {
            print = true;
        } else {
            fprintf(stderr, "ostrich: unknown or incomplete argument: %s\n", a);
            usage(stderr);
            return 2;
        }
    }

    struct cfg c;
    cfg_init_defaults(&c);
    int rc = 0;
    if (check != NULL) {
        rc = load(&c, check);
        if (rc == 0) {
            printf("%s: ok\n", check);
        }
        cfg_fini(&c);
        return rc < 0 ? 1 : 0;
    }
    if (config != NULL && load(&c, config) < 0) {
        cfg_fini(&c);
        return 1;
    }
    if (print) {
        struct buf out;
        buf_init(&out);
        rc = cfg_print(&c, &out);
        if (rc == 0) {
            fwrite(out.data, 1, out.len, stdout);
        }
        buf_fini(&out);
        cfg_fini(&c);
        return rc < 0 ? 1 : 0;
    }
    log_set_level(c.log.level);
    rc = relay_run(&c);
    cfg_fini(&c);
    return rc < 0 ? 1 : 0;
}
