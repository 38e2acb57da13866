/*
 * http.c: read a request with http-parser, answer it, repeat.
 *
 * The parser is streaming: it calls us back with pieces of the request as
 * bytes arrive.  The callbacks only record what they see and enforce the
 * size limits; on_message_complete pauses the parser so that a connection
 * is answered one request at a time even when requests are pipelined.
 */
#include <errno.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "io.h"
#include "util.h"

struct conn {
	int fd;
	http_parser parser;
	char buf[4096];
	size_t off, len;	/* bytes read but not parsed yet */
	struct http_request req;
	size_t target_len, head_bytes, body_bytes;
	bool started, complete, keep_alive;
	int error;		/* the 4xx a callback chose, or 0 */
	/* head_is_clean's place in the raw head, kept across reads */
	size_t line_len, lines;
	bool colon_seen, head_scanned;
};

static int fail(struct conn *c, int status)
{
	c->error = status;
	return -1;	/* stops http_parser_execute (1 would mean "no body") */
}

static int on_begin(http_parser *p)
{
	((struct conn *)p->data)->started = true;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (c->target_len + len >= HTTP_MAX_TARGET)
		return fail(c, 414);
	memcpy(c->req.path + c->target_len, at, len);
	c->target_len += len;
	c->head_bytes += len;
	return 0;
}

static int on_header_part(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	(void)at;
	c->head_bytes += len;
	return c->head_bytes > HTTP_MAX_HEAD ? fail(c, 431) : 0;
}

/* The checks the parser leaves to us, then split the target. */
static int on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	if (p->http_major != 1 || p->http_minor > 1)
		return fail(c, 400);	/* only HTTP/1.0 and HTTP/1.1 */
	if (c->req.path[0] != '/')
		return fail(c, 400);	/* origin-form targets only */
	c->req.path[c->target_len] = '\0';
	char *q = strchr(c->req.path, '?');
	if (q)
		*q++ = '\0';
	c->req.query = q ? q : "";
	if (p->content_length != ULLONG_MAX && p->content_length > HTTP_MAX_BODY)
		return fail(c, 413);	/* say so now, not after reading it */
	c->req.method = http_method_str(p->method);
	c->req.head = p->method == HTTP_HEAD;
	c->keep_alive = http_should_keep_alive(p);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	(void)at;
	c->body_bytes += len;	/* the kit's routes take no body: drop it */
	return c->body_bytes > HTTP_MAX_BODY ? fail(c, 413) : 0;
}

static int on_complete(http_parser *p)
{
	((struct conn *)p->data)->complete = true;
	http_parser_pause(p, 1);	/* one request at a time */
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_begin,
	.on_url = on_url,
	.on_header_field = on_header_part,
	.on_header_value = on_header_part,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

/*
 * What http-parser lets through and we do not: a space or a tab in a
 * header line before its colon -- "Host : x", or obsolete line folding, a
 * line that starts with a space and continues the one before.  Both are
 * classic ways to smuggle a header past one parser and not another.  Also
 * control bytes, NUL included, anywhere in the head.  Runs over raw bytes
 * before the parser sees them, until the blank line that ends the head.
 */
static bool head_is_clean(struct conn *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !c->head_scanned; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '\n') {
			if (c->line_len == 0 && c->lines > 0)
				c->head_scanned = true;	/* the blank line */
			c->lines += c->line_len > 0;
			c->line_len = 0;
			c->colon_seen = false;
			continue;
		}
		if (ch == '\r')
			continue;	/* the parser checks where CRs stand */
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return false;
		if (c->lines > 0 && !c->colon_seen && (ch == ' ' || ch == '\t'))
			return false;	/* a header line: whitespace in the name */
		c->colon_seen |= ch == ':';
		c->line_len++;
	}
	return true;
}

/* Read one request into c->req.  Returns 0 when there is one, a 4xx status
 * when the bytes are not a request we take, -1 when the client is gone. */
static int read_request(struct conn *c, double deadline)
{
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	memset(&c->req, 0, sizeof c->req);
	c->target_len = c->head_bytes = c->body_bytes = 0;
	c->started = c->complete = c->head_scanned = c->colon_seen = false;
	c->line_len = c->lines = 0;

	while (!c->complete) {
		if (c->len == 0) {
			ssize_t n = io_read(c->fd, c->buf, sizeof c->buf, deadline);
			if (n < 0 && errno == ETIMEDOUT && c->started)
				return 408;
			if (n <= 0)
				return -1;
			c->off = 0;
			c->len = (size_t)n;
		}
		if (!head_is_clean(c, c->buf + c->off, c->len))
			return 400;
		size_t used = http_parser_execute(&c->parser, &settings,
						  c->buf + c->off, c->len);
		c->off += used;
		c->len -= used;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e != HPE_OK && e != HPE_PAUSED)
			return c->error ? c->error
			       : e == HPE_HEADER_OVERFLOW ? 431 : 400;
	}
	http_parser_pause(&c->parser, 0);
	return 0;
}

/* Status line, headers and body in one buffer: one write, so Nagle's
 * algorithm never holds the body back waiting for an ACK. */
static int send_response(int fd, const struct http_response *res, bool head,
			 bool keep_alive, double deadline)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *f = open_memstream(&out, &outlen);
	if (!f)
		return -1;
	fprintf(f, "HTTP/1.1 %d %s\r\n", res->status, http_reason(res->status));
	fprintf(f, "Content-Type: %s\r\n", res->content_type);
	fprintf(f, "Content-Length: %zu\r\n", res->len);
	if (res->allow)
		fprintf(f, "Allow: %s\r\n", res->allow);
	fprintf(f, "Connection: %s\r\n\r\n", keep_alive ? "keep-alive" : "close");
	if (!head && res->len)
		fwrite(res->body, 1, res->len, f);
	fclose(f);
	int rc = io_write_all(fd, out, outlen, deadline);
	free(out);
	return rc;
}

/* Has the client sent more than we have parsed?  Bytes we read and did
 * not parse, or bytes waiting in the kernel (a peek never waits). */
static bool input_unread(const struct conn *c)
{
	char byte;
	return c->len > 0 || recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/*
 * Close a connection the client may still be writing to.  close() with
 * input unread makes the kernel send a reset (RST) instead of the orderly
 * end, and so does any segment arriving after it; the client's send()
 * then fails, and most clients stop there without reading the answer
 * that is already waiting for them.  So, as Apache and nginx do: end our
 * side first (the client reads the answer, then the end of it), read and
 * drop what still comes, within bounds so that no client can hold the
 * connection, then close.
 */
static void close_lingering(struct conn *c, double timeout)
{
	double deadline = now() + (timeout < HTTP_LINGER_SECONDS ? timeout
							     : HTTP_LINGER_SECONDS);
	size_t drained = 0;
	shutdown(c->fd, SHUT_WR);
	while (drained < HTTP_LINGER_BYTES && now() < deadline) {
		ssize_t n = io_read(c->fd, c->buf, sizeof c->buf, deadline);
		if (n <= 0)
			break;	/* the client's end, an error or the deadline */
		drained += (size_t)n;
	}
	close(c->fd);
}

void http_serve_connection(int fd, http_handler *handler, bool keep_alive,
			   double timeout)
{
	struct conn *c = xcalloc(1, sizeof *c);
	bool linger = false;	/* we end it, and the client may be writing */
	c->fd = fd;
	for (;;) {
		int bad = read_request(c, now() + timeout);
		if (bad < 0)
			break;
		struct http_response res = {
			.status = 200,
			.content_type = "text/plain; charset=utf-8",
		};
		if (bad)
			http_error(&res, bad);
		else
			handler(&c->req, &res);
		if (res.takeover) {
			res.takeover(fd, now() + timeout);
			free(res.body);
			break;
		}
		bool keep = keep_alive && !bad && c->keep_alive;
		int rc = send_response(fd, &res, c->req.head, keep, now() + timeout);
		free(res.body);
		if (rc < 0)
			break;	/* the client is gone */
		if (!keep) {
			/* not after a 408: the timeout is all the time a client
			 * gets to hold the connection (in the sync worker, the
			 * only worker) */
			linger = bad != 408 && (bad || input_unread(c));
			break;
		}
	}
	if (linger)
		close_lingering(c, timeout);
	else
		close(fd);
	free(c);
}

void http_printf(struct http_response *res, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = res->cap - res->len;
		va_start(ap, fmt);
		int n = vsnprintf(res->body ? res->body + res->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < room) {
			res->len += (size_t)n;
			return;
		}
		res->cap = (res->cap + (size_t)n + 1) * 2;
		res->body = realloc(res->body, res->cap);
		if (!res->body)
			die("http: out of memory");
	}
}

void http_error(struct http_response *res, int status)
{
	res->status = status;
	res->content_type = "text/plain; charset=utf-8";
	res->len = 0;
	http_printf(res, "%d %s\n", status, http_reason(status));
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 400 ? "OK" : "Error";
	}
}
