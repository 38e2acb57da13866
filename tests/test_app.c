/*
 * The application (common/app.h) when things go wrong around it: a
 * download that could not even start, a timeline row for a time that lies
 * outside the request.  The happy path is the lab tests' business.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "answer.h"
#include "app.h"
#include "fiber.h"
#include "testlib.h"
#include "util.h"

static void nothing(void *arg)
{
	(void)arg;
}

/* Out of memory for fibers: every download fails at once, and says when. */
START_TEST(a_download_whose_fiber_cannot_start_fails_at_once)
{
	struct downloads d;
	app_use_simulator(1);	/* port 1: a fetch that does run fails at once */
	fiber_join(fiber_spawn(nothing, NULL, "first"));	/* the hub exists */
	if (!tl_leave_room(64 * 1024))
		return;		/* not under AddressSanitizer */
	async_download(&d);
	ck_assert_int_eq(d.n, 10);
	for (int i = 0; i < d.n; i++) {
		const struct fetch_result *r = &d.r[i];
		if (r->status != 0 || !strstr(r->error, "no memory"))
			continue;	/* this one found room after all */
		ck_assert_msg(r->start >= d.start && r->end == r->start,
			      "download %d: start %.6f, end %.6f, downloads began %.6f",
			      i, r->start, r->end, d.start);
		return;
	}
	ck_abort_msg("no download failed for want of a fiber");
}
END_TEST

/* The timeline: one row per URL, each on its 80 columns, even for times
 * that lie outside the request (a result never filled in, say).  In the
 * sanitizer build, a column computed past what an int holds fails here. */
START_TEST(a_timeline_row_stays_on_its_bar_whatever_the_times)
{
	struct downloads d = { .n = 3, .start = now() };
	app_use_simulator(1);
	d.r[0] = (struct fetch_result){ .status = 200, .start = d.start, .end = d.start + 0.1 };
	d.r[1] = (struct fetch_result){ .status = 0, .start = 0, .end = 0 };
	d.r[2] = (struct fetch_result){ .status = 200, .start = d.start, .end = d.start + 0.5 };

	char out[] = "/tmp/workerlab-timeline-XXXXXX";
	int fd = mkstemp(out);
	ck_assert_int_ge(fd, 0);
	fflush(stdout);
	int saved = dup(1);
	dup2(fd, 1);
	app_log(&d, 1e-6);	/* a tiny span: far-off times become huge columns */
	fflush(stdout);
	dup2(saved, 1);
	close(saved);

	char buf[2048] = "";
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	unlink(out);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(tl_timeline_rows(buf), 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("app");
	TCase *tc = tcase_create("failures");
	tcase_add_test(tc, a_download_whose_fiber_cannot_start_fails_at_once);
	tcase_add_test(tc, a_timeline_row_stays_on_its_bar_whatever_the_times);
	suite_add_tcase(s, tc);
	return tl_run_suite(s);
}
