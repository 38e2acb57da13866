/*
 * A database lab: the evented worker, /db's ten queries through libpq, and
 * /hello as in lab 4.  Lab 5 and lab 6 share every line but one: lab 6
 * makes the database driver cooperative (db_patch(), psycogreen's
 * patch_psycopg()).  The worker patches the sockets either way; see
 * notes/lab5-evented-db-blocking.md for why that is not enough.
 */
#include "answer.h"
#include "app.h"
#include "db.h"
#include "dblab.h"
#include "queries.h"
#include "util.h"

/* GET /hello: as lab 4's, to show what else waits while /db runs. */
static void hello(const struct http_request *req, struct http_response *res)
{
	struct downloads d;
	double start = now();

	async_download(&d);
	double total = now() - start;
	app_log(&d, total);
	app_answer(req, res, &d, total);
}

/* GET /db: ten queries one after another; /db?spawn=1: one fiber each. */
static void query(const struct http_request *req, struct http_response *res)
{
	struct queries q;
	double start = now();

	if (http_query_flag(req->query, "spawn"))
		async_queries(&q);
	else
		sync_queries(&q);
	double total = now() - start;
	queries_log(&q, total);
	queries_answer(res, &q, total);
}

int main(int argc, char **argv)
{
	return dblab_main(argc, argv, "lab5-evented-db-blocking", serve_evented, hello, query);
}
