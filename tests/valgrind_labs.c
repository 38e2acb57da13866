/*
 * Labs under valgrind's memcheck.  A sync lab and an evented lab answer
 * good and bad requests, then stop on SIGTERM; memcheck must find no error
 * and no definite leak (it exits with 99 if it does).  Fiber stacks are
 * registered with valgrind (common/fiber.c), so switching between them is
 * not mistaken for wild stack writes.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

static const char *const memcheck[] = {
	"valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
	"--errors-for-leak-kinds=definite", "--show-leak-kinds=definite", NULL,
};

static void serve_under_valgrind(const char *lab)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.05", NULL };
	static const char garbage[] = "\x16\x03\x01 not http\r\n\r\n";
	struct tl_proc p;
	struct tl_reply r;
	double ends[4];
	int status;
	double took;
	char report[8192] = "";

	tl_start_wrapped(&p, memcheck, lab, args);
	tl_get(p.port, "/hello?trace=1", &r);
	ck_assert_msg(r.status == 200, "%s under valgrind: /hello got %d", lab, r.status);
	tl_raw(p.port, garbage, sizeof garbage - 1, 10, &r);
	ck_assert_int_eq(r.status, 400);
	tl_get(p.port, "/nope", &r);
	ck_assert_int_eq(r.status, 404);
	ck_assert_int_eq(tl_get_many(p.port, "/hello", 4, ends), 4);
	ck_assert_msg(tl_terminate(&p, 30, &status, &took), "%s did not stop", lab);
	tl_read_err(&p, report, sizeof report);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: memcheck reported (status 0x%x):\n%s", lab, status, report);
}

START_TEST(the_sync_worker_is_clean_under_memcheck) { serve_under_valgrind("lab1"); } END_TEST
START_TEST(the_evented_worker_is_clean_under_memcheck) { serve_under_valgrind("lab4"); } END_TEST

int main(void)
{
	Suite *s = suite_create("valgrind");
	TCase *tc = tcase_create("memcheck");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, the_sync_worker_is_clean_under_memcheck);
	tcase_add_test(tc, the_evented_worker_is_clean_under_memcheck);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
