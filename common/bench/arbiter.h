/*
 * arbiter: gunicorn's master process, for `-w N`.
 *
 * arbiter_run() forks N worker processes that share the listening socket,
 * each running the lab's worker (server.h) on it, and then only watches:
 *   - a worker that dies is reaped and replaced (one that dies within a
 *     second of starting is replaced a second later, not in a tight loop);
 *   - a worker that has not beaten its heart (server_set_heartbeat) for
 *     `timeout` seconds is sent SIGABRT, and the master says so as
 *     gunicorn does: "[CRITICAL] WORKER TIMEOUT (pid:N)"; the worker
 *     exits with status 1 at once, wherever it was stuck, and is replaced.
 *     One still there at the master's next check (a stopped process
 *     cannot act on a signal) is sent SIGKILL;
 *   - SIGTERM or SIGINT is passed on to every worker, so that all of them
 *     stop as one, each as server.h says; the master waits for them (those
 *     still there `grace` + 5 s later are killed), and returns 0.
 * Should the simulator's keeper die (upstream.h), the master stops the
 * workers as at SIGINT and returns 1.
 * Each worker dies with the master, SIGKILL of the master included
 * (PR_SET_PDEATHSIG).  The master serves nothing itself and runs no
 * fiber; what it started before (the upstream simulator) stays its own
 * and is shared by the workers, which must not stop it.
 *
 * Without -w a lab runs no arbiter: it is the single process it always
 * was, where gunicorn -w 1 would run a master and one worker.  That keeps
 * the stop semantics of server.h exact for the one-process labs the notes
 * start from, with nothing between the signal and the worker.  --timeout
 * needs a master to keep it, so --timeout without -w runs -w 1.
 */
#ifndef ARBITER_H
#define ARBITER_H

#include "server.h"

/* Run `workers` processes of worker(listen_fd, handler) until SIGTERM or
 * SIGINT; kill one silent for `timeout` seconds.  At SIGINT, and when
 * SIGTERM's `grace` is over, abort_hook (if any) runs in the master: the
 * lab's way to make fetches to its simulator fail at once.  Returns 0
 * after a signal, 1 if no worker can be started or the simulator is gone. */
int arbiter_run(int workers, double timeout, double grace, int listen_fd,
		server_worker *worker, http_handler *handler,
		void (*abort_hook)(void));

#endif
