/*
 * server: a listening socket and the two workers that serve it.
 *
 * serve_sync is gunicorn's sync worker: the main fiber accepts one
 * connection, answers it start to finish, closes it, and only then accepts
 * the next.  IO stays blocking.  Like gunicorn's, it answers with
 * "Connection: close", so an idle client cannot hold the only worker.
 *
 * serve_evented is gunicorn's gevent worker: it first calls io_patch() --
 * our monkey.patch_all() -- then accepts in the main fiber and runs every
 * connection in a fiber of its own, with keep-alive.
 *
 * Both answer with http_serve_connection() and return 0 once SIGINT or
 * SIGTERM arrives.  SIGTERM lets requests in flight finish for a grace
 * period; SIGINT ends them at once.  Neither lets SIGPIPE end the process.
 */
#ifndef SERVER_H
#define SERVER_H

#include "http.h"

typedef int server_worker(int listen_fd, http_handler *handler);

int serve_sync(int listen_fd, http_handler *handler);
int serve_evented(int listen_fd, http_handler *handler);

/* Listen on "HOST:PORT" (IPv4 or [IPv6]; port 0 picks a free one) with a
 * non-blocking socket.  Returns the fd, or -1 with a message in err. */
int server_listen(const char *host_port, char *err, size_t errlen);

/* The port a listening socket is bound to. */
int server_port(int listen_fd);

/* Seconds a request may take to arrive and its answer to leave (default 5). */
void server_set_timeout(double seconds);

/* Seconds SIGTERM gives requests in flight before cutting them short
 * (default 0.5). */
void server_set_grace(double seconds);

/* Run hook (async-signal-safe code only) when requests in flight must be
 * cut short: at SIGINT, or when SIGTERM's grace period is over. */
void server_on_abort(void (*hook)(void));

#endif
