/*
 * server.c: the workers' settings (server.h) and the steps they share.
 * The workers are sync_worker.c, threaded_worker.c and evented_worker.c;
 * how a stop reaches them is stop.c's.
 */
#include <errno.h>

#include "io.h"
#include "server.h"
#include "worker.h"

struct worker_settings worker_settings = {
	.timeout = 5, .threads = 1, .max_connections = 1000, .beat_every = -1,
};
static void (*ready_hook)(void);

void server_set_request_timeout(double seconds)
{
	worker_settings.timeout = seconds;
}

void server_set_threads(int n)
{
	worker_settings.threads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

void server_set_worker_connections(int n)
{
	worker_settings.max_connections = n < 1 ? 1 : n;
}

void server_set_heartbeat(void (*beat)(void), double seconds)
{
	worker_settings.beat = beat;
	worker_settings.beat_every = beat ? seconds : -1;
}

void server_on_ready(void (*hook)(void))
{
	ready_hook = hook;
}

/* Once: the handout's stub of the evented worker serves with the sync one,
 * which says it is ready too. */
void worker_ready(void)
{
	void (*hook)(void) = ready_hook;
	ready_hook = NULL;
	if (hook)
		hook();
}

void worker_beat(void)
{
	if (worker_settings.beat)
		worker_settings.beat();
}

/* Not when the listening socket itself is gone (shut down, closed, not a
 * socket): then there is nothing left to serve.  Otherwise -- out of fds
 * (EMFILE), out of memory, a client that gave up -- wait a moment, so that
 * an error that lasts never becomes a loop that spins and, in the evented
 * worker, starves the hub. */
bool worker_accept_failed(void)
{
	if (errno == EINVAL || errno == EBADF || errno == ENOTSOCK)
		return false;
	io_sleep(0.05);
	return true;
}
