/*
 * page: what a lab serves a browser besides /hello.
 *
 * GET / is the classroom page (common/page.html, built into every lab): it
 * races labs against each other and draws each request's downloads from
 * their /hello?trace=1 answers.  GET /about is what the page shows about
 * the lab, from the lab itself: name, worker, download style, and S and M
 * at this delay scale (null when --urls names the URLs).  The page is
 * served from one lab's port and asks the others, so /hello and /about
 * carry "Access-Control-Allow-Origin: *", and OPTIONS on them (a CORS
 * preflight) gets 200, the methods and no content.  Nothing else changes
 * for other clients: every path but these stays the lab's to answer.
 */
#ifndef PAGE_H
#define PAGE_H

#include <stdbool.h>

#include "http.h"

struct page_facts {
	const char *name;	/* "lab4-evented-async" */
	const char *worker;	/* "sync" or "evented" */
	const char *style;	/* "one fiber per download" */
	double s, m;		/* seconds at the delay scale; < 0: unknown */
};

/* What /about says; the strings must outlive the lab. */
void page_set_facts(const struct page_facts *f);

/* Answer /, /about and preflights; make /hello's answer readable from
 * any origin.  Returns true when res is the answer, false when the
 * request is still the caller's to route. */
bool page_route(const struct http_request *req, struct http_response *res);

#endif
