/*
 * server.c: the sync and the evented worker, and how they stop.
 *
 * A stop reaches both workers the same way: one plain signal handler,
 * on_signal, for SIGTERM, SIGINT and SIGALRM.  It shuts the listening
 * socket down, so the wait for the next connection ends -- a poll() in the
 * sync worker, the hub's libev loop in the evented one -- even when the
 * signal came just before that wait began.  SIGTERM arms the grace timer;
 * SIGINT, and SIGALRM when the grace period is over, cut short what is in
 * flight: io_abort() (blocking waits end, every fetch fails),
 * fetch_abort() (the hub ends the cooperative ones) and the lab's abort
 * hook (it kills the simulator).
 * All of it is async-signal-safe, so it may run in the middle of anything.
 *
 * After its accept loop the sync worker has nothing left: it served its
 * one connection to the end.  The evented worker then lets its connections
 * finish (finish_connections).  Both disarm the timer before returning.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fetch.h"
#include "fiber.h"
#include "io.h"
#include "server.h"
#include "util.h"

enum { MAX_CONNECTIONS = 4096 };	/* evented: beyond this, clients queue */

static volatile sig_atomic_t stopping;	/* 0, SIGTERM or SIGINT */
static void (*abort_hook)(void);
static double timeout = 5, grace = 0.5;
static volatile sig_atomic_t stop_listen_fd = -1;

void server_set_timeout(double seconds)
{
	timeout = seconds;
}

void server_set_grace(double seconds)
{
	grace = seconds;
}

void server_on_abort(void (*hook)(void))
{
	abort_hook = hook;
}

/* ---- stopping, the same in both workers ---- */

/* Ring SIGALRM when `seconds` are over, or stop the timer (0).  The
 * microseconds come from one whole count, so they stay below a million
 * (setitimer's EINVAL), and a grace is rounded up so that a tiny one never
 * arms a zero timer, which would mean no timer at all. */
static int set_grace_timer(double seconds)
{
	long long us = seconds > 0 ? (long long)(seconds * 1e6) + 1 : 0;
	struct itimerval t = { .it_value = { (time_t)(us / 1000000),
					     (suseconds_t)(us % 1000000) } };
	return setitimer(ITIMER_REAL, &t, NULL);
}

/* Make whatever is in flight fail now.  Async-signal-safe. */
static void abort_in_flight(void)
{
	io_abort();
	fetch_abort();
	if (abort_hook)
		abort_hook();
}

/* SIGTERM, SIGINT or SIGALRM.  It saves and restores errno: it interrupts
 * code that may be about to read it (read() said EAGAIN, say), and the
 * calls it makes -- the hook's kill() of a simulator already gone -- would
 * change it.  The other two signals are blocked while it runs. */
static void on_signal(int sig)
{
	int saved = errno;
	shutdown(stop_listen_fd, SHUT_RDWR);	/* ends the wait for accept */
	if (sig == SIGTERM) {
		/* A second SIGTERM does not stretch the grace period; one that
		 * is zero, or cannot be timed, would never end: none, then. */
		if (!stopping) {
			stopping = SIGTERM;
			if (grace <= 0 || set_grace_timer(grace) != 0)
				abort_in_flight();
		}
	} else {		/* SIGINT, or the grace period is over */
		stopping = SIGINT;
		abort_in_flight();
	}
	errno = saved;
}

/* Without SA_RESTART: io_wait decides itself whether a wait goes on. */
static void catch_stop_signals(int listen_fd)
{
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGALRM);
	stop_listen_fd = listen_fd;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The worker is done: the grace period must not end later, while the lab
 * stops the simulator (the abort hook would kill its pid once more), and a
 * late signal must not shut down a socket that took the listener's fd. */
static void stop_catching(void)
{
	set_grace_timer(0);
	stop_listen_fd = -1;
}

/* accept() failed: may the worker go on?  Not when the listening socket
 * itself is gone (shut down, closed, not a socket): then there is nothing
 * left to serve.  Otherwise -- out of fds (EMFILE), out of memory, a
 * client that gave up -- wait a moment, so that an error that lasts never
 * becomes a loop that spins and, in the evented worker, starves the hub. */
static bool accept_failed(void)
{
	if (errno == EINVAL || errno == EBADF || errno == ENOTSOCK)
		return false;
	io_sleep(0.05);
	return true;
}

/* ---- the sync worker ---- */

int serve_sync(int listen_fd, http_handler *handler)
{
	catch_stop_signals(listen_fd);
	while (!stopping) {
		int fd = io_accept(listen_fd);
		if (fd >= 0)
			http_serve_connection(fd, handler, false, timeout);
		else if (!stopping && !accept_failed())
			break;
	}
	stop_catching();
	return 0;
}

/* ---- the evented worker ---- */

/* Connections in flight, so that stopping can end them and wait for them. */
struct connection {
	int fd;
	http_handler *handler;
	fiber *fiber;
	struct connection *prev, *next;
};
static struct connection *live;
static int nlive;

static void connection_fiber(void *arg)
{
	struct connection *c = arg;
	http_serve_connection(c->fd, c->handler, true, timeout);
	if (c->prev)
		c->prev->next = c->next;
	else
		live = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nlive--;
	free(c);
}

static void start_connection(int fd, http_handler *handler)
{
	struct connection *c = calloc(1, sizeof *c);
	fiber *f = c ? fiber_spawn(connection_fiber, c, "connection") : NULL;
	if (!f) {		/* out of memory: refuse this one, keep serving */
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	c->handler = handler;
	c->fiber = f;
	c->next = live;
	if (live)
		live->prev = c;
	live = c;
	nlive++;
	fiber_detach(f);
}

/* Let the connections in flight end, for at most `seconds`. */
static void wait_for_connections(double seconds)
{
	double deadline = now() + seconds;
	while (live && now() < deadline)
		fiber_sleep(0.01);
}

/* After the accept loop: stop reading from every connection -- one
 * waiting for a request sees the end of its input and closes; one whose
 * request has arrived goes on -- and let them end, until the grace period
 * is over (at once after SIGINT).  Then what is left is cut short: its
 * fetches have failed, and every wait it is in is ended here (a sleep, or
 * a write to a client that does not read); it gets 0.3 s to end. */
static void finish_connections(void)
{
	for (struct connection *c = live; c; c = c->next)
		shutdown(c->fd, SHUT_RD);
	while (live && !io_aborted())
		fiber_sleep(0.01);
	for (struct connection *c = live; c; c = c->next)
		fiber_wake(c->fiber);
	wait_for_connections(0.3);
}

int serve_evented(int listen_fd, http_handler *handler)
{
	io_patch();		/* gevent's monkey.patch_all() */
	catch_stop_signals(listen_fd);
	/* $begin evented-accept: until stopping, accept each connection and serve it in a fiber of its own (start_connection) */
	while (!stopping) {
		if (nlive >= MAX_CONNECTIONS) {
			fiber_sleep(0.01);	/* let some finish first */
			continue;
		}
		int fd = io_accept(listen_fd);
		if (fd >= 0) {
			start_connection(fd, handler);
			fiber_yield();	/* let it start before the next accept */
		} else if (!stopping && !accept_failed()) {
			break;
		}
	}
	/* $end evented-accept; stub: (void)start_connection; serve_sync(listen_fd, handler); */
	finish_connections();
	stop_catching();
	return 0;
}
