/*
 * Thread helpers: start a named thread, and ask how many CPUs are online.
 */
#ifndef OSTRICH_COMMON_THREAD_H
#define OSTRICH_COMMON_THREAD_H

#include <pthread.h>

typedef void *(*thread_main_fn)(void *arg);

/* Starts fn(arg) on a new thread named name (at most 15 characters, shown
 * by top -H, gdb and the log). Returns 0 or a negative errno code. */
int thread_start(pthread_t *out, const char *name, thread_main_fn fn, void *arg);

/* The number of online CPUs, at least 1. */
int thread_cpu_count(void);

#endif
