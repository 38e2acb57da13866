/*
 * stop: see stop.h.
 *
 * One plain handler, on_signal, takes SIGTERM, SIGINT and SIGALRM (the
 * grace timer's), and SIGCHLD, which stops the worker as SIGINT does when
 * the child it says is gone is one the lab cannot go on without
 * (server_on_child_exit); with the threaded worker its main thread calls it for
 * each one it reads from a signalfd.  It writes a byte into the stop pipe,
 * which nobody ever drains: from then on the pipe is readable.  The
 * listening socket itself is left alone: other worker processes may share
 * it (arbiter.h).  SIGTERM arms the grace timer; SIGINT, and SIGALRM when
 * the grace period is over, cut short what is in flight.  Everything the
 * handler calls is async-signal-safe (timer_settime, write, io_abort's
 * ev_async_send and pthread_kill, kill in the hook), so it may run in the
 * middle of anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "io.h"
#include "server.h"
#include "stop.h"
#include "util.h"

static atomic_int stopping;	/* 0, SIGTERM or SIGINT; set in any thread */
static double grace = 0.5;
static void (*abort_hook)(void);
static bool (*child_gone)(void);
static int stop_pipe[2] = { -1, -1 };	/* [1] written at a stop, never read */
static timer_t grace_timer;	/* rings SIGALRM */
static bool have_timer;

void server_set_grace(double seconds)
{
	grace = seconds;
}

void server_on_abort(void (*hook)(void))
{
	abort_hook = hook;
}

void server_on_child_exit(bool (*gone)(void))
{
	child_gone = gone;
}

bool stop_requested(void)
{
	return atomic_load(&stopping) != 0;
}

int stop_fd(void)
{
	return stop_pipe[0];
}

/* Ring SIGALRM `seconds` from now, or never (0).  A grace is rounded up
 * by a nanosecond, so that a tiny one never becomes a zero time, which
 * would disarm the timer instead. */
static int set_grace_timer(double seconds)
{
	if (!have_timer)
		return -1;
	struct itimerspec t = { .it_value = timespec_of(seconds > 0 ? seconds + 1e-9 : 0) };
	return timer_settime(grace_timer, 0, &t, NULL);
}

/* Make whatever is in flight fail now: every wait is cancelled (io.h),
 * and the lab's hook runs. */
static void abort_in_flight(void)
{
	io_abort();
	if (abort_hook)
		abort_hook();
}

/* SIGTERM, SIGINT, SIGALRM or SIGCHLD.  It saves and restores errno: it
 * interrupts code that may be about to read it (read() said EAGAIN, say),
 * and the calls it makes -- the hook's kill() of a simulator already gone
 * -- would change it.  The other signals are blocked while it runs. */
static void on_signal(int sig)
{
	int saved = errno;
	/* Once stopping, the lab's abort hook may kill that child itself. */
	if (sig == SIGCHLD && (stop_requested() || !(child_gone && child_gone()))) {
		errno = saved;
		return;		/* not a child the lab needs, or not now */
	}
	if (sig == SIGTERM) {
		/* A second SIGTERM does not stretch the grace period; one that
		 * is zero, or cannot be timed, would never end: none, then. */
		int none = 0;
		if (atomic_compare_exchange_strong(&stopping, &none, SIGTERM) &&
		    (grace <= 0 || set_grace_timer(grace) != 0))
			abort_in_flight();
	} else {		/* SIGINT, the grace period is over, or a needed child is gone */
		atomic_store(&stopping, SIGINT);
		abort_in_flight();
	}
	if (stop_pipe[1] >= 0) {
		ssize_t n = write(stop_pipe[1], "", 1);
		(void)n;	/* full already: readable already */
	}
	errno = saved;
}

/* SIGTERM, SIGINT, SIGALRM and SIGCHLD: the signals on_signal handles. */
static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGALRM);
	sigaddset(set, SIGCHLD);
}

void server_hold_stop_signals(void)
{
	sigset_t stops;
	stop_signals(&stops);
	sigprocmask(SIG_BLOCK, &stops, NULL);
}

/* The handlers, the pipe and the timer, the signals still blocked.
 * Without SA_RESTART: io_wait decides itself whether a wait goes on. */
static void install(sigset_t *stops)
{
	if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		die("stop: no pipe for stopping: %m");
	struct sigevent ring = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };
	if (!have_timer)
		have_timer = timer_create(CLOCK_MONOTONIC, &ring, &grace_timer) == 0;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_NOCLDSTOP };
	stop_signals(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	*stops = sa.sa_mask;
}

/* A needed child that died before its SIGCHLD could be held (it is
 * discarded then, not kept pending): as if the signal came now. */
static void child_gone_before(void)
{
	if (child_gone && child_gone())
		raise(SIGINT);
}

/* Built with ThreadSanitizer (make tsan), a thread's record of the
 * signals it takes is set up the first time it is needed: in a worker, at
 * its first blocking call.  In GCC 12's runtime a signal that arrives
 * during that set-up is lost -- its handler sets up a record of its own
 * and leaves the signal there, and the set-up it interrupted then puts
 * its own record in place -- so a worker that got SIGTERM in that moment
 * never stopped (11 runs in 750 of a check that stops a lab the moment
 * its two workers exist).  A blocking call that cannot block, made while
 * the stop signals are held, does the set-up when none can arrive.  Other
 * builds make no such call. */
static void sanitizer_ready_for_signals(void)
{
#ifdef __SANITIZE_THREAD__
	poll(NULL, 0, 0);
#endif
}

/* The process starts with the stop signals blocked
 * (server_hold_stop_signals): one that came meanwhile is handled now. */
void stop_catch(void)
{
	sigset_t stops;
	install(&stops);
	sanitizer_ready_for_signals();
	sigprocmask(SIG_UNBLOCK, &stops, NULL);
	child_gone_before();
}

/* The worker is done: the grace period must not end later, while the lab
 * stops the simulator (the abort hook would kill its pid once more).  The
 * stop pipe stays open: a late signal may still write to it. */
void stop_done(void)
{
	set_grace_timer(0);
}

/* Blocked in this thread, and so in every thread it starts: no signal has
 * to interrupt anything, the kernel's choice of a thread does not matter,
 * and a stop cannot fall into a moment when no thread takes it. */
int stop_catch_by_fd(void)
{
	sigset_t stops;
	install(&stops);
	pthread_sigmask(SIG_BLOCK, &stops, NULL);
	int fd = signalfd(-1, &stops, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		die("stop: no signalfd: %m");
	child_gone_before();	/* pending now, for the fd */
	return fd;
}

void stop_take(int fd)
{
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
		on_signal((int)si.ssi_signo);
}

/* Done: no grace timer may ring now, and a signal after the last thread
 * ended has nothing to stop.  Then the signals go back to the handler. */
void stop_done_by_fd(int fd)
{
	set_grace_timer(0);
	struct signalfd_siginfo late;
	while (read(fd, &late, sizeof late) == (ssize_t)sizeof late)
		;
	close(fd);
	sigset_t stops;
	stop_signals(&stops);
	pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
}
