/*
 * page.c: the classroom page, /about, and the CORS lines they need.
 */
#include <string.h>

#include "page.h"

/* common/page.html as a string: the Makefile makes this array from the
 * file (build/common/page_html.c), bytes and a NUL after them. */
extern const char page_html[];

static struct page_facts facts;

/* A simple cross-origin GET needs only this; the page sends no header of
 * its own, so a browser has no reason to preflight, but may. */
#define ANY_ORIGIN "Access-Control-Allow-Origin: *\r\n"
#define PREFLIGHT ANY_ORIGIN "Access-Control-Allow-Methods: GET, HEAD\r\n" \
		  "Access-Control-Max-Age: 600\r\n"

void page_set_facts(const struct page_facts *f)
{
	facts = *f;
}

/* A time in JSON: seconds, or null when the lab cannot know it. */
static void seconds(struct http_response *res, const char *key, double t)
{
	if (t < 0)
		http_printf(res, ", \"%s\": null", key);
	else
		http_printf(res, ", \"%s\": %.6f", key, t);
}

/* The strings are the lab's own constants: no escaping needed. */
static void about(struct http_response *res)
{
	res->content_type = "application/json; charset=utf-8";
	http_printf(res, "{\"name\": \"%s\", \"worker\": \"%s\", \"style\": \"%s\"",
		    facts.name, facts.worker, facts.style);
	seconds(res, "s", facts.s);
	seconds(res, "m", facts.m);
	http_printf(res, "}");
}

static void page(struct http_response *res)
{
	res->content_type = "text/html; charset=utf-8";
	http_printf(res, "%s", page_html);
}

bool page_route(const struct http_request *req, struct http_response *res)
{
	bool hello = strcmp(req->path, "/hello") == 0;
	bool is_about = strcmp(req->path, "/about") == 0;
	bool root = strcmp(req->path, "/") == 0;
	bool get = strcmp(req->method, "GET") == 0 || req->head;

	if (hello || is_about)
		res->headers = ANY_ORIGIN;
	if ((hello || is_about) && strcmp(req->method, "OPTIONS") == 0) {
		res->content_type = NULL;
		res->allow = HTTP_SERVER_ALLOW;
		res->headers = PREFLIGHT;
		return true;
	}
	if (!root && !is_about)
		return false;	/* /hello's answer, or a 404, is the lab's */
	if (!get) {
		http_error(res, 405);
		res->allow = is_about ? HTTP_SERVER_ALLOW : "GET, HEAD";
	} else if (root) {
		page(res);
	} else {
		about(res);
	}
	return true;
}
