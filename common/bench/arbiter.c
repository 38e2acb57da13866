/*
 * arbiter.c: fork the workers, watch them, replace them, pass signals on.
 *
 * The master blocks SIGTERM, SIGINT and SIGCHLD and reads them from a
 * signalfd, a tick at a time: no handler, nothing async-signal-safe to get
 * right, and the signals stay blocked all along, so /proc/PID/status shows
 * (SigBlk) that the master is ready for them.  (sigtimedwait() would
 * unblock them for as long as it waits.)  The heartbeats live in one
 * shared mapping made before the first fork, a slot per worker; a worker
 * writes the now() of its last beat into its slot, the master reads it
 * (now() is CLOCK_MONOTONIC: one clock for every process).  The master
 * reaps only its workers, by pid, so the simulator's keeper stays for
 * upstream_stop() to reap.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arbiter.h"
#include "proc.h"
#include "upstream.h"
#include "util.h"

struct slot {
	pid_t pid;		/* 0: no worker in this slot */
	double born;		/* now() when it was forked */
	double restart_at;	/* an empty slot gets a worker from then on */
	atomic_llong beat_ms;	/* its last beat, now() in milliseconds */
	bool aborted;		/* sent SIGABRT for its timeout; SIGKILL next */
};

static struct slot *slots;	/* shared with every worker */
static int nslots;
static atomic_llong *my_beat;	/* in a worker: its own slot's */
static int sigfd = -1;		/* in the master: SIGTERM, SIGINT, SIGCHLD */

static long long now_ms(void)
{
	return (long long)(now() * 1000);
}

static void beat(void)
{
	atomic_store(my_beat, now_ms());
}

/* One log line on stderr, the way gunicorn writes them. */
static void say(const char *level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const char *level, const char *fmt, ...)
{
	char when[64], msg[256];
	time_t t = time(NULL);
	struct tm tm;
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", localtime_r(&t, &tm));
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "[%s] [%d] [%s] %s\n", when, (int)getpid(), level, msg);
}

/* A worker's answer to the master's SIGABRT (its timeout), as gunicorn's
 * handle_abort: say so and exit with status 1, from wherever it was stuck.
 * Only the master's: an abort() of the worker's own, or a sanitizer's,
 * still dumps core as abort() should.  The line is written before the
 * signal can come (a handler may not format), so it has no time in it. */
static char abort_line[96];
static pid_t abort_from;

static void on_abort_signal(int sig, siginfo_t *si, void *context)
{
	(void)context;
	if (si->si_code == SI_USER && si->si_pid == abort_from) {
		ssize_t n = write(STDERR_FILENO, abort_line, strlen(abort_line));
		(void)n;
		_exit(1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void abort_at_masters_word(pid_t master)
{
	snprintf(abort_line, sizeof abort_line,
		 "[%d] [INFO] worker received SIGABRT from the master (its "
		 "timeout): exiting\n", (int)getpid());
	abort_from = master;
	struct sigaction sa = { .sa_sigaction = on_abort_signal, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL);
}

/* The worker's side: die with the master, beat, serve, exit.  It never
 * returns into lab_main(): what the master owns (the simulator) is the
 * master's to stop, and exit() is not called for the same reason. */
static _Noreturn void be_worker(struct slot *s, pid_t master, double timeout,
				int listen_fd, server_worker *worker,
				http_handler *handler)
{
	if (!proc_tie_to_parent(SIGKILL, master))
		_exit(0);
	proc_name("worker", "worker");
	abort_at_masters_word(master);
	close(sigfd);		/* the master's; a worker catches its own */
	my_beat = &s->beat_ms;
	server_set_heartbeat(beat, timeout / 4 < 1 ? timeout / 4 : 1);
	server_on_abort(NULL);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	/* SIGTERM, SIGINT and SIGALRM stay blocked until the worker catches them */
	int status = worker(listen_fd, handler);
	fflush(NULL);
	_exit(status);
}

static bool spawn(struct slot *s, double timeout, int listen_fd,
		  server_worker *worker, http_handler *handler)
{
	pid_t master = getpid();
	atomic_store(&s->beat_ms, now_ms());	/* a full timeout to start in */
	s->aborted = false;
	fflush(NULL);		/* nothing buffered may be written twice */
	pid_t pid = fork();
	if (pid == 0)
		be_worker(s, master, timeout, listen_fd, worker, handler);
	if (pid < 0) {
		say("ERROR", "cannot fork a worker: %s", strerror(errno));
		s->restart_at = now() + 1;
		return false;
	}
	s->pid = pid;
	s->born = now();
	say("INFO", "Booting worker with pid: %d", (int)pid);
	return true;
}

/* Reap the slot's worker if it has ended; say how, unless it was told to. */
static void reap(struct slot *s, bool stopping)
{
	int status;
	if (s->pid <= 0 || waitpid(s->pid, &status, WNOHANG) != s->pid)
		return;
	if (WIFSIGNALED(status) && (!stopping || WTERMSIG(status) == SIGKILL))
		say("ERROR", "Worker (pid:%d) was sent SIG%s!%s", (int)s->pid,
		    sigabbrev_np(WTERMSIG(status)), WTERMSIG(status) == SIGKILL &&
		    !s->aborted ? " Perhaps out of memory?" : "");
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		say("ERROR", "Worker (pid:%d) exited with code %d", (int)s->pid,
		    WEXITSTATUS(status));
	else if (!stopping)
		say("INFO", "Worker (pid:%d) exited", (int)s->pid);
	s->restart_at = proc_restart_at(s->born);
	s->pid = 0;
}

/* gunicorn's murder_workers: a worker silent for longer than the timeout
 * is sent SIGABRT, on which it exits by itself; one still there at the
 * next check (a tick later) cannot act on it, and is sent SIGKILL. */
static void check_heartbeat(struct slot *s, double timeout)
{
	if (s->pid <= 0 || now_ms() - atomic_load(&s->beat_ms) <= timeout * 1000)
		return;
	if (!s->aborted) {
		say("CRITICAL", "WORKER TIMEOUT (pid:%d)", (int)s->pid);
		s->aborted = true;
		kill(s->pid, SIGABRT);
	} else {
		kill(s->pid, SIGKILL);
	}
}

static void signal_all(int sig)
{
	for (int i = 0; i < nslots; i++)
		if (slots[i].pid > 0)
			kill(slots[i].pid, sig);
}

static int live_workers(void)
{
	int n = 0;
	for (int i = 0; i < nslots; i++)
		n += slots[i].pid > 0;
	return n;
}

/* The next watched signal, waiting up to `seconds` for one; 0: none came. */
static int next_signal(double seconds)
{
	struct pollfd p = { .fd = sigfd, .events = POLLIN };
	struct timespec ts = timespec_of(seconds);
	struct signalfd_siginfo si;
	if (ppoll(&p, 1, &ts, NULL) == 1 &&
	    read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		return (int)si.ssi_signo;
	return 0;
}

int arbiter_run(int workers, double timeout, double grace, int listen_fd,
		server_worker *worker, http_handler *handler,
		void (*abort_hook)(void))
{
	nslots = workers;
	slots = mmap(NULL, sizeof *slots * (size_t)workers, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED) {
		perror("arbiter: mmap");
		return 1;
	}
	sigset_t watched, old;
	sigemptyset(&watched);
	sigaddset(&watched, SIGTERM);
	sigaddset(&watched, SIGINT);
	sigaddset(&watched, SIGCHLD);
	sigprocmask(SIG_BLOCK, &watched, &old);
	signal(SIGPIPE, SIG_IGN);
	sigfd = signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0) {
		perror("arbiter: signalfd");
		munmap(slots, sizeof *slots * (size_t)workers);
		sigprocmask(SIG_SETMASK, &old, NULL);
		return 1;
	}

	int started = 0;
	for (int i = 0; i < workers; i++)
		started += spawn(&slots[i], timeout, listen_fd, worker, handler);
	int stop = 0;		/* the signal that stops the lab, once one came */
	bool aborted = false, killed = false, lost_upstream = false;
	double stop_at = 0;
	while (started > 0) {
		double tick = stop ? 0.02 : timeout / 4 < 0.5 ? timeout / 4 : 0.5;
		int sig = next_signal(tick);
		if ((sig == SIGTERM && !stop) || sig == SIGINT) {
			signal_all(sig);	/* all of them stop as one */
			if (!stop)
				stop_at = now();
			stop = sig;
		}
		for (int i = 0; i < nslots; i++)
			reap(&slots[i], stop != 0);
		if (!stop && upstream_gone()) {	/* no upstream: nothing to serve */
			say("CRITICAL", "the upstream simulator is gone: stopping");
			signal_all(SIGINT);
			stop = SIGINT;
			stop_at = now();
			lost_upstream = true;
		}
		if (stop) {
			if (live_workers() == 0)
				break;
			if (!aborted && (stop == SIGINT || now() >= stop_at + grace)) {
				aborted = true;		/* as a worker's abort hook would */
				if (abort_hook)
					abort_hook();
			}
			if (!killed && now() >= stop_at + grace + 5) {
				killed = true;	/* the workers stop in time, or are made to */
				signal_all(SIGKILL);
			}
			continue;
		}
		for (int i = 0; i < nslots; i++) {
			check_heartbeat(&slots[i], timeout);
			if (slots[i].pid == 0 && now() >= slots[i].restart_at)
				spawn(&slots[i], timeout, listen_fd, worker, handler);
		}
	}
	/* SIGTERM and SIGINT stay blocked: the lab is about to stop its
	 * simulator and exit, and a second stop signal, handled by no one now,
	 * must not kill the master halfway through that. */
	sigaddset(&old, SIGTERM);
	sigaddset(&old, SIGINT);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sigfd);
	sigfd = -1;
	munmap(slots, sizeof *slots * (size_t)workers);
	return started > 0 && !lost_upstream ? 0 : 1;
}
