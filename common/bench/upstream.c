/*
 * upstream.c: the simulator's process -- its limits and signals -- and the
 * keeper process that runs it (the loop itself is simulator.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen.h"
#include "proc.h"
#include "simulator.h"
#include "upstream.h"
#include "util.h"

static volatile pid_t child;	/* read by upstream_kill() in signal handlers */
static volatile pid_t lost;	/* the keeper, once upstream_gone() reaped it */
static volatile int lost_status;

/* SIGTERM or SIGINT: the simulator has nothing to finish or save. */
static void on_stop(int sig)
{
	(void)sig;
	_exit(0);
}

/*
 * Not the kit's evented worker, on purpose: in the student handout
 * serve_evented()'s accept loop and the cooperative IO are exercises, and
 * the upstream every lab fetches from must work before they are written,
 * and whatever a student's version does.  So it has a loop of its own
 * (simulator.c), and uses of http.c only its request reader, which no
 * exercise touches.
 */
int upstream_serve(int listen_fd, double delay_scale)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigset_t stops;		/* ./upstream holds them blocked until now */
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigprocmask(SIG_UNBLOCK, &stops, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Silently: inside a lab, the lab has said at its start what its
	 * limit allows; the standalone ./upstream says it itself.  Should
	 * connections still run out, the simulator says so when it happens. */
	raise_file_limit();
	/* A burst of connects must not overflow the backlog: as long as the
	 * kernel allows (it caps this at net.core.somaxconn). */
	listen(listen_fd, INT_MAX);
	simulator_run(listen_fd, delay_scale);
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
			if (!proc_tie_to_parent(SIGKILL, keeper))
				_exit(0);
			proc_name("upstream simulator", "simulator");
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
		if (proc_restart_at(born) > now())	/* it died at start */
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
		if (!proc_tie_to_parent(SIGKILL, parent))
			_exit(0);
		proc_name("upstream keeper", "keeper");
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

bool upstream_gone(void)
{
	pid_t pid = child;
	int status;
	if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid)
		return false;
	child = 0;	/* nobody may signal a reaped pid */
	lost_status = status;
	lost = pid;
	return true;
}

const char *upstream_lost(char *buf, size_t len)
{
	if (lost <= 0)
		return NULL;
	if (WIFSIGNALED(lost_status))
		snprintf(buf, len, "the upstream simulator's keeper (pid %d) was killed "
			 "by signal %d, and the simulator with it", (int)lost,
			 WTERMSIG(lost_status));
	else
		snprintf(buf, len, "the upstream simulator's keeper (pid %d) exited "
			 "with status %d", (int)lost, WEXITSTATUS(lost_status));
	return buf;
}
