/*
 * server.c: the sync and the evented worker, and how they stop.
 *
 * A stop reaches both workers the same way: one plain signal handler,
 * on_signal, for SIGTERM, SIGINT and SIGALRM (with --threads the main
 * thread calls it for each one it reads from a signalfd).  It writes a
 * byte into this process's stop pipe, which nobody ever drains: from then
 * on the pipe is readable, so every wait for the next connection ends --
 * a poll() of the listening socket and the pipe in each sync thread, the
 * watchman fiber's wait in the evented one -- even when the signal came
 * just before that wait began.  The listening socket itself is left alone: other worker
 * processes may share it (arbiter.h).  SIGTERM arms the grace timer;
 * SIGINT, and SIGALRM when the grace period is over, cut short what is in
 * flight: io_abort() (blocking waits end, every fetch fails),
 * fetch_abort() (the hub ends the cooperative ones), a SIGURG to every
 * serving thread beside the main one (so that its blocking wait sees the
 * abort) and the lab's abort hook (it kills the simulator).  All of it is
 * async-signal-safe, so it may run in the middle of anything.  With
 * --threads no thread catches the three signals: the main thread reads
 * them from a signalfd and calls on_signal itself (serve_threaded), so
 * the list of threads it signals changes only in the thread it runs in,
 * and never holds one already joined.
 *
 * After its accept loop a sync thread has nothing left: it served its
 * connection to the end.  The evented worker then lets its connections
 * finish (finish_connections).  Both disarm the timer before returning;
 * with --threads, before the stop signals are unblocked again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "fetch.h"
#include "fiber.h"
#include "io.h"
#include "server.h"
#include "util.h"

enum { MAX_THREADS = 1024 };

static atomic_int stopping;	/* 0, SIGTERM or SIGINT; set in any thread */
static void (*abort_hook)(void);
static double timeout = 5, grace = 0.5;
static int nthreads = 1, max_connections = 1000;
static void (*beat_hook)(void);
static double beat_every = -1;	/* seconds; negative: no heartbeat */
static int stop_pipe[2] = { -1, -1 };	/* [1] written at a stop, never read */
static pthread_t pool[MAX_THREADS];	/* sync threads beside the main one */
static atomic_int npool;	/* how many of pool[] may be signalled */
static int pool_ended[2];	/* a byte from each of them as it ends */

void server_set_request_timeout(double seconds)
{
	timeout = seconds;
}

void server_set_grace(double seconds)
{
	grace = seconds;
}

void server_set_threads(int n)
{
	nthreads = n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n;
}

void server_set_worker_connections(int n)
{
	max_connections = n < 1 ? 1 : n;
}

void server_set_heartbeat(void (*beat)(void), double seconds)
{
	beat_hook = beat;
	beat_every = beat ? seconds : -1;
}

static void (*ready_hook)(void);

void server_on_ready(void (*hook)(void))
{
	ready_hook = hook;
}

/* The worker is ready: run the hook, once (the stub of the evented worker
 * in the handout serves with the sync one, which says so too). */
static void ready(void)
{
	void (*hook)(void) = ready_hook;
	ready_hook = NULL;
	if (hook)
		hook();
}

void server_on_abort(void (*hook)(void))
{
	abort_hook = hook;
}

static void beat(void)
{
	if (beat_hook)
		beat_hook();
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

/* Make whatever is in flight fail now.  Async-signal-safe.  A blocking
 * wait ends when a signal interrupts it after io_abort(): the one in the
 * thread this handler runs in is interrupted already; the serving threads
 * beside the main one, where it never runs, get SIGURG. */
static void abort_in_flight(void)
{
	io_abort();
	fetch_abort();
	for (int i = 0; i < atomic_load(&npool); i++)
		pthread_kill(pool[i], SIGURG);
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
	if (sig == SIGTERM) {
		/* A second SIGTERM does not stretch the grace period; one that
		 * is zero, or cannot be timed, would never end: none, then. */
		int none = 0;
		if (atomic_compare_exchange_strong(&stopping, &none, SIGTERM) &&
		    (grace <= 0 || set_grace_timer(grace) != 0))
			abort_in_flight();
	} else {		/* SIGINT, or the grace period is over */
		atomic_store(&stopping, SIGINT);
		abort_in_flight();
	}
	if (stop_pipe[1] >= 0) {	/* ends every wait for accept */
		ssize_t n = write(stop_pipe[1], "", 1);
		(void)n;	/* full already: readable already */
	}
	errno = saved;
}

/* SIGURG: nothing to do; arriving, it ends the blocking wait it hits. */
static void on_wake(int sig)
{
	(void)sig;
}

/* SIGTERM, SIGINT and SIGALRM: the signals on_signal handles. */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGALRM);
}

void server_hold_stop_signals(void)
{
	sigset_t stops;
	stop_signals(&stops);
	sigprocmask(SIG_BLOCK, &stops, NULL);
}

/* Without SA_RESTART: io_wait decides itself whether a wait goes on.  The
 * stop signals are unblocked last, when `unblock`: the process starts with
 * them blocked (server_hold_stop_signals), and one that came meanwhile is
 * handled now.  The threaded worker keeps them blocked, for its signalfd
 * (serve_threaded). */
static void catch_stop_signals(bool unblock)
{
	if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		die("server: no pipe for stopping: %m");
	struct sigaction sa = { .sa_handler = on_signal };
	stop_signals(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	struct sigaction wake = { .sa_handler = on_wake };
	sigemptyset(&wake.sa_mask);
	sigaction(SIGURG, &wake, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (unblock)
		sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
}

/* The worker is done: the grace period must not end later, while the lab
 * stops the simulator (the abort hook would kill its pid once more).  The
 * stop pipe stays open: a late signal may still write to it. */
static void stop_catching(void)
{
	set_grace_timer(0);
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

/* Wait until the listening socket may have a connection for this thread,
 * or a stop has come (false).  The main thread beats meanwhile.  Another
 * process or thread may take the connection first: accept() then says
 * EAGAIN. */
static bool wait_for_connection(int listen_fd, bool beats)
{
	struct pollfd p[2] = {
		{ .fd = listen_fd, .events = POLLIN },
		{ .fd = stop_pipe[0], .events = POLLIN },
	};
	int ms = beats && beat_every > 0 ? (int)(beat_every * 1000) + 1 : -1;
	for (;;) {
		if (beats)
			beat();
		if (atomic_load(&stopping))
			return false;
		if (poll(p, 2, ms) > 0 && p[0].revents && !p[1].revents)
			return true;
	}
}

/* Wait for a connection, beating meanwhile if this is the main thread,
 * and take it: its fd, or -1 -- EINTR at a stop, EAGAIN when another
 * process or thread took it first, or why accept() failed. */
static int accept_next(int listen_fd, bool beats)
{
	if (!wait_for_connection(listen_fd, beats)) {
		errno = EINTR;
		return -1;
	}
	return accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* One sync thread: accept one connection, serve it to the end, close it,
 * and only then accept the next. */
static void serve_one_by_one(int listen_fd, http_handler *handler, bool beats)
{
	while (!stopping) {
		int fd = accept_next(listen_fd, beats);
		if (fd >= 0)
			http_serve_connection(fd, handler, false, timeout);
		else if (errno != EAGAIN && errno != ECONNABORTED &&
			 !stopping && !accept_failed())
			break;
	}
}

struct listener {
	int fd;
	http_handler *handler;
};

static void *pool_thread(void *arg)
{
	struct listener *l = arg;
	serve_one_by_one(l->fd, l->handler, false);
	ssize_t n = write(pool_ended[1], "", 1);	/* one byte: one thread done */
	(void)n;
	return NULL;
}

/* The main thread's part in the threaded worker: beat, take each stop
 * signal from the signalfd and do what the handler would, and count the
 * serving threads as they end (a byte each in pool_ended). */
static void wait_for_threads(int sigfd, int n)
{
	struct pollfd p[2] = {
		{ .fd = sigfd, .events = POLLIN },
		{ .fd = pool_ended[0], .events = POLLIN },
	};
	int ms = beat_every > 0 ? (int)(beat_every * 1000) + 1 : -1;
	while (n > 0) {
		beat();
		if (poll(p, 2, ms) <= 0)
			continue;
		struct signalfd_siginfo si;
		while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si)
			on_signal((int)si.ssi_signo);
		char done[64];
		for (ssize_t k; (k = read(pool_ended[0], done, sizeof done)) > 0; )
			n -= (int)k;
	}
}

/* gunicorn's threaded worker: nthreads threads serve, one by one each;
 * the main thread only beats, and waits for the stop and for them.
 *
 * Here the stop signals stay blocked in every thread (the serving threads
 * inherit the mask, and so do the threads they start), and the main
 * thread, which has nothing else to do, reads them from a signalfd and
 * calls on_signal itself.  So no signal has to interrupt anything, the
 * kernel's choice of a thread does not matter, and a stop cannot fall
 * into a moment when no thread is listening for it.  (A catch-and-replay
 * runtime such as ThreadSanitizer's, which holds a caught signal until
 * the thread makes a call it watches, loses some that way.)  The list of
 * threads on_signal wakes changes only in the main thread, where
 * on_signal runs: it is emptied after every thread has ended and before
 * any is joined.  Returns how many threads started; 0: the caller serves
 * alone, the stop signals unblocked for the handler. */
static int serve_threaded(int listen_fd, http_handler *handler)
{
	static struct listener l;
	l = (struct listener){ listen_fd, handler };
	sigset_t stops;
	stop_signals(&stops);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	int sigfd = signalfd(-1, &stops, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sigfd < 0 || pipe2(pool_ended, O_CLOEXEC | O_NONBLOCK) != 0)
		die("server: no signalfd or pipe for the threads: %m");
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&pool[i], NULL, pool_thread, &l) != 0) {
			fprintf(stderr, "server: %d threads of %d started\n", i, nthreads);
			break;
		}
		atomic_store(&npool, i + 1);
	}
	int n = atomic_load(&npool);
	if (n > 0)
		ready();
	wait_for_threads(sigfd, n);
	atomic_store(&npool, 0);
	for (int i = 0; i < n; i++)
		pthread_join(pool[i], NULL);
	if (n > 0) {	/* done: no grace timer may ring now, and a signal
			 * after the last thread ended has nothing to stop */
		set_grace_timer(0);
		struct signalfd_siginfo late;
		while (read(sigfd, &late, sizeof late) == (ssize_t)sizeof late)
			;
	}
	close(sigfd);
	close(pool_ended[0]);
	close(pool_ended[1]);
	pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
	return n;
}

int serve_sync(int listen_fd, http_handler *handler)
{
	catch_stop_signals(nthreads <= 1);
	if (nthreads <= 1 || serve_threaded(listen_fd, handler) == 0) {
		ready();
		serve_one_by_one(listen_fd, handler, true);
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
static bool evented_done;
static fiber *slot_waiter;	/* the accept loop, waiting for a free slot */

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
 * fetches have failed, and every wait it is in is ended here (a sleep, a
 * query on libpq's socket in a fiber of its own, or a write to a client
 * that does not read); it gets 0.3 s to end. */
static void finish_connections(void)
{
	for (struct connection *c = live; c; c = c->next)
		shutdown(c->fd, SHUT_RD);
	while (live && !io_aborted())
		fiber_sleep(0.01);
	if (io_aborted())
		io_end_waits();
	for (struct connection *c = live; c; c = c->next)
		fiber_wake(c->fiber);
	wait_for_connections(0.3);
}

/* The evented worker's own fiber, gevent's heartbeat greenlet and more:
 * it beats while the hub runs, and at a stop (the stop pipe turns
 * readable) wakes the main fiber out of its wait for accept. */
static void watchman(void *main_fiber)
{
	bool woke = false;
	while (!evented_done) {
		beat();
		if (!woke && atomic_load(&stopping)) {
			fiber_wake(main_fiber);
			woke = true;
		}
		if (woke)
			fiber_sleep(beat_every > 0 ? beat_every : 3600);
		else
			fiber_wait_fd(stop_pipe[0], FIBER_READ, beat_every);
	}
}

int serve_evented(int listen_fd, http_handler *handler)
{
	io_patch();		/* gevent's monkey.patch_all() */
	catch_stop_signals(true);
	fiber *watch = fiber_spawn(watchman, fiber_self(), "watchman");
	if (!watch)
		die("server: no memory for the watchman fiber");
	ready();
	/* $begin evented-accept: until stopping, accept each connection (io_accept) and serve it in a fiber of its own (start_connection); hold at most max_connections (--worker-connections) at once, wait_for_a_slot() while full */
	while (!stopping) {
		if (nlive >= max_connections) {
			wait_for_a_slot();
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
	/* $end evented-accept; stub: (void)start_connection; (void)wait_for_a_slot; serve_sync(listen_fd, handler); */
	finish_connections();
	evented_done = true;
	fiber_wake(watch);
	fiber_join(watch);
	stop_catching();
	return 0;
}
