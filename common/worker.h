/*
 * worker: what the three workers (sync_worker.c, threaded_worker.c,
 * evented_worker.c) share -- the settings server.h's functions set, and a
 * few steps each of them takes.  Not for use outside them.
 */
#ifndef WORKER_H
#define WORKER_H

#include <stdbool.h>

#include "http.h"

enum { MAX_THREADS = 1024 };	/* the most --threads may ask for */

struct worker_settings {
	double timeout;		/* for a request to arrive, an answer to leave */
	int threads;		/* the threaded worker's */
	int max_connections;	/* the evented and threaded workers' */
	void (*beat)(void);	/* the heartbeat, or NULL */
	double beat_every;	/* its period; negative: no heartbeat */
};
extern struct worker_settings worker_settings;

/* The worker is about to accept its first connection: run the ready hook
 * (server_on_ready), once. */
void worker_ready(void);

/* Beat the heart, if there is one. */
void worker_beat(void);

/* accept() failed: may the worker go on (after a moment's wait)? */
bool worker_accept_failed(void);

/* One sync thread's loop: accept one connection, serve it to the end,
 * close it, and only then accept the next; the heart beats while it waits
 * when `beats`. */
void serve_one_by_one(int listen_fd, http_handler *handler, bool beats);

#endif
