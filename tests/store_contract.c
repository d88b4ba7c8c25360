/*
 * The storage contract suite's entry point: test_store_contract <backend>
 * [test] runs every test of the suite (or the one named) on a fresh store
 * of that backend, "sqlite" or "opensearch". The output is that of
 * tests/check.h. A backend that cannot run here (OpenSearch without
 * OSTRICH_TEST_OPENSEARCH_URL) prints one SKIP line and exits 0.
 */
#include "store_contract.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    enum store_backend backend;
} backends[] = {
    { "sqlite", STORE_BACKEND_SQLITE },
    { "opensearch", STORE_BACKEND_OPENSEARCH },
};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

/* The backend of this run: set once by main before any test runs. */
static size_t run_backend;

enum store_backend store_contract_backend(void)
{
    return backends[run_backend].backend;
}

const char *store_contract_backend_name(void)
{
    return backends[run_backend].name;
}

int store_contract_fx_init(struct store_fx *fx, int64_t now)
{
    return store_fx_init_backend(fx, store_contract_backend(), "contract", now);
}

/* Runs the tests of one table whose name matches only (NULL: all). */
static void run_table(const struct store_contract_test *tests, size_t n, const char *only,
                      int *passed, int *failed, int *ran)
{
    for (size_t i = 0; i < n; i++) {
        if (only != NULL && strcmp(only, tests[i].name) != 0) {
            continue;
        }
        (*ran)++;
        *tests[i].failed = 0;
        tests[i].fn();
        printf("%s %s\n", *tests[i].failed ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (*tests[i].failed) {
            (*failed)++;
        } else {
            (*passed)++;
        }
    }
}

int main(int argc, char **argv)
{
    const struct {
        const struct store_contract_test *tests;
        size_t n;
    } tables[] = {
        { store_contract_write_tests, store_contract_write_n },
        { store_contract_query_tests, store_contract_query_n },
        { store_contract_diff_tests, store_contract_diff_n },
        { store_contract_nip09_tests, store_contract_nip09_n },
        { store_contract_nip40_tests, store_contract_nip40_n },
        { store_contract_nip50_tests, store_contract_nip50_n },
    };
    run_backend = N_BACKENDS;
    for (size_t i = 0; argc > 1 && i < N_BACKENDS; i++) {
        if (strcmp(argv[1], backends[i].name) == 0) {
            run_backend = i;
        }
    }
    if (run_backend == N_BACKENDS || argc > 3) {
        fprintf(stderr, "usage: %s sqlite|opensearch [test]\n", argv[0]);
        return 2;
    }
    const char *why = store_fx_unavailable(store_contract_backend());
    if (why != NULL) {
        printf("SKIP: storage contract on %s: %s (no OpenSearch server can run on the build "
               "machines; see README \"OpenSearch\")\n",
               store_contract_backend_name(), why);
        return 0;
    }
    const char *only = argc > 2 ? argv[2] : NULL;
    int passed = 0, failed = 0, ran = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        run_table(tables[t].tests, tables[t].n, only, &passed, &failed, &ran);
    }
    store_fx_drop_leftovers();
    if (only != NULL && ran == 0) {
        fprintf(stderr, "no test named %s\n", only);
        return 1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
