/*
 * answer.c: what a lab says about one /hello -- on its terminal, the
 * statuses and a timeline of the downloads; to the client, the JSON.
 */
#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "timeline.h"

/* The part of a URL after its host, for a short row label. */
static const char *label_of(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	return p && p[1] ? p : url;
}

void app_log(const struct downloads *d, double elapsed)
{
	flockfile(stdout);	/* one request's lines together, even from threads */
	printf("[");
	for (int i = 0; i < d->n; i++)
		printf(i ? ", %ld" : "%ld", d->r[i].status);
	printf("] %.3fs\n", elapsed);
	double span = elapsed > 0 ? elapsed : 1e-6;
	for (int i = 0; i < d->n; i++) {
		char status[16];
		snprintf(status, sizeof status, "%ld", d->r[i].status);
		timeline_row(label_of(app_url(i)), d->r[i].start, d->r[i].end, d->start,
			     span, status);
	}
	timeline_axis(elapsed);
	fflush(stdout);
	funlockfile(stdout);
}

static bool failed(const struct fetch_result *r)
{
	return r->status == 0 || r->status >= 500;
}

static void trace(struct http_response *res, const struct downloads *d)
{
	http_printf(res, ", \"trace\": [");
	for (int i = 0; i < d->n; i++) {
		const struct fetch_result *r = &d->r[i];
		http_printf(res, "%s{\"url\": \"", i ? ", " : "");
		http_json_string(res, app_url(i));
		http_printf(res, "\", \"status\": %ld, \"start\": %.6f, \"end\": %.6f}",
			    r->status, r->start - d->start, r->end - d->start);
	}
	http_printf(res, "]");
}

/* The message for a failed /hello: which URLs failed, and why. */
static void failures(struct http_response *res, const struct downloads *d, int nfailed)
{
	http_printf(res, "%d of %d downloads failed:", nfailed, d->n);
	for (int i = 0; i < d->n; i++) {
		const struct fetch_result *r = &d->r[i];
		if (!failed(r))
			continue;
		http_printf(res, " ");
		http_json_string(res, app_url(i));
		if (r->status) {
			http_printf(res, " (HTTP %ld);", r->status);
		} else {
			http_printf(res, " (");
			http_json_string(res, r->error);
			http_printf(res, ");");
		}
	}
}

void app_answer(const struct http_request *req, struct http_response *res,
		const struct downloads *d, double elapsed)
{
	int nfailed = 0;
	bool timed_out = false;
	for (int i = 0; i < d->n; i++) {
		nfailed += failed(&d->r[i]);
		timed_out |= d->r[i].timed_out;
	}
	res->content_type = "application/json; charset=utf-8";
	if (nfailed == 0) {
		http_printf(res, "{\"code\": 0, \"message\": \"success\"");
	} else {
		res->status = timed_out ? 504 : 502;
		http_printf(res, "{\"code\": 1, \"message\": \"");
		failures(res, d, nfailed);
		http_printf(res, "\"");
	}
	http_printf(res, ", \"data\": %.6f", elapsed);
	if (http_query_flag(req->query, "trace"))
		trace(res, d);
	http_printf(res, "}");
}
