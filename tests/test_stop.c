/*
 * Stopping a lab: what SIGTERM and SIGINT promise (server.h), and the
 * signal handlers that keep those promises.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server.h"
#include "testlib.h"
#include "util.h"

/* A loopback listener that never accepts. */
static int silent_listener(int *port)
{
	char err[256];
	int fd = server_listen("127.0.0.1:0", err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	*port = server_port(fd);
	return fd;
}

static void send_text(int fd, const char *text)
{
	ck_assert_int_eq(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

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

/* A handler interrupts whatever system call was about to look at errno:
 * it must leave errno as it was. */
START_TEST(signal_handlers_leave_errno_as_they_found_it)
{
	int port, listener = silent_listener(&port);
	struct tl_reply r;
	int client = tl_connect(port);

	send_text(client, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
	server_on_abort(failing_hook);
	ck_assert_int_eq(serve_sync(listener, raise_signals), 0);	/* SIGINT ends it */
	tl_read_reply(client, 5, &r);
	close(client);
	close(listener);
	ck_assert_msg(r.status == 200, "the handler's answer: %d", r.status);
	ck_assert_msg(errno_after[0] == EDOM, "after SIGALRM errno is %d (%s), not EDOM",
		      errno_after[0], strerror(errno_after[0]));
	ck_assert_msg(errno_after[1] == EDOM, "after SIGINT errno is %d (%s), not EDOM",
		      errno_after[1], strerror(errno_after[1]));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stop");
	TCase *tc = tcase_create("stopping");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, signal_handlers_leave_errno_as_they_found_it);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
