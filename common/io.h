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
 * Errors come back as -1 with errno set: ETIMEDOUT when the deadline passed,
 * EINTR when fiber_wake() ended a cooperative wait (the evented worker
 * does that to cut a request short), or a blocking one once io_abort() has
 * been called.  A signal alone does not end a blocking wait: the wait goes
 * on, so that a server told to stop gently (SIGTERM) still finishes the
 * request it is reading or answering.
 *
 * Threads: the patch flag and the abort flag are per process.  io_patch()
 * is for one thread's process (the evented worker's); a sync worker with
 * threads stays unpatched, and each thread's waits are its own.  A
 * blocking wait in one thread ends at io_abort() only when a signal
 * reaches that thread: a stop sends one to each (stop.c).
 */
#ifndef IO_H
#define IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define IO_FOREVER 0.0

void io_patch(void);
bool io_patched(void);

/* Wait until fd is ready (FIBER_READ / FIBER_WRITE): 1 ready, -1 errno. */
int io_wait(int fd, int events, double deadline);

/* Accept one connection as a non-blocking socket, or -1 with errno. */
int io_accept(int listen_fd);

/* read(2) that waits for data until the deadline. */
ssize_t io_read(int fd, void *buf, size_t len, double deadline);

/* Write all of buf, or fail: 0 or -1 with errno.  Never raises SIGPIPE. */
int io_write_all(int fd, const void *buf, size_t len, double deadline);

/* Sleep: 0 when the time has passed, -1 (EINTR) when cut short -- by
 * fiber_wake() when patched, by io_abort() when blocking. */
int io_sleep(double seconds);

/* Cut short whatever is in flight, for good: a server that must stop now.
 * From then on a blocking wait ends with EINTR (one under way ends when a
 * signal interrupts it: call this from the signal's handler); a blocking
 * fetch ends when libcurl next runs its progress callback (at once when
 * the signal whose handler calls this interrupts libcurl's wait), and new
 * fetches fail at once, with the error "the server is stopping".  The
 * cooperative fetches on the hub end when fetch_abort() (fetch.h) is
 * called too.  Async-signal-safe. */
void io_abort(void);

/* Has io_abort() been called?  Async-signal-safe. */
bool io_aborted(void);

/* After io_abort(), from a fiber: end every cooperative io_wait() under
 * way in this thread (EINTR), as the signal ends a blocking one.  The
 * evented worker calls it once it sees the abort, for the waits nobody
 * else would wake -- a query on libpq's socket (db.h), whose fiber no
 * connection knows. */
void io_end_waits(void);

#endif
