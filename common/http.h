/*
 * http: one HTTP/1.1 connection, from request bytes to response bytes.
 *
 * http_serve_connection() reads requests with Debian's http-parser, plus
 * the few checks the parser leaves to its user, hands each good request to
 * a handler, and writes the handler's response.  Bad input gets its 4xx
 * answer -- 501 for a method or a transfer coding the kit does not
 * implement -- and the connection is closed; it never ends the process.
 * A target in absolute form ("http://host/path?q") reaches the handler as
 * its path and query; OPTIONS * is answered here (200, Allow:
 * HTTP_SERVER_ALLOW, no content) and never reaches it.  The same code
 * serves both workers: all its IO goes through io_*, so it blocks the
 * process or only its fiber depending on io_patch().
 */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

enum {
	HTTP_MAX_HEAD = 8192,		/* request line + headers, else 431 */
	HTTP_MAX_TARGET = 2048,		/* request target, else 414 */
	HTTP_MAX_BODY = 64 * 1024,	/* else 413 */
	HTTP_MAX_CHUNK_LINE = 1024,	/* a chunk's size line, extensions and
					 * all, else 400 */
	HTTP_MAX_CODINGS = 256,		/* Transfer-Encoding, all its lines,
					 * else 431 */
	HTTP_LINGER_BYTES = 1024 * 1024, /* drained at most, closing (see below) */
	HTTP_LINGER_SECONDS = 2,	/* and for at most this (or the timeout) */
};

/* The methods the kit's servers take, for OPTIONS *. */
#define HTTP_SERVER_ALLOW "GET, HEAD, OPTIONS"

struct http_request {
	const char *method;		/* "GET", "HEAD", ... */
	char path[HTTP_MAX_TARGET];	/* the target's path, up to '?' */
	const char *query;		/* after '?', or "" */
	bool head;			/* HEAD: the answer has no body */
};

/* Does a request's query hold name=1 (/hello?trace=1, /db?spawn=1)? */
bool http_query_flag(const char *query, const char *name);

struct http_response {
	int status;
	const char *content_type;	/* NULL: no Content-Type header */
	const char *allow;		/* Allow header, for 405 */
	const char *headers;		/* more header lines, each ending in
					 * "\r\n" (e.g. CORS), or NULL */
	char *body;			/* grown by http_printf */
	size_t len, cap;
	/* When set, no response is written: the connection is handed to this
	 * function and closed as soon as it returns, for a handler that must
	 * misbehave on purpose (a test's; the upstream simulator's faults,
	 * /reset and /garbage, are its own loop's, simulator.c).  deadline
	 * bounds the IO the function does. */
	void (*takeover)(int fd, double deadline);
};

typedef void http_handler(const struct http_request *req,
			  struct http_response *res);

/* Answer requests on fd until the client is done, an error, or (when
 * keep_alive is false) the first answer; then close fd.  timeout bounds
 * how long a request may take to arrive, and each answer to leave.
 * When it ends a connection whose client may still be sending (a refused
 * request other than a 408, a pipelined request it will not read), it
 * first ends its own side, then reads and drops what still comes -- up to
 * HTTP_LINGER_BYTES, for HTTP_LINGER_SECONDS or the timeout if shorter --
 * and only then closes: a close with input unread resets the connection,
 * and a client still writing would never read its answer. */
void http_serve_connection(int fd, http_handler *handler, bool keep_alive,
			   double timeout);

/*
 * The same a request at a time, for a worker that hands connections
 * between threads (threaded_worker.c).  http_serve_one() reads one request
 * on hc and answers it, as http_serve_connection() would: true when the
 * connection stays open for the next request; false when it has been
 * closed and hc freed.  http_conn_has_input(): bytes of the next request
 * were read already (the client sent them early), so do not wait for the
 * fd to be readable first.  http_conn_close() closes an idle connection.
 */
struct http_conn;
struct http_conn *http_conn_new(int fd);
int http_conn_fd(const struct http_conn *hc);
bool http_conn_has_input(const struct http_conn *hc);
bool http_serve_one(struct http_conn *hc, http_handler *handler, bool keep_alive,
		    double timeout);
void http_conn_close(struct http_conn *hc);

/*
 * The same request reading for a server that does its own IO (the
 * upstream simulator's event loop): feed it the bytes of one request as
 * they arrive.  http_reader_feed() returns 0 once the request is complete
 * (then http_reader_request() is it), HTTP_NEED_MORE when it wants more
 * bytes, or the 4xx (or 501) status the bytes get; *used says how many
 * bytes it took -- after a complete request, the rest belong to the next
 * one, which a new reader reads.  The checks are http_serve_connection()'s,
 * all of them; OPTIONS * reaches the caller as the path "*".
 */
enum { HTTP_NEED_MORE = 1 };
struct http_reader;
struct http_reader *http_reader_new(void);
int http_reader_feed(struct http_reader *r, const char *bytes, size_t len,
		     size_t *used);
const struct http_request *http_reader_request(const struct http_reader *r);
bool http_reader_keep_alive(const struct http_reader *r);
bool http_reader_started(const struct http_reader *r);	/* a byte came */
void http_reader_free(struct http_reader *r);

/* Append to the response body, printf-style. */
void http_printf(struct http_response *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Append s to the body as the contents of a JSON string: quotes and
 * backslashes escaped, control characters as \u00XX. */
void http_json_string(struct http_response *res, const char *s);

/* Make res a short text/plain answer with the status's reason phrase. */
void http_error(struct http_response *res, int status);

const char *http_reason(int status);

#endif
