/*
 * The upstream simulator at scale, and as it always behaved: thousands of
 * delayed requests answered side by side by one thread, keep-alive, the
 * profile's scaled delays, and the misbehaviours the fault tests use.
 * Small numbers, wide ratios: it must pass on a busy 2-core machine.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

enum { MANY = 2000, HANGING = 500 };
#define SLACK 3.0	/* the slowest of MANY answers, in delays, at most */

static const char *const up_args[] = { "-b", "127.0.0.1:0", NULL };

/* This process's soft RLIMIT_NOFILE up to the hard one; false (and say so)
 * when even that leaves no room for n connections. */
static bool room_for(int n)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)n + 64) {
		printf("skipped: %d connections need a larger open-file limit than %llu\n",
		       n, (unsigned long long)rl.rlim_max);
		return false;
	}
	return true;
}

static void send_get(int fd, const char *path, const char *connection)
{
	char req[256];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Connection: %s\r\n\r\n", path, connection);
	ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
}

/* The "Threads:" line of /proc/pid/status. */
static int threads_of(pid_t pid)
{
	char path[64], line[256];
	int n = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* MANY clients at once, each its own connection, each GET /delay/1000:
 * every one answered 200, none before its delay, and none later than SLACK
 * delays after its own connect -- one after another, they would take MANY
 * delays.  Each client's clock starts just before its connect, so the time
 * this process takes to open the others is not counted against the
 * simulator; the delay is long beside what the client does between polls. */
START_TEST(two_thousand_delayed_requests_are_answered_side_by_side)
{
	static int fds[MANY];
	static char got[MANY][16];
	static double began[MANY];
	const double delay = 1.0;
	struct tl_proc up;
	if (!room_for(MANY))
		return;
	tl_start(&up, "upstream", up_args);
	double start = now(), first = 1e9, last = 0;
	for (int i = 0; i < MANY; i++) {
		began[i] = now();
		fds[i] = tl_connect(up.port);
		send_get(fds[i], "/delay/1000", "close");
	}
	int open = MANY, ok = 0;
	while (open > 0 && now() - start < 30) {
		struct pollfd pfd[256];
		int k = 0;
		for (int i = 0; i < MANY && k < 256; i++)
			if (fds[i] >= 0)
				pfd[k++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		ck_assert_int_ge(poll(pfd, (nfds_t)k, 100), 0);
		for (int j = 0; j < k; j++) {
			if (!pfd[j].revents)
				continue;
			int i = 0;
			while (fds[i] != pfd[j].fd)
				i++;
			char buf[512];
			ssize_t n = recv(fds[i], buf, sizeof buf, 0);
			if (n > 0 && got[i][0] == '\0')
				snprintf(got[i], sizeof got[i], "%.*s", (int)(n < 15 ? n : 15), buf);
			if (n > 0)
				continue;
			double end = now() - began[i];	/* the answer and its close */
			first = end < first ? end : first;
			last = end > last ? end : last;
			ok += strncmp(got[i], "HTTP/1.1 200 ", 13) == 0;
			close(fds[i]);
			fds[i] = -1;
			open--;
		}
	}
	ck_assert_msg(ok == MANY, "%d clients at once on /delay/1000: expected every one "
		      "answered 200; %d were, %d got no answer within 30 s", MANY, ok, open);
	ck_assert_msg(first >= delay, "the first of %d answers came after %.3f s, before "
		      "its delay of %.1f s", MANY, first, delay);
	ck_assert_msg(last < SLACK * delay, "%d clients at once on /delay/1000: expected "
		      "the slowest answer within %.1f delays (%.2f s) of its connect; it "
		      "took %.3f s", MANY, SLACK, SLACK * delay, last);
	tl_stop(&up);
}
END_TEST

/* HANGING clients on /hang: one thread holds them all, and when they hang
 * up the simulator closes their connections at once, not an hour later. */
START_TEST(one_thread_holds_every_waiting_request_and_lets_go_of_a_client_that_leaves)
{
	static int fds[HANGING];
	struct tl_proc up;
	if (!room_for(HANGING))
		return;
	struct tl_reply r;
	tl_start(&up, "upstream", up_args);
	tl_get(up.port, "/delay/0", &r);	/* its loop runs: every fd it needs is open */
	ck_assert_int_eq(r.status, 200);
	int base = tl_fd_count(up.pid);
	for (int i = 0; i < HANGING; i++) {
		fds[i] = tl_connect(up.port);
		send_get(fds[i], "/hang", "keep-alive");
	}
	ck_assert_msg(tl_wait_fds(up.pid, base + HANGING, 5), "the simulator holds %d "
		      "fds, not the %d of %d connections", tl_fd_count(up.pid),
		      base + HANGING, HANGING);
	int threads = threads_of(up.pid);
	ck_assert_msg(threads == 1, "%d requests waiting: expected one thread to hold "
		      "them all; the simulator has %d", HANGING, threads);
	for (int i = 0; i < HANGING; i++)
		close(fds[i]);
	double until = now() + 3;
	while (tl_fd_count(up.pid) > base && now() < until)
		usleep(10000);
	ck_assert_msg(tl_fd_count(up.pid) <= base, "3 s after %d clients on /hang hung "
		      "up, the simulator still holds %d fds (%d before them)", HANGING,
		      tl_fd_count(up.pid), base);
	tl_stop(&up);
}
END_TEST

/* Read one answer with a Content-Length off a kept-alive connection. */
static void read_one(int fd, struct tl_reply *r)
{
	char buf[4096];
	size_t len = 0;
	memset(r, 0, sizeof *r);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ck_assert_msg(poll(&pfd, 1, 5000) == 1, "no answer within 5 s");
		ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
		ck_assert_msg(n > 0, "the connection ended before its answer");
		len += (size_t)n;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "Content-Length:");
		if (end && cl && len >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10))
			break;
	}
	char *end = strstr(buf, "\r\n\r\n");
	r->status = atoi(buf + 9);
	snprintf(r->head, sizeof r->head, "%.*s", (int)(end - buf), buf);
	snprintf(r->body, sizeof r->body, "%s", end + 4);
}

/* One connection, five requests in turn, then a HEAD: libcurl in the labs
 * counts on this. */
START_TEST(a_kept_alive_connection_serves_request_after_request)
{
	struct tl_proc up;
	struct tl_reply r;
	char conn[32];
	tl_start(&up, "upstream", up_args);
	int fd = tl_connect(up.port);
	for (int k = 0; k < 5; k++) {
		double since = now();
		send_get(fd, "/delay/20", "keep-alive");
		read_one(fd, &r);
		double took = now() - since;
		ck_assert_msg(r.status == 200 && strcmp(r.body, "simulated /delay/20 after "
			      "0.020s\n") == 0, "request %d on one connection: got %d \"%s\"",
			      k + 1, r.status, r.body);
		ck_assert_msg(tl_header(&r, "Connection", conn, sizeof conn) &&
			      strcmp(conn, "keep-alive") == 0, "request %d: expected "
			      "Connection: keep-alive; head: %s", k + 1, r.head);
		ck_assert_msg(took >= 0.020, "request %d answered after %.3f s, before "
			      "its delay", k + 1, took);
	}
	const char *head = "HEAD /qq HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	ck_assert_int_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
	send_get(fd, "/delay/0", "close");
	struct tl_reply rest;
	tl_read_reply(fd, now(), 5, &rest);
	ck_assert_msg(rest.status == 200 && strstr(rest.body, "HTTP/1.1 200 ") == rest.body,
		      "HEAD then GET on the same connection: expected 200 with no body, "
		      "then 200; got %d, then \"%.40s\"", rest.status, rest.body);
	close(fd);
	tl_stop(&up);
}
END_TEST

/* The note's profile, times the delay scale: /nowamagic is M, 0.4 s. */
START_TEST(a_profile_path_waits_its_scaled_delay)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale",
					    "0.5", NULL };
	struct tl_proc up;
	struct tl_reply r;
	tl_start(&up, "upstream", args);
	tl_get(up.port, "/nowamagic", &r);
	ck_assert_msg(r.status == 200 && strcmp(r.body, "simulated /nowamagic after "
		      "0.200s\n") == 0, "/nowamagic at scale 0.5: got %d \"%s\"",
		      r.status, r.body);
	ck_assert_msg(r.seconds >= 0.2 && r.seconds < 0.2 * SLACK, "/nowamagic at "
		      "scale 0.5: expected 0.2 s; it took %.3f s", r.seconds);
	tl_stop(&up);
}
END_TEST

START_TEST(the_misbehaviours_still_work)
{
	struct tl_proc up;
	struct tl_reply r;
	tl_start(&up, "upstream", up_args);

	tl_get(up.port, "/status/503", &r);
	ck_assert_msg(r.status == 503 && strstr(r.body, "simulated status 503"),
		      "/status/503: got %d \"%s\"", r.status, r.body);

	char buf[256];
	size_t len = 0;
	ssize_t got;
	int fd = tl_connect(up.port);
	send_get(fd, "/garbage", "close");
	while (len < sizeof buf - 1 && (got = recv(fd, buf + len, sizeof buf - 1 - len, 0)) > 0)
		len += (size_t)got;
	buf[len] = '\0';
	ck_assert_msg(strcmp(buf, "this is not http\r\n") == 0, "/garbage: expected a "
		      "line that is not HTTP, then the end; got \"%s\"", buf);
	close(fd);

	fd = tl_connect(up.port);
	send_get(fd, "/reset", "close");
	char byte;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ssize_t n = recv(fd, &byte, 1, 0);
	ck_assert_msg(n < 0 && errno == ECONNRESET, "/reset: expected the connection "
		      "reset; recv gave %zd (%s)", n, n < 0 ? strerror(errno) : "no error");
	close(fd);

	double since = now();
	fd = tl_connect(up.port);
	send_get(fd, "/hang", "close");
	tl_read_reply(fd, since, 0.5, &r);
	ck_assert_msg(r.status == 0 && !r.closed, "/hang: expected no answer and the "
		      "connection open after 0.5 s; got %d%s", r.status,
		      r.closed ? ", closed" : "");
	close(fd);

	tl_get(up.port, "/delay/0", &r);
	ck_assert_msg(r.status == 200, "after the misbehaviours, /delay/0 got %d", r.status);
	tl_stop(&up);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("upstream");
	TCase *tc = tcase_create("simulator");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, two_thousand_delayed_requests_are_answered_side_by_side);
	tcase_add_test(tc, one_thread_holds_every_waiting_request_and_lets_go_of_a_client_that_leaves);
	tcase_add_test(tc, a_kept_alive_connection_serves_request_after_request);
	tcase_add_test(tc, a_profile_path_waits_its_scaled_delay);
	tcase_add_test(tc, the_misbehaviours_still_work);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
