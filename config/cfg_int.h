/*
 * Private to the configuration module: the option table (config/
 * cfg_options.c) that config/cfg.c derives defaults, loading, checks and
 * printing from. Nothing outside config/cfg*.c includes this.
 */
#ifndef OSTRICH_CONFIG_CFG_INT_H
#define OSTRICH_CONFIG_CFG_INT_H

#include <stddef.h>

#include "config/cfg.h"

/* Every option, grouped by table, parents before children. */
extern const struct cfg_option cfg__options[];
extern const size_t cfg__n_options;

/* String options that must be set together or left empty together. */
struct cfg__pair {
    const char *key[2];
    size_t offset[2];
};
extern const struct cfg__pair cfg__pairs[];
extern const size_t cfg__n_pairs;

#endif
