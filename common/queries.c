/*
 * queries.c: the ten queries, one after another or side by side.
 */
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "fiber.h"
#include "queries.h"
#include "timeline.h"
#include "util.h"

static double query_time = 0.1;

void queries_set_time(double seconds)
{
	query_time = seconds;
}

double queries_time(void)
{
	return query_time;
}

static void run_one(struct query_result *r)
{
	r->start = now();
	r->error[0] = '\0';
	int rc = db_sleep(query_time, r->error, sizeof r->error);
	r->ok = rc == 0;
	r->timed_out = rc == DB_TIMED_OUT;
	r->end = now();
}

/* A query not sent, after one that passed the deadline. */
static void not_sent(struct query_result *r)
{
	double t = now();
	*r = (struct query_result){ .start = t, .end = t,
				    .error = "not sent: a query before it timed out" };
}

void sync_queries(struct queries *q)
{
	bool gave_up = false;
	q->start = now();
	q->n = QUERIES;
	for (int i = 0; i < QUERIES; i++) {
		if (gave_up)
			not_sent(&q->r[i]);
		else
			run_one(&q->r[i]);
		gave_up |= q->r[i].timed_out;
	}
}

/* $begin spawn-join: what one query fiber runs: one query into its result */
static void query_fiber(void *arg)
{
	run_one(arg);
}
/* $end spawn-join */

/* gevent.spawn for each query, then joinall: async_download()'s pattern. */
void async_queries(struct queries *q)
{
	q->start = now();
	/* $begin spawn-join: as async_download(): spawn one fiber per query (fiber_spawn; NULL: that query fails at once), then join them all; set q->n to how many */
	fiber *fibers[QUERIES];

	q->n = QUERIES;
	for (int i = 0; i < QUERIES; i++) {
		fibers[i] = fiber_spawn(query_fiber, &q->r[i], "query");
		if (!fibers[i]) {
			double t = now();
			q->r[i] = (struct query_result){ .start = t, .end = t,
							 .error = "no memory for a fiber" };
		}
	}
	for (int i = 0; i < QUERIES; i++)
		if (fibers[i])
			fiber_join(fibers[i]);
	/* $end spawn-join; stub: q->n = 0; */
}

void queries_log(const struct queries *q, double elapsed)
{
	int failed = 0;
	for (int i = 0; i < q->n; i++)
		failed += !q->r[i].ok;
	flockfile(stdout);	/* one request's lines together, even from threads */
	printf("[%d queries, %d failed] %.3fs\n", q->n, failed, elapsed);
	double span = elapsed > 0 ? elapsed : 1e-6;
	for (int i = 0; i < q->n; i++) {
		const struct query_result *r = &q->r[i];
		char label[32];
		snprintf(label, sizeof label, "query %d", i + 1);
		timeline_row(label, r->start, r->end, q->start, span, r->ok ? "ok" : "ERR");
	}
	timeline_axis(elapsed);
	fflush(stdout);
	funlockfile(stdout);
}

void queries_answer(struct http_response *res, const struct queries *q, double elapsed)
{
	int failed = 0;
	bool timed_out = false;
	const char *first = NULL;
	for (int i = 0; i < q->n; i++)
		if (!q->r[i].ok) {
			failed++;
			timed_out |= q->r[i].timed_out;
			if (!first)
				first = q->r[i].error;
		}
	res->content_type = "application/json; charset=utf-8";
	if (failed == 0) {
		http_printf(res, "{\"code\": 0, \"message\": \"success\"");
	} else {
		res->status = timed_out ? 504 : 502;
		http_printf(res, "{\"code\": 1, \"message\": \"%d of %d queries failed: ",
			    failed, q->n);
		http_json_string(res, first);
		http_printf(res, "\"");
	}
	http_printf(res, ", \"data\": %.6f}", elapsed);
}
