/*
 * sync_worker.c: gunicorn's sync worker (server.h).  One thread accepts
 * one connection, answers it start to finish, closes it, and only then
 * accepts the next; its IO blocks.  With --threads, threaded_worker.c runs
 * this same loop, serve_one_by_one(), in each of its threads.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "server.h"
#include "stop.h"
#include "worker.h"

/* Wait until the listening socket may have a connection for this thread,
 * or a stop has come (false).  The heart beats meanwhile, if `beats`.
 * Another process or thread may take the connection first: accept() then
 * says EAGAIN. */
static bool wait_for_connection(int listen_fd, bool beats)
{
	struct pollfd p[2] = {
		{ .fd = listen_fd, .events = POLLIN },
		{ .fd = stop_fd(), .events = POLLIN },
	};
	double every = worker_settings.beat_every;
	int ms = beats && every > 0 ? (int)(every * 1000) + 1 : -1;
	for (;;) {
		if (beats)
			worker_beat();
		if (stop_requested())
			return false;
		if (poll(p, 2, ms) > 0 && p[0].revents && !p[1].revents)
			return true;
	}
}

/* The next connection's fd, or -1: EINTR at a stop, EAGAIN when another
 * process or thread took it first, or why accept() failed. */
static int accept_next(int listen_fd, bool beats)
{
	if (!wait_for_connection(listen_fd, beats)) {
		errno = EINTR;
		return -1;
	}
	return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

void serve_one_by_one(int listen_fd, http_handler *handler, bool beats)
{
	while (!stop_requested()) {
		int fd = accept_next(listen_fd, beats);
		if (fd >= 0)
			http_serve_connection(fd, handler, false, worker_settings.timeout);
		else if (errno != EAGAIN && errno != ECONNABORTED &&
			 !stop_requested() && !worker_accept_failed())
			break;
	}
}

int serve_sync(int listen_fd, http_handler *handler)
{
	stop_catch();
	worker_ready();
	serve_one_by_one(listen_fd, handler, true);
	stop_done();
	return 0;
}
