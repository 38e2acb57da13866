/*
 * server: the three workers that serve a listening socket, each in a file
 * of its own; how a stop reaches them is stop.c's.
 *
 * serve_sync (sync_worker.c) is gunicorn's sync worker: its one thread
 * accepts one connection, answers it start to finish, closes it, and only
 * then accepts the next.  IO stays blocking.  Like gunicorn's, it answers
 * with "Connection: close", so an idle client cannot hold the only worker.
 * serve_threaded (threaded_worker.c) is gunicorn's gthread worker, which
 * gunicorn runs for -k sync with --threads N, N > 1 (server_set_threads):
 * its main thread accepts, and queues each connection once its request
 * begins, for a pool of N threads,
 * so up to N requests are served at once, the IO as blocking as before in
 * each thread; connections are kept alive (the main thread holds the idle
 * ones), at most server_set_worker_connections() of them open at once.
 * lab_main() picks it for a sync lab given --threads.
 *
 * serve_evented (evented_worker.c) is gunicorn's gevent worker: it first
 * calls io_patch() -- our monkey.patch_all() -- then accepts in the main
 * fiber and runs every connection in a fiber of its own, with keep-alive,
 * holding at most server_set_worker_connections() of them at once.
 *
 * Either may run in several processes on one listening socket (arbiter.h):
 * nothing here changes that socket -- a stop ends this process's waits for
 * accept through a pipe of its own -- so a worker that stops leaves the
 * others serving.
 *
 * Each answers with http_serve_connection() (the threaded worker a request
 * at a time, http_serve_one()) and returns 0 once SIGINT or SIGTERM
 * arrives; none lets SIGPIPE end the process.  At the signal they stop
 * accepting: connections not accepted yet are never served; the threaded
 * worker closes its idle connections and serves those it had queued.
 * SIGTERM then gives the connections in flight a grace period:
 *   - sync: the connection being served (one in each thread) goes on as if
 *     nothing had happened -- its request may still be arriving -- and is
 *     answered;
 *   - evented: a connection whose request has arrived goes on and is
 *     answered; one still waiting for a request, or for the rest of one,
 *     reads the end of its input and is closed without an answer.
 * When the grace period is over, or at once on SIGINT, what is left is cut
 * short (io_abort() and the abort hook): downloads fail with "the server
 * is stopping", so /hello still answers, with 502 and code 1; a connection
 * still waiting on its client is closed without an answer -- in the
 * evented worker, that includes one whose answer is stuck because the
 * client does not read it.  The evented worker then gives connections
 * 0.3 s to end.  Either worker returns once, and a process runs at most
 * one of them: the stop it learns of is for good.
 */
#ifndef SERVER_H
#define SERVER_H

#include "http.h"

typedef int server_worker(int listen_fd, http_handler *handler);

int serve_sync(int listen_fd, http_handler *handler);
int serve_threaded(int listen_fd, http_handler *handler);
int serve_evented(int listen_fd, http_handler *handler);

/* Hold SIGTERM, SIGINT, SIGALRM and SIGCHLD blocked until a worker (or the arbiter)
 * takes them: one sent meanwhile waits for it instead of killing the
 * process. */
void server_hold_stop_signals(void);

/* Run hook once, when the worker is about to accept its first connection:
 * its stop signals caught (or, with threads, held for its signalfd), its
 * pipes and event loop made, so whatever it opens from then on is about a
 * connection.  lab_main() prints its banner there (a master, with -w,
 * prints it once its signals are held, before any worker): whoever has
 * read the banner -- a script, a test -- may signal the lab, or count its
 * open files, at once.  Default: none. */
void server_on_ready(void (*hook)(void));

/* Seconds a request may take to arrive and its answer to leave (default 5). */
void server_set_request_timeout(double seconds);

/* Seconds SIGTERM gives requests in flight before cutting them short
 * (default 0.5). */
void server_set_grace(double seconds);

/* The threaded worker's threads serving requests at once (default 1).
 * The sync and evented workers ignore it, as gunicorn's gevent worker
 * ignores --threads. */
void server_set_threads(int n);

/* Evented and threaded workers: the most connections held at once
 * (default 1000, as gunicorn's --worker-connections); beyond them, clients
 * wait in the listen backlog.  The sync worker ignores it, as gunicorn's
 * does. */
void server_set_worker_connections(int n);

/* Call beat() at least every `seconds` while the worker is able to serve:
 * in the sync worker, from the main thread while it waits for a connection
 * (with one thread, never while it serves one); in the evented worker, from
 * a fiber of its own, so only while the hub runs.  The arbiter's worker
 * timeout is built on it (arbiter.h).  Default: none. */
void server_set_heartbeat(void (*beat)(void), double seconds);

/* Run hook when requests in flight must be cut short: at SIGINT, or when
 * SIGTERM's grace period is over.  It runs in a signal handler, in both
 * workers: async-signal-safe code only. */
void server_on_abort(void (*hook)(void));

/* At each SIGCHLD, ask gone() whether a child the lab cannot work without
 * has died (it reaps it); if so, stop as at SIGINT.  It runs in a signal
 * handler: async-signal-safe code only.  Default: none, and SIGCHLD stops
 * nothing. */
void server_on_child_exit(bool (*gone)(void));

#endif
