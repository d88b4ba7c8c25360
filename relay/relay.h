/*
 * The relay: starts every thread (validation workers, storage, readers,
 * broadcast) around the io thread, runs until SIGINT/SIGTERM, and shuts
 * down in order so that every EVENT received gets its OK and nothing
 * acknowledged is lost.
 */
#ifndef OSTRICH_RELAY_RELAY_H
#define OSTRICH_RELAY_RELAY_H

struct cfg;

/* Runs the relay on the calling thread (which becomes the io thread) until
 * a termination signal. cfg is borrowed for the whole run. Returns 0 after
 * a clean shutdown, or a negative code after logging why it could not
 * start (bind address and port, TLS files, database path). */
int relay_run(const struct cfg *cfg);

#endif
