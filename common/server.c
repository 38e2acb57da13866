/*
 * server.c: the sync and the evented worker, and how they stop.
 *
 * SIGTERM stops gracefully: no new connections; requests in flight get
 * `grace` seconds to finish; then what is still running is cut short
 * (io_abort, and the lab's abort hook, which kills the simulator so
 * every fetch waiting on it fails at once) and the worker returns.
 * SIGINT cuts short at once.
 *
 * The sync worker learns of the signal in a plain handler, which also shuts
 * the listening socket down: the poll() for the next connection returns
 * then, even if the signal came just before the poll began.  The evented
 * worker's waits happen inside libev, so there the signal arrives as an
 * ev_signal watcher on the hub.
 */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fiber.h"
#include "io.h"
#include "server.h"
#include "util.h"

enum { MAX_CONNECTIONS = 4096 };	/* evented: beyond this, clients queue */

static volatile sig_atomic_t stopping;	/* 0, SIGTERM or SIGINT */
static void (*abort_hook)(void);
static double timeout = 5, grace = 0.5;
static int sync_listen_fd = -1;

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

/* Make whatever is in flight fail now.  Async-signal-safe. */
static void abort_in_flight(void)
{
	io_abort();
	if (abort_hook)
		abort_hook();
}

/* accept() failed: when the process is out of fds (EMFILE), wait a moment
 * for some to close instead of spinning; other errors are the client's. */
static void accept_failed(void)
{
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM)
		io_sleep(0.05);
}

/* ---- the sync worker ---- */

/* Ring SIGALRM when `seconds` are over.  The microseconds come from one
 * whole count, so they stay below a million (setitimer's EINVAL), and it
 * is rounded up so that a tiny grace never arms a zero (disarmed) timer. */
static int arm_grace_timer(double seconds)
{
	long long us = (long long)(seconds * 1e6) + 1;
	struct itimerval t = { .it_value = { (time_t)(us / 1000000),
					     (suseconds_t)(us % 1000000) } };
	return setitimer(ITIMER_REAL, &t, NULL);
}

/* Both handlers save and restore errno: they interrupt code that may be
 * about to read it (read() said EAGAIN, say), and the system calls they make
 * -- the abort hook's kill() of a simulator already gone -- would change it. */
static void sync_on_alarm(int sig)
{
	int saved = errno;
	(void)sig;
	abort_in_flight();	/* the grace period is over */
	errno = saved;
}

static void sync_on_stop(int sig)
{
	int saved = errno;
	stopping = sig;
	shutdown(sync_listen_fd, SHUT_RDWR);	/* wakes the poll for accept */
	/* A grace period that cannot be timed would never end: none, then. */
	if (sig == SIGINT || arm_grace_timer(grace) != 0)
		abort_in_flight();
	errno = saved;
}

int serve_sync(int listen_fd, http_handler *handler)
{
	struct sigaction sa = { .sa_handler = sync_on_stop };	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sync_listen_fd = listen_fd;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = sync_on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	while (!stopping) {
		int fd = io_accept(listen_fd);
		if (fd >= 0)
			http_serve_connection(fd, handler, false, timeout);
		else if (!stopping)
			accept_failed();
	}
	/* Done: the grace period must not end later, while the lab is
	 * stopping the simulator (its abort hook would kill it again). */
	struct itimerval off = { 0 };
	setitimer(ITIMER_REAL, &off, NULL);
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

/* Stop reading from every connection: one waiting for a request sees the
 * end of its input and closes; one in the middle of a request finishes it
 * (its answer can still be written).  After the grace period, cut short
 * what is left: fetches fail, and every wait (a sleep, say) is ended. */
static void finish_connections(void)
{
	for (struct connection *c = live; c; c = c->next)
		shutdown(c->fd, SHUT_RD);
	if (stopping == SIGTERM)
		wait_for_connections(grace);
	abort_in_flight();
	for (struct connection *c = live; c; c = c->next)
		fiber_wake(c->fiber);
	wait_for_connections(0.3);
}

static fiber *acceptor;

static void evented_on_stop(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)revents;
	stopping = w->signum;
	fiber_wake(acceptor);	/* its wait in io_accept returns EINTR */
}

int serve_evented(int listen_fd, http_handler *handler)
{
	static ev_signal sigint, sigterm;

	io_patch();		/* gevent's monkey.patch_all() */
	signal(SIGPIPE, SIG_IGN);
	acceptor = fiber_self();
	ev_signal_init(&sigint, evented_on_stop, SIGINT);
	ev_signal_init(&sigterm, evented_on_stop, SIGTERM);
	ev_signal_start(fiber_loop(), &sigint);
	ev_signal_start(fiber_loop(), &sigterm);

	while (!stopping) {
		if (nlive >= MAX_CONNECTIONS) {
			fiber_sleep(0.01);	/* let some finish first */
			continue;
		}
		int fd = io_accept(listen_fd);
		if (fd >= 0) {
			start_connection(fd, handler);
			fiber_yield();	/* let it start before the next accept */
		} else if (!stopping) {
			accept_failed();
		}
	}
	finish_connections();
	return 0;
}
