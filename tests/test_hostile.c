/*
 * Hostile clients: malformed, oversized, slow, pipelining, resetting and
 * hoarding clients, against every lab and against the upstream simulator.
 *
 * The contract each case checks: a bad request gets its 4xx (501 for what
 * the kit does not implement) at once and the connection is closed; a
 * slow client is cut off at --request-timeout (408 or a close); a client
 * that vanishes costs nothing; and whatever happened, a good request
 * right after is answered 200.  The labs run with
 * "--delay-scale 0.02 --request-timeout 1"; the simulator with
 * "--request-timeout 1" too, its good request being GET /delay/0.
 *
 * Most cases are one row of the table below: bytes to send, the status
 * expected.  In the bytes, {good} stands for the target's good path,
 * {x:N} for N letters x, and {h:N} for N filler header lines.  The rows
 * run one after another on one server per target, each followed by a
 * good request.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

/* ---- the servers under test ---- */

struct target {
	const char *name;
	bool lab;		/* routes /hello (405 for other methods) */
	bool evented;		/* keep-alive, and a slow client holds no one else up */
	const char *good;	/* a path answered 200 */
	double timeout;		/* seconds a request head may take */
	const char *prog;	/* what runs, when not the name */
	const char *const *args;
};

static const char *const lab_args[] = {
	"-b", "127.0.0.1:0", "--delay-scale", "0.02", "--request-timeout", "1", NULL
};
/* lab 1 with two threads is gunicorn's gthread worker: keep-alive, and a
 * slow client holds one thread while the other serves */
static const char *const gthread_args[] = {
	"-b", "127.0.0.1:0", "--delay-scale", "0.02", "--request-timeout", "1",
	"--threads", "2", NULL
};
static const char *const upstream_args[] = {
	"-b", "127.0.0.1:0", "--request-timeout", "1", NULL
};

static const struct target targets[] = {
	{ "lab1", true, false, "/hello", 1, "lab1", lab_args },
	{ "lab2", true, false, "/hello", 1, "lab2", lab_args },
	{ "lab3", true, true, "/hello", 1, "lab3", lab_args },
	{ "lab4", true, true, "/hello", 1, "lab4", lab_args },
	{ "lab1 --threads 2", true, true, "/hello", 1, "lab1", gthread_args },
	{ "upstream", false, true, "/delay/0", 1, "upstream", upstream_args },
};
enum { NTARGETS = sizeof targets / sizeof targets[0] };

static const struct target *start(int i, struct tl_proc *p)
{
	const struct target *t = &targets[i];
	tl_start(p, t->prog, t->args);
	return t;
}

/* What a reply was, in words, for failure messages. */
static const char *described(const struct tl_reply *r)
{
	static char s[160];
	if (r->status)
		snprintf(s, sizeof s, "HTTP %d after %.2fs (%s)", r->status, r->seconds,
			 r->closed ? "then closed" : "connection left open");
	else if (r->closed)
		snprintf(s, sizeof s, "no answer, the connection closed after %.2fs",
			 r->seconds);
	else
		snprintf(s, sizeof s, "no answer, the connection still open after %.2fs",
			 r->seconds);
	return s;
}

/* The good request, answered 200 within `within` seconds. */
static void good_request_answered(const struct target *t, int port, double within,
				  const char *after)
{
	char req[256];
	struct tl_reply r;
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Connection: close\r\n\r\n", t->good);
	tl_raw(port, req, (size_t)n, within, &r);
	ck_assert_msg(r.status == 200 && r.seconds < within,
		      "%s: after %s, GET %s should be answered 200 within %.1fs; got %s",
		      t->name, after, t->good, within, described(&r));
}

/* ---- the table ---- */

enum {
	LABS_ONLY = 1,		/* the simulator has no /hello to refuse */
	NO_BODY = 2,		/* HEAD: headers, Content-Length, no body */
	ALLOWS_OPTIONS = 4,	/* "Allow: GET, HEAD, OPTIONS": the server's own,
				 * and a lab's /hello (its CORS preflight) */
};

/* How long a table answer may take: bad bytes are refused at once, and
 * only a good request does any work (/hello: about 50 ms here). */
#define PROMPT 0.5

#define HOST "Host: 127.0.0.1\r\n"
#define CLOSE "Connection: close\r\n"
#define GET_GOOD(version) "GET {good} " version "\r\n" HOST CLOSE "\r\n"
#define GET_CHUNKED "GET {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: chunked\r\n\r\n"
#define BODY_CHUNKS "5\r\nhello\r\n"

/* A TLS 1.2 ClientHello, as a browser sends to an https:// URL. */
#define CLIENT_HELLO \
	"\x16\x03\x01\x00\x3d\x01\x00\x00\x39\x03\x03" \
	"\x5a\x1e\x33\x07\x9c\x8b\x42\x11\x6d\xe0\x05\x17\x2b\x90\x44\x81" \
	"\x0c\x7e\x61\x29\xaa\x13\x5f\x02\x88\x3d\xc4\x71\x0e\x9a\x26\xbb" \
	"\x00\x00\x04\x13\x01\x13\x02\x01\x00\x00\x0c\x00\x00\x00\x08\x00" \
	"\x06\x00\x00\x03\x66\x6f\x6f"

#define HOSTILE(X) \
	X(garbage_bytes_get_400, "\x01\x02\x03 hello? \xff\xfe\r\n\r\n", 400, 0) \
	X(a_tls_client_hello_gets_400, CLIENT_HELLO, 400, 0) \
	X(a_bad_method_token_gets_400, "G@T {good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(a_lowercase_method_gets_501, "get {good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 501, 0) \
	X(an_unknown_method_token_gets_501, "-BLARGH {good} HTTP/1.1\r\n" HOST CLOSE "\r\n", \
	  501, 0) \
	X(an_unknown_lowercase_method_token_gets_501, \
	  "-blargh {good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 501, 0) \
	X(an_unknown_method_in_http_2_0_gets_400, \
	  "BLARGH {good} HTTP/2.0\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(http_2_0_gets_400, GET_GOOD("HTTP/2.0"), 400, 0) \
	X(http_1_2_gets_400, GET_GOOD("HTTP/1.2"), 400, 0) \
	X(http_0_9_gets_400, GET_GOOD("HTTP/0.9"), 400, 0) \
	X(a_versionless_http_0_9_request_gets_400, "GET {good}\r\n\r\n", 400, 0) \
	X(http_3_gets_400, GET_GOOD("HTTP/3"), 400, 0) \
	X(a_header_line_without_a_colon_gets_400, \
	  "GET {good} HTTP/1.1\r\nHost 127.0.0.1\r\n" CLOSE "\r\n", 400, 0) \
	X(whitespace_before_a_colon_gets_400, \
	  "GET {good} HTTP/1.1\r\nHost : 127.0.0.1\r\n" CLOSE "\r\n", 400, 0) \
	X(obsolete_line_folding_with_a_space_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST "X-Folded: one\r\n two\r\n" CLOSE "\r\n", 400, 0) \
	X(obsolete_line_folding_with_a_tab_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST "X-Folded: one\r\n\ttwo\r\n" CLOSE "\r\n", 400, 0) \
	X(a_nul_byte_in_a_header_value_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST "X-Nul: a\x00" "b\r\n" CLOSE "\r\n", 400, 0) \
	X(a_control_byte_in_a_header_value_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST "X-Ctl: a\x01" "b\r\n" CLOSE "\r\n", 400, 0) \
	X(a_del_byte_in_a_header_value_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST "X-Del: a\x7f" "b\r\n" CLOSE "\r\n", 400, 0) \
	X(a_control_byte_in_a_header_name_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST "X-C\x01" "tl: a\r\n" CLOSE "\r\n", 400, 0) \
	X(a_negative_content_length_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Content-Length: -1\r\n\r\n", 400, 0) \
	X(a_non_numeric_content_length_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Content-Length: abc\r\n\r\n", 400, 0) \
	X(two_different_content_lengths_get_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Content-Length: 3\r\n" \
	  "Content-Length: 4\r\n\r\nabcd", 400, 0) \
	X(content_length_with_transfer_encoding_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Content-Length: 5\r\n" \
	  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, 0) \
	X(a_bad_chunk_size_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: chunked\r\n\r\n" \
	  "zz\r\nhello\r\n0\r\n\r\n", 400, 0) \
	X(chunked_given_twice_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: chunked\r\n" \
	  "Transfer-Encoding: chunked\r\n\r\n" BODY_CHUNKS "0\r\n\r\n", 400, 0) \
	X(gzip_before_chunked_gets_501, \
	  "POST {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: gzip\r\n" \
	  "Transfer-Encoding: chunked\r\n\r\n" BODY_CHUNKS "0\r\n\r\n", 501, 0) \
	X(gzip_before_chunked_in_one_line_gets_501, \
	  "POST {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: gzip, chunked\r\n\r\n" \
	  BODY_CHUNKS "0\r\n\r\n", 501, 0) \
	X(identity_before_chunked_gets_501, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: identity\r\n" \
	  "Transfer-Encoding: chunked\r\n\r\n" BODY_CHUNKS "0\r\n\r\n", 501, 0) \
	X(a_transfer_coding_without_chunked_gets_400, \
	  "POST {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: gzip\r\n\r\n" \
	  BODY_CHUNKS "0\r\n\r\n", 400, 0) \
	X(chunked_before_identity_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: chunked\r\n" \
	  "Transfer-Encoding: identity\r\n\r\n" BODY_CHUNKS "0\r\n\r\n", 400, 0) \
	X(a_transfer_coding_that_is_not_a_token_gets_400, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: g@zip, chunked\r\n\r\n" \
	  BODY_CHUNKS "0\r\n\r\n", 400, 0) \
	X(http_1_1_without_host_gets_400, "GET {good} HTTP/1.1\r\n" CLOSE "\r\n", 400, 0) \
	X(two_host_headers_get_400, \
	  "GET {good} HTTP/1.1\r\n" HOST "Host: 127.0.0.2\r\n" CLOSE "\r\n", 400, 0) \
	X(two_host_headers_in_http_1_0_get_400, \
	  "GET {good} HTTP/1.0\r\n" HOST "Host: 127.0.0.2\r\n\r\n", 400, 0) \
	X(a_byte_over_0x7f_in_the_target_gets_400, \
	  "GET {good}\xc3\xa9 HTTP/1.1\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(a_fragment_in_the_target_gets_400, \
	  "GET {good}#top HTTP/1.1\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(obsolete_line_folding_in_a_trailer_gets_400, \
	  GET_CHUNKED BODY_CHUNKS "0\r\nX-Trailer: one\r\n two\r\n\r\n", 400, 0) \
	X(whitespace_before_a_colon_in_a_trailer_gets_400, \
	  GET_CHUNKED BODY_CHUNKS "0\r\nX-Trailer : one\r\n\r\n", 400, 0) \
	X(a_control_byte_in_a_trailer_gets_400, \
	  GET_CHUNKED BODY_CHUNKS "0\r\nX-Trailer: a\x01" "b\r\n\r\n", 400, 0) \
	X(a_long_chunk_extension_gets_400, \
	  GET_CHUNKED "5;ext={x:2000}\r\nhello\r\n0\r\n\r\n", 400, 0) \
	X(a_long_extension_on_the_last_chunk_gets_400, \
	  GET_CHUNKED BODY_CHUNKS "0;ext={x:2000}\r\n\r\n", 400, 0) \
	X(an_endless_chunk_extension_gets_400_at_once, GET_CHUNKED "5;ext={x:60000}", 400, 0) \
	X(http_1_0_without_host_gets_200, "GET {good} HTTP/1.0\r\n\r\n", 200, 0) \
	X(chunked_in_capitals_gets_200, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "Transfer-Encoding: CHUNKED\r\n\r\n" \
	  BODY_CHUNKS "0\r\n\r\n", 200, 0) \
	X(an_empty_host_gets_200, "GET {good} HTTP/1.1\r\nHost:\r\n" CLOSE "\r\n", 200, 0) \
	X(a_byte_over_0x7f_in_a_header_value_gets_200, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "X-Name: Jos\xc3\xa9\r\n\r\n", 200, 0) \
	X(a_chunked_body_with_a_short_extension_and_a_trailer_gets_200, \
	  GET_CHUNKED "5;name=value\r\nhello\r\n6\r\n world\r\n" \
	  "0;last\r\nX-Trailer: one\r\n\r\n", 200, 0) \
	X(an_absolute_form_target_is_served_as_its_path, \
	  "GET http://127.0.0.1{good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 200, 0) \
	X(an_absolute_form_target_with_a_port_and_a_query_is_served, \
	  "GET http://127.0.0.1:12345{good}?x=1 HTTP/1.1\r\n" HOST CLOSE "\r\n", 200, 0) \
	X(an_absolute_form_target_with_an_uppercase_scheme_is_served, \
	  "GET HTTP://127.0.0.1{good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 200, 0) \
	X(head_with_an_absolute_form_target_gets_200_without_a_body, \
	  "HEAD http://127.0.0.1{good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 200, NO_BODY) \
	X(an_absolute_form_target_to_an_unknown_path_gets_404, \
	  "GET http://127.0.0.1/no/such/path HTTP/1.1\r\n" HOST CLOSE "\r\n", 404, 0) \
	X(an_absolute_form_target_of_another_scheme_gets_400, \
	  "GET ftp://127.0.0.1{good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(an_absolute_form_target_with_userinfo_gets_400, \
	  "GET http://user@127.0.0.1{good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(an_absolute_form_target_without_a_host_gets_400, \
	  "GET http://{good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(an_absolute_form_target_in_http_1_1_without_host_gets_400, \
	  "GET http://127.0.0.1{good} HTTP/1.1\r\n" CLOSE "\r\n", 400, 0) \
	X(options_asterisk_gets_200_with_allow_and_no_body, \
	  "OPTIONS * HTTP/1.1\r\n" HOST CLOSE "\r\n", 200, NO_BODY | ALLOWS_OPTIONS) \
	X(get_asterisk_gets_400, "GET * HTTP/1.1\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(options_on_a_path_is_the_handlers_to_answer, \
	  "OPTIONS /hello HTTP/1.1\r\n" HOST CLOSE "\r\n", 200, \
	  LABS_ONLY | NO_BODY | ALLOWS_OPTIONS) \
	X(an_empty_request_line_gets_400, "\r\n" HOST CLOSE "\r\n", 400, 0) \
	X(a_request_line_of_spaces_gets_400, "   \r\n" HOST CLOSE "\r\n", 400, 0) \
	X(one_huge_header_gets_431, \
	  "GET {good} HTTP/1.1\r\n" HOST CLOSE "X-Huge: {x:10000}\r\n\r\n", 431, 0) \
	X(many_headers_get_431, "GET {good} HTTP/1.1\r\n" HOST CLOSE "{h:300}\r\n", 431, 0) \
	X(a_target_over_2_kib_gets_414, \
	  "GET /{x:3000} HTTP/1.1\r\n" HOST CLOSE "\r\n", 414, 0) \
	X(a_body_over_64_kib_gets_413_before_it_is_sent, \
	  "POST {good} HTTP/1.1\r\n" HOST CLOSE "Content-Length: 1000000\r\n\r\n", 413, 0) \
	X(an_unknown_path_gets_404, "GET /no/such/path HTTP/1.1\r\n" HOST CLOSE "\r\n", 404, 0) \
	X(post_to_hello_gets_405_allowing_get_head_and_options, \
	  "POST /hello HTTP/1.1\r\n" HOST CLOSE "Content-Length: 0\r\n\r\n", 405, \
	  LABS_ONLY | ALLOWS_OPTIONS) \
	X(put_to_hello_gets_405_allowing_get_head_and_options, \
	  "PUT /hello HTTP/1.1\r\n" HOST CLOSE "Content-Length: 0\r\n\r\n", 405, \
	  LABS_ONLY | ALLOWS_OPTIONS) \
	X(delete_of_hello_gets_405_allowing_get_head_and_options, \
	  "DELETE /hello HTTP/1.1\r\n" HOST CLOSE "\r\n", 405, LABS_ONLY | ALLOWS_OPTIONS) \
	X(head_gets_200_with_headers_and_no_body, \
	  "HEAD {good} HTTP/1.1\r\n" HOST CLOSE "\r\n", 200, NO_BODY)

struct hostile {
	const char *name;
	const char *bytes;
	size_t len;
	int status;
	unsigned flags;
};

#define AS_ROW(name, bytes, status, flags) { #name, bytes, sizeof(bytes) - 1, status, flags },
static const struct hostile rows[] = { HOSTILE(AS_ROW) };

/* The row's bytes with {good}, {x:N} and {h:N} filled in; returns length. */
static size_t expand(const struct hostile *h, const struct target *t, char *out, size_t cap)
{
	size_t n = 0;
	for (size_t i = 0; i < h->len; ) {
		const char *at = h->bytes + i;
		int count, used = 0;
		char kind;
		if (h->len - i >= 6 && memcmp(at, "{good}", 6) == 0) {
			size_t gl = strlen(t->good);
			ck_assert(n + gl < cap);
			memcpy(out + n, t->good, gl);
			n += gl;
			i += 6;
		} else if (*at == '{' && sscanf(at, "{%c:%d}%n", &kind, &count, &used) == 2
			   && used > 0) {
			for (int k = 0; k < count; k++) {
				if (kind == 'x') {
					ck_assert(n + 1 < cap);
					out[n++] = 'x';
				} else {
					ck_assert(n + 64 < cap);
					n += (size_t)snprintf(out + n, cap - n,
						"X-Filler-%03d: %040d\r\n", k, k);
				}
			}
			i += (size_t)used;
		} else {
			ck_assert(n + 1 < cap);
			out[n++] = h->bytes[i++];
		}
	}
	return n;
}

/* What went wrong with the rows so far, for the test's one failure. */
static char report[4096];
static size_t reported;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(report + reported, sizeof report - reported, fmt, ap);
	va_end(ap);
	if (n > 0)
		reported += (size_t)n < sizeof report - reported ?
			    (size_t)n : sizeof report - reported - 1;
}

/* Send the row's bytes to the target; check the answer, noting what is
 * wrong.  False when it went wrong. */
static bool row_answered(const struct hostile *h, const struct target *t, int port)
{
	static char bytes[65536];
	struct tl_reply r;
	char value[128];
	size_t len = expand(h, t, bytes, sizeof bytes);
	tl_raw(port, bytes, len, t->timeout + 2, &r);

	if (r.status != h->status) {
		note("%s: expected HTTP %d; got %s\n", h->name, h->status, described(&r));
		return false;
	}
	if (!r.closed)
		note("%s: expected the connection closed after the %d; it stayed open\n",
		     h->name, h->status);
	else if (r.seconds >= PROMPT)
		note("%s: expected the %d at once (< %.1fs); it took %.2fs\n",
		     h->name, h->status, PROMPT, r.seconds);
	else if ((h->flags & ALLOWS_OPTIONS) &&
		 !(tl_header(&r, "Allow", value, sizeof value) &&
		   strcmp(value, "GET, HEAD, OPTIONS") == 0))
		note("%s: expected \"Allow: GET, HEAD, OPTIONS\"; got %s\n", h->name,
		     tl_header(&r, "Allow", value, sizeof value) ? value : "no Allow header");
	else if ((h->flags & NO_BODY) &&
		 !tl_header(&r, "Content-Length", value, sizeof value))
		note("%s: expected a Content-Length header; head: %s\n", h->name, r.head);
	else if ((h->flags & NO_BODY) && r.body[0] != '\0')
		note("%s: expected no body after HEAD; got \"%.60s\"\n", h->name, r.body);
	else
		return true;
	return false;
}

/* Read whatever the server has written so far (its timeline of each
 * /hello goes to stdout), so that a pipe nobody reads never fills and
 * blocks it; keep the end of it in `last` (NULL: nowhere), for a message. */
static void drain(int fd, char *last, size_t cap)
{
	char buf[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;
	while (poll(&p, 1, 0) > 0 && (n = read(fd, buf, sizeof buf)) > 0)
		if (last && cap > 0) {	/* the end of the last read */
			size_t k = (size_t)n < cap - 1 ? (size_t)n : cap - 1;
			memcpy(last, buf + n - k, k);
			last[k] = '\0';
		}
}

/* Every row of the table against target _i, all on one server: each row
 * also proves that the rows before it left the server serving, and one
 * start per target, not per row, keeps the suite quick (under ASan a
 * start is most of a row's time).  A wrong answer is noted and the rows
 * go on; a good request that is not answered after a row ends the test,
 * since the rows after it would only wait for a server that is gone. */
START_TEST(every_row_gets_its_answer_and_the_server_serves_on)
{
	const struct target *t = &targets[_i];
	struct tl_proc p;
	char req[256];
	int wrong = 0, tried = 0;
	static char stderr_tail[1024];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Connection: close\r\n\r\n", t->good);

	reported = 0;
	report[0] = '\0';
	stderr_tail[0] = '\0';
	start(_i, &p);
	for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
		const struct hostile *h = &rows[k];
		if ((h->flags & LABS_ONLY) && !t->lab)
			continue;
		tried++;
		wrong += !row_answered(h, t, p.port);
		struct tl_reply r;
		tl_raw(p.port, req, (size_t)n, 5, &r);
		drain(p.out, NULL, 0);
		drain(p.err, stderr_tail, sizeof stderr_tail);
		ck_assert_msg(r.status == 200, "%s: after %s, GET %s should be answered "
			      "200 within 5s; got %s\n%s\nits stderr ends: %s", t->name, h->name,
			      t->good, described(&r), report, stderr_tail);
	}
	ck_assert_msg(wrong == 0, "%s: %d of %d rows answered wrong:\n%s", t->name,
		      wrong, tried, report);
	tl_stop(&p);
}
END_TEST

/* ---- clients that are slow, pipeline, vanish or hoard ---- */

static void send_text(int fd, const char *s)
{
	size_t len = strlen(s);
	ck_assert_msg(send(fd, s, len, MSG_NOSIGNAL) == (ssize_t)len,
		      "cannot send %zu bytes: %s", len, strerror(errno));
}

/* Close so that the server sees a reset (RST), not an orderly end. */
static void reset(int fd)
{
	struct linger now_please = { .l_onoff = 1, .l_linger = 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &now_please, sizeof now_please);
	close(fd);
}

/* The answer to a request head that never ends: 408 or a plain close,
 * neither much before nor much after the timeout. */
static void cut_off_at_the_timeout(const struct target *t, const struct tl_reply *r,
				   const char *what)
{
	ck_assert_msg((r->status == 408 || r->status == 0) && r->closed,
		      "%s on %s: expected 408 or a close after the %.0fs timeout; got %s",
		      what, t->name, t->timeout, described(r));
	ck_assert_msg(r->seconds >= 0.5 * t->timeout && r->seconds <= t->timeout + 1,
		      "%s on %s: expected to be cut off about %.0fs in; it was %.2fs",
		      what, t->name, t->timeout, r->seconds);
}

START_TEST(an_unfinished_request_head_gets_408_or_a_close_at_the_timeout)
{
	struct tl_proc p;
	struct tl_reply r;
	char head[128];
	const struct target *t = start(_i, &p);
	double since = now();
	int fd = tl_connect(p.port);
	snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nHost:", t->good);
	send_text(fd, head);
	tl_read_reply(fd, since, t->timeout + 2, &r);
	close(fd);
	cut_off_at_the_timeout(t, &r, "an unfinished head");
	good_request_answered(t, p.port, 5, "an unfinished head");
	tl_stop(&p);
}
END_TEST

START_TEST(a_silent_client_is_closed_at_the_timeout)
{
	struct tl_proc p;
	struct tl_reply r;
	const struct target *t = start(_i, &p);
	double since = now();
	int fd = tl_connect(p.port);
	tl_read_reply(fd, since, t->timeout + 2, &r);
	close(fd);
	cut_off_at_the_timeout(t, &r, "a client that sends nothing");
	good_request_answered(t, p.port, 5, "a silent client");
	tl_stop(&p);
}
END_TEST

/* Slowloris: one byte every 0.1 s keeps every single read short, but the
 * head as a whole must still arrive within the timeout. */
START_TEST(a_client_dripping_its_head_is_cut_off_at_the_timeout)
{
	struct tl_proc p;
	struct tl_reply r = { 0 };
	char head[128];
	const struct target *t = start(_i, &p);
	double begin = now();
	int fd = tl_connect(p.port);
	snprintf(head, sizeof head, "GET %s HTTP/1.1\r\nX-Drip: ", t->good);
	send_text(fd, head);
	while (now() - begin < t->timeout + 2) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 100) > 0 ||
		    send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
			tl_read_reply(fd, begin, 1, &r);
			r.closed = true;	/* readable or refused: it is ending */
			break;
		}
	}
	r.seconds = now() - begin;
	close(fd);
	cut_off_at_the_timeout(t, &r, "a client dripping one byte every 0.1s");
	good_request_answered(t, p.port, 5, "a dripping client");
	tl_stop(&p);
}
END_TEST

/* The sync worker is held by a slow client for at most the timeout; the
 * evented worker serves the good request beside it at once. */
START_TEST(a_good_request_is_served_while_a_slow_client_holds_a_connection)
{
	struct tl_proc p;
	const struct target *t = start(_i, &p);
	int slow = tl_connect(p.port);
	send_text(slow, "GET / HTTP/1.1\r\nHost:");
	usleep(50000);		/* let the worker take the slow one first */
	good_request_answered(t, p.port, t->evented ? PROMPT : t->timeout + 1,
			      "a slow client connected first (it is still there)");
	close(slow);
	tl_stop(&p);
}
END_TEST

/* Two requests in one send.  The evented worker answers both, in order;
 * the sync worker answers the first with "Connection: close" and stops. */
static void pipeline(int i, const char *second, int second_status)
{
	struct tl_proc p;
	struct tl_reply r;
	char req[512], conn[64] = "", cl[32] = "";
	const struct target *t = start(i, &p);
	const char *path2 = second ? second : t->good;
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n" HOST "\r\n"
			 "GET %s HTTP/1.1\r\n" HOST CLOSE "\r\n", t->good, path2);
	tl_raw(p.port, req, (size_t)n, t->timeout + 2, &r);

	ck_assert_msg(r.status == 200, "pipelined GET %s then GET %s on %s: expected the "
		      "first answered 200; got %s", t->good, path2, t->name, described(&r));
	ck_assert_msg(tl_header(&r, "Content-Length", cl, sizeof cl),
		      "%s: the first answer has no Content-Length: %s", t->name, r.head);
	size_t first = (size_t)atol(cl);
	const char *rest = strlen(r.body) >= first ? r.body + first : "";
	tl_header(&r, "Connection", conn, sizeof conn);
	bool closes = strcasecmp(conn, "close") == 0;
	if (t->evented) {
		ck_assert_msg(!closes && strncmp(rest, "HTTP/1.1 ", 9) == 0 &&
			      atoi(rest + 9) == second_status,
			      "pipelined GET %s then GET %s on %s (evented, keep-alive): "
			      "expected 200 then %d in order; got %d (Connection: %s) then "
			      "\"%.40s\"", t->good, path2, t->name, second_status, r.status,
			      conn, rest);
	} else {
		ck_assert_msg(closes && rest[0] == '\0' && r.closed,
			      "pipelined GET %s then GET %s on %s (sync): expected one 200 "
			      "with Connection: close and then the end; got Connection: %s "
			      "and then \"%.40s\"", t->good, path2, t->name, conn, rest);
	}
	good_request_answered(t, p.port, 5, "pipelined requests");
	tl_stop(&p);
}

START_TEST(two_pipelined_requests_are_answered_in_order_or_the_first_closes)
{
	pipeline(_i, NULL, 200);
}
END_TEST

START_TEST(a_pipelined_unknown_path_is_answered_404_after_the_first)
{
	pipeline(_i, "/no/such/path", 404);
}
END_TEST

/* ---- clients the server stops reading while they still send ---- */

/* After the answer has been read: does the connection still take bytes?
 * A server that closed with input unread has reset it by now (the kernel
 * answers unread input with RST), and the client's send fails; one that
 * ended its side and drains what comes takes them. */
static bool still_takes_bytes(int fd)
{
	return send(fd, "x", 1, MSG_NOSIGNAL) == 1;
}

/* A body refused up front (413) while the client is still sending it.
 * Most clients write the whole body before they read; if the server's
 * close resets the connection, their send() fails and they never read the
 * 413.  So the client here waits until the 413 is there to read, keeps
 * sending 256 KiB of body, and only then reads. */
START_TEST(a_client_still_sending_a_refused_body_reads_its_413)
{
	static char chunk[16384];
	struct tl_proc p;
	struct tl_reply r;
	char head[256];
	const struct target *t = start(_i, &p);
	double since = now();
	int fd = tl_connect(p.port);
	snprintf(head, sizeof head, "POST %s HTTP/1.1\r\n" HOST CLOSE
		 "Content-Length: 100000000\r\n\r\n", t->good);
	send_text(fd, head);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ck_assert_msg(poll(&pfd, 1, 2000) == 1, "%s: no answer within 2 s to a "
		      "100 MB Content-Length", t->name);
	usleep(20000);		/* the server has done what it does after the 413 */
	memset(chunk, 'x', sizeof chunk);
	for (int k = 0; k < 16; k++) {
		ssize_t sent = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
		ck_assert_msg(sent == (ssize_t)sizeof chunk, "%s: sending the body, %d KiB "
			      "in: %s; the client never reads its 413 (the server closed "
			      "with input unread, which resets the connection: shut down "
			      "writing and drain instead)", t->name, k * 16,
			      sent < 0 ? strerror(errno) : "a short send");
		usleep(2000);
	}
	tl_read_reply(fd, since, 3, &r);
	ck_assert_msg(r.status == 413 && r.closed, "%s: after sending 256 KiB of a "
		      "refused body, expected to read the 413 and the end; got %s",
		      t->name, described(&r));
	ck_assert_msg(still_takes_bytes(fd), "%s: the connection was reset after the "
		      "413 (%s)", t->name, strerror(errno));
	close(fd);
	good_request_answered(t, p.port, 5, "a refused body sent anyway");
	tl_stop(&p);
}
END_TEST

/* A pipelined tail the server will not read: the sync worker answers only
 * the first request, and any worker stops at one it refuses (here a space
 * before a colon).  16 KiB of further requests behind them stay unread in
 * the kernel; the answers must still end in an orderly close. */
START_TEST(a_pipelined_tail_the_server_will_not_read_ends_in_an_orderly_close)
{
	static char req[32768];
	struct tl_proc p;
	struct tl_reply r;
	const struct target *t = start(_i, &p);
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n" HOST "\r\n"
			 "GET %s HTTP/1.1\r\n" HOST "X-Bad : x\r\n\r\n", t->good, t->good);
	while (n < 16384)
		n += snprintf(req + n, sizeof req - (size_t)n,
			      "GET %s HTTP/1.1\r\n" HOST "\r\n", t->good);
	double since = now();
	int fd = tl_connect(p.port);
	ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
	tl_read_reply(fd, since, t->timeout + 2, &r);
	ck_assert_msg(r.status == 200 && r.closed, "%s: a good request, a bad one and "
		      "16 KiB more: expected 200 first, then the end; got %s", t->name,
		      described(&r));
	ck_assert_msg(t->evented ? strstr(r.body, "HTTP/1.1 400 ") != NULL
				 : strstr(r.body, "HTTP/1.1 ") == NULL,
		      "%s: expected %s after the 200; got \"%.60s\"", t->name,
		      t->evented ? "a 400 for the bad request" : "nothing", r.body);
	ck_assert_msg(still_takes_bytes(fd), "%s: the connection was reset after the "
		      "answers (%s): the server closed with a pipelined tail unread",
		      t->name, strerror(errno));
	close(fd);
	good_request_answered(t, p.port, 5, "a pipelined tail left unread");
	tl_stop(&p);
}
END_TEST

enum { VANISHING = 10 };	/* clients per case */

START_TEST(clients_resetting_halfway_through_their_request_cost_nothing)
{
	struct tl_proc p;
	const struct target *t = start(_i, &p);
	for (int k = 0; k < VANISHING; k++) {
		int fd = tl_connect(p.port);
		send_text(fd, "GET /hello HTTP/1.1\r\nHo");
		usleep(5000);
		reset(fd);
	}
	good_request_answered(t, p.port, t->timeout + 1, "10 clients reset mid-request");
	tl_stop(&p);
}
END_TEST

/* hang_up: reset(), or an orderly close(). */
static void vanish_before_the_answer(int i, void (*hang_up)(int), const char *what)
{
	struct tl_proc p;
	char req[256];
	const struct target *t = start(i, &p);
	snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n" HOST "\r\n", t->good);
	for (int k = 0; k < VANISHING; k++) {
		int fd = tl_connect(p.port);
		send_text(fd, req);
		usleep(5000);
		hang_up(fd);
	}
	good_request_answered(t, p.port, 5, what);
	ck_assert_msg(kill(p.pid, 0) == 0, "%s died after %s", t->name, what);
	tl_stop(&p);
}

static void close_quietly(int fd)
{
	close(fd);
}

START_TEST(clients_resetting_before_their_answer_cost_nothing)
{
	vanish_before_the_answer(_i, reset, "10 clients reset before their answer");
}
END_TEST

START_TEST(clients_hanging_up_before_their_answer_cost_nothing)
{
	vanish_before_the_answer(_i, close_quietly, "10 clients hung up before their answer");
}
END_TEST

/* Open n connections at once (non-blocking connects); wait up to 3 s for
 * them to be established.  Returns how many were. */
static int open_idle(int port, int *fds, int n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int k = 0; k < n; k++) {
		fds[k] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		ck_assert_msg(fds[k] >= 0, "socket #%d: %s", k, strerror(errno));
		int rc = connect(fds[k], (struct sockaddr *)&a, sizeof a);
		ck_assert_msg(rc == 0 || errno == EINPROGRESS, "connect #%d: %s", k,
			      strerror(errno));
	}
	int up = 0;
	double end = now() + 3;
	for (int k = 0; k < n; k++) {
		struct pollfd pfd = { .fd = fds[k], .events = POLLOUT };
		double left = end - now();
		int err = 0;
		socklen_t el = sizeof err;
		if (left > 0 && poll(&pfd, 1, (int)(left * 1000) + 1) == 1 &&
		    getsockopt(fds[k], SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0)
			up++;
	}
	return up;
}

static void close_all(int *fds, int n)
{
	for (int k = 0; k < n; k++)
		close(fds[k]);
}

START_TEST(many_idle_connections_do_not_hold_up_a_good_request)
{
	static int fds[500];
	struct tl_proc p;
	const struct target *t = start(_i, &p);
	int n = t->evented ? 500 : 20;
	int up = open_idle(p.port, fds, n);
	ck_assert_msg(up == n, "%s: only %d of %d idle connections were established "
		      "within 3 s", t->name, up, n);
	if (t->evented) {
		char what[64];
		snprintf(what, sizeof what, "%d idle connections opened (still open)", n);
		good_request_answered(t, p.port, 2, what);
	} else {
		usleep(200000);
	}
	close_all(fds, n);
	good_request_answered(t, p.port, t->timeout + 1, "idle connections were closed");
	tl_stop(&p);
}
END_TEST

/* utime + stime of pid, in seconds. */
static double cpu_seconds(pid_t pid)
{
	char path[64], stat[1024];
	unsigned long user = 0, sys = 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f, "cannot read %s: the process is gone", path);
	size_t len = fread(stat, 1, sizeof stat - 1, f);
	fclose(f);
	stat[len] = '\0';
	const char *after = strrchr(stat, ')');
	ck_assert(after);
	/* after ") ": state is field 3; utime and stime are fields 14 and 15 */
	int got = sscanf(after + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &user, &sys);
	ck_assert_int_eq(got, 2);
	return (double)(user + sys) / (double)sysconf(_SC_CLK_TCK);
}

/* EMFILE: with 64 fds, 150 idle clients exhaust the lab's table.  Accept
 * then fails until some close; the lab must wait for that, not retry in a
 * tight loop.  The lab runs with a 5 s timeout here, so that the idle
 * clients are still there while its CPU time is measured. */
START_TEST(running_out_of_fds_neither_crashes_nor_spins_lab4)
{
	static const char *const args[] = {
		"-b", "127.0.0.1:0", "--delay-scale", "0.02", "--request-timeout", "5", NULL
	};
	enum { LIMIT = 64, CLIENTS = 150 };
	static int fds[CLIENTS];
	struct tl_proc p;
	struct tl_reply r;

	tl_start_with_fd_limit(&p, "lab4", args, LIMIT);
	tl_get(p.port, "/hello", &r);
	ck_assert_msg(r.status == 200, "lab4 with %d fds: /hello before any pressure "
		      "answered %s", LIMIT, described(&r));
	int up = open_idle(p.port, fds, CLIENTS);
	ck_assert_msg(up > LIMIT, "only %d of %d connections were established", up, CLIENTS);
	usleep(300000);		/* let it accept all it can */
	int held = tl_fd_count(p.pid);
	if (held < LIMIT - 4)	/* a lab may cap its connections below its limit */
		printf("note: lab4 held only %d of its %d fds with %d clients waiting; "
		       "it never ran out\n", held, LIMIT, up);
	double cpu0 = cpu_seconds(p.pid), wall0 = now();
	usleep(1000000);
	double cpu = cpu_seconds(p.pid) - cpu0, wall = now() - wall0;
	ck_assert_msg(!tl_gone(p.pid), "lab4 died when it ran out of fds");
	ck_assert_msg(cpu < 0.5, "lab4 out of fds used %.2fs of CPU in %.2fs: it spins "
		      "(expected < 0.5s: wait for an fd to close, don't retry accept at "
		      "once)", cpu, wall);
	close_all(fds, CLIENTS);
	usleep(500000);		/* let it see the closes */
	good_request_answered(&targets[3], p.port, 5, "the fd pressure ended");
	tl_stop(&p);
}
END_TEST

/* ---- the suite ---- */

int main(void)
{
	Suite *s = suite_create("hostile clients");

	TCase *table = tcase_create("malformed and oversized requests");
	tcase_set_timeout(table, 120);
	tcase_add_loop_test(table, every_row_gets_its_answer_and_the_server_serves_on, 0,
			    NTARGETS);
	suite_add_tcase(s, table);

	TCase *slow = tcase_create("slow, pipelining and vanishing clients");
	tcase_set_timeout(slow, 30);
	tcase_add_loop_test(slow, an_unfinished_request_head_gets_408_or_a_close_at_the_timeout, 0, NTARGETS);
	tcase_add_loop_test(slow, a_silent_client_is_closed_at_the_timeout, 0, NTARGETS);
	tcase_add_loop_test(slow, a_client_dripping_its_head_is_cut_off_at_the_timeout, 0, NTARGETS);
	tcase_add_loop_test(slow, a_good_request_is_served_while_a_slow_client_holds_a_connection, 0, NTARGETS);
	tcase_add_loop_test(slow, two_pipelined_requests_are_answered_in_order_or_the_first_closes, 0, NTARGETS);
	tcase_add_loop_test(slow, a_pipelined_unknown_path_is_answered_404_after_the_first, 0, NTARGETS);
	tcase_add_loop_test(slow, clients_resetting_halfway_through_their_request_cost_nothing, 0, NTARGETS);
	tcase_add_loop_test(slow, clients_resetting_before_their_answer_cost_nothing, 0, NTARGETS);
	tcase_add_loop_test(slow, clients_hanging_up_before_their_answer_cost_nothing, 0, NTARGETS);
	suite_add_tcase(s, slow);

	TCase *unread = tcase_create("clients still sending when the server stops reading");
	tcase_set_timeout(unread, 30);
	tcase_add_loop_test(unread, a_client_still_sending_a_refused_body_reads_its_413, 0, NTARGETS);
	tcase_add_loop_test(unread, a_pipelined_tail_the_server_will_not_read_ends_in_an_orderly_close, 0, NTARGETS);
	suite_add_tcase(s, unread);

	TCase *many = tcase_create("many connections");
	tcase_set_timeout(many, 30);
	tcase_add_loop_test(many, many_idle_connections_do_not_hold_up_a_good_request, 0, NTARGETS);
	tcase_add_test(many, running_out_of_fds_neither_crashes_nor_spins_lab4);
	suite_add_tcase(s, many);

	return tl_run_suite(s);
}
