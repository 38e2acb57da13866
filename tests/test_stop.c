/*
 * Stopping a lab: what SIGTERM and SIGINT promise (server.h) when a client
 * is slow, when an upstream never answers, when the grace period is an odd
 * number; that loopback fetches never go through a proxy; and that the
 * signal handlers leave errno as they found it.
 *
 * The upstream that never answers is a socket this test listens on and
 * never accepts from: the kernel completes the connection, the lab sends
 * its request, and nothing ever comes back.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen.h"
#include "server.h"
#include "testlib.h"
#include "util.h"

static const char *const lab_names[] = { "lab1", "lab2", "lab3", "lab4" };

/* A loopback listener that never accepts: an upstream that never answers,
 * or a proxy that would hold on to whatever connects to it. */
static int silent_listener(int *port)
{
	char err[256];
	int fd = server_listen("127.0.0.1:0", err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	*port = server_port(fd);
	return fd;
}

/* Did anyone connect to a listener?  Takes the connection if so. */
static bool anyone_connected(int listen_fd)
{
	int fd = accept(listen_fd, NULL, NULL);	/* non-blocking listener */
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* A --urls file naming n URLs on the silent upstream; the caller unlinks it. */
static void silent_urls(char *file, int port, int n)
{
	int fd = mkstemp(file);
	ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		dprintf(fd, "http://127.0.0.1:%d/never/%d\n", port, i);
	close(fd);
}

/* Wait up to `seconds` for a lab already signalled to exit; fail unless it
 * exits by itself with status 0.  Returns the seconds it took. */
static double expect_exit(struct tl_proc *p, double seconds)
{
	int status;
	double took;
	bool exited = tl_signal(p, 0, seconds, &status, &took);	/* 0: just wait */
	close(p->out);
	close(p->err);
	ck_assert_msg(exited, "pid %d still ran %.1fs after the signal", (int)p->pid, seconds);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "pid %d ended with status 0x%x", (int)p->pid, status);
	return took;
}

static void send_text(int fd, const char *text)
{
	ck_assert_int_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* SIGTERM in the middle of a sync lab's reading a request: the client
 * sends the rest within the grace period and gets its answer. */
START_TEST(sigterm_lets_a_slow_client_finish_its_request_in_a_sync_lab)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02",
					    "--grace", "5", NULL };
	const char *lab = lab_names[_i];
	struct tl_proc p;
	struct tl_reply r;

	tl_start(&p, lab, args);
	int fds = tl_fd_count(p.pid);
	double since = now();
	int fd = tl_connect(p.port);
	send_text(fd, "GET /hello HTTP/1.1\r\n");
	ck_assert_msg(tl_wait_fds(p.pid, fds + 1, 10), "%s never accepted", lab);
	usleep(100000);			/* the lab now waits for the rest */
	tl_kill(p.pid, SIGTERM);
	ck_assert_msg(tl_wait_taken(p.pid, SIGTERM, 5), "%s never took its SIGTERM", lab);
	send_text(fd, "Host: 127.0.0.1\r\nConnection: close\r\n\r\n");
	tl_read_reply(fd, since, 5, &r);
	close(fd);
	expect_exit(&p, 5);
	ck_assert_msg(r.status == 200, "%s: the request being read at SIGTERM got %d: %s",
		      lab, r.status, r.body);
}
END_TEST

/* SIGINT does not wait for a slow client: the lab stops at once. */
START_TEST(sigint_does_not_wait_for_a_slow_client)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02",
					    "--request-timeout", "10", NULL };
	const char *lab = lab_names[_i];
	struct tl_proc p;
	int status;
	double took;

	tl_start(&p, lab, args);
	int fds = tl_fd_count(p.pid);
	int fd = tl_connect(p.port);
	send_text(fd, "GET /hello HTTP/1.1\r\n");
	ck_assert_msg(tl_wait_fds(p.pid, fds + 1, 10), "%s never accepted", lab);
	bool exited = tl_signal(&p, SIGINT, 5, &status, &took);
	close(fd);
	close(p.out);
	close(p.err);
	/* the client would have had 10 s (--request-timeout) to send the rest */
	ck_assert_msg(exited && took < 2.0, "%s took %.2fs to stop after SIGINT", lab, took);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s ended with status 0x%x after SIGINT", lab, status);
}
END_TEST

/* Start lab on URLs that never answer, send /hello, SIGTERM it while the
 * fetches hang; the answer the client got and how long the lab took. */
static double sigterm_while_fetches_hang(const char *lab, const char *grace,
					 struct tl_reply *r)
{
	char file[] = "/tmp/workerlab-stop-XXXXXX";
	int port, up = silent_listener(&port);
	silent_urls(file, port, 3);
	const char *const args[] = { "-b", "127.0.0.1:0", "--urls", file,
				     "--fetch-timeout", "60", "--grace", grace, NULL };
	struct tl_proc p;
	tl_start(&p, lab, args);
	unlink(file);		/* read when the lab started */

	double since = now();
	int fd = tl_connect(p.port);
	send_text(fd, "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
	struct pollfd pending = { .fd = up, .events = POLLIN };
	ck_assert_msg(poll(&pending, 1, 10000) == 1, "%s never fetched", lab);
	usleep(100000);		/* the fetches are under way, and stuck */
	double start = now();
	tl_kill(p.pid, SIGTERM);
	tl_read_reply(fd, since, 20, r);
	close(fd);
	expect_exit(&p, 20);
	close(up);
	return now() - start;
}

/* After the grace period every fetch ends, even one whose upstream never
 * says a word, and the client gets the JSON failure answer. */
START_TEST(after_the_grace_period_fetches_stuck_on_a_silent_upstream_end)
{
	const char *lab = lab_names[_i];
	struct tl_reply r;
	double took = sigterm_while_fetches_hang(lab, "0.3", &r);
	ck_assert_msg((r.status == 502 || r.status == 504) && strstr(r.body, "\"code\": 1"),
		      "%s: the request cut short got %d%s: %s", lab, r.status,
		      r.status ? "" : " (no answer)", r.body);
	ck_assert_msg(strstr(r.body, "stopping"), "%s: the answer does not say the server "
		      "is stopping: %s", lab, r.body);
	/* the fetch timeout is 60 s: ending by itself it would take that long */
	ck_assert_msg(took < 10 * 0.3 + 2, "%s took %.2fs to stop with a 0.3s grace period",
		      lab, took);
}
END_TEST

/* A grace period whose microseconds round up to a whole second still ends. */
START_TEST(a_grace_period_just_under_a_second_ends)
{
	const char *lab = lab_names[_i];
	struct tl_reply r;
	double took = sigterm_while_fetches_hang(lab, "0.9999999", &r);
	ck_assert_msg(r.status == 502 || r.status == 504, "%s: the request cut short got %d: %s",
		      lab, r.status, r.body);
	ck_assert_msg(took >= 0.9 && took < 10, "%s took %.2fs to stop with a 1s grace period",
		      lab, took);
}
END_TEST

/* With every proxy variable pointing at a listener, loopback fetches still
 * go straight to the simulator, and the "proxy" never sees a connection. */
START_TEST(loopback_fetches_ignore_proxy_variables)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02",
					    "--fetch-timeout", "2", NULL };
	static const char *const vars[] = { "http_proxy", "https_proxy", "ALL_PROXY",
					    "all_proxy" };
	const char *lab = lab_names[_i];
	char proxy[64];
	int port, listener = silent_listener(&port);
	struct tl_proc p;
	struct tl_reply r;

	snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port);
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		setenv(vars[i], proxy, 1);
	tl_start(&p, lab, args);
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	tl_get(p.port, "/hello", &r);
	tl_stop(&p);
	bool proxied = anyone_connected(listener);
	close(listener);
	ck_assert_msg(r.status == 200, "%s with http_proxy set: /hello got %d: %s", lab,
		      r.status, r.body);
	ck_assert_msg(!proxied, "%s sent a loopback fetch to the proxy", lab);
}
END_TEST

/* ---- in this process: serve_sync, and signals raised inside a handler ---- */

static int errno_after[2];	/* errno after SIGALRM, after SIGINT */

/* An abort hook that makes a system call fail, as upstream_kill() does
 * when the simulator is already gone. */
static void failing_hook(void)
{
	close(-1);		/* EBADF */
}

static void raise_signals(const struct http_request *req, struct http_response *res)
{
	(void)req;
	errno = EDOM;
	raise(SIGALRM);		/* the grace period ends: runs the abort hook */
	errno_after[0] = errno;
	errno = EDOM;
	raise(SIGINT);		/* stop at once: runs the abort hook too */
	errno_after[1] = errno;
	http_printf(res, "raised\n");
}

/* For serve_sync in this process: a listener, and a client on it whose
 * request is already sent.  Returns the client's socket. */
static int a_client_waiting(int *listener)
{
	int port;
	*listener = silent_listener(&port);
	int client = tl_connect(port);
	send_text(client, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
	return client;
}

/* A handler interrupts whatever system call was about to look at errno:
 * it must leave errno as it was. */
START_TEST(signal_handlers_leave_errno_as_they_found_it)
{
	int listener;
	struct tl_reply r;
	double since = now();
	int client = a_client_waiting(&listener);

	server_on_abort(failing_hook);
	ck_assert_int_eq(serve_sync(listener, raise_signals), 0);	/* SIGINT ends it */
	tl_read_reply(client, since, 5, &r);
	close(client);
	close(listener);
	ck_assert_msg(r.status == 200, "the handler's answer: %d", r.status);
	ck_assert_msg(errno_after[0] == EDOM, "after SIGALRM errno is %d (%s), not EDOM",
		      errno_after[0], strerror(errno_after[0]));
	ck_assert_msg(errno_after[1] == EDOM, "after SIGINT errno is %d (%s), not EDOM",
		      errno_after[1], strerror(errno_after[1]));
}
END_TEST

static volatile sig_atomic_t hook_calls;

static void count_calls(void)
{
	hook_calls++;
}

static void raise_sigterm(const struct http_request *req, struct http_response *res)
{
	(void)req;
	raise(SIGTERM);		/* this request is in flight: it gets the grace period */
	http_printf(res, "raised\n");
}

/* Once serve_sync has returned, its grace period must not end any more:
 * the lab is then stopping its simulator, and an abort hook run at that
 * moment would kill the simulator's pid after it was reaped -- a pid the
 * system may have given to another process. */
START_TEST(no_grace_period_ends_after_the_sync_worker_returns)
{
	int listener;
	struct tl_reply r;
	double since = now();
	int client = a_client_waiting(&listener);

	server_set_grace(1.0);
	server_on_abort(count_calls);
	ck_assert_int_eq(serve_sync(listener, raise_sigterm), 0);
	ck_assert_msg(hook_calls == 0, "the request finished, yet the grace period ended");
	double end = now() + 3.0;	/* three grace periods */
	while (now() < end)
		usleep(10000);
	tl_read_reply(client, since, 5, &r);
	close(client);
	close(listener);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(hook_calls == 0, "the grace period ended %d time(s) after "
		      "serve_sync returned", (int)hook_calls);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stop");
	TCase *tc = tcase_create("stopping");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, sigterm_lets_a_slow_client_finish_its_request_in_a_sync_lab, 0, 2);
	tcase_add_loop_test(tc, sigint_does_not_wait_for_a_slow_client, 0, 4);
	tcase_add_loop_test(tc, after_the_grace_period_fetches_stuck_on_a_silent_upstream_end, 0, 4);
	tcase_add_loop_test(tc, a_grace_period_just_under_a_second_ends, 0, 2);
	tcase_add_loop_test(tc, loopback_fetches_ignore_proxy_variables, 0, 4);
	tcase_add_test(tc, signal_handlers_leave_errno_as_they_found_it);
	tcase_add_test(tc, no_grace_period_ends_after_the_sync_worker_returns);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
