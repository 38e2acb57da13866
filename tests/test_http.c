/*
 * Request handling: http_serve_connection() on one end of a socketpair,
 * the test playing the client on the other.  No server, no timing.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "testlib.h"

static int calls;

static void handler(const struct http_request *req, struct http_response *res)
{
	calls++;
	http_printf(res, "%s %s ?%s\n", req->method, req->path, req->query);
}

/* Feed `request` to the server side, then return all it answered. */
static const char *serve(const char *request, bool keep_alive, bool end_input)
{
	static char reply[65536];
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	size_t len = strlen(request);
	ck_assert_int_eq(write(sv[1], request, len), (ssize_t)len);
	if (end_input)
		shutdown(sv[1], SHUT_WR);
	calls = 0;
	http_serve_connection(sv[0], handler, keep_alive, 0.3);	/* closes sv[0] */
	ssize_t n = read(sv[1], reply, sizeof reply - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(sv[1]);
	return reply;
}

static void starts_with(const char *reply, const char *status_line)
{
	ck_assert_msg(strncmp(reply, status_line, strlen(status_line)) == 0,
		      "expected \"%s\", got: %.80s", status_line, reply);
}

START_TEST(a_good_request_reaches_the_handler)
{
	const char *r = serve("GET /hello?trace=1 HTTP/1.1\r\nHost: x\r\n\r\n", false, true);
	starts_with(r, "HTTP/1.1 200 OK\r\n");
	ck_assert_ptr_nonnull(strstr(r, "Connection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "\r\n\r\nGET /hello ?trace=1\n"));
	ck_assert_int_eq(calls, 1);
}
END_TEST

START_TEST(garbage_gets_400_and_never_reaches_the_handler)
{
	starts_with(serve("\x01\x02 hello there\r\n\r\n", false, true),
		    "HTTP/1.1 400 Bad Request\r\n");
	ck_assert_int_eq(calls, 0);
}
END_TEST

START_TEST(a_header_without_a_colon_gets_400)
{
	starts_with(serve("GET / HTTP/1.1\r\nHost: x\r\nX-Nocolon x\r\n\r\n", false, true),
		    "HTTP/1.1 400 ");
}
END_TEST

START_TEST(an_unknown_http_version_gets_400)
{
	starts_with(serve("GET / HTTP/2.0\r\n\r\n", false, true), "HTTP/1.1 400 ");
	starts_with(serve("GET / HTTP/1.7\r\n\r\n", false, true), "HTTP/1.1 400 ");
}
END_TEST

/* RFC 9112 3.2.2: absolute form is served as its path and query. */
START_TEST(an_absolute_target_is_served_as_its_path)
{
	static const char *const good[][2] = {
		{ "http://127.0.0.1:12345/hello?trace=1", "GET /hello ?trace=1\n" },
		{ "http://x/a/b", "GET /a/b ?\n" },
		{ "HTTPS://x/s", "GET /s ?\n" },
		{ "http://[::1]:8080/v6", "GET /v6 ?\n" },
		{ "http://x", "GET / ?\n" },
		{ "http://x?q=1", "GET / ?q=1\n" },
	};
	char req[256];
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", good[i][0]);
		const char *r = serve(req, false, true);
		starts_with(r, "HTTP/1.1 200 OK\r\n");
		const char *body = strstr(r, "\r\n\r\n");
		ck_assert_msg(body && strcmp(body + 4, good[i][1]) == 0,
			      "GET %s: the handler saw %s", good[i][0], body ? body + 4 : r);
	}
}
END_TEST

START_TEST(a_bad_absolute_target_gets_400)
{
	static const char *const bad[] = {
		"ftp://x/a", "http://user@x/a", "http:///a", "http:/a", "http://x:99999/a",
		"x/a", "http://x/a#frag", "127.0.0.1:80",
	};
	char req[256];
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", bad[i]);
		const char *r = serve(req, false, true);
		ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0, "GET %s: got %.40s",
			      bad[i], r);
		ck_assert_int_eq(calls, 0);
	}
}
END_TEST

/* OPTIONS * is about the server: answered here, 200, no content. */
START_TEST(options_asterisk_is_answered_without_the_handler)
{
	const char *r = serve("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"
			      "GET /after HTTP/1.1\r\nHost: x\r\n\r\n", true, true);
	starts_with(r, "HTTP/1.1 200 OK\r\n");
	const char *end = strstr(r, "\r\n\r\n");
	ck_assert_ptr_nonnull(end);
	ck_assert_msg(strncmp(end, "\r\n\r\nHTTP/1.1 200 OK\r\n", 21) == 0,
		      "expected no body, then the next answer; got %s", end);
	ck_assert_ptr_nonnull(strstr(r, "Allow: GET, HEAD, OPTIONS\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "Content-Length: 0\r\n"));
	ck_assert_ptr_nonnull(strstr(r, "Connection: keep-alive\r\n"));
	ck_assert_msg(strstr(r, "Content-Type") == strstr(end, "Content-Type"),
		      "a Content-Type on an answer without content: %s", r);
	ck_assert_ptr_nonnull(strstr(r, "GET /after ?"));
	ck_assert_int_eq(calls, 1);	/* only GET /after */
}
END_TEST

START_TEST(an_asterisk_is_only_for_options)
{
	starts_with(serve("GET * HTTP/1.1\r\nHost: x\r\n\r\n", false, true), "HTTP/1.1 400 ");
	starts_with(serve("HEAD * HTTP/1.1\r\nHost: x\r\n\r\n", false, true), "HTTP/1.1 400 ");
	starts_with(serve("OPTIONS *x HTTP/1.1\r\nHost: x\r\n\r\n", false, true), "HTTP/1.1 400 ");
	ck_assert_int_eq(calls, 0);
	const char *r = serve("OPTIONS /x HTTP/1.1\r\nHost: x\r\n\r\n", false, true);
	ck_assert_ptr_nonnull(strstr(r, "\r\n\r\nOPTIONS /x ?"));	/* a path: the handler's */
}
END_TEST

/* HTTP/1.1 names its host (RFC 9112 3.2); HTTP/1.0 need not. */
START_TEST(http_1_1_needs_exactly_one_host)
{
	starts_with(serve("GET /a HTTP/1.1\r\n\r\n", false, true), "HTTP/1.1 400 ");
	starts_with(serve("GET /a HTTP/1.1\r\nHost: x\r\nhost: y\r\n\r\n", false, true),
		    "HTTP/1.1 400 ");
	starts_with(serve("GET http://x/a HTTP/1.1\r\n\r\n", false, true), "HTTP/1.1 400 ");
	ck_assert_int_eq(calls, 0);
	starts_with(serve("GET /a HTTP/1.0\r\n\r\n", false, true), "HTTP/1.1 200 OK\r\n");
	starts_with(serve("GET /a HTTP/1.1\r\nHost:\r\n\r\n", false, true), "HTTP/1.1 200 OK\r\n");
}
END_TEST

/* The status line and the end of the body, for a message. */
static const char *status_and_body(const char *reply)
{
	static char s[160];
	const char *body = strstr(reply, "\r\n\r\n");
	snprintf(s, sizeof s, "%.*s ... %.*s", (int)strcspn(reply, "\r"), reply,
		 body ? (int)strcspn(body + 4, "\n") : 9, body ? body + 4 : "(no body)");
	return s;
}

/* s with its line ends shown as \r\n, for a message. */
static const char *shown(const char *s)
{
	static char out[512];
	size_t n = 0;
	for (; *s && n + 5 < sizeof out; s++)
		if (*s == '\r' || *s == '\n')
			n += (size_t)snprintf(out + n, sizeof out - n, *s == '\r' ? "\\r" : "\\n");
		else
			out[n++] = *s;
	out[n] = '\0';
	return out;
}

/* RFC 9110 15.6.2 and 9.1: a method that is a token the kit does not
 * know is not implemented (501, before the handler); one that is not a
 * token is malformed (400).  A token is one or more of
 * !#$%&'*+-.^_`|~, digits and letters; methods are case-sensitive. */
START_TEST(an_unknown_method_token_gets_501_and_a_malformed_method_400)
{
	static const struct { const char *method; int status; } cases[] = {
		{ "-BLARGH", 501 }, { "-blargh", 501 }, { "get", 501 }, { "Get", 501 },
		{ "BLARGH", 501 }, { "GETS", 501 }, { "M-SEARCHING", 501 },
		{ "!#$%&'*+-.^_`|~09AZaz", 501 },
		{ "AVERYLONGMETHODTHATNOSERVERHASEVERHEARDOF", 501 },
		{ "G@T", 400 }, { "GE\"T", 400 }, { "(GET)", 400 }, { "GET,", 400 },
		{ "G\xc3\x89T", 400 }, { "[", 400 },
	};
	char req[256], want[32];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(req, sizeof req, "%s /foo HTTP/1.1\r\nHost: x\r\n\r\n", cases[i].method);
		snprintf(want, sizeof want, "HTTP/1.1 %d ", cases[i].status);
		const char *r = serve(req, false, true);
		ck_assert_msg(strncmp(r, want, strlen(want)) == 0 && calls == 0,
			      "%s /foo: expected %d before the handler; got %s (handler "
			      "called %d times)", cases[i].method, cases[i].status,
			      status_and_body(r), calls);
	}
	const char *r = serve("-BLARGH /foo HTTP/1.1\r\nHost: x\r\n\r\n", false, true);
	ck_assert_msg(strstr(r, "\r\n\r\n501 Not Implemented\n"),
		      "expected the body \"501 Not Implemented\"; got %s", status_and_body(r));
}
END_TEST

/* An unknown method in a request that is malformed elsewhere is malformed
 * first: 400, as for any method. */
START_TEST(an_unknown_method_in_a_malformed_request_gets_400)
{
	static const char *const bad[] = {
		"BLARGH /foo HTTP/2.0\r\nHost: x\r\n\r\n",
		"BLARGH /foo HTTP/1.1\r\n\r\n",
		"BLARGH foo HTTP/1.1\r\nHost: x\r\n\r\n",
		"BLARGH /foo HTTP/1.1\r\nHost : x\r\n\r\n",
		"BLARGH /foo HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
		"BLARGH\t/foo HTTP/1.1\r\nHost: x\r\n\r\n",
		"BLARGH\r\n\r\n",
		" BLARGH /foo HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *r = serve(bad[i], false, true);
		ck_assert_msg(strncmp(r, "HTTP/1.1 400 ", 13) == 0 && calls == 0,
			      "%.*s: expected 400; got %s", (int)strcspn(bad[i], "\r"),
			      bad[i], status_and_body(r));
	}
}
END_TEST

/* RFC 9112 6.1 and 6.3: of the transfer codings, the kit implements
 * chunked only, and only as the last one.  Any other coding in the list
 * is not implemented (501); a list without chunked last, with chunked
 * twice, or that is not a list of codings, is malformed (400).  Several
 * Transfer-Encoding lines make one list (RFC 9110 5.3). */
START_TEST(a_transfer_coding_other_than_chunked_gets_501)
{
	static const struct { const char *lines; int status; } cases[] = {
		{ "Transfer-Encoding: gzip, chunked\r\n", 501 },
		{ "Transfer-Encoding: identity, chunked\r\n", 501 },
		{ "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 501 },
		{ "Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n", 501 },
		{ "Transfer-Encoding: deflate,compress , x-mine,chunked\r\n", 501 },
		{ "Transfer-Encoding: GZIP, Chunked\r\n", 501 },
		{ "Transfer-Encoding: gzip;level=1, chunked\r\n", 501 },
		{ "Transfer-Encoding: gzip ; x = \"a, \\\"b\" ;y=z, chunked\r\n", 501 },
		{ "Transfer-Encoding: gzip,, chunked\r\n", 501 },
		{ "Transfer-Encoding: gzip\r\n", 400 },
		{ "Transfer-Encoding: chunked, gzip\r\n", 400 },
		{ "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", 400 },
		{ "Transfer-Encoding: chunked, chunked\r\n", 400 },
		{ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400 },
		{ "Transfer-Encoding: gzip, chunked, chunked\r\n", 400 },
		{ "Transfer-Encoding: x@y, chunked\r\n", 400 },
		{ "Transfer-Encoding: gzip;, chunked\r\n", 400 },
		{ "Transfer-Encoding: gzip;x, chunked\r\n", 400 },
		{ "Transfer-Encoding: gzip;x=\"open, chunked\r\n", 400 },
		{ "Transfer-Encoding: gzip chunked\r\n", 400 },
		{ "Transfer-Encoding:\r\n", 400 },
		{ "Transfer-Encoding: chunked\r\n", 200 },
		{ "Transfer-Encoding: CHUNKED\r\n", 200 },
		{ "Transfer-Encoding: Chunked\r\n", 200 },
	};
	char req[512], want[32];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(req, sizeof req, "POST /c HTTP/1.1\r\nHost: x\r\n%s\r\n"
			 "5\r\nhello\r\n0\r\n\r\n", cases[i].lines);
		snprintf(want, sizeof want, "HTTP/1.1 %d ", cases[i].status);
		const char *r = serve(req, false, true);
		ck_assert_msg(strncmp(r, want, strlen(want)) == 0 &&
			      calls == (cases[i].status == 200),
			      "%s: expected %d; got %s (handler called %d times)",
			      shown(cases[i].lines), cases[i].status, status_and_body(r), calls);
	}
}
END_TEST

/* Transfer-Encoding is kept whole to be judged, up to HTTP_MAX_CODINGS
 * bytes, all its lines together. */
START_TEST(a_transfer_encoding_over_its_limit_gets_431)
{
	char req[2048];
	for (int lines = 1; lines <= 4; lines++) {
		int n = snprintf(req, sizeof req, "POST /c HTTP/1.1\r\nHost: x\r\n");
		for (int k = 0; k < lines; k++) {
			n += snprintf(req + n, sizeof req - (size_t)n, "Transfer-Encoding: ");
			for (int m = 0; m < HTTP_MAX_CODINGS / 6 / lines + 1; m++)
				n += snprintf(req + n, sizeof req - (size_t)n, "gzip, ");
			n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
		}
		snprintf(req + n, sizeof req - (size_t)n, "Transfer-Encoding: chunked\r\n\r\n"
			 "0\r\n\r\n");
		const char *r = serve(req, false, true);
		ck_assert_msg(strncmp(r, "HTTP/1.1 431 ", 13) == 0 && calls == 0,
			      "%d Transfer-Encoding line(s) of gzip, then chunked: "
			      "expected 431; got %s", lines,
			      status_and_body(r));
	}
}
END_TEST

START_TEST(a_huge_header_gets_431)
{
	static char req[20000];
	snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0*d\r\n\r\n", 10000, 0);
	starts_with(serve(req, false, true), "HTTP/1.1 431 ");
	ck_assert_int_eq(calls, 0);
}
END_TEST

START_TEST(head_gets_the_headers_without_the_body)
{
	const char *r = serve("HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n", false, true);
	starts_with(r, "HTTP/1.1 200 OK\r\n");
	ck_assert_ptr_nonnull(strstr(r, "Content-Length: 10\r\n"));
	ck_assert_str_eq(strstr(r, "\r\n\r\n"), "\r\n\r\n");
}
END_TEST

START_TEST(pipelined_requests_are_answered_in_order)
{
	const char *r = serve("GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n",
			      true, true);
	const char *one = strstr(r, "GET /one");
	const char *two = strstr(r, "GET /two");
	ck_assert_msg(one && two && one < two, "answers: %s", r);
	ck_assert_int_eq(calls, 2);
}
END_TEST

START_TEST(the_sync_worker_closes_after_one_answer)
{
	const char *r = serve("GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n",
			      false, true);
	ck_assert_ptr_nonnull(strstr(r, "GET /one"));
	ck_assert_ptr_null(strstr(r, "GET /two"));
}
END_TEST

START_TEST(an_unfinished_request_gets_408_after_the_timeout)
{
	starts_with(serve("GET /slow HTTP/1.1\r\nHost: x\r\nX-More:", false, false),
		    "HTTP/1.1 408 ");
	ck_assert_int_eq(calls, 0);
}
END_TEST

/* The server reads 4096 bytes at a time.  prefix, an X-Pad header, then
 * suffix, padded so that suffix[split] is the first byte of the second read:
 * what the strictness layer tracks must survive the seam. */
static const char *across_reads(const char *prefix, const char *suffix, size_t split)
{
	static char req[16384];
	int pad = 4096 - (int)split - (int)strlen(prefix) - (int)strlen("X-Pad: \r\n");
	ck_assert_int_gt(pad, 0);
	snprintf(req, sizeof req, "%sX-Pad: %0*d\r\n%s", prefix, pad, 0, suffix);
	ck_assert_int_eq(req[4096], suffix[split]);
	return req;
}

START_TEST(a_host_header_split_between_reads_counts_once)
{
	const char *r = serve(across_reads("GET /h HTTP/1.1\r\n", "Host: x\r\n\r\n", 2),
			      false, true);
	starts_with(r, "HTTP/1.1 200 OK\r\n");
	r = serve(across_reads("GET /h HTTP/1.1\r\nHost: x\r\n", "Host: y\r\n\r\n", 2),
		  false, true);
	starts_with(r, "HTTP/1.1 400 ");
	ck_assert_int_eq(calls, 0);
}
END_TEST

/* The method is read before the parser sees it: it must survive the seam
 * too.  The second of two pipelined requests begins just before the seam. */
START_TEST(a_method_split_between_reads_is_judged_whole)
{
	static const struct { const char *second; size_t split; const char *status; } cases[] = {
		{ "\r\nBLARGH /b HTTP/1.1\r\nHost: x\r\n\r\n", 5, "HTTP/1.1 501 " },
		{ "\r\nGE /b HTTP/1.1\r\nHost: x\r\n\r\n", 4, "HTTP/1.1 501 " },
		{ "\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", 4, "HTTP/1.1 200 " },
		{ "\r\nGE@T /b HTTP/1.1\r\nHost: x\r\n\r\n", 4, "HTTP/1.1 400 " },
		{ "\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", 5, "HTTP/1.1 200 " },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *r = serve(across_reads("GET /a HTTP/1.1\r\nHost: x\r\n",
						   cases[i].second, cases[i].split), true, true);
		starts_with(r, "HTTP/1.1 200 OK\r\n");
		const char *second = strstr(r + 1, "HTTP/1.1 ");
		ck_assert_msg(second && strncmp(second, cases[i].status,
						strlen(cases[i].status)) == 0,
			      "%.*s, split after %zu bytes: expected %s; got %.*s",
			      (int)strcspn(cases[i].second + 2, "\r"), cases[i].second + 2,
			      cases[i].split - 2, cases[i].status,
			      second ? (int)strcspn(second, "\r") : 7, second ? second : "nothing");
	}
}
END_TEST

/* A transfer coding split between reads, in the list or in the name. */
START_TEST(a_transfer_coding_split_between_reads_is_judged_whole)
{
	static const char body[] = "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n";
	static const size_t splits[] = { 5, 20, 22, 26, 30 };
	for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
		const char *r = serve(across_reads("POST /c HTTP/1.1\r\nHost: x\r\n", body,
						   splits[i]), false, true);
		ck_assert_msg(strncmp(r, "HTTP/1.1 501 ", 13) == 0 && calls == 0,
			      "Transfer-Encoding: gzip, chunked split after \"%.*s\": "
			      "expected 501; got %s", (int)splits[i], body, status_and_body(r));
	}
}
END_TEST

/* Framing is the head's: a Transfer-Encoding in the trailers is refused. */
START_TEST(a_transfer_encoding_in_the_trailers_gets_400)
{
	starts_with(serve("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "5\r\nhello\r\n0\r\nTransfer-Encoding: gzip\r\n\r\n", false, true),
		    "HTTP/1.1 400 ");
	ck_assert_int_eq(calls, 0);
}
END_TEST

#define CHUNKED_HEAD "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"

START_TEST(trailers_are_scanned_across_reads)
{
	static const char folded[] = "\r\n5\r\nhello\r\n0\r\nX-T: one\r\n two\r\n\r\n";
	static const char plain[] = "\r\n5\r\nhello\r\n0\r\nX-T: one\r\nX-U: two\r\n\r\n";
	size_t split = strlen(folded) - strlen(" two\r\n\r\n");
	starts_with(serve(across_reads(CHUNKED_HEAD, folded, split), false, true),
		    "HTTP/1.1 400 ");
	ck_assert_int_eq(calls, 0);
	split = strlen(plain) - strlen("X-U: two\r\n\r\n");
	starts_with(serve(across_reads(CHUNKED_HEAD, plain, split), false, true),
		    "HTTP/1.1 200 OK\r\n");
}
END_TEST

/* A size line of HTTP_MAX_CHUNK_LINE bytes at most, extensions and all,
 * wherever the reads split it. */
START_TEST(a_chunk_line_is_bounded_across_reads)
{
	static char body[4096];
	const char *r;
	snprintf(body, sizeof body, "\r\n5;e=%0*d\r\nhello\r\n0\r\n\r\n", 1000, 0);
	r = serve(across_reads(CHUNKED_HEAD, body, 500), false, true);
	starts_with(r, "HTTP/1.1 200 OK\r\n");
	ck_assert_ptr_nonnull(strstr(r, "POST /c ?"));
	snprintf(body, sizeof body, "\r\n5;e=%0*d\r\nhello\r\n0\r\n\r\n", 1100, 0);
	starts_with(serve(across_reads(CHUNKED_HEAD, body, 500), false, true),
		    "HTTP/1.1 400 ");
	snprintf(body, sizeof body, "\r\n5\r\nhello\r\n0;e=%0*d\r\n\r\n", 1100, 0);
	starts_with(serve(across_reads(CHUNKED_HEAD, body, 500), false, true),
		    "HTTP/1.1 400 ");
	ck_assert_int_eq(calls, 0);
}
END_TEST

static void write_xyz(int fd, double deadline)
{
	(void)deadline;
	ck_assert_int_eq(write(fd, "xyz", 3), 3);
}

static void taking_over(const struct http_request *req, struct http_response *res)
{
	handler(req, res);
	res->takeover = write_xyz;
}

/* The hook the simulator's faults use: the handler's own bytes, and
 * nothing of the response it had begun. */
START_TEST(a_takeover_writes_instead_of_the_response)
{
	int sv[2];
	char reply[64];
	const char *req = "GET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /y HTTP/1.1\r\nHost: x\r\n\r\n";
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(write(sv[1], req, strlen(req)), (ssize_t)strlen(req));
	shutdown(sv[1], SHUT_WR);
	calls = 0;
	http_serve_connection(sv[0], taking_over, true, 0.3);
	ssize_t n = read(sv[1], reply, sizeof reply - 1);
	reply[n > 0 ? n : 0] = '\0';
	close(sv[1]);
	ck_assert_str_eq(reply, "xyz");
	ck_assert_int_eq(calls, 1);	/* and the connection ended there */
}
END_TEST

START_TEST(a_client_that_sends_nothing_is_closed_quietly)
{
	ck_assert_str_eq(serve("", false, true), "");
	ck_assert_str_eq(serve("", true, false), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("requests");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_good_request_reaches_the_handler);
	tcase_add_test(tc, garbage_gets_400_and_never_reaches_the_handler);
	tcase_add_test(tc, a_header_without_a_colon_gets_400);
	tcase_add_test(tc, an_unknown_http_version_gets_400);
	tcase_add_test(tc, an_absolute_target_is_served_as_its_path);
	tcase_add_test(tc, a_bad_absolute_target_gets_400);
	tcase_add_test(tc, options_asterisk_is_answered_without_the_handler);
	tcase_add_test(tc, an_asterisk_is_only_for_options);
	tcase_add_test(tc, http_1_1_needs_exactly_one_host);
	tcase_add_test(tc, an_unknown_method_token_gets_501_and_a_malformed_method_400);
	tcase_add_test(tc, an_unknown_method_in_a_malformed_request_gets_400);
	tcase_add_test(tc, a_transfer_coding_other_than_chunked_gets_501);
	tcase_add_test(tc, a_transfer_encoding_over_its_limit_gets_431);
	tcase_add_test(tc, a_huge_header_gets_431);
	tcase_add_test(tc, head_gets_the_headers_without_the_body);
	tcase_add_test(tc, pipelined_requests_are_answered_in_order);
	tcase_add_test(tc, the_sync_worker_closes_after_one_answer);
	tcase_add_test(tc, an_unfinished_request_gets_408_after_the_timeout);
	tcase_add_test(tc, a_host_header_split_between_reads_counts_once);
	tcase_add_test(tc, a_method_split_between_reads_is_judged_whole);
	tcase_add_test(tc, a_transfer_coding_split_between_reads_is_judged_whole);
	tcase_add_test(tc, a_transfer_encoding_in_the_trailers_gets_400);
	tcase_add_test(tc, trailers_are_scanned_across_reads);
	tcase_add_test(tc, a_chunk_line_is_bounded_across_reads);
	tcase_add_test(tc, a_takeover_writes_instead_of_the_response);
	tcase_add_test(tc, a_client_that_sends_nothing_is_closed_quietly);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
