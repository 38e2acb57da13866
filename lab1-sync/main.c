/*
 * One lab: the note's Flask route (hello) and its gunicorn command line
 * (main).  The labs share every other line of code; what this one
 * changes from its neighbours is the download call in hello() and the
 * worker named in main().  See notes/ for what each choice does.
 */
#include "answer.h"
#include "app.h"
#include "lab.h"
#include "util.h"

/* GET /hello: download the URLs, log what happened, answer with the time. */
static void hello(const struct http_request *req, struct http_response *res)
{
	struct downloads d;
	double start = now();

	sync_download(&d);
	double total = now() - start;
	app_log(&d, total);
	app_answer(req, res, &d, total);
}

int main(int argc, char **argv)
{
	return lab_main(argc, argv, "lab1-sync", "sequential downloads", serve_sync, hello);
}
