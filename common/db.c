/*
 * db.c: a pool of libpq connections; every wait for libpq's socket in
 * poll(2) or in io_wait(), and none past the database's deadline.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "fiber.h"
#include "io.h"
#include "util.h"

/* A server that is still running a query at the deadline cancels it and
 * says so; the lab waits this much longer for that answer before it gives
 * up on a server that says nothing at all. */
static const double silence = 1;

static char *conninfo;
static int pool_size = 10;
static double timeout = DB_DEFAULT_TIMEOUT;
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

void db_set_timeout(double seconds)
{
	if (!(seconds > 0))
		die("db: timeout %g", seconds);
	timeout = seconds;
}

double db_timeout(void)
{
	return timeout;
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

/* Wait on the connection's socket until the deadline: in poll(2), or,
 * in the patched driver, in io_wait() -- where libpq's own poll() would
 * wait, psycogreen's callback waits in gevent's hub.  1, or -1 with errno
 * (ETIMEDOUT; EINTR: cancelled, io.h). */
static int wait_socket(PGconn *pg, int events, double deadline)
{
	int fd = PQsocket(pg);
	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	/* unpatched, poll(2) itself, as libpq does inside PQexec(): the whole
	 * process waits, every fiber with it, though io_patch() has run */
	return patched ? io_wait(fd, events, deadline)
		       : io_wait_blocking(fd, events, deadline);
}

/* One wait on the socket, then read what came: 0, or -1 with errno
 * (ETIMEDOUT, EINTR, or EPIPE when libpq found the connection broken). */
static int wait_and_read(PGconn *pg, int events, double deadline)
{
	if (wait_socket(pg, events, deadline) < 0)
		return -1;
	if (!PQconsumeInput(pg)) {
		errno = EPIPE;
		return -1;
	}
	return 0;
}

/* The options the server gets at the start of every connection: those
 * of the conninfo (or $PGOPTIONS), and the deadline of each statement,
 * statement_timeout, in milliseconds. */
static void server_options(char *buf, size_t len)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *given = getenv("PGOPTIONS");
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val)
			given = o->val;
	long ms = (long)(timeout * 1000 + 0.5);
	snprintf(buf, len, "%s%s-c statement_timeout=%ld", given ? given : "",
		 given && *given ? " " : "", ms > 0 ? ms : 1);
	PQconninfoFree(opts);
}

/* Start connecting: the conninfo, and the options after it (a later
 * keyword wins, so they include the conninfo's own). */
static PGconn *start_connecting(void)
{
	static const char *const keywords[] = { "dbname", "options", NULL };
	char options[512];
	server_options(options, sizeof options);
	const char *const values[] = { conninfo, options, NULL };
	return PQconnectStartParams(keywords, values, 1);
}

/* Why pg did not connect, in err: -1, or DB_TIMED_OUT when the server
 * said nothing in time.  `waited` is the errno of the wait that ended it
 * (0: none did). */
static int connect_failed(PGconn *pg, int waited, char *err, size_t errlen)
{
	static const char what[] = "cannot connect to the database";
	const char *msg = pg ? PQerrorMessage(pg) : "out of memory";
	if (waited == ETIMEDOUT) {
		snprintf(err, errlen, "%s: no answer in %gs", what, timeout);
		return DB_TIMED_OUT;
	}
	if (waited == EINTR && io_aborted())
		msg = "the server is stopping";
	copy_message(err, errlen, what, *msg ? msg : strerror(waited));
	return -1;
}

/* Connect: PQconnectStartParams, then PQconnectPoll says which way to
 * wait each time, until it is done -- each wait in wait_socket(), all of
 * them within the deadline.  0 with the connection in *out, else what
 * connect_failed() says. */
static int connect_db(PGconn **out, char *err, size_t errlen)
{
	double deadline = now() + timeout;
	PGconn *pg = start_connecting();
	PostgresPollingStatusType s = PGRES_POLLING_WRITING;
	int waited = 0;
	while (pg && PQstatus(pg) != CONNECTION_BAD && s != PGRES_POLLING_OK) {
		int events = s == PGRES_POLLING_READING ? FIBER_READ : FIBER_WRITE;
		if (wait_socket(pg, events, deadline) < 0) {
			waited = errno;
			break;
		}
		s = PQconnectPoll(pg);
	}
	if (pg && PQstatus(pg) == CONNECTION_OK) {
		PQsetnonblocking(pg, 1);	/* sending, too, waits in wait_socket() */
		*out = pg;
		return 0;
	}
	int rc = connect_failed(pg, waited, err, errlen);
	PQfinish(pg);
	return rc;
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

/* Wait until libpq holds the next result whole, so that PQgetResult()
 * returns at once: while PQisBusy() says more must come, wait for it and
 * let PQconsumeInput() read it.  PQgetResult() called sooner would wait
 * in libpq's own poll() -- in the patched driver, the whole hub with it,
 * and either way with no deadline -- and an answer may come in parts: the
 * result, then the ReadyForQuery that ends it (together on a Unix socket,
 * often apart over TCP or TLS). */
static int await_result(PGconn *pg, double deadline)
{
	while (PQisBusy(pg))
		if (wait_and_read(pg, FIBER_READ, deadline) < 0)
			return -1;
	return 0;
}

/* What a result says: 0, or, with the server's message in err, -1 or
 * DB_TIMED_OUT for a statement the server cancelled (SQLSTATE 57014,
 * query_canceled: at its statement_timeout, here). */
static int failure(const PGresult *r, char *err, size_t errlen)
{
	ExecStatusType s = PQresultStatus(r);
	if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK)
		return 0;
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	bool cancelled = state && strcmp(state, "57014") == 0;
	copy_message(err, errlen, cancelled ? "the query timed out" : "the query failed",
		     PQresultErrorMessage(r));
	return cancelled ? DB_TIMED_OUT : -1;
}

/* The answer did not come to its end (errno says why): the query may
 * still be running there, and what the connection would say next is
 * unknown, so it is closed, never reused.  -1, or DB_TIMED_OUT, with the
 * reason in err. */
static int lost(struct db_conn *c, char *err, size_t errlen)
{
	int why = errno, rc = -1;
	if (why == ETIMEDOUT) {
		snprintf(err, errlen, "the query timed out: no answer in %gs", timeout + silence);
		rc = DB_TIMED_OUT;
	} else if (why == EINTR && io_aborted()) {
		snprintf(err, errlen, "the query failed: the server is stopping");
	} else {
		copy_message(err, errlen, "the query failed", PQerrorMessage(c->pg));
	}
	PQfinish(c->pg);
	c->pg = NULL;
	return rc;
}

/* Read every result of the query sent, keeping the first error. */
static int collect(struct db_conn *c, double deadline, char *err, size_t errlen)
{
	int rc = 0;
	for (;;) {
		if (await_result(c->pg, deadline) < 0)
			return lost(c, err, errlen);
		PGresult *r = PQgetResult(c->pg);
		if (!r)
			return rc;
		if (rc == 0)
			rc = failure(r, err, errlen);
		PQclear(r);
		if (PQstatus(c->pg) == CONNECTION_BAD)
			return rc;
	}
}

/* Send sql on c, then read its answer, waiting on the socket each time
 * libpq has not got all it needs -- in poll(2) or in the hub, as
 * wait_socket() does -- and never past the server's deadline and a
 * second more: 0, -1 or DB_TIMED_OUT, with the reason in err. */
static int run_query(struct db_conn *c, const char *sql, char *err, size_t errlen)
{
	double deadline = now() + timeout + silence;
	if (!PQsendQuery(c->pg, sql)) {
		copy_message(err, errlen, "the query failed", PQerrorMessage(c->pg));
		return -1;
	}
	int f;
	while ((f = PQflush(c->pg)) == 1)
		if (wait_and_read(c->pg, FIBER_READ | FIBER_WRITE, deadline) < 0)
			return lost(c, err, errlen);
	if (f < 0) {
		errno = EPIPE;
		return lost(c, err, errlen);
	}
	return collect(c, deadline, err, errlen);
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
	int rc = c->pg ? 0 : connect_db(&c->pg, err, errlen);
	if (rc == 0) {
		char sql[64];
		snprintf(sql, sizeof sql, "SELECT pg_sleep(%.6f)", seconds);
		rc = run_query(c, sql, err, errlen);
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
