/*
 * io.c: sockets and sleep, blocking or cooperative, and how io_abort()
 * cancels every wait.
 *
 * io_patch() flips one flag; each primitive consults it at the one moment it
 * would wait (io_wait and io_sleep).  Everything else is the same code.
 */
#include <errno.h>
#include <ev.h>
#include <poll.h>
#include <pthread.h>
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

/* Who io_abort() tells.  The patched thread's hub, through an ev_async
 * (safe from a signal handler), which runs cancel_waits(); and the
 * threads named by io_abort_threads(), through SIGURG, which ends the
 * blocking wait it lands in. */
static struct ev_loop *hub_loop;
static ev_async cancel_async;
static const pthread_t *blocking_threads;
static atomic_int nblocking;

/* The cooperative waits under way in this thread; the patched thread's
 * are the ones io_abort() reaches. */
static _Thread_local struct io_cancellable *waits;

static void cancel_waits(struct ev_loop *l, ev_async *w, int revents)
{
	(void)l, (void)w, (void)revents;
	for (struct io_cancellable *c = waits, *next; c; c = next) {
		next = c->next;		/* cancel may end the wait */
		if (c->cancel)
			c->cancel(c);
		else
			fiber_wake(c->f);
	}
}

void io_patch(void)
{
	patched = true;
}

/* The first cancellable wait in the patched thread lets io_abort() reach
 * its hub.  Not sooner: the hub is made with the signal mask of the moment,
 * and the worker patches before it catches its stop signals. */
static void hear_aborts(void)
{
	struct ev_loop *loop = fiber_loop();
	ev_async_init(&cancel_async, cancel_waits);
	ev_async_start(loop, &cancel_async);
	ev_unref(loop);		/* it alone must not keep the hub waiting */
	hub_loop = loop;	/* last: io_abort() may read it at any moment */
}

void io_cancellable(struct io_cancellable *c)
{
	if (patched && !hub_loop)
		hear_aborts();
	c->prev = NULL;
	c->next = waits;
	if (waits)
		waits->prev = c;
	waits = c;
}

void io_cancellable_end(struct io_cancellable *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		waits = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* SIGURG: nothing to do; arriving, it ends the blocking wait it hits. */
static void on_wake(int sig)
{
	(void)sig;
}

void io_abort_threads(const pthread_t *threads, int n)
{
	static bool caught;
	if (!caught) {
		struct sigaction wake = { .sa_handler = on_wake };
		sigemptyset(&wake.sa_mask);
		sigaction(SIGURG, &wake, NULL);
		caught = true;
	}
	blocking_threads = threads;
	atomic_store(&nblocking, n);
}

bool io_patched(void)
{
	return patched;
}

void io_abort(void)
{
	aborted = 1;
	if (hub_loop)
		ev_async_send(hub_loop, &cancel_async);
	for (int i = 0; i < atomic_load(&nblocking); i++)
		pthread_kill(blocking_threads[i], SIGURG);
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

/* A patched wait that io_abort() ends; one begun after it fails at once. */
static int listed_hub_wait(int fd, int events, double timeout)
{
	if (io_aborted()) {
		errno = EINTR;
		return -1;
	}
	struct io_cancellable c = { .f = fiber_self() };
	io_cancellable(&c);
	int r = hub_wait(fd, events, timeout);
	io_cancellable_end(&c);
	return r;
}

static int wait_in(bool hub, int fd, int events, double deadline)
{
	for (;;) {
		double timeout = time_left(deadline);
		int r = hub ? listed_hub_wait(fd, events, timeout)
			    : poll_wait(fd, events, timeout);
		if (r >= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			return r ? 1 : -1;
		}
		/* A patched wait ends early only when it is meant to.  A
		 * signal that does not cut IO short -- SIGTERM's grace period,
		 * say -- must not drop the request: wait on. */
		if (hub || errno != EINTR || io_aborted())
			return -1;
	}
}

int io_wait(int fd, int events, double deadline)
{
	return wait_in(patched, fd, events, deadline);
}

int io_wait_blocking(int fd, int events, double deadline)
{
	return wait_in(false, fd, events, deadline);
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
		struct io_cancellable c = { .f = fiber_self() };
		io_cancellable(&c);
		if (!io_aborted())
			fiber_sleep(seconds);
		io_cancellable_end(&c);
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
