/*
 * db.c: a pool of libpq connections; queries blocking or through io_wait().
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "fiber.h"
#include "io.h"
#include "util.h"

static const double connect_timeout = 5;	/* seconds, cooperative or not */

static char *conninfo;
static int pool_size = 10;
static bool patched;

struct db_conn {
	PGconn *pg;		/* NULL: not open */
	bool busy;
};
static struct db_conn pool[DB_MAX_POOL];

/* A fiber waiting for a connection, on its own stack: release() hands
 * it one, given, and wakes it. */
struct waiter {
	fiber *f;
	struct db_conn *given;
};

/* The fibers waiting, first come first served. */
static struct waiter *waiting[1024];
static int nwaiting;

void db_configure(const char *info, int size)
{
	conninfo = strdup(info);
	if (!conninfo)
		die("db: out of memory");
	if (size < 1 || size > DB_MAX_POOL)
		die("db: pool size %d", size);
	pool_size = size;
}

int db_pool_size(void)
{
	return pool_size;
}

void db_patch(void)
{
	patched = true;
}

bool db_patched(void)
{
	return patched;
}

/* libpq's messages end with a newline and may run over several lines:
 * keep the first line, for a one-line JSON message. */
static void copy_message(char *err, size_t errlen, const char *what, const char *msg)
{
	size_t n = strcspn(msg, "\n");
	snprintf(err, errlen, "%s: %.*s", what, (int)n, msg);
}

/* Wait on the connection's socket: libpq's own poll(), in the patched
 * driver, becomes this. */
static int wait_socket(PGconn *pg, int events, double deadline)
{
	int fd = PQsocket(pg);
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	return io_wait(fd, events, deadline);
}

/* The conninfo, with connect_timeout added (a later keyword wins): a
 * server that never answers costs a few seconds, not forever. */
static const char *const keywords[] = { "dbname", "connect_timeout", NULL };

static const char *const *values(void)
{
	static const char *v[3];
	static char timeout[16];
	snprintf(timeout, sizeof timeout, "%d", (int)connect_timeout);
	v[0] = conninfo;
	v[1] = timeout;
	return v;
}

/* Connect cooperatively: PQconnectStartParams, then PQconnectPoll says
 * which way to wait each time, until it is done.  A connection that
 * failed is returned all the same, for its message. */
static PGconn *connect_cooperative(void)
{
	PGconn *pg = PQconnectStartParams(keywords, values(), 1);
	if (!pg || PQstatus(pg) == CONNECTION_BAD)
		return pg;
	double deadline = now() + connect_timeout;
	PostgresPollingStatusType s = PGRES_POLLING_WRITING;
	while (s != PGRES_POLLING_OK && s != PGRES_POLLING_FAILED) {
		int events = s == PGRES_POLLING_READING ? FIBER_READ : FIBER_WRITE;
		if (wait_socket(pg, events, deadline) < 0)
			break;
		s = PQconnectPoll(pg);
	}
	return pg;
}

/* Open c: 0, or -1 with the server's reason in err. */
static int open_conn(struct db_conn *c, char *err, size_t errlen)
{
	PGconn *pg = patched ? connect_cooperative()
			     : PQconnectdbParams(keywords, values(), 1);
	if (!pg) {
		snprintf(err, errlen, "cannot connect to the database: out of memory");
		return -1;
	}
	if (PQstatus(pg) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(pg);
		copy_message(err, errlen, "cannot connect to the database", *msg ? msg :
			     io_aborted() ? "the server is stopping" : "no answer in time");
		PQfinish(pg);
		return -1;
	}
	if (patched)
		PQsetnonblocking(pg, 1);
	c->pg = pg;
	return 0;
}

/* Take w out of the queue of fibers waiting for a connection. */
static void unqueue(struct waiter *w)
{
	for (int i = 0; i < nwaiting; i++)
		if (waiting[i] == w) {
			memmove(waiting + i, waiting + i + 1, (size_t)(--nwaiting - i) * sizeof waiting[0]);
			return;
		}
}

/* An idle open connection, else a slot to open one in; NULL when every
 * one is busy. */
static struct db_conn *take_free(void)
{
	struct db_conn *slot = NULL;
	for (int i = 0; i < pool_size; i++) {
		if (pool[i].busy)
			continue;
		if (pool[i].pg) {
			pool[i].busy = true;
			return &pool[i];
		}
		if (!slot)
			slot = &pool[i];
	}
	if (slot)
		slot->busy = true;
	return slot;
}

/* Give c back; a broken connection is closed, to be opened anew.  The
 * first fiber waiting gets it from hand to hand: still busy, it is never
 * free for a fiber that asks later -- the one giving it back, say, on its
 * way to its next query -- to take first. */
static void release(struct db_conn *c)
{
	if (c->pg && PQstatus(c->pg) != CONNECTION_OK) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	if (nwaiting == 0) {
		c->busy = false;
		return;
	}
	struct waiter *w = waiting[0];
	unqueue(w);
	w->given = c;
	fiber_wake(w->f);
}

/* A connection for this fiber: a free one when nobody is waiting, else
 * its turn after those who are -- release() hands it one.  Blocking, a
 * query never yields while it holds one, so nobody ever waits. */
static struct db_conn *acquire(void)
{
	struct db_conn *c = nwaiting == 0 ? take_free() : NULL;
	if (c)
		return c;
	if (nwaiting == (int)(sizeof waiting / sizeof waiting[0]))
		return NULL;
	struct waiter me = { .f = fiber_self() };
	waiting[nwaiting++] = &me;
	struct io_cancellable turn = { .f = me.f };
	io_cancellable(&turn);	/* a stop cancels the wait (io.h) */
	while (!me.given && !io_aborted())
		fiber_suspend("waiting for a database connection");
	io_cancellable_end(&turn);
	if (!me.given) {	/* cancelled: no longer in the queue */
		unqueue(&me);
		return NULL;
	}
	if (io_aborted()) {	/* cancelled, and given one all the same: pass it on */
		release(me.given);
		return NULL;
	}
	return me.given;
}

/* Wait on the socket until libpq holds the next result whole, so that
 * PQgetResult() returns at once: while PQisBusy() says more must come,
 * wait for it and let PQconsumeInput() read it.  PQgetResult() called
 * sooner would wait in libpq's own poll() -- the whole hub with it -- and
 * an answer may come in parts: the result, then the ReadyForQuery that
 * ends it (together on a Unix socket, often apart over TCP or TLS). */
static int await_result(PGconn *pg)
{
	while (PQisBusy(pg))
		if (wait_socket(pg, FIBER_READ, IO_FOREVER) < 0 || !PQconsumeInput(pg))
			return -1;
	return 0;
}

/* Read every result of the query sent, keeping the first error: 0, -1
 * (err says why), or -2 when the connection broke on the way. */
static int collect(PGconn *pg, char *err, size_t errlen)
{
	int rc = 0;
	PGresult *r;
	for (;;) {
		if (await_result(pg) < 0)
			return -2;
		if ((r = PQgetResult(pg)) == NULL)
			return rc;
		ExecStatusType s = PQresultStatus(r);
		if (rc == 0 && s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
			copy_message(err, errlen, "the query failed", PQresultErrorMessage(r));
			rc = -1;
		}
		PQclear(r);
		if (PQstatus(pg) == CONNECTION_BAD)
			return rc;
	}
}

/* The blocking driver: PQexec waits in libpq. */
static int query_blocking(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(pg, sql);
	ExecStatusType s = PQresultStatus(r);	/* NULL: PGRES_FATAL_ERROR */
	int rc = 0;
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		const char *msg = r ? PQresultErrorMessage(r) : "";
		copy_message(err, errlen, "the query failed",
			     *msg ? msg : PQerrorMessage(pg));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* The patched driver: send, then read the answer, waiting on the socket
 * each time libpq has not got all of what it needs (collect). */
static int query_cooperative(PGconn *pg, const char *sql, char *err, size_t errlen)
{
	if (!PQsendQuery(pg, sql)) {
		copy_message(err, errlen, "the query failed", PQerrorMessage(pg));
		return -1;
	}
	int f, rc;
	while ((f = PQflush(pg)) == 1)
		if (wait_socket(pg, FIBER_READ | FIBER_WRITE, IO_FOREVER) < 0 ||
		    !PQconsumeInput(pg))
			goto broken;
	if (f < 0)
		goto broken;
	rc = collect(pg, err, errlen);
	if (rc != -2)
		return rc;
broken:
	if (errno == EINTR && io_aborted())
		snprintf(err, errlen, "the query failed: the server is stopping");
	else
		copy_message(err, errlen, "the query failed", PQerrorMessage(pg));
	/* a query may still be running there: this connection cannot be reused */
	PQfinish(pg);
	return -2;
}

int db_sleep(double seconds, char *err, size_t errlen)
{
	if (io_aborted()) {
		snprintf(err, errlen, "the query failed: the server is stopping");
		return -1;
	}
	if (!conninfo)
		die("db: db_sleep before db_configure");
	struct db_conn *c = acquire();
	if (!c) {
		snprintf(err, errlen, io_aborted() ? "the query failed: the server is stopping"
			 : "no database connection: too many fibers waiting for one");
		return -1;
	}
	int rc = c->pg ? 0 : open_conn(c, err, errlen);
	if (rc == 0) {
		char sql[64];
		snprintf(sql, sizeof sql, "SELECT pg_sleep(%.6f)", seconds);
		rc = patched ? query_cooperative(c->pg, sql, err, errlen)
			     : query_blocking(c->pg, sql, err, errlen);
		if (rc == -2) {		/* closed already */
			c->pg = NULL;
			rc = -1;
		}
	}
	release(c);
	return rc;
}

void db_close_all(void)
{
	for (int i = 0; i < DB_MAX_POOL; i++)
		if (pool[i].pg && !pool[i].busy) {
			PQfinish(pool[i].pg);
			pool[i].pg = NULL;
		}
}
