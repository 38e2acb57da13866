/*
 * simulator.c: the upstream simulator's connections, on one libev loop.
 *
 * A connection is always in exactly one queue, with a deadline: reading a
 * request or writing an answer (the request timeout), waiting out a
 * request's delay, or lingering after a refusal.  Every entry of a queue
 * was given the same time, so entries join at the tail in deadline order
 * and one timer, set for the head, serves the whole queue: a timer per
 * distinct delay, never one per request.
 *
 * The note's profile delays get a timerfd as their timer, the others an
 * ev_timer.  libev hands its timeouts to epoll in whole milliseconds,
 * rounded up, so an ev_timer fires up to a millisecond late; lab 1 makes
 * ten downloads one after another, and ten such late answers would add
 * several milliseconds to S that no lab spent.  A timerfd is set in
 * nanoseconds and wakes the loop as soon as the kernel's timer fires,
 * within the timer slack (50 microseconds by default) of the time asked.  The few profile queues are worth an fd
 * each; /delay/<ms>, the request timeout and lingering are not.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "http.h"
#include "profile.h"
#include "simulator.h"
#include "util.h"

enum {
	MAX_AHEAD = 16384,	/* bytes kept after the request being answered */
	QUEUE_BUCKETS = 1024,	/* delay queues, by delay */
};
static double request_timeout = 5;	/* the labs' default --request-timeout */
static const double hang_seconds = 3600;	/* the client gives up first */

enum state { READING, DELAYED, WRITING, LINGERING };

struct queue;

struct client {
	int fd;
	enum state state;
	ev_io io;
	struct http_reader *reader;	/* while a request is being read */
	char *ahead;			/* bytes after the request being answered */
	size_t ahead_len;
	char *out;			/* what the socket did not take at once */
	size_t out_off, out_len;
	struct queue *queue;		/* the one queue it is in */
	struct client *prev, *next;
	double deadline;
	/* the answer being prepared or sent */
	char *path;			/* the delayed request's, for its body */
	double delay;
	int status;			/* 200, or 504 at the end of /hang */
	bool head, keep, hang;
	bool linger;			/* after a refusal: linger, then close */
	bool last;			/* after a 408: close, even with input
					 * unread (the timeout was all its time) */
	size_t drained;			/* while lingering */
};

struct queue {
	double delay;
	ev_timer timer;			/* the timer, unless tfd >= 0 */
	int tfd;			/* a timerfd, for a precise queue */
	ev_io alarm;			/* watches tfd */
	bool armed;
	struct client *head, *tail;
	void (*expire)(struct client *c);	/* what a passed deadline means */
	struct queue *next;		/* in its bucket */
};

static struct ev_loop *loop;
static double scale = 1.0;
static int nclients;
static struct queue timeouts, lingering;
static struct queue *buckets[QUEUE_BUCKETS];
static ev_io accept_watcher;
static ev_timer accept_retry;
static char inbuf[65536];	/* one thread: every read lands here first */

static void next_request(struct client *c);
static void serve_ahead(struct client *c);

/* "/delay/<ms>" with 0 <= ms <= 60000: the delay in seconds, else -1. */
static double delay_path(const char *path)
{
	const char *p = path + strlen("/delay/");
	char *end;
	if (strncmp(path, "/delay/", 7) != 0 || *p < '0' || *p > '9')
		return -1;
	errno = 0;
	long ms = strtol(p, &end, 10);
	if (*end != '\0' || errno || ms > 60000)
		return -1;
	return ms / 1000.0;
}

/* ---- queues: one timer for all the connections given the same time ---- */

/* Set the timerfd for an absolute time on now()'s clock (CLOCK_MONOTONIC);
 * a time already past fires at once (a zero time would disarm it). */
static void alarm_at(int tfd, double when)
{
	struct itimerspec its = { .it_value = timespec_of(when > 0 ? when : 0) };
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void arm(struct queue *q)
{
	q->armed = q->head != NULL;
	if (q->tfd >= 0) {
		if (q->armed)
			alarm_at(q->tfd, q->head->deadline);
		else
			timerfd_settime(q->tfd, 0, &(struct itimerspec){ 0 }, NULL);
		return;
	}
	ev_timer_stop(loop, &q->timer);
	if (!q->head)
		return;
	double wait = q->head->deadline - now();
	ev_now_update(loop);	/* the timer counts from the loop's "now" */
	ev_timer_set(&q->timer, wait > 0 ? wait : 0, 0);
	ev_timer_start(loop, &q->timer);
}

static void unlink_client(struct client *c)
{
	struct queue *q = c->queue;
	if (!q)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		q->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		q->tail = c->prev;
	c->queue = NULL;
	c->prev = c->next = NULL;
	/* an emptied queue's timer just finds nothing due when it fires */
}

/* Put c at q's tail, due q->delay from now. */
static void enqueue(struct client *c, struct queue *q)
{
	unlink_client(c);
	c->deadline = now() + q->delay;
	c->queue = q;
	c->prev = q->tail;
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	if (!q->armed)
		arm(q);
}

/* Every connection due by now leaves the queue for its expire(). */
static void expire_due(struct queue *q)
{
	double t = now();
	while (q->head && q->head->deadline <= t) {
		struct client *c = q->head;
		unlink_client(c);
		q->expire(c);
	}
	arm(q);
}

static void on_queue_timer(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l, (void)revents;
	expire_due((struct queue *)((char *)w - offsetof(struct queue, timer)));
}

static void on_queue_alarm(struct ev_loop *l, ev_io *w, int revents)
{
	struct queue *q = (struct queue *)((char *)w - offsetof(struct queue, alarm));
	uint64_t expirations;
	(void)l, (void)revents;
	if (read(q->tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
		die("upstream: reading a timerfd: %s", strerror(errno));
	expire_due(q);
}

/* precise: a timerfd rather than an ev_timer (see the top of the file). */
static void init_queue(struct queue *q, double delay, void (*expire)(struct client *),
		       bool precise)
{
	q->delay = delay;
	q->expire = expire;
	q->tfd = -1;
	ev_timer_init(&q->timer, on_queue_timer, 0, 0);
	if (!precise)
		return;
	q->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (q->tfd < 0)
		die("upstream: timerfd_create: %s", strerror(errno));
	ev_io_init(&q->alarm, on_queue_alarm, q->tfd, EV_READ);
	ev_io_start(loop, &q->alarm);
}

static void answer_delayed(struct client *c);

/* Is this one of the note's profile delays, as scaled? */
static bool is_profile_delay(double delay)
{
	for (int i = 0; i < PROFILE_URLS; i++) {
		double d = profile_url(i)->delay * scale - delay;
		if (d < 1e-9 && d > -1e-9)
			return true;
	}
	return false;
}

/* The queue of requests delayed by `delay` seconds, made on first use. */
static struct queue *delay_queue(double delay)
{
	long long key = (long long)(delay * 1e6 + 0.5);
	struct queue **b = &buckets[(unsigned long long)key % QUEUE_BUCKETS];
	for (struct queue *q = *b; q; q = q->next)
		if ((long long)(q->delay * 1e6 + 0.5) == key)
			return q;
	struct queue *q = xcalloc(1, sizeof *q);
	init_queue(q, delay, answer_delayed, is_profile_delay(delay));
	q->next = *b;
	*b = q;
	return q;
}

/* ---- connections ---- */

/* Watch c's socket for these events (EV_READ, EV_WRITE, or 0: neither). */
static void watch(struct client *c, int events)
{
	if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	if (events)
		ev_io_start(loop, &c->io);
}

static void close_client(struct client *c)
{
	unlink_client(c);
	ev_io_stop(loop, &c->io);
	close(c->fd);
	http_reader_free(c->reader);
	free(c->ahead);
	free(c->out);
	free(c->path);
	free(c);
	nclients--;
}

/* Keep n bytes that came after the request being answered. */
static void keep_ahead(struct client *c, const char *p, size_t n)
{
	if (n == 0)
		return;
	char *grown = realloc(c->ahead, c->ahead_len + n);
	if (!grown)
		die("upstream: out of memory");
	memcpy(grown + c->ahead_len, p, n);
	c->ahead = grown;
	c->ahead_len += n;
}

/* After a refusal, end our side and drop what the client still sends, so
 * that it reads its answer instead of a reset (http.h says why). */
static void start_lingering(struct client *c)
{
	shutdown(c->fd, SHUT_WR);
	c->state = LINGERING;
	c->drained = c->ahead_len;
	free(c->ahead);
	c->ahead = NULL;
	c->ahead_len = 0;
	watch(c, EV_READ);
	enqueue(c, &lingering);
}

/* The whole answer has left.  Returns whether c is still open. */
static bool answered(struct client *c)
{
	char byte;
	if (c->keep) {
		next_request(c);
		return true;
	}
	if (!c->last && (c->linger || c->ahead_len > 0 ||
	    recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0)) {
		start_lingering(c);
		return true;
	}
	close_client(c);
	return false;
}

/* Send what c->out still holds.  Returns whether c is still open. */
static bool flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			c->state = WRITING;
			watch(c, EV_WRITE);
			if (c->queue != &timeouts)
				enqueue(c, &timeouts);
			return true;
		}
		if (n < 0) {		/* the client is gone */
			close_client(c);
			return false;
		}
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	c->out_off = c->out_len = 0;
	return answered(c);
}

/* Status line, headers and body, in one send when the socket takes it (it
 * nearly always does: an answer is a few hundred bytes); flush() sends
 * the rest when it does not.  body NULL: no Content-Type and no body (the
 * answer to OPTIONS *).  Returns whether c is still open. */
static bool send_answer(struct client *c, int status, const char *allow,
			const char *body)
{
	static char out[1024];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(out, sizeof out, "HTTP/1.1 %d %s\r\n%s"
			 "Content-Length: %zu\r\n%s%s%sConnection: %s\r\n\r\n%s",
			 status, http_reason(status),
			 body ? "Content-Type: text/plain; charset=utf-8\r\n" : "",
			 blen, allow ? "Allow: " : "", allow ? allow : "",
			 allow ? "\r\n" : "", c->keep ? "keep-alive" : "close",
			 body && !c->head ? body : "");
	if (n < 0 || (size_t)n >= sizeof out)
		die("upstream: an answer of %d bytes", n);
	ssize_t k = send(c->fd, out, (size_t)n, MSG_NOSIGNAL);
	if (k == n)
		return answered(c);
	size_t sent = k > 0 ? (size_t)k : 0;	/* flush() sees any error again */
	c->out = xcalloc(1, (size_t)n - sent + 1);
	memcpy(c->out, out + sent, (size_t)n - sent);
	c->out_len = (size_t)n - sent;
	c->out_off = 0;
	return flush(c);
}

static bool send_error(struct client *c, int status, const char *allow)
{
	char body[128];
	snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
	return send_answer(c, status, allow, body);
}

/* The simulator's answer to a request for path, after delay seconds. */
static bool answer(struct client *c, const char *path, double delay, int status)
{
	char body[512];
	if (status == 200)
		snprintf(body, sizeof body, "simulated %s after %.3fs\n", path, delay);
	else
		snprintf(body, sizeof body, "%d %s\n", status, http_reason(status));
	return send_answer(c, status, NULL, body);
}

/* A delayed request's time has come (or /hang's hour has passed). */
static void answer_delayed(struct client *c)
{
	char *path = c->path;
	c->path = NULL;
	c->state = READING;	/* it was read; now it is answered */
	bool open = answer(c, path, c->delay, c->status);
	free(path);
	if (open)
		serve_ahead(c);
}

/* Answer after `delay` seconds: the connection waits in the queue of that
 * delay, still watched, so that a client hanging up on /hang is closed at
 * once.  Returns whether c is still open. */
static bool delay_answer(struct client *c, const char *path, double delay, int status)
{
	if (delay <= 0)
		return answer(c, path, 0, status);
	c->path = strdup(path);
	if (!c->path)
		die("upstream: out of memory");
	c->delay = delay;
	c->status = status;
	c->state = DELAYED;
	enqueue(c, delay_queue(delay));
	return true;
}

/* /reset: with a zero linger time, close() sends a reset (RST) instead of
 * the orderly end (FIN), as a crashed or overloaded server does. */
static bool reset_connection(struct client *c)
{
	struct linger abrupt = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &abrupt, sizeof abrupt);
	close_client(c);
	return false;
}

/* /garbage: one line that is not an HTTP answer, then the end. */
static bool send_garbage(struct client *c)
{
	static const char line[] = "this is not http\r\n";
	send(c->fd, line, sizeof line - 1, MSG_NOSIGNAL);	/* if it fails, the
								   client is gone */
	close_client(c);
	return false;
}

/* The simulator's misbehaviours, for tests of failing upstreams:
 * /status/<code>, /reset, /garbage and /hang.  *handled says whether the
 * path was one; returns whether c is still open. */
static bool misbehave(struct client *c, const char *path, bool *handled)
{
	char body[128];
	*handled = true;
	if (strncmp(path, "/status/", 8) == 0) {
		int code = atoi(path + 8), status = code < 200 || code > 599 ? 404 : code;
		int n = status == 404 ? snprintf(body, sizeof body, "404 %s\n",
						 http_reason(404)) : 0;
		snprintf(body + n, sizeof body - (size_t)n, "simulated status %d\n", code);
		return send_answer(c, status, NULL, body);
	}
	if (strcmp(path, "/reset") == 0)
		return reset_connection(c);
	if (strcmp(path, "/garbage") == 0)
		return send_garbage(c);
	if (strcmp(path, "/hang") == 0) {	/* if we are stopped first, 504 is
						   true enough */
		c->hang = true;
		return delay_answer(c, path, hang_seconds, 504);
	}
	*handled = false;
	return true;
}

/* A whole request, or the 4xx or 501 its bytes got (bad).  Answer it, or queue
 * it for its delay.  Returns whether c is still open. */
static bool dispatch(struct client *c, int bad, const struct http_reader *r)
{
	const struct http_request *req = http_reader_request(r);
	c->keep = !bad && http_reader_keep_alive(r);
	c->head = !bad && req->head;
	c->linger = bad && bad != 408;
	if (bad)
		return send_error(c, bad, NULL);
	if (strcmp(req->path, "*") == 0)	/* OPTIONS *: the server's own */
		return send_answer(c, 200, HTTP_SERVER_ALLOW, NULL);
	bool handled, open = misbehave(c, req->path, &handled);
	if (handled)
		return open;
	double delay = profile_delay(req->path);
	if (delay >= 0)
		delay *= scale;
	else
		delay = delay_path(req->path);
	if (delay < 0)
		return send_error(c, 404, NULL);
	if (strcmp(req->method, "GET") != 0 && !req->head)
		return send_error(c, 405, "GET, HEAD");
	return delay_answer(c, req->path, delay, 200);
}

/* Feed n bytes to c's request; what follows a whole one waits in c->ahead.
 * Returns whether c is still open. */
static bool take_bytes(struct client *c, const char *p, size_t n)
{
	size_t used;
	if (!c->reader)
		c->reader = http_reader_new();
	int rc = http_reader_feed(c->reader, p, n, &used);
	if (rc == HTTP_NEED_MORE)
		return true;
	keep_ahead(c, p + used, n - used);
	struct http_reader *r = c->reader;
	c->reader = NULL;	/* the next request gets a new one */
	bool open = dispatch(c, rc, r);
	http_reader_free(r);
	return open;
}

/* Wait for the next request on a kept-alive connection. */
static void next_request(struct client *c)
{
	c->state = READING;
	c->keep = c->head = c->hang = c->linger = c->last = false;
	watch(c, EV_READ);
	enqueue(c, &timeouts);
}

/* Serve the requests the client has already sent (pipelined) while c is
 * reading: in a loop, so that a thousand of them never nest a thousand
 * calls deep. */
static void serve_ahead(struct client *c)
{
	while (c->state == READING && c->ahead) {
		char *bytes = c->ahead;
		size_t n = c->ahead_len;
		c->ahead = NULL;
		c->ahead_len = 0;
		bool open = take_bytes(c, bytes, n);
		free(bytes);
		if (!open)
			return;
	}
}

/* Bytes, or the end, from the client: what they mean depends on c's state. */
static void on_readable(struct client *c)
{
	ssize_t n = recv(c->fd, inbuf, sizeof inbuf, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0 || (n == 0 && (c->state != DELAYED || c->hang))) {
		close_client(c);	/* gone, or done lingering */
		return;
	}
	switch (c->state) {
	case READING:
		if (take_bytes(c, inbuf, (size_t)n))
			serve_ahead(c);
		break;
	case DELAYED:
		if (n == 0) {		/* it may still read: answer, then end */
			c->keep = false;
			watch(c, 0);
			break;
		}
		keep_ahead(c, inbuf, (size_t)n);
		if (c->ahead_len >= MAX_AHEAD)
			watch(c, 0);	/* the rest waits in the kernel */
		break;
	case LINGERING:
		c->drained += (size_t)n;
		if (c->drained >= HTTP_LINGER_BYTES)
			close_client(c);
		break;
	case WRITING:
		break;
	}
}

static void on_client_io(struct ev_loop *l, ev_io *w, int revents)
{
	struct client *c = (struct client *)((char *)w - offsetof(struct client, io));
	(void)l;
	if (c->state == WRITING && (revents & EV_WRITE)) {
		if (flush(c))
			serve_ahead(c);
		return;
	}
	if (revents & EV_READ)
		on_readable(c);
}

/* The request timeout passed: a request begun gets 408, an idle
 * connection or a stalled answer just ends. */
static void timed_out(struct client *c)
{
	if (c->state == READING && c->reader && http_reader_started(c->reader)) {
		c->keep = c->head = c->linger = false;
		c->last = true;
		send_error(c, 408, NULL);
		return;
	}
	close_client(c);
}

static void lingered(struct client *c)
{
	close_client(c);
}

/* ---- accepting ---- */

static void on_accept(struct ev_loop *l, ev_io *w, int revents)
{
	static bool told;
	(void)revents;
	for (;;) {
		int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED || errno == EPROTO))
			continue;
		if (fd < 0 && errno != EAGAIN) {	/* out of fds or memory */
			if (!told)
				fprintf(stderr, "upstream: cannot accept more than %d "
					"connections at once (%s); the others wait in "
					"the listen backlog\n", nclients, strerror(errno));
			told = true;
			ev_io_stop(l, w);	/* until some close */
			ev_timer_start(l, &accept_retry);
			return;
		}
		if (fd < 0)
			return;
		int one = 1;	/* pipelined answers must not wait for an ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct client *c = xcalloc(1, sizeof *c);
		c->fd = fd;
		nclients++;
		ev_io_init(&c->io, on_client_io, fd, 0);
		next_request(c);
	}
}

static void on_accept_retry(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)w, (void)revents;
	ev_io_start(l, &accept_watcher);
}

void simulator_set_request_timeout(double seconds)
{
	request_timeout = seconds;
}

void simulator_run(int listen_fd, double delay_scale)
{
	scale = delay_scale;
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOENV);
	if (!loop)
		die("upstream: no event loop");
	init_queue(&timeouts, request_timeout, timed_out, false);
	init_queue(&lingering, HTTP_LINGER_SECONDS < request_timeout ?
		   HTTP_LINGER_SECONDS : request_timeout, lingered, false);
	ev_io_init(&accept_watcher, on_accept, listen_fd, EV_READ);
	ev_io_start(loop, &accept_watcher);
	ev_timer_init(&accept_retry, on_accept_retry, 0.1, 0);
	ev_run(loop, 0);
	die("upstream: the event loop stopped");
}
