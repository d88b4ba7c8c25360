/*
 * The ostrich binary: command line, configuration, then the relay, or one
 * of the subcommands import and export (relay/dump.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "config/cfg.h"
#include "relay/dump.h"
#include "relay/relay.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ostrich [--config FILE]          run the relay (no file: built-in defaults)\n"
            "       ostrich --check-config FILE      check a configuration file and exit\n"
            "       ostrich --print-config [--config FILE]\n"
            "                                        print the effective configuration\n"
            "       ostrich import [--config FILE] [FILE|-]\n"
            "                                        validate JSONL events and store them\n"
            "       ostrich export [--config FILE] [--filter JSON] [FILE|-]\n"
            "                                        write stored events as JSONL, newest first\n"
            "       ostrich --version                print the version and exit\n"
            "       ostrich --help                   print this help and exit\n"
            "\n"
            "import and export use the configured store, with the relay stopped or (for\n"
            "SQLite) running; FILE defaults to - (standard input or output). import\n"
            "exits 0 once the whole input was read, rejected lines included, and 1 on\n"
            "a read or store error; --filter takes one NIP-01 filter object.\n"
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

/* ostrich import|export [--config FILE] [--filter JSON] [FILE|-]. Returns
 * the exit code. */
static int run_dump(int argc, char **argv)
{
    bool is_import = strcmp(argv[1], "import") == 0;
    const char *config = NULL, *filter = NULL, *file = NULL;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) && i + 1 < argc) {
            config = argv[++i];
        } else if (!is_import && strcmp(a, "--filter") == 0 && i + 1 < argc) {
            filter = argv[++i];
        } else if (file == NULL && (a[0] != '-' || strcmp(a, "-") == 0)) {
            file = a;
        } else {
            fprintf(stderr, "ostrich %s: unknown or incomplete argument: %s\n", argv[1], a);
            usage(stderr);
            return 2;
        }
    }
    bool is_std = file == NULL || strcmp(file, "-") == 0;
    const char *name = is_std ? (is_import ? "standard input" : "standard output") : file;
    struct cfg c;
    FILE *f = NULL;
    int rc = 0;
    cfg_init_defaults(&c);
    if (config != NULL && load(&c, config) < 0) {
        rc = -1;
        goto out;
    }
    log_set_level(c.log.level);
    log_set_format(c.log.format);
    f = is_std ? (is_import ? stdin : stdout) : fopen(file, is_import ? "r" : "w");
    if (f == NULL) {
        perror(file);
        rc = -1;
        goto out;
    }
    if (is_import) {
        rc = dump_import(&c, f, name, stderr, isatty(STDERR_FILENO) == 1, NULL);
    } else {
        rc = dump_export(&c, filter, f, stderr, NULL);
    }
    if (!is_std && fclose(f) != 0 && rc == 0) {
        perror(file);
        rc = -1;
    }
out:
    cfg_fini(&c);
    return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "import") == 0 || strcmp(argv[1], "export") == 0)) {
        return run_dump(argc, argv);
    }
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
    log_set_format(c.log.format);
    rc = relay_run(&c, config);
    cfg_fini(&c);
    return rc < 0 ? 1 : 0;
}
