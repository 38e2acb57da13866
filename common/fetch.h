/*
 * fetch: one download, as the note's _download(url) does with
 * requests.get() -- the IO call the lesson is about.
 *
 * Blocking, it is curl_easy_perform(): the whole process waits.  Once
 * io_patch() has been called (io.h), it runs on libcurl's multi interface
 * on the hub: only the calling fiber waits.  The caller cannot tell which;
 * that is the point.  Connections to the same host are reused both ways
 * (unless fetch_set_reuse(false)).
 * After io_abort() every fetch in flight ends, and new ones fail at once,
 * with the error "the server is stopping".
 *
 * Threads: a blocking fetch may run in any thread; each thread has its own
 * libcurl handle and so its own reused connections.  The cooperative side
 * (the multi handles on the hub) is per process and for the thread that
 * called io_patch().  curl_global_init() runs once per process.
 */
#ifndef FETCH_H
#define FETCH_H

#include <stdbool.h>
#include <stddef.h>

struct fetch_result {
	long status;		/* HTTP status, 0 when the fetch failed */
	double start, end;	/* now() when it began and when it ended */
	size_t bytes;		/* body size; the body itself is dropped */
	bool timed_out;		/* it failed because it took too long */
	bool reused;		/* it went over a connection opened before */
	char error[256];	/* why it failed, "" when it did not */
};

/* GET url, following redirects, reusing connections to the same host.
 * Returns the HTTP status, or -1 when no answer came (r->error says why). */
int fetch(const char *url, struct fetch_result *r);

/* Seconds one fetch may take in all (default 10). */
void fetch_set_timeout(double seconds);

/* Keep connections for the next fetch (true, the default), or open a new
 * one for every fetch and close it after, as the note's requests.get() did
 * (a new session each call): the cost of a connection per download. */
void fetch_set_reuse(bool reuse);

#endif
