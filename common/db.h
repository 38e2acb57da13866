/*
 * db: the labs' database driver -- libpq behind a pool of connections,
 * blocking or cooperative.
 *
 * Blocking, the default, is a C driver as it comes (psycopg2, MySQLdb):
 * it waits for libpq's socket in poll(2) itself, as libpq's PQexec() does
 * inside, and the whole process waits with it.  io_patch() changes
 * nothing here, just as gevent's monkey.patch_all() patches Python's
 * socket module but cannot reach the socket a C library opened and reads
 * itself.  That is lab 5's lesson.
 *
 * db_patch() is the other switch, the counterpart of psycogreen's
 * patch_psycopg() (which registers a wait callback with psycopg2): from
 * then on every wait for libpq's socket goes through io_wait() -- in the
 * hub, suspending only the calling fiber, once the evented worker has
 * patched IO.  That is lab 6.  Either way the driver uses libpq's
 * asynchronous calls (PQconnectStartParams() and PQconnectPoll(),
 * PQsendQuery(), PQconsumeInput() and PQisBusy()), so that it is the one
 * that waits, never libpq: only the waits differ.
 *
 * Whether io_patch() alone makes the database cooperative: it does not,
 * on purpose -- patching sockets does not patch a C driver.  And
 * db_patch() alone cooperates only where IO is patched: io_wait() under
 * the sync worker is poll(), and blocks as the blocking driver does.
 *
 * The deadline, db_timeout() seconds (5 unless db_set_timeout() says
 * otherwise), either way: connecting may take that long; a query that
 * runs longer is cancelled by the server itself (its statement_timeout,
 * set on every connection), and the driver gives up a second after that
 * on a server that has not answered at all, and closes that connection.
 * Such a query fails with DB_TIMED_OUT.
 *
 * A connection serves one query at a time, so concurrent queries need
 * several: the pool holds at most db_pool_size() of them, opened when first
 * needed and kept.  A fiber that finds them all busy waits for one (in
 * turn), so ten queries spawned at once on a pool of four take three
 * rounds.  A connection that fails (the server went away, the backend was
 * terminated) is closed and replaced by the next query that needs one; so
 * is one whose answer did not come to its end: what it would say next is
 * unknown.
 *
 * Errors come back as -1 (or DB_TIMED_OUT) and a message naming the
 * problem, never a crash.
 */
#ifndef DB_H
#define DB_H

#include <stdbool.h>
#include <stddef.h>

enum { DB_MAX_POOL = 64 };

/* Seconds: a few more than the longest query the kit runs (2 s, in its
 * tests; 0.1 s times --delay-scale in a lab). */
#define DB_DEFAULT_TIMEOUT 5.0

/* Where the database is (a libpq conninfo string) and how many
 * connections the pool may hold (1 .. DB_MAX_POOL). */
void db_configure(const char *conninfo, int pool_size);
int db_pool_size(void);

/* The deadline, in seconds (> 0): set it before the first query. */
void db_set_timeout(double seconds);
double db_timeout(void);

/* Make the driver cooperative: psycogreen's patch_psycopg(). */
void db_patch(void);
bool db_patched(void);

/* Run SELECT pg_sleep(seconds) on a connection from the pool: 0, or -1
 * with what went wrong in err, or DB_TIMED_OUT when it was the deadline. */
enum { DB_TIMED_OUT = -2 };
int db_sleep(double seconds, char *err, size_t errlen);

/* Close every connection (idle ones; none may be in use). */
void db_close_all(void);

#endif
