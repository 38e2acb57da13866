/*
 * upstream.c: the simulator's handler, and the keeper process that runs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "io.h"
#include "http.h"
#include "listen.h"
#include "profile.h"
#include "upstream.h"
#include "util.h"

static double scale = 1.0;
static volatile pid_t child;	/* read by upstream_kill() in signal handlers */

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

/* /reset: with a zero linger time, close() sends a reset (RST) instead of
 * the orderly end (FIN), as a crashed or overloaded server does. */
static void reset_connection(int fd, double deadline)
{
	struct linger abrupt = { .l_onoff = 1, .l_linger = 0 };
	(void)deadline;
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &abrupt, sizeof abrupt);
}

/* /garbage: one line that is not an HTTP answer, then the end. */
static void send_garbage(int fd, double deadline)
{
	static const char line[] = "this is not http\r\n";
	io_write_all(fd, line, sizeof line - 1, deadline);
}

/* The simulator's misbehaviours, for tests of failing upstreams:
 * /status/<code>, /reset, /garbage and /hang.  False for other paths. */
static bool misbehave(const char *path, struct http_response *res)
{
	if (strncmp(path, "/status/", 8) == 0) {
		int code = atoi(path + 8);
		if (code < 200 || code > 599)
			http_error(res, 404);
		else
			res->status = code;
		http_printf(res, "simulated status %d\n", code);
	} else if (strcmp(path, "/reset") == 0) {
		res->takeover = reset_connection;
	} else if (strcmp(path, "/garbage") == 0) {
		res->takeover = send_garbage;
	} else if (strcmp(path, "/hang") == 0) {
		io_sleep(3600);	/* the client gives up long before; if we are
				   stopping first, 504 is true enough */
		http_error(res, 504);
	} else {
		return false;
	}
	return true;
}

static void handle(const struct http_request *req, struct http_response *res)
{
	if (misbehave(req->path, res))
		return;
	double delay = profile_delay(req->path);
	if (delay >= 0)
		delay *= scale;
	else
		delay = delay_path(req->path);
	if (delay < 0) {
		http_error(res, 404);
		return;
	}
	if (strcmp(req->method, "GET") != 0 && !req->head) {
		http_error(res, 405);
		res->allow = "GET, HEAD";
		return;
	}
	io_sleep(delay);	/* blocks only this connection's thread */
	http_printf(res, "simulated %s after %.3fs\n", req->path, delay);
}

/* ---- the simulator's worker: a thread per connection ---- */

enum { MAX_CONNECTIONS = 4096 };	/* beyond this, clients queue */
static const double request_timeout = 5;	/* the labs' default --timeout */
static atomic_int nlive;

static void *connection_thread(void *arg)
{
	http_serve_connection((int)(intptr_t)arg, handle, true, request_timeout);
	atomic_fetch_sub(&nlive, 1);
	return NULL;
}

/* SIGTERM or SIGINT: the simulator has nothing to finish or save. */
static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

/*
 * Not the kit's evented worker, on purpose: in the student handout
 * serve_evented()'s accept loop and the cooperative wait are exercises, and
 * the upstream every lab fetches from must work before they are written,
 * and whatever a student's version does.  A thread per connection, each
 * with the IO layer's blocking calls (never patched in this process), shows
 * a client what the evented worker would: every request waits its own
 * delay side by side with the others, on connections kept alive.
 */
int upstream_serve(int listen_fd, double delay_scale)
{
	scale = delay_scale;
	io_unpatch();		/* a lab or a test may have patched it, then forked us */
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);	/* as a fiber's */
	for (;;) {
		if (atomic_load(&nlive) >= MAX_CONNECTIONS) {
			io_sleep(0.01);		/* let some finish first */
			continue;
		}
		int fd = io_accept(listen_fd);
		if (fd < 0) {		/* out of fds, say: wait for some to close */
			io_sleep(0.05);
			continue;
		}
		pthread_t t;
		atomic_fetch_add(&nlive, 1);
		if (pthread_create(&t, &attr, connection_thread, (void *)(intptr_t)fd) != 0) {
			atomic_fetch_sub(&nlive, 1);
			close(fd);	/* no room for a thread: refuse this one */
			io_sleep(0.01);
		}
	}
}

/* Say on stderr how the simulator ended; the keeper is about to restart it. */
static void report_death(pid_t pid, int status, int port)
{
	char how[64];
	if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "was killed by signal %d", WTERMSIG(status));
	else
		snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
	fprintf(stderr, "upstream: the simulator (pid %d) %s; starting a new one "
		"on the same port, %d\n", (int)pid, how, port);
}

/*
 * The lab's child: it keeps the simulator alive, as gunicorn's arbiter
 * keeps its workers.  It holds the listening socket and runs the simulator
 * in a process of its own on it; when that one dies -- killed by a curious
 * student, say -- it says so and starts another on the same socket.  The
 * lab's URLs stay right, and connections made in between wait in the
 * listen backlog instead of being refused.  One that dies within a second
 * of starting is restarted a second later, not in a tight loop.
 */
static _Noreturn void keep_serving(int fd, double delay_scale, int ready)
{
	pid_t keeper = getpid();
	int port = server_port(fd);	/* for the message */
	for (;;) {
		double born = now();
		pid_t sim = fork();
		if (sim == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);	/* dies with the keeper */
			if (getppid() != keeper)
				_exit(0);
			if (ready >= 0)
				close(ready);	/* the lab waits for its end */
			_exit(upstream_serve(fd, delay_scale));
		}
		int status = 0;
		if (ready >= 0) {	/* the lab may go on: the simulator is there */
			close(ready);
			ready = -1;
		}
		if (sim < 0)
			perror("upstream: fork");
		else
			while (waitpid(sim, &status, 0) < 0 && errno == EINTR)
				;
		if (sim > 0)
			report_death(sim, status, port);
		if (now() - born < 1)
			sleep(1);
	}
}

int upstream_spawn(double delay_scale)
{
	char err[256];
	int fd = server_listen("127.0.0.1:0", err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "upstream: %s\n", err);
		return -1;
	}
	int port = server_port(fd), ready[2];
	pid_t parent = getpid();
	if (pipe2(ready, O_CLOEXEC) != 0) {
		perror("upstream: pipe");
		close(fd);
		return -1;
	}
	fflush(NULL);		/* nothing buffered may be written twice */
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)	/* the parent died before prctl */
			_exit(0);
		close(ready[0]);
		keep_serving(fd, delay_scale, ready[1]);
	}
	close(fd);
	close(ready[1]);
	/* Return once the simulator's process exists (the keeper closes its
	 * end then), so whoever looks at our children sees the whole tree. */
	char c;
	while (child > 0 && read(ready[0], &c, 1) < 0 && errno == EINTR)
		;
	close(ready[0]);
	if (child < 0) {
		perror("upstream: fork");
		return -1;
	}
	return port;
}

/* SIGKILL, not SIGTERM: the simulator has nothing to save, and when it
 * vanishes at once every fetch still waiting on it fails at once too, so
 * the lab stops promptly instead of being handed one more answer.  The
 * keeper gets it; the simulator dies with the keeper (PR_SET_PDEATHSIG). */
void upstream_kill(void)
{
	if (child > 0)
		kill(child, SIGKILL);
}

void upstream_stop(void)
{
	pid_t pid = child;
	if (pid <= 0)
		return;
	child = 0;	/* first: a handler's upstream_kill() must never reach
			 * this pid once it is reaped, and maybe reused */
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
