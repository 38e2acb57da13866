/*
 * The IO layer, blocking and patched: the heart of the lesson in one file.
 * Ten 100 ms fetches in ten fibers take about 1 s while IO blocks the
 * process, and about 0.1 s once io_patch() makes it cooperative.
 *
 * Bounds are set by physics on one side (ten sequential 100 ms waits cannot
 * take less than 1 s) and with a wide margin on the other, so a busy
 * machine cannot fail a correct runtime and a wrong one cannot pass.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch.h"
#include "fiber.h"
#include "io.h"
#include "listen.h"
#include "testlib.h"
#include "upstream.h"
#include "util.h"

static char url[128];

static void start_upstream(void)
{
	int port = upstream_spawn(1.0);
	ck_assert_int_gt(port, 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/delay/100", port);
}

static struct fetch_result results[10];

static void fetch_one(void *arg)
{
	struct fetch_result *r = arg;
	fetch(url, r);
}

/* Ten fibers, one fetch each, joined; returns the seconds it all took. */
static double ten_fetches_in_fibers(void)
{
	fiber *f[10];
	double start = now();
	for (int i = 0; i < 10; i++)
		f[i] = fiber_spawn(fetch_one, &results[i], "fetch");
	for (int i = 0; i < 10; i++)
		fiber_join(f[i]);
	double took = now() - start;
	for (int i = 0; i < 10; i++)
		ck_assert_msg(results[i].status == 200, "fetch %d: status %ld (%s)",
			      i, results[i].status, results[i].error);
	return took;
}

START_TEST(unpatched_fetches_run_one_after_another)
{
	start_upstream();
	double took = ten_fetches_in_fibers();
	ck_assert_msg(took >= 0.95, "ten blocking 100 ms fetches took %.3fs: "
		      "they cannot have overlapped", took);
	ck_assert_msg(took < 5, "ten blocking fetches took %.3fs", took);
	upstream_stop();
}
END_TEST

START_TEST(patched_fetches_run_side_by_side)
{
	start_upstream();
	io_patch();
	double took = ten_fetches_in_fibers();
	ck_assert_msg(took >= 0.095, "a 100 ms fetch took %.3fs", took);
	ck_assert_msg(took < 0.5, "ten patched 100 ms fetches took %.3fs: "
		      "they did not overlap (about 0.1 s expected)", took);
	upstream_stop();
}
END_TEST

static void sleep_100ms(void *arg)
{
	(void)arg;
	io_sleep(0.1);
}

static double ten_sleeps_in_fibers(void)
{
	fiber *f[10];
	double start = now();
	for (int i = 0; i < 10; i++)
		f[i] = fiber_spawn(sleep_100ms, NULL, "sleep");
	for (int i = 0; i < 10; i++)
		fiber_join(f[i]);
	return now() - start;
}

START_TEST(unpatched_sleep_blocks_every_fiber)
{
	ck_assert_double_ge(ten_sleeps_in_fibers(), 0.95);
}
END_TEST

START_TEST(patched_sleep_blocks_only_its_fiber)
{
	io_patch();
	double took = ten_sleeps_in_fibers();
	ck_assert_double_ge(took, 0.095);
	ck_assert_double_lt(took, 0.5);
}
END_TEST

static void connections_are_reused(void)
{
	struct fetch_result r;
	start_upstream();
	ck_assert_int_eq(fetch(url, &r), 200);
	ck_assert_int_eq(fetch(url, &r), 200);
	ck_assert_msg(r.reused, "the second fetch opened a new connection");
	upstream_stop();
}

START_TEST(blocking_fetch_reuses_its_connection)
{
	connections_are_reused();
}
END_TEST

START_TEST(patched_fetch_reuses_its_connection)
{
	io_patch();
	connections_are_reused();
}
END_TEST

static void connections_are_not_reused(void)
{
	struct fetch_result r;
	start_upstream();
	fetch_set_reuse(false);
	ck_assert_int_eq(fetch(url, &r), 200);
	ck_assert_int_eq(fetch(url, &r), 200);
	ck_assert_msg(!r.reused, "the second fetch reused a connection after "
		      "fetch_set_reuse(false)");
	upstream_stop();
}

START_TEST(blocking_fetch_can_open_a_connection_each_time)
{
	connections_are_not_reused();
}
END_TEST

START_TEST(patched_fetch_can_open_a_connection_each_time)
{
	io_patch();
	connections_are_not_reused();
}
END_TEST

/* WAVE fetches side by side, twice.  After the first wave every one of its
 * connections is idle; the second wave must find them all again.  (A
 * connection cache that counts busy connections against a small cap, as
 * libcurl's does, would have closed most of them as the first wave ended.) */
enum { WAVE = 200 };
static struct fetch_result wave[WAVE];

static int reused_in_a_wave(void)
{
	fiber *f[WAVE];
	int reused = 0;
	for (int i = 0; i < WAVE; i++)
		f[i] = fiber_spawn(fetch_one, &wave[i], "fetch");
	for (int i = 0; i < WAVE; i++)
		fiber_join(f[i]);
	for (int i = 0; i < WAVE; i++) {
		ck_assert_msg(wave[i].status == 200, "fetch %d: status %ld (%s)",
			      i, wave[i].status, wave[i].error);
		reused += wave[i].reused;
	}
	return reused;
}

START_TEST(patched_fetches_in_a_crowd_keep_their_connections)
{
	start_upstream();
	io_patch();
	reused_in_a_wave();
	int reused = reused_in_a_wave();
	ck_assert_msg(reused >= WAVE * 9 / 10, "the second wave of %d fetches "
		      "reused only %d connections of the first", WAVE, reused);
	upstream_stop();
}
END_TEST

/* A port nothing listens on: bind one, note it, close it. */
static int closed_port(void)
{
	char err[256];
	int fd = server_listen("127.0.0.1:0", err, sizeof err);
	ck_assert_int_ge(fd, 0);
	int port = server_port(fd);
	close(fd);
	return port;
}

static void refused_fetch_reports_why(void)
{
	struct fetch_result r;
	char bad[64];
	snprintf(bad, sizeof bad, "http://127.0.0.1:%d/", closed_port());
	ck_assert_int_eq(fetch(bad, &r), -1);
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(r.error[0] != '\0', "no reason given for the failure");
}

START_TEST(blocking_fetch_of_a_closed_port_fails_with_a_reason)
{
	refused_fetch_reports_why();
}
END_TEST

START_TEST(patched_fetch_of_a_closed_port_fails_with_a_reason)
{
	io_patch();
	refused_fetch_reports_why();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("blocking and patched");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, unpatched_fetches_run_one_after_another);
	tcase_add_test(tc, patched_fetches_run_side_by_side);
	tcase_add_test(tc, unpatched_sleep_blocks_every_fiber);
	tcase_add_test(tc, patched_sleep_blocks_only_its_fiber);
	tcase_add_test(tc, blocking_fetch_reuses_its_connection);
	tcase_add_test(tc, patched_fetch_reuses_its_connection);
	tcase_add_test(tc, blocking_fetch_can_open_a_connection_each_time);
	tcase_add_test(tc, patched_fetch_can_open_a_connection_each_time);
	tcase_add_test(tc, patched_fetches_in_a_crowd_keep_their_connections);
	tcase_add_test(tc, blocking_fetch_of_a_closed_port_fails_with_a_reason);
	tcase_add_test(tc, patched_fetch_of_a_closed_port_fails_with_a_reason);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
