/*
 * server.c: the sync and the evented worker.
 *
 * Stopping: the sync worker waits in poll() for its next connection, so a
 * plain signal handler that sets a flag is enough -- poll returns EINTR.
 * The evented worker's waits happen inside libev, which restarts its own
 * poll on EINTR, so there the signal arrives as an ev_signal watcher that
 * sets the same flag and wakes the main fiber.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fiber.h"
#include "io.h"
#include "server.h"
#include "util.h"

static volatile sig_atomic_t stopping;
static void (*stop_hook)(void);
static double timeout = 5;

void server_set_timeout(double seconds)
{
	timeout = seconds;
}

void server_on_stop(void (*hook)(void))
{
	stop_hook = hook;
}

static void stop(int sig)
{
	(void)sig;
	stopping = 1;
	if (stop_hook)
		stop_hook();
}

/* accept() failed: when the process is out of fds (EMFILE), wait a moment
 * for some to close instead of spinning; other errors are the client's. */
static void accept_failed(void)
{
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM)
		io_sleep(0.05);
}

int serve_sync(int listen_fd, http_handler *handler)
{
	struct sigaction sa = { .sa_handler = stop };	/* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	while (!stopping) {
		int fd = io_accept(listen_fd);
		if (fd < 0) {
			accept_failed();
			continue;
		}
		http_serve_connection(fd, handler, false, timeout);
	}
	return 0;
}

/* Connections in flight in the evented worker, so that stopping can wake
 * them and wait for them. */
struct connection {
	int fd;
	http_handler *handler;
	fiber *fiber;
	struct connection *prev, *next;
};
static struct connection *live;

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
	free(c);
}

static void start_connection(int fd, http_handler *handler)
{
	struct connection *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	c->handler = handler;
	c->next = live;
	if (live)
		live->prev = c;
	live = c;
	c->fiber = fiber_spawn(connection_fiber, c, "connection");
	fiber_detach(c->fiber);
}

/* Wake every connection: those waiting for a request give up at once
 * (EINTR), those in the middle of one finish it.  Wait for them for at
 * most `grace` seconds; whatever is left ends with the process. */
static void finish_connections(double grace)
{
	double deadline = now() + grace;
	for (struct connection *c = live; c; c = c->next)
		fiber_wake(c->fiber);
	while (live && now() < deadline)
		fiber_sleep(0.01);
}

static fiber *acceptor;

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop, (void)revents;
	stop(w->signum);
	fiber_wake(acceptor);	/* its wait in io_accept returns EINTR */
}

int serve_evented(int listen_fd, http_handler *handler)
{
	io_patch();		/* gevent's monkey.patch_all() */
	signal(SIGPIPE, SIG_IGN);
	acceptor = fiber_self();
	static ev_signal sigint, sigterm;
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	ev_signal_start(fiber_loop(), &sigint);
	ev_signal_start(fiber_loop(), &sigterm);

	while (!stopping) {
		int fd = io_accept(listen_fd);
		if (fd < 0)
			accept_failed();
		else
			start_connection(fd, handler);
	}
	finish_connections(0.5);
	return 0;
}

/* Split "HOST:PORT" or "[V6]:PORT"; host may be empty (all addresses). */
static int split_host_port(const char *s, char *host, size_t hostlen,
			   const char **port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon[1] == '\0')
		return -1;
	const char *h = s;
	size_t n = (size_t)(colon - s);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

int server_listen(const char *host_port, char *err, size_t errlen)
{
	char host[256];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICHOST |
					      AI_NUMERICSERV };
	struct addrinfo *ai;

	if (split_host_port(host_port, host, sizeof host, &port) != 0) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", host_port);
		return -1;
	}
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "'%s' is not a numeric HOST:PORT (%s)",
			 host_port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, SOMAXCONN) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", host_port,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

int server_port(int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
