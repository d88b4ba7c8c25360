/*
 * The unit test harness. Checks are never compiled out. A failed check
 * prints file, line and both values, marks the current test failed and
 * returns from the test function.
 *
 * Each test file defines its tests as `static void test_name(void)` and ends
 * with CHECK_MAIN({ "name", test_name }, ...). Run a single test by passing
 * its name as the first argument.
 */
#ifndef OSTRICH_TESTS_CHECK_H
#define OSTRICH_TESTS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

struct check_test {
    const char *name;
    void (*fn)(void);
};

static int check_failed;

static inline void check_hexdump(const char *label, const void *p, size_t n)
{
    const unsigned char *b = p;
    fprintf(stderr, "    %s: ", label);
    for (size_t i = 0; i < n; i++) {
        fprintf(stderr, "%02x", b[i]);
    }
    fprintf(stderr, "\n");
}

#define CHECK(expr)                                                                    \
    do {                                                                               \
        if (!(expr)) {                                                                 \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
            check_failed = 1;                                                          \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                                      \
    do {                                                                                        \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                         \
        if (check_a_ != check_b_) {                                                             \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, \
                    #b, check_a_, check_b_);                                                    \
            check_failed = 1;                                                                   \
            return;                                                                             \
        }                                                                                       \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                   \
    do {                                                                                     \
        const char *check_a_ = (a), *check_b_ = (b);                                         \
        if (check_a_ == NULL || check_b_ == NULL || strcmp(check_a_, check_b_) != 0) {       \
            fprintf(stderr, "  %s:%d: %s == %s failed:\n    \"%s\"\n    \"%s\"\n", __FILE__, \
                    __LINE__, #a, #b, check_a_ ? check_a_ : "(null)",                        \
                    check_b_ ? check_b_ : "(null)");                                         \
            check_failed = 1;                                                                \
            return;                                                                          \
        }                                                                                    \
    } while (0)

#define CHECK_MEM_EQ(a, b, n)                                                                     \
    do {                                                                                          \
        if (memcmp((a), (b), (n)) != 0) {                                                         \
            fprintf(stderr, "  %s:%d: %s == %s failed (%zu bytes)\n", __FILE__, __LINE__, #a, #b, \
                    (size_t)(n));                                                                 \
            check_hexdump(#a, (a), (n));                                                          \
            check_hexdump(#b, (b), (n));                                                          \
            check_failed = 1;                                                                     \
            return;                                                                               \
        }                                                                                         \
    } while (0)

#define CHECK_OK(rc)                                                                              \
    do {                                                                                          \
        int check_rc_ = (rc);                                                                     \
        if (check_rc_ != 0) {                                                                     \
            fprintf(stderr, "  %s:%d: %s returned %d (%s)\n", __FILE__, __LINE__, #rc, check_rc_, \
                    ost_strerror(check_rc_));                                                     \
            check_failed = 1;                                                                     \
            return;                                                                               \
        }                                                                                         \
    } while (0)

static inline int check_run(const struct check_test *tests, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0, ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) {
            continue;
        }
        ran++;
        check_failed = 0;
        tests[i].fn();
        printf("%s %s\n", check_failed ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (check_failed) {
            failed++;
        } else {
            passed++;
        }
    }
    if (argc > 1 && ran == 0) {
        fprintf(stderr, "no test named %s\n", argv[1]);
        return 1;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define CHECK_MAIN(...)                                                        \
    int main(int argc, char **argv)                                            \
    {                                                                          \
        static const struct check_test tests[] = { __VA_ARGS__ };              \
        return check_run(tests, sizeof(tests) / sizeof(tests[0]), argc, argv); \
    }

#endif
