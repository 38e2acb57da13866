/*
 * io: the kit's IO primitives, and the switch that patches them.
 *
 * Every primitive here can wait in two ways.  Blocking, the default, waits
 * the way plain POSIX calls and curl_easy_perform() do: the whole process
 * stops until the IO is done, whatever fibers exist.  Cooperative, after
 * io_patch(), waits by suspending only the calling fiber while the hub runs
 * the others; fetch() (fetch.h) then runs on libcurl's multi interface on
 * the hub's libev loop.  io_patch() is the C counterpart of gevent's
 * monkey.patch_all(), which gunicorn's gevent worker calls when it starts:
 * the code that calls these functions never knows which is in force.
 *
 * Every call has one shape (libtask's): try the system call; only when it
 * would block, wait -- in poll() when blocking, in the hub when patched --
 * and try again.  So sockets handed to io_* must be non-blocking, in both
 * modes; io_accept() makes new ones so.
 *
 * Deadlines are absolute times on now()'s clock; IO_FOREVER means none.
 * Errors come back as -1 with errno set: ETIMEDOUT when the deadline
 * passed, EINTR when the wait was cancelled.
 *
 * Cancelling.  io_abort() cancels, for good, every wait of the process,
 * under way or still to come: blocking ones (poll, nanosleep, a blocking
 * fetch) and cooperative ones (io_wait, io_sleep, a cooperative fetch, a
 * database query or a fiber's place in the pool's queue).  Each ends with
 * EINTR (a fetch or a query fails with "the server is stopping"); a wait
 * begun after it ends at once.  A blocking wait in this thread ends when
 * the signal whose handler calls io_abort() interrupts it, in the threads
 * named by io_abort_threads() when io_abort() sends them SIGURG; the
 * patched thread's cooperative waits end when its hub hears of it.  That
 * is the one way a wait is cut short.  A signal alone does not end a
 * blocking wait: the wait goes on, so that a server told to stop gently
 * (SIGTERM) still finishes the request it is reading or answering.
 *
 * Threads: the patch flag and the abort flag are per process.  io_patch()
 * is for one thread's process (the evented worker's); a sync worker with
 * threads stays unpatched, and each thread's waits are its own.
 */
#ifndef IO_H
#define IO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct fiber;

#define IO_FOREVER 0.0

void io_patch(void);
bool io_patched(void);

/* Wait until fd is ready (FIBER_READ / FIBER_WRITE): 1 ready, -1 errno
 * (ETIMEDOUT at the deadline; EINTR once io_abort() has been called). */
int io_wait(int fd, int events, double deadline);

/* The same in poll(2) even once io_patch() has run: the whole thread
 * waits.  For a driver nobody patched (db.c before db_patch()). */
int io_wait_blocking(int fd, int events, double deadline);

/* Accept one connection as a non-blocking socket, or -1 with errno. */
int io_accept(int listen_fd);

/* read(2) that waits for data until the deadline. */
ssize_t io_read(int fd, void *buf, size_t len, double deadline);

/* Write all of buf, or fail: 0 or -1 with errno.  Never raises SIGPIPE. */
int io_write_all(int fd, const void *buf, size_t len, double deadline);

/* Sleep: 0 when the time has passed, -1 (EINTR) when cancelled. */
int io_sleep(double seconds);

/* Cancel every wait, for good (above): a server that must stop now.
 * Async-signal-safe: call it from the stop signal's handler. */
void io_abort(void);

/* Has io_abort() been called?  Async-signal-safe. */
bool io_aborted(void);

/* The threads, beside the one that takes the stop signals, whose blocking
 * waits io_abort() must interrupt: the first n of threads (0: none). */
void io_abort_threads(const pthread_t *threads, int n);

/* A cooperative wait io_wait() does not see -- a transfer, a place in a
 * queue -- made cancellable: between io_cancellable() and
 * io_cancellable_end(), io_abort() runs c->cancel(c) on the hub, or, with
 * no cancel, wakes c->f.  The waiter finds io_aborted() true when it
 * resumes.  c lives on the waiting fiber's stack. */
struct io_cancellable {
	struct fiber *f;
	void (*cancel)(struct io_cancellable *c);
	struct io_cancellable *prev, *next;
};
void io_cancellable(struct io_cancellable *c);
void io_cancellable_end(struct io_cancellable *c);

#endif
