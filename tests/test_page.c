/*
 * What a lab serves a browser (common/bench/page.h): the page at /, the facts
 * at /about, and CORS on /hello and /about only.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "profile.h"
#include "testlib.h"

static const char *const lab_names[] = { "lab1", "lab2", "lab3", "lab4" };
static const char *const workers[] = { "sync", "sync", "evented", "evented" };
static const char *const scaled[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.5", NULL };

static void send_request(int port, const char *request, struct tl_reply *r)
{
	tl_raw(port, request, strlen(request), 5, r);
}

/* GET / is common/page.html, byte for byte as long: the file the lab was
 * built from, not a copy that went stale. */
START_TEST(every_lab_serves_the_page_at_the_root)
{
	struct tl_proc p;
	struct tl_reply r;
	struct stat st;
	char value[128];

	ck_assert_msg(stat("common/page.html", &st) == 0, "no common/page.html here");
	tl_start(&p, lab_names[_i], scaled);
	tl_get(p.port, "/", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(tl_header(&r, "Content-Type", value, sizeof value));
	ck_assert_str_eq(value, "text/html; charset=utf-8");
	ck_assert(tl_header(&r, "Content-Length", value, sizeof value));
	ck_assert_msg(atol(value) == (long)st.st_size, "%s: / is %s bytes, "
		      "common/page.html %ld", lab_names[_i], value, (long)st.st_size);
	ck_assert_msg(strncmp(r.body, "<!DOCTYPE html>", 15) == 0, "/ begins: %.40s", r.body);
	ck_assert_msg(!tl_header(&r, "Access-Control-Allow-Origin", value, sizeof value),
		      "the page itself is for its own origin only");
	tl_stop(&p);
}
END_TEST

/* /about: the lab's name, worker, download style, and S and M at its
 * delay scale, as the page shows them. */
START_TEST(about_says_what_the_lab_runs_and_its_s_and_m)
{
	struct tl_proc p;
	struct tl_reply r;
	char want[256];

	tl_start(&p, lab_names[_i], scaled);
	tl_get(p.port, "/about", &r);
	ck_assert_int_eq(r.status, 200);
	snprintf(want, sizeof want, "\"worker\": \"%s\"", workers[_i]);
	ck_assert_msg(strstr(r.body, want), "%s: /about says %s", lab_names[_i], r.body);
	snprintf(want, sizeof want, "\"name\": \"%s-", lab_names[_i]);
	ck_assert_msg(strstr(r.body, want), "%s: /about says %s", lab_names[_i], r.body);
	snprintf(want, sizeof want, "\"s\": %.6f, \"m\": %.6f}",
		 profile_sum() * 0.5, profile_max() * 0.5);
	ck_assert_msg(strstr(r.body, want), "%s: /about says %s; expected %s",
		      lab_names[_i], r.body, want);
	tl_stop(&p);
}
END_TEST

/* A page on one lab's port reads /hello and /about of the others: any
 * origin may, and a preflight gets its answer.  Nothing else is opened. */
START_TEST(only_hello_and_about_are_open_to_other_origins)
{
	static const char *const scale[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02", NULL };
	struct tl_proc p;
	struct tl_reply r;
	char value[128];

	tl_start(&p, "lab4", scale);
	tl_get(p.port, "/hello", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(tl_header(&r, "Access-Control-Allow-Origin", value, sizeof value));
	ck_assert_str_eq(value, "*");
	tl_get(p.port, "/about", &r);
	ck_assert(tl_header(&r, "Access-Control-Allow-Origin", value, sizeof value));

	send_request(p.port, "OPTIONS /hello HTTP/1.1\r\nHost: r7.localhost\r\n"
		     "Origin: http://127.0.0.1:1\r\nAccess-Control-Request-Method: GET\r\n"
		     "Connection: close\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(tl_header(&r, "Access-Control-Allow-Origin", value, sizeof value));
	ck_assert_str_eq(value, "*");
	ck_assert(tl_header(&r, "Access-Control-Allow-Methods", value, sizeof value));
	ck_assert_str_eq(value, "GET, HEAD");
	ck_assert(tl_header(&r, "Content-Length", value, sizeof value));
	ck_assert_str_eq(value, "0");

	tl_get(p.port, "/nope", &r);
	ck_assert_int_eq(r.status, 404);
	ck_assert(!tl_header(&r, "Access-Control-Allow-Origin", value, sizeof value));
	send_request(p.port, "OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		     "Connection: close\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert(tl_header(&r, "Allow", value, sizeof value));
	ck_assert_str_eq(value, "GET, HEAD");
	ck_assert(!tl_header(&r, "Access-Control-Allow-Origin", value, sizeof value));
	tl_stop(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("page");
	TCase *c = tcase_create("the page and its routes");
	tcase_set_timeout(c, 30);
	tcase_add_loop_test(c, every_lab_serves_the_page_at_the_root, 0, 4);
	tcase_add_loop_test(c, about_says_what_the_lab_runs_and_its_s_and_m, 0, 4);
	tcase_add_test(c, only_hello_and_about_are_open_to_other_origins);
	suite_add_tcase(s, c);
	return tl_run_suite(s);
}
