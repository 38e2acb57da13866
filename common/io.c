/*
 * io.c: sockets and sleep, blocking or cooperative.
 *
 * io_patch() flips one flag; each primitive consults it at the one moment it
 * would wait (io_wait and io_sleep).  Everything else is the same code.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fiber.h"
#include "io.h"
#include "util.h"

/* Per process, both (io.h).  patched is set before any thread starts;
 * aborted in a signal handler, in any thread: atomic, for every thread. */
static bool patched;
static atomic_int aborted;	/* set by io_abort(), for good */

void io_patch(void)
{
	patched = true;
}

bool io_patched(void)
{
	return patched;
}

void io_abort(void)
{
	aborted = 1;
}

bool io_aborted(void)
{
	return aborted;
}

/* Seconds left until the deadline, or -1 for none. */
static double time_left(double deadline)
{
	if (deadline == IO_FOREVER)
		return -1;
	double left = deadline - now();
	return left > 0 ? left : 0;
}

/* One poll() on fd: 1 ready, 0 timeout, -1 errno (EINTR: a signal came, or
 * io_abort() had been called).  Signals are blocked while the abort flag
 * is read and let in only inside ppoll(), so a handler that calls
 * io_abort() just after the check still interrupts the wait, instead of
 * leaving it to run to its deadline. */
static int poll_wait(int fd, int events, double timeout)
{
	struct pollfd p = { .fd = fd };
	p.events = (events & FIBER_READ ? POLLIN : 0) |
		   (events & FIBER_WRITE ? POLLOUT : 0);
	struct timespec ts = timespec_of(timeout);
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	int n = -1;
	errno = EINTR;
	if (!io_aborted())
		n = ppoll(&p, 1, timeout < 0 ? NULL : &ts, &old);
	int saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n < 0 ? -1 : n > 0;
}

/* The patched wait: suspend only the calling fiber until fd is ready, while
 * the hub runs the others.  1 ready, 0 timeout, -1 with errno EINTR when
 * fiber_wake() ended the wait first: its waker wants it to end. */
static int hub_wait(int fd, int events, double timeout)
{
	/* $begin coop-wait: wait in the hub, not in poll(): suspend this fiber until fd is ready (fiber_wait_fd) */
	int r = fiber_wait_fd(fd, events, timeout);
	if (r < 0)
		errno = EINTR;
	return r;
	/* $end coop-wait; stub: return poll_wait(fd, events, timeout); */
}

/* The fibers in a cooperative wait, so that io_end_waits() can end them:
 * each entry lives on its fiber's stack while it waits.  Per thread, as
 * the fibers are (fiber.h). */
struct waiter {
	fiber *f;
	struct waiter *prev, *next;
};
static _Thread_local struct waiter *waiters;

static int listed_hub_wait(int fd, int events, double timeout)
{
	struct waiter w = { .f = fiber_self(), .next = waiters };
	if (waiters)
		waiters->prev = &w;
	waiters = &w;
	int r = hub_wait(fd, events, timeout);
	if (w.prev)
		w.prev->next = w.next;
	else
		waiters = w.next;
	if (w.next)
		w.next->prev = w.prev;
	return r;
}

void io_end_waits(void)
{
	for (struct waiter *w = waiters; w; w = w->next)
		fiber_wake(w->f);
}

int io_wait(int fd, int events, double deadline)
{
	for (;;) {
		double timeout = time_left(deadline);
		int r = patched ? listed_hub_wait(fd, events, timeout)
				: poll_wait(fd, events, timeout);
		if (r >= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return r ? 1 : -1;
		}
		/* A patched wait ends early only when it is meant to.  A
		 * signal that does not cut IO short -- SIGTERM's grace period,
		 * say -- must not drop the request: wait on. */
		if (patched || errno != EINTR || io_aborted())
			return -1;
	}
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

int io_accept(int listen_fd)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno == ECONNABORTED)
			continue;	/* the client gave up first: next */
		if (!would_block() || io_wait(listen_fd, FIBER_READ, IO_FOREVER) < 0)
			return -1;
	}
}

ssize_t io_read(int fd, void *buf, size_t len, double deadline)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n >= 0 || !would_block())
			return n;
		if (io_wait(fd, FIBER_READ, deadline) < 0)
			return -1;
	}
}

int io_write_all(int fd, const void *buf, size_t len, double deadline)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && !would_block()) {
			return -1;
		} else if (io_wait(fd, FIBER_WRITE, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

int io_sleep(double seconds)
{
	double end = now() + seconds;
	if (patched) {
		fiber_sleep(seconds);
	} else {	/* a signal alone does not end it; io_abort() does */
		struct timespec ts = timespec_of(seconds);
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !io_aborted())
			;
	}
	if (now() < end - 0.001) {	/* cut short */
		errno = EINTR;
		return -1;
	}
	return 0;
}
