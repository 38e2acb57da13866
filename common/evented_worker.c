/*
 * evented_worker.c: gunicorn's gevent worker (server.h).  It patches the
 * IO first -- io_patch(), our monkey.patch_all() -- then its main fiber
 * accepts, and every connection is served in a fiber of its own, with
 * keep-alive, at most --worker-connections at once.  At a stop it lets
 * the connections in flight finish, as server.h says.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fiber.h"
#include "io.h"
#include "server.h"
#include "stop.h"
#include "util.h"
#include "worker.h"

/* Connections in flight, so that stopping can end them and wait for them. */
struct connection {
	int fd;
	http_handler *handler;
	fiber *fiber;
	struct connection *prev, *next;
};
static struct connection *open_connections;
static int nopen;
static bool evented_done;
static fiber *slot_waiter;	/* the accept loop, waiting for a free slot */

static void connection_fiber(void *arg)
{
	struct connection *c = arg;
	http_serve_connection(c->fd, c->handler, true, worker_settings.timeout);
	if (c->prev)
		c->prev->next = c->next;
	else
		open_connections = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nopen--;
	free(c);
	if (slot_waiter)	/* a slot is free */
		fiber_wake(slot_waiter);
}

/* Wait until a connection ends (its fiber wakes this one), or a stop (the
 * watchman wakes the main fiber): the accept loop's wait when it holds
 * max_connections already. */
static void wait_for_a_slot(void)
{
	slot_waiter = fiber_self();
	fiber_suspend("a free slot");
	slot_waiter = NULL;
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
	c->next = open_connections;
	if (open_connections)
		open_connections->prev = c;
	open_connections = c;
	nopen++;
	fiber_detach(f);
}

/* After the accept loop: stop reading from every connection -- one
 * waiting for a request sees the end of its input and closes; one whose
 * request has arrived goes on -- and let them end, until the grace period
 * is over (at once after SIGINT).  Then what is left is cut short: every
 * wait it is in has been cancelled (io.h), and it gets 0.3 s to end. */
static void finish_connections(void)
{
	for (struct connection *c = open_connections; c; c = c->next)
		shutdown(c->fd, SHUT_RD);
	while (open_connections && !io_aborted())
		fiber_sleep(0.01);
	for (double end = now() + 0.3; open_connections && now() < end; )
		fiber_sleep(0.01);
}

/* The worker's own fiber, gevent's heartbeat greenlet and more: it beats
 * while the hub runs, and at a stop (stop_fd() turns readable) wakes the
 * main fiber out of its wait for accept. */
static void watchman(void *main_fiber)
{
	double every = worker_settings.beat_every;
	bool woke = false;
	while (!evented_done) {
		worker_beat();
		if (!woke && stop_requested()) {
			fiber_wake(main_fiber);
			woke = true;
		}
		if (woke)
			fiber_sleep(every > 0 ? every : 3600);
		else
			fiber_wait_fd(stop_fd(), FIBER_READ, every);
	}
}

int serve_evented(int listen_fd, http_handler *handler)
{
	io_patch();		/* gevent's monkey.patch_all() */
	stop_catch();
	fiber *watch = fiber_spawn(watchman, fiber_self(), "watchman");
	if (!watch)
		die("server: no memory for the watchman fiber");
	worker_ready();
	int max_connections = worker_settings.max_connections;
	/* $begin evented-accept: until stop_requested(), accept each connection (io_accept) and serve it in a fiber of its own (start_connection); hold at most max_connections (--worker-connections) at once, wait_for_a_slot() while full */
	while (!stop_requested()) {
		if (nopen >= max_connections) {
			wait_for_a_slot();
			continue;
		}
		int fd = io_accept(listen_fd);
		if (fd >= 0) {
			start_connection(fd, handler);
			fiber_yield();	/* let it start before the next accept */
		} else if (!stop_requested() && !worker_accept_failed()) {
			break;
		}
	}
	/* $end evented-accept; stub: (void)start_connection; (void)wait_for_a_slot; (void)max_connections; serve_sync(listen_fd, handler); */
	finish_connections();
	evented_done = true;
	fiber_wake(watch);
	fiber_join(watch);
	stop_done();
	return 0;
}
