/*
 * threaded_worker.c: gunicorn's sync worker with --threads N (server.h).
 * N threads each run the sync worker's loop, so up to N connections are
 * served at once, each with blocking IO; the main thread serves none: it
 * beats the heart, takes the stop signals (stop.h), and waits for the
 * threads to end.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "io.h"
#include "server.h"
#include "stop.h"
#include "util.h"
#include "worker.h"

static pthread_t threads[MAX_THREADS];
static int ended[2];		/* a byte from each thread as it ends */

struct listener {
	int fd;
	http_handler *handler;
};

static void *serving_thread(void *arg)
{
	struct listener *l = arg;
	serve_one_by_one(l->fd, l->handler, false);
	ssize_t n = write(ended[1], "", 1);
	(void)n;
	return NULL;
}

/* Until the n threads have ended: beat, and take each stop signal. */
static void wait_for_threads(int signals, int n)
{
	struct pollfd p[2] = {
		{ .fd = signals, .events = POLLIN },
		{ .fd = ended[0], .events = POLLIN },
	};
	double every = worker_settings.beat_every;
	int ms = every > 0 ? (int)(every * 1000) + 1 : -1;
	while (n > 0) {
		worker_beat();
		if (poll(p, 2, ms) <= 0)
			continue;
		stop_take(signals);
		char done[64];
		for (ssize_t k; (k = read(ended[0], done, sizeof done)) > 0; )
			n -= (int)k;
	}
}

/* The list of threads a stop interrupts changes only here, in the thread
 * that takes the signals: it is emptied after every thread has ended and
 * before any is joined.  Should no thread start, this one serves alone,
 * as the plain sync worker. */
int serve_threaded(int listen_fd, http_handler *handler)
{
	static struct listener l;
	l = (struct listener){ listen_fd, handler };
	int signals = stop_catch_by_fd();
	if (pipe2(ended, O_CLOEXEC | O_NONBLOCK) != 0)
		die("server: no pipe for the threads: %m");
	int n = 0;
	while (n < worker_settings.threads &&
	       pthread_create(&threads[n], NULL, serving_thread, &l) == 0)
		io_abort_threads(threads, ++n);
	if (n < worker_settings.threads)
		fprintf(stderr, "server: %d threads of %d started\n", n,
			worker_settings.threads);
	if (n > 0)
		worker_ready();
	wait_for_threads(signals, n);
	io_abort_threads(NULL, 0);
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	if (n == 0)	/* a stop that came meanwhile is serve_sync()'s to see */
		stop_take(signals);
	stop_done_by_fd(signals);
	close(ended[0]);
	close(ended[1]);
	return n > 0 ? 0 : serve_sync(listen_fd, handler);
}
