/*
 * stop: how a worker learns that it must stop, kept out of the workers'
 * own files (server.h says what a stop means to a client).
 *
 * A stop is SIGTERM or SIGINT to this process.  The workers see only
 * what it leaves behind:
 *   - stop_requested() turns true, in every thread, for good;
 *   - stop_fd() turns readable, for good: a wait for the next connection
 *     that also waits for it ends, even when the signal came just before
 *     the wait began;
 *   - at SIGINT, or when SIGTERM's grace period is over, what is in
 *     flight is cut short: every wait is cancelled (io_abort, io.h), and
 *     the abort hook (server_on_abort) runs.
 *
 * A worker with one thread calls stop_catch() when it is ready to serve,
 * and stop_done() when it has finished.  The threaded worker keeps the
 * signals blocked in all its threads, and its main thread takes them from
 * the fd stop_catch_by_fd() returns: stop_take() when it is readable,
 * stop_done_by_fd() at the end.
 */
#ifndef STOP_H
#define STOP_H

#include <stdbool.h>

bool stop_requested(void);
int stop_fd(void);

void stop_catch(void);
void stop_done(void);

int stop_catch_by_fd(void);
void stop_take(int fd);
void stop_done_by_fd(int fd);

#endif
