/*
 * threaded_worker.c: gunicorn's gthread worker, which -k sync --threads N
 * runs (server.h).  The main thread accepts, and holds each connection
 * until its request begins (or the request timeout passes: then it closes
 * it); then it hands it to a pool of N threads through a queue.  A pool
 * thread reads the request and answers it, its IO blocking; a connection
 * kept alive goes back to the main thread, to wait for its next request
 * the same way.
 * So N requests are served at once, while many more connections are
 * open.  At most --worker-connections are open at once: at the limit, the
 * main thread accepts no more until one closes.  The main thread also
 * beats the heart and takes the stop signals (stop.h); at a stop it
 * accepts no more and closes its idle connections, and the pool serves
 * every connection already queued or in hand before the worker returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io.h"
#include "server.h"
#include "stop.h"
#include "util.h"
#include "worker.h"

/* A connection: queued, served by a pool thread, or idle with the main
 * thread.  http is NULL once the pool thread has closed it. */
struct client {
	struct http_conn *http;
	double idle_until;
	struct client *next;	/* in the queue */
};

static http_handler *the_handler;
static pthread_t threads[MAX_THREADS];

/* The queue, from the main thread to the pool. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queued = PTHREAD_COND_INITIALIZER;
static struct client *first, *last;
static bool closing;		/* no more will come: the pool may end */

/* From the pool back to the main thread: a client pointer per write. */
static int back[2];

static void enqueue(struct client *cl)
{
	cl->next = NULL;
	pthread_mutex_lock(&lock);
	if (last)
		last->next = cl;
	else
		first = cl;
	last = cl;
	pthread_cond_signal(&queued);
	pthread_mutex_unlock(&lock);
}

/* The next queued client, waiting for one; NULL once closing and empty. */
static struct client *dequeue(void)
{
	pthread_mutex_lock(&lock);
	while (!first && !closing)
		pthread_cond_wait(&queued, &lock);
	struct client *cl = first;
	if (cl && !(first = cl->next))
		last = NULL;
	pthread_mutex_unlock(&lock);
	return cl;
}

static void *pool_thread(void *arg)
{
	(void)arg;
	struct client *cl;
	while ((cl = dequeue()) != NULL) {
		/* keep-alive until a stop: then each answer ends its connection */
		if (!http_serve_one(cl->http, the_handler, !stop_requested(),
				    worker_settings.timeout))
			cl->http = NULL;
		ssize_t n = write(back[1], &cl, sizeof cl);	/* atomic: < PIPE_BUF */
		(void)n;
	}
	return NULL;
}

/* The main thread's connections: how many are open, and the idle ones. */
static int nopen;
static struct client **idle;
static int nidle;

static void close_idle(int i)
{
	http_conn_close(idle[i]->http);
	free(idle[i]);
	idle[i] = idle[--nidle];
	nopen--;
}

/* A client handed back: closed, or idle until its next request. */
static void take_back(struct client *cl)
{
	if (!cl->http) {
		free(cl);
		nopen--;
	} else if (http_conn_has_input(cl->http)) {
		enqueue(cl);	/* its next request is here already */
	} else {
		cl->idle_until = now() + worker_settings.timeout;
		idle[nidle++] = cl;
	}
}

static void accept_one(int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != ECONNABORTED)
			worker_accept_failed();
		return;
	}
	struct client *cl = xcalloc(1, sizeof *cl);
	cl->http = http_conn_new(fd);
	nopen++;
	/* idle until its request begins: a client that connects and says
	 * nothing must not hold a pool thread */
	cl->idle_until = now() + worker_settings.timeout;
	idle[nidle++] = cl;
}

/* One turn of the main thread: wait for the signals, the clients handed
 * back, a new connection (below the limit, before a stop) and the idle
 * connections; then act on what came. */
static void main_turn(int signals, int listen_fd, struct pollfd *p)
{
	bool accepting = !stop_requested() &&
			 nopen < worker_settings.max_connections;
	p[0] = (struct pollfd){ .fd = signals, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = back[0], .events = POLLIN };
	p[2] = (struct pollfd){ .fd = accepting ? listen_fd : -1, .events = POLLIN };
	double wait = worker_settings.beat_every > 0 ? worker_settings.beat_every : 1;
	for (int i = 0; i < nidle; i++) {
		p[3 + i] = (struct pollfd){ .fd = http_conn_fd(idle[i]->http), .events = POLLIN };
		if (idle[i]->idle_until - now() < wait)
			wait = idle[i]->idle_until - now();
	}
	int n = nidle;
	worker_beat();
	if (poll(p, 3 + (nfds_t)n, wait > 0 ? (int)(wait * 1000) + 1 : 0) < 0)
		return;
	stop_take(signals);
	struct client *cl;
	while (read(back[0], &cl, sizeof cl) == (ssize_t)sizeof cl)
		take_back(cl);
	if (p[2].revents)
		accept_one(listen_fd);
	/* from the end: a gap is filled by the last, whose turn is past */
	for (int i = n - 1; i >= 0; i--) {
		if (p[3 + i].revents) {
			enqueue(idle[i]);
			idle[i] = idle[--nidle];
		} else if (now() >= idle[i]->idle_until) {
			close_idle(i);
		}
	}
	while (stop_requested() && nidle > 0)	/* no next request at a stop */
		close_idle(nidle - 1);
}

/* The list of threads a stop interrupts changes only here, in the thread
 * that takes the signals: it is emptied after every client has been
 * served, and before any thread is joined.  Should no thread start, this
 * one serves alone, as the plain sync worker. */
int serve_threaded(int listen_fd, http_handler *handler)
{
	the_handler = handler;
	int signals = stop_catch_by_fd();
	int max = worker_settings.max_connections;
	idle = xcalloc((size_t)max, sizeof *idle);
	struct pollfd *p = xcalloc((size_t)max + 3, sizeof *p);
	if (pipe2(back, O_CLOEXEC | O_NONBLOCK) != 0)
		die("server: no pipe for the threads: %m");
	int n = 0;
	while (n < worker_settings.threads &&
	       pthread_create(&threads[n], NULL, pool_thread, NULL) == 0)
		io_abort_threads(threads, ++n);
	if (n < worker_settings.threads)
		fprintf(stderr, "server: %d threads of %d started\n", n,
			worker_settings.threads);
	if (n > 0) {
		worker_ready();
		while (!stop_requested() || nopen > 0)
			main_turn(signals, listen_fd, p);
	}
	pthread_mutex_lock(&lock);
	closing = true;
	pthread_cond_broadcast(&queued);
	pthread_mutex_unlock(&lock);
	io_abort_threads(NULL, 0);
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	if (n == 0)	/* a stop that came meanwhile is serve_sync()'s to see */
		stop_take(signals);
	stop_done_by_fd(signals);
	close(back[0]);
	close(back[1]);
	free(idle);
	free(p);
	return n > 0 ? 0 : serve_sync(listen_fd, handler);
}
