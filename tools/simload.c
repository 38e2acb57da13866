/*
 * simload: the upstream simulator's capacity, measured.  N connections to
 * 127.0.0.1:PORT at once, one GET PATH on each, every clock started before
 * its connect; then one line: how many were answered 200, how many failed
 * and how, the slowest connect, the slowest answer, and the longest wait
 * from a connect to its answer.
 *
 *   simload PORT N PATH [DELAY]      (DELAY, seconds: the ratio to print)
 *
 * No libcurl: a few hundred bytes a connection, so that the client is not
 * what runs out first.  It raises its open-file limit (soft to hard) and
 * splits the connections over as many processes as that limit asks.  Past
 * about 28,000 connections one source address runs out of ephemeral ports
 * for one destination, so connection i comes from 127.0.0.(1 + i / 20000):
 * loopback all the same, nothing leaves the machine.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

enum { PER_ADDRESS = 20000, FIRST_PORT = 10000, SPARE_FDS = 32, REPLY_MAX = 512 };
static const double patience = 15;	/* beyond the delay, then a timeout */

enum outcome { PENDING, ANSWERED, CONNECT_FAILED, BAD_STATUS, CLOSED, TIMED_OUT };
static const char *const outcome_names[] = {
	"pending", "answered", "connect failed", "not 200", "closed early", "timed out"
};
enum { OUTCOMES = 6 };

struct conn {
	int fd;
	enum outcome outcome;
	int connected;
	double connect_s;		/* from before the connect */
	size_t len;
	char reply[REPLY_MAX];
};

/* What a worker process sends its parent. */
struct tally {
	long count[OUTCOMES];
	int first_errno;		/* of the first failed connect */
	double slowest_connect, slowest_answer;
	double slowest_wait;		/* from connected to answered */
};

static void usage(void)
{
	fprintf(stderr, "usage: simload PORT N PATH [DELAY]\n");
	exit(2);
}

static int open_files(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur > 1 << 24 ? 1 << 24 : (int)rl.rlim_cur;
}

static int start_connect(int port, long index, struct tally *t)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sockaddr_in from = { .sin_family = AF_INET };
	int one = 1;
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + (uint32_t)(index / PER_ADDRESS));
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto failed;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	from.sin_port = htons(FIRST_PORT + index % PER_ADDRESS);
	if (bind(fd, (struct sockaddr *)&from, sizeof from) != 0)
		goto failed;
	if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0 && errno != EINPROGRESS)
		goto failed;
	return fd;
failed:
	if (!t->first_errno)
		t->first_errno = errno;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Has the whole answer come?  Sets c->outcome when it has. */
static void check_reply(struct conn *c)
{
	c->reply[c->len] = '\0';
	char *end = strstr(c->reply, "\r\n\r\n");
	if (!end)
		return;
	char *cl = strcasestr(c->reply, "\r\nContent-Length:");
	size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	if (c->len < (size_t)(end + 4 - c->reply) + body)
		return;
	c->outcome = strncmp(c->reply, "HTTP/1.1 200 ", 13) == 0 ? ANSWERED : BAD_STATUS;
}

static void finish(struct conn *c, enum outcome o, double t0, struct tally *t)
{
	if (c->outcome == PENDING)
		c->outcome = o;
	double took = now() - t0;
	if (c->outcome == ANSWERED && took > t->slowest_answer)
		t->slowest_answer = took;
	if (c->outcome == ANSWERED && took - c->connect_s > t->slowest_wait)
		t->slowest_wait = took - c->connect_s;
	t->count[c->outcome]++;
	close(c->fd);
	c->fd = -1;
}

static void on_event(struct conn *c, uint32_t ev, const char *req, double t0,
		     struct tally *t)
{
	if (!c->connected) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err || (ev & (EPOLLERR | EPOLLHUP))) {
			if (!t->first_errno)
				t->first_errno = err;
			finish(c, CONNECT_FAILED, t0, t);
			return;
		}
		c->connected = 1;
		c->connect_s = now() - t0;
		if (c->connect_s > t->slowest_connect)
			t->slowest_connect = c->connect_s;
		if (send(c->fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
			finish(c, CLOSED, t0, t);
		return;
	}
	ssize_t n = recv(c->fd, c->reply + c->len, REPLY_MAX - 1 - c->len, 0);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		finish(c, CLOSED, t0, t);
		return;
	}
	c->len += (size_t)n;
	check_reply(c);
	if (c->outcome != PENDING || c->len >= REPLY_MAX - 1)
		finish(c, c->outcome == PENDING ? BAD_STATUS : c->outcome, t0, t);
}

/* One process's share: connections first .. first + n - 1, all at once. */
static struct tally run(int port, long first, long n, const char *path, double delay,
			double t0)
{
	struct tally t = { 0 };
	char req[512];
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	struct conn *conns = xcalloc((size_t)n, sizeof *conns);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	long open = 0;
	for (long i = 0; i < n; i++) {
		conns[i].fd = start_connect(port, first + i, &t);
		if (conns[i].fd < 0) {
			t.count[CONNECT_FAILED]++;
			continue;
		}
		struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP,
					 .data.ptr = &conns[i] };
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &e);
		open++;
	}
	static struct epoll_event evs[4096];
	while (open > 0 && now() - t0 < delay + patience) {
		int k = epoll_wait(ep, evs, 4096, 100);
		for (int j = 0; j < k; j++) {
			struct conn *c = evs[j].data.ptr;
			bool was_connected = c->connected;
			on_event(c, evs[j].events, req, t0, &t);
			if (c->fd < 0) {
				open--;
			} else if (!was_connected && c->connected) {
				struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
			}
		}
	}
	for (long i = 0; i < n; i++)
		if (conns[i].fd >= 0)
			finish(&conns[i], TIMED_OUT, t0, &t);
	return t;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5)
		usage();
	int port = atoi(argv[1]);
	long n = atol(argv[2]);
	const char *path = argv[3];
	double delay = argc == 5 ? atof(argv[4]) : 0;
	if (port <= 0 || n <= 0)
		usage();
	long per = open_files() - SPARE_FDS;
	if (per < 1)
		die("simload: no file descriptors to spare");
	int workers = (int)((n + per - 1) / per);
	int pipes[64][2];
	if (workers > 64)
		die("simload: %ld connections would take %d processes", n, workers);

	double t0 = now();	/* every clock starts here, before any connect */
	for (int w = 0; w < workers; w++) {
		long first = w * per, share = n - first < per ? n - first : per;
		if (pipe(pipes[w]) != 0)
			die("simload: pipe: %s", strerror(errno));
		fflush(NULL);
		if (fork() == 0) {
			struct tally t = run(port, first, share, path, delay, t0);
			if (write(pipes[w][1], &t, sizeof t) != (ssize_t)sizeof t)
				_exit(1);
			_exit(0);
		}
		close(pipes[w][1]);
	}
	struct tally all = { 0 };
	for (int w = 0; w < workers; w++) {
		struct tally t;
		if (read(pipes[w][0], &t, sizeof t) != (ssize_t)sizeof t)
			die("simload: a worker process failed");
		for (int k = 0; k < OUTCOMES; k++)
			all.count[k] += t.count[k];
		if (!all.first_errno)
			all.first_errno = t.first_errno;
		if (t.slowest_connect > all.slowest_connect)
			all.slowest_connect = t.slowest_connect;
		if (t.slowest_answer > all.slowest_answer)
			all.slowest_answer = t.slowest_answer;
		if (t.slowest_wait > all.slowest_wait)
			all.slowest_wait = t.slowest_wait;
		close(pipes[w][0]);
	}
	while (wait(NULL) > 0)
		;

	long errors = n - all.count[ANSWERED];
	printf("%ld at once, GET %s: %ld answered 200, %ld errors", n, path,
	       all.count[ANSWERED], errors);
	for (int k = CONNECT_FAILED; k < OUTCOMES; k++)
		if (all.count[k])
			printf(" (%ld %s)", all.count[k], outcome_names[k]);
	if (all.count[CONNECT_FAILED] && all.first_errno)
		printf(" [first connect error: %s]", strerror(all.first_errno));
	printf("; slowest connect %.3f s, slowest answer %.3f s", all.slowest_connect,
	       all.slowest_answer);
	if (delay > 0)
		printf(" = %.2f x the delay", all.slowest_answer / delay);
	printf(" (%.3f s after its connect)", all.slowest_wait);
	printf("; %d client process%s\n", workers, workers > 1 ? "es" : "");
	return errors ? 1 : 0;
}
