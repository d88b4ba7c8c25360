/* Named threads. */
#include "common/thread.h"

#include <string.h>

#include <unistd.h>

int thread_start(pthread_t *out, const char *name, thread_main_fn fn, void *arg)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, fn, arg);
    if (rc != 0) {
        return -rc;
    }
    char short_name[16];
    strncpy(short_name, name, sizeof(short_name) - 1);
    short_name[sizeof(short_name) - 1] = '\0';
    pthread_setname_np(t, short_name);
    *out = t;
    return 0;
}

int thread_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
