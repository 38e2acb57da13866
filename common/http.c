/*
 * http.c: read a request with http-parser, answer it, repeat.
 *
 * The parser is streaming: it calls us back with pieces of the request as
 * bytes arrive.  The callbacks record what they see and enforce the size
 * limits and the few rules the parser leaves to its user;
 * on_message_complete pauses the parser so that a connection is answered
 * one request at a time even when requests are pipelined.  What can only
 * be seen in the raw bytes (where a header line begins) head_is_clean
 * checks before the parser runs over them, and read_method reads the
 * method before the parser sees it.
 */
#include <errno.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "io.h"
#include "util.h"

/* Room for a method: more than the longest http-parser knows
 * ("UNSUBSCRIBE"), so that a method longer than this is one we do not
 * know either. */
enum { LONGEST_METHOD = 15 };

struct conn {
	int fd;
	http_parser parser;
	char buf[4096];
	size_t off, len;	/* bytes read but not parsed yet */
	struct http_request req;
	/* the method as read_method reads it: its first LONGEST_METHOD bytes */
	char method[LONGEST_METHOD + 1];
	size_t method_len;
	bool method_read, method_unknown;
	size_t target_len, head_bytes, body_bytes;
	bool started, complete, keep_alive;
	int error;		/* the 4xx or 501 a callback chose, or 0 */
	/* head_is_clean's place in the raw head (or trailers), kept across reads */
	size_t line_len, lines;
	bool colon_seen, head_scanned;
	/* the header field being read: Host is counted, Transfer-Encoding kept */
	char name[20];
	size_t name_len;
	bool in_value, in_codings, head_done;
	int hosts, codings;
	char coding_list[HTTP_MAX_CODINGS + 1];	/* Transfer-Encoding's lines */
	size_t coding_len;
	/* Offsets in the request's bytes, for bounding a chunk's size line:
	 * fed bytes went to the parser before the current call, which began at
	 * exec_at; the size line being read began at line_from. */
	size_t fed, line_from;
	const char *exec_at;
	bool in_chunks;		/* between the head and the last chunk */
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

static int count_head_bytes(struct conn *c, size_t len)
{
	c->head_bytes += len;
	return c->head_bytes > HTTP_MAX_HEAD ? fail(c, 431) : 0;
}

/* A field's name may come in several pieces (it can straddle two reads);
 * only the first few bytes matter, for the names we count. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (c->in_value) {	/* the previous field is over: a new name */
		c->in_value = false;
		c->name_len = 0;
	}
	for (size_t i = 0; i < len && c->name_len < sizeof c->name; i++)
		c->name[c->name_len++] = at[i];
	return count_head_bytes(c, len);
}

static bool name_is(const struct conn *c, const char *name)
{
	return c->name_len == strlen(name) &&
	       strncasecmp(c->name, name, c->name_len) == 0;
}

/* Keep len bytes of Transfer-Encoding for codings_status; false when its
 * lines come to more than HTTP_MAX_CODINGS. */
static bool keep_codings(struct conn *c, const char *at, size_t len)
{
	if (len > HTTP_MAX_CODINGS - c->coding_len)
		return false;
	memcpy(c->coding_list + c->coding_len, at, len);
	c->coding_len += len;
	return true;
}

/* The first piece of a value ends its field's name.  Two Host lines let two
 * parsers disagree on where a request goes (RFC 9112 3.2): 400, in the head
 * as in trailers.  Transfer-Encoding lines are kept, each after a comma:
 * together they are one list (RFC 9110 5.3), which on_headers_complete
 * judges.  In trailers, which come after the body they would frame, one is
 * refused (RFC 9110 6.5.1). */
static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (!c->in_value) {
		c->in_value = true;
		c->in_codings = name_is(c, "transfer-encoding");
		if (name_is(c, "host") && ++c->hosts > 1)
			return fail(c, 400);
		if (c->in_codings && c->head_done)
			return fail(c, 400);
		if (c->in_codings && c->codings++ > 0 && !keep_codings(c, ",", 1))
			return fail(c, 431);
	}
	if (c->in_codings && !keep_codings(c, at, len))
		return fail(c, 431);
	return count_head_bytes(c, len);
}

/* A target is ASCII and has no fragment: a client never sends '#' (RFC
 * 9110 4.2.5), and bytes over 0x7f must be percent-encoded. */
static bool target_is_clean(const char *t, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] >= 0x80 || t[i] == '#')
			return false;
	return true;
}

/* RFC 9112 3.2.2: a server must accept a target in absolute form ("GET
 * http://host:port/path?query"), the form clients use with proxies.  We
 * serve its path and query as if they had come in origin form ("/" when
 * there is no path); the authority says nothing we act on.  Only http and
 * https, and no userinfo ("user@host", which RFC 9110 4.2.4 deprecates). */
static bool absolute_to_origin(struct conn *c)
{
	struct http_parser_url u;
	char *t = c->req.path;
	char rest[HTTP_MAX_TARGET];
	http_parser_url_init(&u);
	if (http_parser_parse_url(t, c->target_len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)) ||
	    (u.field_set & (1 << UF_USERINFO)))
		return false;
	size_t scheme = u.field_data[UF_SCHEMA].len;	/* it begins the target */
	if (!(scheme == 4 && strncasecmp(t, "http", 4) == 0) &&
	    !(scheme == 5 && strncasecmp(t, "https", 5) == 0))
		return false;
	bool has_path = u.field_set & (1 << UF_PATH);
	size_t from = has_path ? u.field_data[UF_PATH].off
		    : u.field_set & (1 << UF_QUERY) ? u.field_data[UF_QUERY].off - 1u
		    : c->target_len;
	int n = snprintf(rest, sizeof rest, "%s%s", has_path ? "" : "/", t + from);
	if (n < 0 || (size_t)n >= sizeof rest)
		return false;
	memcpy(t, rest, (size_t)n + 1);
	c->target_len = (size_t)n;
	return true;
}

/* The target as handlers see it: a path from '/' and a query after '?', or
 * "*" for OPTIONS (the asterisk form, about the server as a whole).
 * Returns 0, or the 4xx the target gets. */
static int take_target(struct conn *c, const http_parser *p)
{
	char *t = c->req.path;
	t[c->target_len] = '\0';
	if (!target_is_clean(t, c->target_len))
		return 400;
	if (strcmp(t, "*") == 0) {
		c->req.query = "";
		return p->method == HTTP_OPTIONS ? 0 : 400;
	}
	if (t[0] != '/' && !absolute_to_origin(c))
		return 400;	/* nor authority form: we are not a proxy */
	char *q = strchr(t, '?');
	if (q)
		*q++ = '\0';
	c->req.query = q ? q : "";
	return 0;
}

/* RFC 9110 5.6.2: the characters of a token, as a method and a transfer
 * coding are. */
static bool is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_token(const char *s)
{
	while (is_tchar((unsigned char)*s))
		s++;
	return s;
}

static const char *skip_spaces(const char *s)	/* RFC 9110's OWS */
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* A quoted string, from its opening quote (RFC 9110 5.6.4): past its
 * closing quote, or NULL when it has none.  A backslash quotes the next
 * byte. */
static const char *skip_quoted(const char *s)
{
	for (s++; *s != '"'; s++) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		if (*s == '\0')
			return NULL;
	}
	return s + 1;
}

/* A transfer coding's parameter, after its ';' (RFC 9112 7): a name, '=',
 * and a token or a quoted string.  Past it, or NULL. */
static const char *skip_parameter(const char *s)
{
	const char *name = skip_spaces(s), *end = skip_token(name);
	if (end == name || *(s = skip_spaces(end)) != '=')
		return NULL;
	s = skip_spaces(s + 1);
	if (*s == '"')
		return skip_quoted(s);
	end = skip_token(s);
	return end == s ? NULL : end;
}

/* One transfer coding, from its name: its name's length in *name, and the
 * end of its parameters -- a ',' or the end of the list -- or NULL when
 * it is not a coding. */
static const char *skip_coding(const char *s, size_t *name)
{
	const char *end = skip_token(s);
	*name = (size_t)(end - s);
	if (*name == 0)
		return NULL;
	for (s = skip_spaces(end); *s == ';'; s = skip_spaces(s))
		if (!(s = skip_parameter(s + 1)))
			return NULL;
	return *s == ',' || *s == '\0' ? s : NULL;
}

/*
 * Transfer-Encoding, judged as a whole (RFC 9112 6.1, 6.3 and 7): a list
 * of codings, empty elements aside.  400 when it is not one, or when
 * chunked is not the last coding or comes twice -- then where the body
 * ends cannot be told.  501 when another coding is in it (gzip, identity,
 * or one never heard of): the kit implements chunked alone.  0 for chunked
 * alone -- if http-parser reads the body as chunked too, for the two must
 * agree on where it ends (they do not on ", chunked": 400).
 */
static int codings_status(struct conn *c, const http_parser *p)
{
	int chunked = 0, others = 0;
	bool last_chunked = false;
	c->coding_list[c->coding_len] = '\0';
	for (const char *s = skip_spaces(c->coding_list); *s; s = skip_spaces(s)) {
		size_t name = 0;
		if (*s != ',') {
			const char *next = skip_coding(s, &name);
			if (!next)
				return 400;
			last_chunked = name == 7 && strncasecmp(s, "chunked", 7) == 0;
			chunked += last_chunked;
			others += !last_chunked;
			s = next;
		}
		s += *s == ',';
	}
	if (!last_chunked || chunked > 1)
		return 400;
	if (others > 0)
		return 501;
	return p->flags & F_CHUNKED ? 0 : 400;	/* the parser must agree */
}

/* The checks the parser leaves to us, then the target.  What is malformed
 * gets its 400 before what we do not implement gets its 501. */
static int on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	c->head_done = true;
	if (p->http_major != 1 || p->http_minor > 1)
		return fail(c, 400);	/* only HTTP/1.0 and HTTP/1.1 */
	if (p->http_minor == 1 && c->hosts == 0)
		return fail(c, 400);	/* RFC 9112 3.2: HTTP/1.1 names its host */
	int bad = take_target(c, p);
	if (!bad && c->codings > 0)
		bad = codings_status(c, p);
	if (!bad && c->method_unknown)
		bad = 501;	/* well-formed, but not a method we know */
	if (bad)
		return fail(c, bad);
	if (p->content_length != ULLONG_MAX && p->content_length > HTTP_MAX_BODY)
		return fail(c, 413);	/* say so now, not after reading it */
	c->req.method = http_method_str(p->method);
	c->req.head = p->method == HTTP_HEAD;
	c->keep_alive = http_should_keep_alive(p);
	c->in_chunks = p->flags & F_CHUNKED;
	return 0;
}

/* Is the chunk size line being read, the CRLF before it and any extensions
 * included, over the limit?  http-parser skips extensions unchecked, up to
 * its 80 KiB header limit a line, and again for every chunk. */
static bool chunk_line_too_long(const struct conn *c, size_t upto)
{
	return c->in_chunks && upto - c->line_from > HTTP_MAX_CHUNK_LINE;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	size_t from = c->fed + (size_t)(at - c->exec_at);
	if (chunk_line_too_long(c, from))
		return fail(c, 400);
	c->line_from = from + len;	/* the next size line begins here */
	c->body_bytes += len;	/* the kit's routes take no body: drop it */
	return c->body_bytes > HTTP_MAX_BODY ? fail(c, 413) : 0;
}

/* After the last chunk come trailers: pause, so that read_request can
 * scan them as it scans the head. */
static int on_chunk_header(http_parser *p)
{
	if (p->content_length == 0)
		http_parser_pause(p, 1);
	return 0;
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
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_chunk_header = on_chunk_header,
	.on_message_complete = on_complete,
};

/* Is m one of http-parser's methods?  Those are the kit's: a handler
 * answers them, if only with 405. */
static bool method_is_known(const char *m)
{
	for (int i = 0; strcmp(http_method_str(i), "<unknown>") != 0; i++)
		if (strcmp(http_method_str(i), m) == 0)
			return true;
	return false;
}

/* The method is read: give it to the parser, or "GET" in the place of one
 * it does not know, so that the rest of the request is checked as any
 * other.  Returns 0, or 400 if the parser refuses it. */
static int give_method(struct conn *c)
{
	c->method[c->method_len <= LONGEST_METHOD ? c->method_len : 0] = '\0';
	c->method_unknown = !method_is_known(c->method);	/* "": too long */
	c->method_read = true;
	const char *m = c->method_unknown ? "GET" : c->method;
	size_t len = strlen(m);
	return http_parser_execute(&c->parser, &settings, m, len) == len ? 0 : 400;
}

/*
 * The method, read before the parser sees it.  http-parser stops at the
 * first byte that begins no method it knows, so it cannot tell "-BLARGH",
 * a method we do not implement (501, RFC 9110 15.6.2), from "G@T", which
 * is no method at all (400): a method is a token.  Reads from the n bytes
 * at p -- after any empty lines, which may come before a request (RFC
 * 9112 2.2) -- up to the space that ends the method; *took says how many
 * it took.  At the space, give_method hands the method on, and a method
 * we do not know gets its 501 once the rest of the head has shown itself
 * well-formed (on_headers_complete).  Returns 0, or the 4xx the bytes get.
 */
static int read_method(struct conn *c, const char *p, size_t n, size_t *took)
{
	size_t i = 0;
	for (; i < n && p[i] != ' '; i++) {
		if (c->method_len == 0 && (p[i] == '\r' || p[i] == '\n'))
			continue;	/* an empty line before the request */
		if (!is_tchar((unsigned char)p[i]))
			return 400;
		c->started = true;
		if (c->method_len < LONGEST_METHOD)
			c->method[c->method_len] = p[i];
		c->method_len++;
	}
	*took = i;
	c->head_bytes += i;
	if (c->head_bytes > HTTP_MAX_HEAD)
		return 431;	/* a method of 8 KiB is a head of 8 KiB */
	if (i == n)
		return 0;	/* the space is still to come */
	return c->method_len > 0 ? give_method(c) : 400;
}

/*
 * What http-parser lets through and we do not: a space or a tab in a
 * header line before its colon -- "Host : x", or obsolete line folding, a
 * line that starts with a space and continues the one before.  Both are
 * classic ways to smuggle a header past one parser and not another.  Also
 * control bytes, NUL included, anywhere in the head.  Runs over raw bytes
 * before the parser sees them, until the blank line that ends the head,
 * and again over the trailers after a chunked body.  Where the head ends
 * is where the first chunk's size line begins.
 */
static bool head_is_clean(struct conn *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n && !c->head_scanned; i++) {
		unsigned char ch = (unsigned char)p[i];
		if (ch == '\n') {
			if (c->line_len == 0 && c->lines > 0) {
				c->head_scanned = true;	/* the blank line */
				c->line_from = c->fed + i + 1;
			}
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

/* The parser paused after the last chunk: scan the trailers like a head
 * whose request line is behind it. */
static void begin_trailers(struct conn *c)
{
	http_parser_pause(&c->parser, 0);
	c->in_chunks = false;
	c->head_scanned = c->colon_seen = false;
	c->line_len = 0;
	c->lines = 1;
}

static void begin_request(struct conn *c)
{
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	memset(&c->req, 0, sizeof c->req);
	c->method_len = 0;
	c->method_read = c->method_unknown = false;
	c->target_len = c->head_bytes = c->body_bytes = 0;
	c->started = c->complete = c->head_scanned = c->colon_seen = false;
	c->line_len = c->lines = 0;
	c->name_len = 0;
	c->in_value = c->in_codings = c->head_done = c->in_chunks = false;
	c->hosts = c->codings = 0;
	c->coding_len = 0;
	c->fed = c->line_from = 0;
}

/* Run the parser over n bytes at p, the next of the request being read;
 * *used says how many it took (it stops after a complete request).
 * Returns 0 when the request is complete, HTTP_NEED_MORE when the bytes
 * ran out first, or the 4xx or 501 status the bytes get. */
static int parse_bytes(struct conn *c, const char *p, size_t n, size_t *used)
{
	*used = 0;
	while (!c->complete && n > 0) {
		if (!head_is_clean(c, p, n))
			return 400;
		size_t took = 0;
		int bad = c->method_read ? 0 : read_method(c, p, n, &took);
		p += took;
		n -= took;
		*used += took;
		c->fed += took;
		if (bad)
			return bad;
		if (n == 0)
			break;	/* all of it was the method, so far */
		c->exec_at = p;
		took = http_parser_execute(&c->parser, &settings, p, n);
		p += took;
		n -= took;
		*used += took;
		c->fed += took;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e != HPE_OK && e != HPE_PAUSED)
			return c->error ? c->error
			       : e == HPE_HEADER_OVERFLOW ? 431 : 400;
		if (chunk_line_too_long(c, c->fed))
			return 400;	/* one that has not ended yet, too */
		if (e == HPE_PAUSED && !c->complete)
			begin_trailers(c);
	}
	if (!c->complete)
		return HTTP_NEED_MORE;
	http_parser_pause(&c->parser, 0);
	return 0;
}

/* Read one request into c->req.  Returns 0 when there is one, a 4xx status
 * (or 501) when the bytes are not a request we take, -1 when the client
 * is gone. */
static int read_request(struct conn *c, double deadline)
{
	begin_request(c);
	for (;;) {
		size_t used;
		int rc = parse_bytes(c, c->buf + c->off, c->len, &used);
		c->off += used;
		c->len -= used;
		if (rc != HTTP_NEED_MORE)
			return rc;
		ssize_t n = io_read(c->fd, c->buf, sizeof c->buf, deadline);
		if (n < 0 && errno == ETIMEDOUT && c->started)
			return 408;
		if (n <= 0)
			return -1;
		c->off = 0;
		c->len = (size_t)n;
	}
}

/* ---- the same parsing for a caller that does its own reading ---- */

struct http_reader *http_reader_new(void)
{
	struct conn *c = xcalloc(1, sizeof *c);
	c->fd = -1;
	begin_request(c);
	return (struct http_reader *)c;
}

int http_reader_feed(struct http_reader *r, const char *bytes, size_t len,
		     size_t *used)
{
	return parse_bytes((struct conn *)r, bytes, len, used);
}

const struct http_request *http_reader_request(const struct http_reader *r)
{
	return &((const struct conn *)r)->req;
}

bool http_reader_keep_alive(const struct http_reader *r)
{
	return ((const struct conn *)r)->keep_alive;
}

bool http_reader_started(const struct http_reader *r)
{
	return ((const struct conn *)r)->started;
}

void http_reader_free(struct http_reader *r)
{
	free(r);
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
	if (res->content_type)
		fprintf(f, "Content-Type: %s\r\n", res->content_type);
	fprintf(f, "Content-Length: %zu\r\n", res->len);
	if (res->allow)
		fprintf(f, "Allow: %s\r\n", res->allow);
	if (res->headers)
		fputs(res->headers, f);
	fprintf(f, "Connection: %s\r\n\r\n", keep_alive ? "keep-alive" : "close");
	if (!head && res->len)
		fwrite(res->body, 1, res->len, f);
	fclose(f);
	int rc = io_write_all(fd, out, outlen, deadline);
	free(out);
	return rc;
}

/* OPTIONS * asks what the server can do, not a resource (RFC 9110
 * 9.3.7): 200, the methods it takes in Allow, and no content. */
static void answer_server_options(struct http_response *res)
{
	res->status = 200;
	res->content_type = NULL;
	res->allow = HTTP_SERVER_ALLOW;
}

/* The answer to one request: bad's 4xx or 501, the server's own to
 * OPTIONS *, or the handler's. */
static void respond(const struct conn *c, http_handler *handler, int bad,
		    struct http_response *res)
{
	if (bad)
		http_error(res, bad);
	else if (strcmp(c->req.path, "*") == 0)
		answer_server_options(res);
	else
		handler(&c->req, res);
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

/* The public handle on a connection is the reader's own state. */
struct http_conn {
	struct conn c;
};

struct http_conn *http_conn_new(int fd)
{
	struct http_conn *hc = xcalloc(1, sizeof *hc);
	hc->c.fd = fd;
	return hc;
}

int http_conn_fd(const struct http_conn *hc)
{
	return hc->c.fd;
}

bool http_conn_has_input(const struct http_conn *hc)
{
	return hc->c.len > 0;
}

void http_conn_close(struct http_conn *hc)
{
	close(hc->c.fd);
	free(hc);
}

bool http_serve_one(struct http_conn *hc, http_handler *handler, bool keep_alive,
		    double timeout)
{
	struct conn *c = &hc->c;
	int bad = read_request(c, now() + timeout);
	if (bad < 0) {
		http_conn_close(hc);
		return false;
	}
	struct http_response res = {
		.status = 200,
		.content_type = "text/plain; charset=utf-8",
	};
	respond(c, handler, bad, &res);
	if (res.takeover) {	/* the fd is the takeover's now */
		res.takeover(c->fd, now() + timeout);
		free(res.body);
		free(hc);
		return false;
	}
	bool keep = keep_alive && !bad && c->keep_alive;
	int rc = send_response(c->fd, &res, c->req.head, keep, now() + timeout);
	free(res.body);
	if (rc < 0 || !keep) {
		/* Lingering: not when the client is gone, nor after a 408: the
		 * timeout is all the time a client gets to hold the connection
		 * (in the sync worker, the only worker). */
		if (rc >= 0 && bad != 408 && (bad || input_unread(c)))
			close_lingering(c, timeout);
		else
			close(c->fd);
		free(hc);
		return false;
	}
	return true;
}

void http_serve_connection(int fd, http_handler *handler, bool keep_alive,
			   double timeout)
{
	struct http_conn *hc = http_conn_new(fd);
	while (http_serve_one(hc, handler, keep_alive, timeout))
		;
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

bool http_query_flag(const char *query, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = query; p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && strncmp(p + n, "=1", 2) == 0 &&
		    (p[n + 2] == '\0' || p[n + 2] == '&'))
			return true;
	return false;
}

void http_json_string(struct http_response *res, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			http_printf(res, "\\%c", ch);
		else if (ch < 0x20)
			http_printf(res, "\\u%04x", ch);
		else
			http_printf(res, "%c", ch);
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
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return status < 400 ? "OK" : "Error";
	}
}
