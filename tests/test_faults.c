/*
 * Failing upstreams: every lab, pointed with --urls at one URL that fails
 * and one that works, must still answer /hello -- at once, or when the
 * fetch timeout ends -- with 502 (504 when a fetch timed out), the note's
 * JSON with a non-zero code, a message naming the failed URL and why, and
 * the elapsed seconds; and it must go on serving.
 *
 * The faults come from the upstream simulator (/status/<code>, /reset,
 * /garbage, /hang), from a port nobody listens on, and from a host name
 * that does not resolve.  That last one runs in a network namespace of its
 * own with only loopback in it, so the failed lookup never sends a packet
 * off this machine.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"

static const char *const lab_names[] = { "lab1", "lab2", "lab3", "lab4" };

enum { FETCH_TIMEOUT = 1 };	/* --fetch-timeout, seconds */
#define MARGIN 1.5		/* beyond the fetch timeout, for the answer */

enum where { SIMULATOR, CLOSED_PORT, NO_SUCH_HOST };

struct fault {
	const char *name;
	enum where where;
	const char *path;		/* on the simulator */
	int status;			/* the lab's answer */
	const char *reasons[6];		/* one of these words says why */
};

static const struct fault faults[] = {
	{ "an upstream answering 500", SIMULATOR, "/status/500", 502, { "500" } },
	{ "an upstream answering 503", SIMULATOR, "/status/503", 502, { "503" } },
	{ "an upstream resetting the connection", SIMULATOR, "/reset", 502,
	  { "reset", "recv", "receiv", "empty", "closed" } },
	{ "an upstream writing garbage", SIMULATOR, "/garbage", 502,
	  { "0.9", "weird", "version", "invalid", "unsupported", "malformed" } },
	{ "an upstream that never answers", SIMULATOR, "/hang", 504,
	  { "time" } },
	{ "a closed port", CLOSED_PORT, NULL, 502, { "refused", "connect" } },
	{ "a host name that does not resolve", NO_SUCH_HOST, NULL, 502,
	  { "resolve", "lookup", "name" } },
};

/*
 * A loopback port nobody listens on, held for the whole test: the socket
 * stays bound but never listens, so a connect to it is refused, and no
 * other socket -- the lab's own listener, say, which binds port 0 a moment
 * later -- can be given the port meanwhile.  Close the returned fd after.
 */
static int hold_a_closed_port(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof a;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Move this test process (and all it starts) into a new network namespace
 * with only loopback, up.  False when it may not: the caller skips. */
static bool private_network(void)
{
	const char *fork_mode = getenv("CK_FORK");
	if (fork_mode && strcmp(fork_mode, "no") == 0) {
		printf("skipped: the unresolvable-host case needs CK_FORK (a process "
		       "of its own for its network namespace)\n");
		return false;
	}
	if (unshare(CLONE_NEWNET) != 0) {
		printf("skipped: the unresolvable-host case needs CAP_SYS_ADMIN "
		       "(unshare(CLONE_NEWNET): %s)\n", strerror(errno));
		return false;
	}
	struct ifreq ifr = { 0 };
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0, "SIOCGIFFLAGS lo: %s",
		      strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	ck_assert_msg(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS lo up: %s",
		      strerror(errno));
	close(fd);
	return true;
}

/* The value after "key": in a flat JSON object, or NULL. */
static const char *json_value(const char *json, const char *key)
{
	char quoted[64];
	snprintf(quoted, sizeof quoted, "\"%s\"", key);
	const char *at = strstr(json, quoted);
	if (!at)
		return NULL;
	at += strlen(quoted);
	while (*at == ' ')
		at++;
	if (*at++ != ':')
		return NULL;
	while (*at == ' ')
		at++;
	return at;
}

/* The JSON string at s (at its opening quote), unescaped into out. */
static bool json_string(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	if (!s || *s++ != '"')
		return false;
	for (; *s && *s != '"' && n + 1 < cap; s++) {
		if (*s == '\\' && s[1])
			s++;	/* \" \\ \/; \uXXXX is kept as uXXXX: fine here */
		out[n++] = *s;
	}
	out[n] = '\0';
	return *s == '"';
}

/* message without any copy of url, lowercased, for the reason words. */
static void without(const char *message, const char *url, char *out, size_t cap)
{
	size_t n = 0, ul = strlen(url);
	for (const char *m = message; *m && n + 1 < cap; ) {
		if (strncmp(m, url, ul) == 0) {
			m += ul;
			continue;
		}
		out[n++] = (char)(*m >= 'A' && *m <= 'Z' ? *m - 'A' + 'a' : *m);
		m++;
	}
	out[n] = '\0';
}

/* One /hello on a lab whose first URL fails: the whole contract. */
static void answered_as_a_failure(const char *lab, const struct fault *f, int port,
				  const char *bad_url, const char *good_url, const char *which)
{
	struct tl_reply r;
	char type[128] = "", message[2048], rest[2048];
	double within = FETCH_TIMEOUT + MARGIN;

	const char *hello = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Connection: close\r\n\r\n";
	tl_raw(port, hello, strlen(hello), within + 5, &r);
	ck_assert_msg(r.status != 0 && r.seconds < within,
		      "%s with %s, %s /hello: expected an answer within %.1fs "
		      "(fetch timeout %ds); %s after %.2fs", lab, f->name, which,
		      within, FETCH_TIMEOUT, r.status ? "it came" : "none came", r.seconds);
	ck_assert_msg(r.status == f->status, "%s with %s, %s /hello: expected %d; got %d: %s",
		      lab, f->name, which, f->status, r.status, r.body);
	tl_header(&r, "Content-Type", type, sizeof type);
	ck_assert_msg(strncmp(type, "application/json", 16) == 0,
		      "%s with %s: expected Content-Type application/json; got \"%s\"",
		      lab, f->name, type);

	const char *code = json_value(r.body, "code");
	ck_assert_msg(r.body[0] == '{' && code && atoi(code) != 0,
		      "%s with %s: expected JSON with a non-zero \"code\"; got %s",
		      lab, f->name, r.body);
	ck_assert_msg(json_string(json_value(r.body, "message"), message, sizeof message),
		      "%s with %s: expected a \"message\" string; got %s", lab, f->name, r.body);
	ck_assert_msg(strstr(message, bad_url), "%s with %s: expected the message to name "
		      "%s; it says: %s", lab, f->name, bad_url, message);
	ck_assert_msg(!strstr(message, good_url), "%s with %s: the message names %s, "
		      "which worked: %s", lab, f->name, good_url, message);
	without(message, bad_url, rest, sizeof rest);
	bool why = false;
	for (int k = 0; k < 6 && f->reasons[k]; k++)
		why |= strstr(rest, f->reasons[k]) != NULL;
	ck_assert_msg(why, "%s with %s: expected the message to say why (a word like "
		      "\"%s\"); it says: %s", lab, f->name, f->reasons[0], message);

	const char *data = json_value(r.body, "data");
	char *end = NULL;
	double seconds = data ? strtod(data, &end) : -1;
	ck_assert_msg(data && end != data && tl_fits_inside(seconds, &r),
		      "%s with %s: expected \"data\": the seconds it took (about %.2f); "
		      "got %s", lab, f->name, r.seconds, r.body);
}

static void run_fault(const struct fault *f, int i)
{
	const char *lab = lab_names[i];
	char bad[256], good[256], file[] = "/tmp/workerlab-faults-XXXXXX", timeout[16];
	struct tl_proc up, p;
	int closed = -1, port;

	if (f->where == NO_SUCH_HOST && !private_network())
		return;
	static const char *const up_args[] = { "-b", "127.0.0.1:0", NULL };
	tl_start(&up, "upstream", up_args);
	snprintf(good, sizeof good, "http://127.0.0.1:%d/delay/0", up.port);
	if (f->where == SIMULATOR)
		snprintf(bad, sizeof bad, "http://127.0.0.1:%d%s", up.port, f->path);
	else if (f->where == CLOSED_PORT && (closed = hold_a_closed_port(&port)) >= 0)
		snprintf(bad, sizeof bad, "http://127.0.0.1:%d/", port);
	else
		snprintf(bad, sizeof bad, "http://no-such-host.invalid/");

	int fd = mkstemp(file);
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	dprintf(fd, "# %s\n%s\n%s\n", f->name, bad, good);
	close(fd);
	snprintf(timeout, sizeof timeout, "%d", FETCH_TIMEOUT);
	const char *const args[] = {
		"-b", "127.0.0.1:0", "--urls", file, "--request-timeout", "1",
		"--fetch-timeout", timeout, NULL
	};
	tl_start(&p, lab, args);
	unlink(file);		/* read when the lab started */

	answered_as_a_failure(lab, f, p.port, bad, good, "the first");
	answered_as_a_failure(lab, f, p.port, bad, good, "a second");
	tl_stop(&p);
	tl_stop(&up);
	if (closed >= 0)
		close(closed);
}

START_TEST(a_lab_answers_502_when_an_upstream_answers_500) { run_fault(&faults[0], _i); } END_TEST
START_TEST(a_lab_answers_502_when_an_upstream_answers_503) { run_fault(&faults[1], _i); } END_TEST
START_TEST(a_lab_answers_502_when_an_upstream_resets_the_connection) { run_fault(&faults[2], _i); } END_TEST
START_TEST(a_lab_answers_502_when_an_upstream_writes_garbage) { run_fault(&faults[3], _i); } END_TEST
START_TEST(a_lab_answers_504_when_an_upstream_never_answers) { run_fault(&faults[4], _i); } END_TEST
START_TEST(a_lab_answers_502_when_an_upstream_port_is_closed) { run_fault(&faults[5], _i); } END_TEST
START_TEST(a_lab_answers_502_when_an_upstream_host_does_not_resolve) { run_fault(&faults[6], _i); } END_TEST

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("failing upstreams");
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, a_lab_answers_502_when_an_upstream_answers_500, 0, 4);
	tcase_add_loop_test(tc, a_lab_answers_502_when_an_upstream_answers_503, 0, 4);
	tcase_add_loop_test(tc, a_lab_answers_502_when_an_upstream_resets_the_connection, 0, 4);
	tcase_add_loop_test(tc, a_lab_answers_502_when_an_upstream_writes_garbage, 0, 4);
	tcase_add_loop_test(tc, a_lab_answers_504_when_an_upstream_never_answers, 0, 4);
	tcase_add_loop_test(tc, a_lab_answers_502_when_an_upstream_port_is_closed, 0, 4);
	tcase_add_loop_test(tc, a_lab_answers_502_when_an_upstream_host_does_not_resolve, 0, 4);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
