/*
 * db: the labs' database driver -- libpq behind a pool of connections,
 * blocking or cooperative.
 *
 * Blocking, the default, is a C driver as it comes (psycopg2, MySQLdb):
 * PQconnectdbParams() and PQexec() wait inside libpq, in its own poll()
 * on its own socket, and the whole process waits with them.  io_patch() changes
 * nothing here, just as gevent's monkey.patch_all() patches Python's
 * socket module but cannot reach the socket a C library opened and reads
 * itself.  That is lab 5's lesson.
 *
 * db_patch() is the other switch, the counterpart of psycogreen's
 * patch_psycopg() (which registers a wait callback with psycopg2): from
 * then on connections are made with PQconnectStartParams() and
 * PQconnectPoll(), queries sent with PQsendQuery(), and every wait for
 * libpq's socket goes through io_wait() -- in the hub, suspending only the
 * calling fiber, once the evented worker has patched IO.  That is lab 6.
 *
 * Whether io_patch() alone makes the database cooperative: it does not,
 * on purpose -- patching sockets does not patch a C driver.  And
 * db_patch() alone cooperates only where IO is patched: io_wait() under
 * the sync worker is poll(), and blocks as PQexec() does.  Connecting
 * gives up after 5 seconds either way.
 *
 * A connection serves one query at a time, so concurrent queries need
 * several: the pool holds at most db_pool_size() of them, opened when first
 * needed and kept.  A fiber that finds them all busy waits for one (in
 * turn), so ten queries spawned at once on a pool of four take three
 * rounds.  A connection that fails (the server went away, the backend was
 * terminated) is closed and replaced by the next query that needs one.
 *
 * Errors come back as -1 and a message naming the problem, never a crash.
 */
#ifndef DB_H
#define DB_H

#include <stdbool.h>
#include <stddef.h>

enum { DB_MAX_POOL = 64 };

/* Where the database is (a libpq conninfo string) and how many
 * connections the pool may hold (1 .. DB_MAX_POOL). */
void db_configure(const char *conninfo, int pool_size);
int db_pool_size(void);

/* Make the driver cooperative: psycogreen's patch_psycopg(). */
void db_patch(void);
bool db_patched(void);

/* Run SELECT pg_sleep(seconds) on a connection from the pool: 0, or -1
 * with what went wrong in err. */
int db_sleep(double seconds, char *err, size_t errlen);

/* Close every connection (idle ones; none may be in use). */
void db_close_all(void);

#endif
