/*
 * The clocks every timing check relies on (tests/testlib.h).
 *
 * A check may compare a time the server measured with the time the client
 * waited only because the client's clock starts before it connects and
 * stops after the answer has ended: the server's whole work lies inside.
 * These tests hold testlib to that, with a fake server whose own time is
 * known to begin well before the client has finished sending.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen.h"
#include "testlib.h"
#include "util.h"

/* More than any loopback socket buffers hold (net.ipv4.tcp_rmem and
 * tcp_wmem allow 36 MB at most by default), so the client's send cannot
 * complete before the server starts reading. */
enum { BIG = 64 << 20, LATE = 200 };	/* bytes; milliseconds */

/* The fake server, in a child: accept one connection, note the time, wait
 * LATE ms before reading anything, read the whole request, then answer
 * with the seconds since the accept -- its own clock, as a lab's "data". */
static void late_reader(int listen_fd)
{
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
	static char buf[1 << 16];
	size_t got = 0;
	if (poll(&pfd, 1, 10000) != 1)
		_exit(1);
	int fd = accept(listen_fd, NULL, NULL);
	double accepted = now();
	usleep(LATE * 1000);
	while (got < BIG) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			_exit(1);
		got += (size_t)n;
	}
	dprintf(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n%.6f", now() - accepted);
	close(fd);
	_exit(0);
}

START_TEST(a_reply_is_timed_from_before_the_connect)
{
	char err[256];
	int listen_fd = server_listen("127.0.0.1:0", err, sizeof err);
	ck_assert_msg(listen_fd >= 0, "%s", err);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		late_reader(listen_fd);

	char *request = malloc(BIG);
	ck_assert_ptr_nonnull(request);
	memset(request, 'x', BIG);
	struct tl_reply r;
	tl_raw(server_port(listen_fd), request, BIG, 30, &r);
	free(request);
	int status;
	waitpid(pid, &status, 0);
	close(listen_fd);

	double server = atof(r.body);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 && r.status == 200,
		      "the fake server failed: status 0x%x, reply %d", status, r.status);
	ck_assert_msg(server >= LATE / 1e3, "the server's own time was %.3fs", server);
	ck_assert_msg(tl_fits_inside(server, &r), "the server worked %.6fs on the request, "
		      "but the client's clock says it waited %.6fs: the client's clock "
		      "must start before it connects", server, r.seconds);
}
END_TEST

/* tl_read_reply counts from the moment its caller gives. */
START_TEST(read_reply_counts_from_the_callers_start)
{
	int sv[2];
	struct tl_reply r;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	const char answer[] = "HTTP/1.1 204 No Content\r\n\r\n";
	ck_assert_int_eq(write(sv[1], answer, sizeof answer - 1), (ssize_t)sizeof answer - 1);
	close(sv[1]);
	tl_read_reply(sv[0], now() - 1, 5, &r);
	close(sv[0]);
	ck_assert_int_eq(r.status, 204);
	ck_assert_msg(r.seconds >= 1 && r.seconds < 5, "r.seconds = %.3f", r.seconds);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clocks");
	TCase *tc = tcase_create("testlib");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, a_reply_is_timed_from_before_the_connect);
	tcase_add_test(tc, read_reply_counts_from_the_callers_start);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
