/*
 * queries: the /db route's application -- ten queries that each take a
 * tenth of a second in the server (SELECT pg_sleep(0.1)), made the two
 * ways app.h downloads its URLs, and what the lab says about them.
 *
 * sync_queries() runs them one after another, as a Flask view calling
 * cursor.execute() ten times; async_queries() spawns one fiber per query
 * and joins them, as gevent.spawn + gevent.joinall.  Neither knows whether
 * the driver is patched (db_patch()) or the worker evented: that decides
 * whether anything overlaps, not this code.
 */
#ifndef QUERIES_H
#define QUERIES_H

#include <stdbool.h>

#include "http.h"

enum { QUERIES = 10 };

struct query_result {
	double start, end;	/* now() */
	bool ok;
	bool timed_out;		/* it failed at the database's deadline */
	char error[256];	/* when not ok: what went wrong */
};

struct queries {
	int n;
	double start;
	struct query_result r[QUERIES];
};

/* Seconds each query sleeps in the server (default 0.1). */
void queries_set_time(double seconds);
double queries_time(void);

/* One after another; the first that fails at the database's deadline
 * ends them (the rest are not sent), as the exception that
 * cursor.execute() raises would: a request waits for the deadline once,
 * not ten times. */
void sync_queries(struct queries *q);
void async_queries(struct queries *q);


/* On stdout: one line per /db, saying how many queries failed and how
 * long they took, and a timeline row per query, as app_log() draws them. */
void queries_log(const struct queries *q, double elapsed);

/* The answer, /hello's JSON: {"code": 0, "message": "success", "data":
 * elapsed}, or code 1, status 502 (504 when a query failed at the
 * database's deadline) and a message naming the first error ("3 of 10
 * queries failed: cannot connect to the database: ..."). */
void queries_answer(struct http_response *res, const struct queries *q, double elapsed);

#endif
