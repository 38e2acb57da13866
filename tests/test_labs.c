/*
 * The four labs, run as a student runs them, checked against the model
 * (tests/model.h says what each lab must do and how the bounds are set).
 */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen.h"
#include "model.h"
#include "profile.h"
#include "testlib.h"
#include "util.h"

static const char *const unscaled[] = { "-b", "127.0.0.1:0", NULL };
static const char *const fast[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02", NULL };
static const char *const lab_names[] = { "lab1", "lab2", "lab3", "lab4" };

/* Run one of model.c's checks on lab_models[i]; fail with its words. */
#define CHECK(fn, i) do { \
	struct verdict v; \
	fn(&lab_models[i], &v); \
	ck_assert_msg(v.ok, "%s: %s", lab_models[i].name, v.why); \
} while (0)

START_TEST(lab1_takes_the_sum_of_the_downloads) { CHECK(check_one_request, 0); } END_TEST
START_TEST(lab2_takes_the_sum_of_the_downloads) { CHECK(check_one_request, 1); } END_TEST
START_TEST(lab3_takes_the_sum_of_the_downloads) { CHECK(check_one_request, 2); } END_TEST
START_TEST(lab4_takes_the_longest_download) { CHECK(check_one_request, 3); } END_TEST
START_TEST(lab1_serves_four_requests_one_after_another) { CHECK(check_four_at_once, 0); } END_TEST
START_TEST(lab2_serves_four_requests_one_after_another) { CHECK(check_four_at_once, 1); } END_TEST
START_TEST(lab3_overlaps_four_requests) { CHECK(check_four_at_once, 2); } END_TEST
START_TEST(lab4_overlaps_four_requests_and_their_downloads) { CHECK(check_four_at_once, 3); } END_TEST
START_TEST(every_lab_answers_the_json_contract) { CHECK(check_answers_json, _i); } END_TEST
START_TEST(only_evented_labs_answer_while_another_request_is_stuck) { CHECK(check_overlap_while_stuck, _i); } END_TEST
START_TEST(sigterm_stops_a_busy_lab_and_its_upstream_within_a_second) { CHECK(check_clean_shutdown, _i); } END_TEST

/* Each /hello prints its statuses, as the note's print(sync_download()). */
START_TEST(every_lab_logs_the_statuses_and_the_time)
{
	struct tl_proc p;
	struct tl_reply r;
	char log[1024];

	tl_start(&p, lab_names[_i], fast);
	tl_get(p.port, "/hello", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(tl_read_until(&p, "\n", 5, log, sizeof log), "nothing logged");
	ck_assert_msg(strncmp(log, "[200, 200, 200, 200, 200, 200, 200, 200, 200, 200] ", 51) == 0
		      && strstr(log, "s\n"), "%s logged: %s", lab_names[_i], log);
	tl_stop(&p);
}
END_TEST

/* ?trace=1 adds the downloads' times and leaves the note's three fields. */
START_TEST(trace_lists_every_download_with_its_start_and_end)
{
	struct tl_proc p;
	struct tl_reply r;
	tl_start(&p, "lab4", fast);
	tl_get(p.port, "/hello?trace=1", &r);
	tl_stop(&p);
	ck_assert_int_eq(r.status, 200);
	const char *note = "{\"code\": 0, \"message\": \"success\", \"data\": ";
	ck_assert_msg(strncmp(r.body, note, strlen(note)) == 0, "body: %s", r.body);
	const char *t = strstr(r.body, ", \"trace\": [{\"url\": \"http://127.0.0.1:");
	ck_assert_msg(t, "no trace array: %s", r.body);
	int n = 0;
	for (const char *q = t; (q = strstr(q, "\"status\": 200, \"start\": ")); q++)
		n++;
	ck_assert_int_eq(n, 10);
	ck_assert_msg(strstr(r.body, "\"end\": ") && strcmp(r.body + strlen(r.body) - 2, "]}") == 0,
		      "body: %s", r.body);
}
END_TEST

/* After each request the terminal shows one timeline row per URL. */
START_TEST(the_log_draws_a_timeline_row_per_url_within_80_columns)
{
	struct tl_proc p;
	struct tl_reply r;
	char log[4096];
	tl_start(&p, "lab1", fast);
	tl_get(p.port, "/hello", &r);
	/* the time axis (" 0s ... 0.055s") comes last, in one write */
	ck_assert_msg(tl_read_until(&p, " 0s ", 5, log, sizeof log), "no timeline: %s", log);
	tl_stop(&p);
	ck_assert_int_eq(tl_timeline_rows(log), 10);
}
END_TEST

/* Start lab with args, send one /hello, SIGTERM the lab once the request
 * is in flight -- the lab has accepted it and opened a socket to its
 * upstream -- and `after` seconds more; the answer the request got, and
 * how long stopping took. */
static double sigterm_in_flight(const char *lab, const char *const args[], double after,
				struct tl_reply *r)
{
	struct tl_proc p;
	tl_start(&p, lab, args);
	int fds = tl_fd_count(p.pid);
	double since = now();
	int fd = tl_connect(p.port);
	const char *get = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			  "Connection: close\r\n\r\n";
	ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
	ck_assert_msg(tl_wait_fds(p.pid, fds + 2, 10), "%s never started the downloads", lab);
	usleep((useconds_t)(after * 1e6));
	double took = tl_stop(&p);
	tl_read_reply(fd, since, 1, r);
	close(fd);
	return took;
}

/* SIGTERM: a request in flight that fits in the grace period is answered. */
START_TEST(sigterm_lets_a_short_request_in_flight_finish)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.3", NULL };
	struct tl_reply r;
	double took = sigterm_in_flight("lab4", args, 0, &r);	/* takes M = 0.12 s */
	ck_assert_msg(r.status == 200, "the request in flight got %d: %s", r.status, r.body);
	ck_assert_msg(took < 1.0, "took %.2fs to stop", took);
}
END_TEST

/* SIGTERM: a request longer than the grace period is cut short, and says so. */
START_TEST(sigterm_cuts_a_long_request_short_after_the_grace_period)
{
	struct tl_reply r;
	double took = sigterm_in_flight("lab1", unscaled, 0.1, &r);	/* takes S = 2.45 s */
	ck_assert_msg(took < 1.0, "took %.2fs to stop", took);
	ck_assert_msg(r.status == 502 && strstr(r.body, "\"code\": 1"),
		      "the request cut short got %d: %s", r.status, r.body);
}
END_TEST

/* SIGINT: no grace period; a request in flight is cut short at once. */
START_TEST(sigint_stops_a_busy_lab_at_once)
{
	const char *lab = lab_names[_i];
	struct tl_proc p;
	int status;
	double took;
	tl_start(&p, lab, unscaled);
	int fd = tl_connect(p.port);
	const char *get = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
	usleep(100000);
	bool exited = tl_signal(&p, SIGINT, 2, &status, &took);
	close(fd);
	close(p.out);
	close(p.err);
	ck_assert_msg(exited && took < 0.5, "%s took %.2fs to stop after SIGINT", lab, took);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s ended with status 0x%x after SIGINT", lab, status);
}
END_TEST

/* labload, the kit's load client: four at once against lab1 show the
 * staircase in its CSV, and its summary counts every answer. */
START_TEST(labload_times_each_request_of_a_staircase)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.1", NULL };
	const double s = profile_sum() * 0.1;
	struct tl_proc p;
	char cmd[512], csv[] = "/tmp/workerlab-labload-XXXXXX", out[4096];
	int fd = mkstemp(csv);
	ck_assert_int_ge(fd, 0);
	close(fd);
	tl_start(&p, "lab1", args);
	/* its stderr too: a failure names what labload (or its sanitizer) said */
	snprintf(cmd, sizeof cmd, "%s/labload http://127.0.0.1:%d/hello -c 4 -n 4 --csv %s 2>&1",
		 tl_bin_dir(), p.port, csv);
	FILE *f = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof out - 1, f);
	out[n] = '\0';
	ck_assert_msg(pclose(f) == 0, "labload failed: %s", out);
	tl_stop(&p);
	ck_assert_msg(strstr(out, "[200]\t4 responses"), "summary: %s", out);
	f = fopen(csv, "r");
	char line[256], rows_seen[1024] = "";
	double ends[4];
	int rows = 0, index, status;
	double start, end, latency;
	while (f && fgets(line, sizeof line, f)) {
		strncat(rows_seen, line, sizeof rows_seen - strlen(rows_seen) - 1);
		if (sscanf(line, "%d,%lf,%lf,%lf,%d", &index, &start, &end, &latency, &status) == 5
		    && rows < 4)
			ends[rows++] = end;
	}
	if (f)
		fclose(f);
	unlink(csv);
	ck_assert_msg(rows == 4, "%d rows in the CSV: %s", rows, rows_seen);
	for (int k = 0; k < 4; k++)	/* the CSV is in request order, not end order */
		ck_assert_msg(ends[k] >= 0.95 * s, "request %d ended at %.3fs: %s", k, ends[k],
			      rows_seen);
	double last = ends[0];
	for (int k = 1; k < 4; k++)
		last = ends[k] > last ? ends[k] : last;
	ck_assert_msg(last >= 0.95 * 4 * s, "the last of four ended at %.3fs, before 4*S: %s",
		      last, rows_seen);
}
END_TEST

/* Start lab, time one /hello; the lab is left running in p. */
static double one_request(struct tl_proc *p, const char *lab, const char *const args[])
{
	struct tl_reply r;
	tl_start(p, lab, args);
	tl_get(p->port, "/hello", &r);
	ck_assert_msg(r.status == 200, "%s: /hello answered %d: %s", lab, r.status, r.body);
	return r.seconds;
}

/* The note's own figures, unscaled: lab 1 about 2.45 s, lab 4 about 0.4 s. */
START_TEST(with_the_default_profile_lab1_takes_about_2_45s_and_lab4_about_0_4s)
{
	struct tl_proc p;
	double t1 = one_request(&p, "lab1", unscaled);
	tl_stop(&p);
	double t4 = one_request(&p, "lab4", unscaled);
	tl_stop(&p);
	double slow = model_slowness();	/* upper bounds: twice the model, as in model.h */
	double S = profile_sum(), M = profile_max();
	ck_assert_msg(t1 >= S && t1 <= 2 * S * slow, "lab1 took %.3fs, expected about "
		      "S = %.2fs", t1, S);
	ck_assert_msg(t4 >= M && t4 <= 2 * M * slow, "lab4 took %.3fs, expected about "
		      "M = %.2fs", t4, M);
}
END_TEST

/* Bad input: a clear answer, and the next good request is served. */
START_TEST(bad_requests_get_4xx_and_the_lab_keeps_serving)
{
	static const char *const fast[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02", NULL };
	const char *lab = lab_names[_i];
	struct tl_proc p;
	struct tl_reply r;
	char allow[64];

	tl_start(&p, lab, fast);
	const char *garbage = "\x16\x03\x01 not http\r\n\r\n";
	tl_raw(p.port, garbage, strlen(garbage), 5, &r);
	ck_assert_msg(r.status == 400 && r.closed, "%s: garbage got %d", lab, r.status);
	tl_get(p.port, "/nope", &r);
	ck_assert_int_eq(r.status, 404);
	const char *post = "POST /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n"
			   "Connection: close\r\n\r\n";
	tl_raw(p.port, post, strlen(post), 5, &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert(tl_header(&r, "Allow", allow, sizeof allow));
	ck_assert_str_eq(allow, "GET, HEAD, OPTIONS");
	/* a client that hangs up before its answer is written */
	const char *get = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
	tl_raw(p.port, get, strlen(get), 0.01, &r);
	tl_get(p.port, "/hello", &r);
	ck_assert_msg(r.status == 200, "%s: after bad requests /hello got %d", lab, r.status);
	tl_stop(&p);
}
END_TEST

START_TEST(sigkill_of_a_lab_takes_its_upstream_along)
{
	struct tl_proc p;
	tl_start(&p, "lab3", unscaled);
	pid_t keeper = tl_child_of(p.pid), simulator = tl_child_of(keeper);
	ck_assert_int_gt(keeper, 0);
	ck_assert_int_gt(simulator, 0);
	tl_kill(p.pid, SIGKILL);
	ck_assert(tl_wait_gone(p.pid, 2));
	ck_assert_msg(tl_wait_gone(keeper, 1.0), "the simulator's keeper outlived a "
		      "SIGKILLed lab");
	ck_assert_msg(tl_wait_gone(simulator, 1.0), "the simulator outlived a SIGKILLed lab");
}
END_TEST

/* A lab whose whole upstream dies -- the keeper and the simulator, killed
 * in either order -- has nothing to serve with: it stops with status 1 and
 * says why, rather than answer 502 forever.  Iterations: lab4 alone and
 * lab1 -w 2 (its master notices), each with the keeper killed first, then
 * the simulator first. */
START_TEST(a_lab_whose_upstream_keeper_dies_stops_saying_why)
{
	static const char *const alone[] = { "-b", "127.0.0.1:0", NULL };
	static const char *const master[] = { "-b", "127.0.0.1:0", "-w", "2", NULL };
	bool workers = _i >= 2, keeper_first = _i % 2 == 0;
	struct tl_proc p;
	tl_start(&p, workers ? "lab1" : "lab4", workers ? master : alone);
	pid_t keeper = tl_child_of(p.pid), simulator = tl_child_of(keeper);
	ck_assert(keeper > 0 && simulator > 0);
	tl_kill(keeper_first ? keeper : simulator, SIGKILL);
	kill(keeper_first ? simulator : keeper, SIGKILL);	/* maybe gone already */
	int status;
	double took;
	bool exited = tl_signal(&p, 0, 10, &status, &took);
	char log[8192];
	tl_read_err(&p, log, sizeof log);
	close(p.out);
	close(p.err);
	ck_assert_msg(exited && WIFEXITED(status) && WEXITSTATUS(status) == 1,
		      "%s: with its upstream's keeper and simulator killed, the lab %s "
		      "(status 0x%x); stderr: %.400s", workers ? "lab1 -w 2" : "lab4",
		      exited ? "ended" : "still ran 10 s later", status, log);
	ck_assert_msg(strstr(log, "keeper") && strstr(log, "stopped"),
		      "the lab stopped without saying why: %.400s", log);
	ck_assert(tl_wait_gone(simulator, 2));
}
END_TEST

/* A simulator that dies is noticed: the lab says so on its terminal and
 * the next /hello is served by a new one, on the same port; the dead one is
 * reaped, not left a zombie.  Iterations 0-3 kill it (SIGKILL), 4-7 stop it
 * gracefully (SIGTERM, as a plain `kill` does). */
START_TEST(a_lab_restarts_a_simulator_that_dies)
{
	const char *lab = lab_names[_i % 4];
	int sig = _i < 4 ? SIGKILL : SIGTERM;
	const char *said = _i < 4 ? "killed by signal 9; starting a new one"
				  : "exited with status 0; starting a new one";
	struct tl_proc p;
	struct tl_reply r;
	char err[2048];
	tl_start(&p, lab, fast);
	pid_t keeper = tl_child_of(p.pid), first = tl_child_of(keeper);
	ck_assert_msg(keeper > 0 && first > 0, "no simulator under %s", lab);
	tl_kill(first, sig);	/* once it catches SIGTERM: not before */
	double end = now() + 5;
	while (kill(first, 0) == 0 && now() < end)	/* until it is reaped */
		usleep(10000);
	ck_assert_msg(kill(first, 0) != 0, "the stopped simulator %d was not reaped", (int)first);
	pid_t second;
	while (((second = tl_child_of(keeper)) <= 0 || second == first) && now() < end)
		usleep(10000);	/* the keeper waits a second: the first died young */
	tl_get(p.port, "/hello", &r);
	tl_read_err(&p, err, sizeof err);
	tl_stop(&p);
	ck_assert_msg(r.status == 200, "%s: after its simulator got signal %d, /hello got "
		      "%d: %s", lab, sig, r.status, r.body);
	ck_assert_msg(second > 0 && second != first, "no new simulator (was %d, now %d)",
		      (int)first, (int)second);
	ck_assert_msg(strstr(err, said), "%s said nothing of it on stderr: %s", lab, err);
}
END_TEST

/* upstream --profile: the note's ten URLs, then S and M, scaled -- the
 * figures the bench scripts build their model from. */
START_TEST(the_simulator_prints_its_profile_for_scripts)
{
	char cmd[512], line[256];
	double s = -1, m = -1, v;
	int urls = 0;
	snprintf(cmd, sizeof cmd, "%s/upstream --profile --delay-scale 0.5", tl_bin_dir());
	FILE *f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof line, f)) {
		urls += line[0] == '/';
		if (sscanf(line, "S %lf", &v) == 1)
			s = v;
		if (sscanf(line, "M %lf", &v) == 1)
			m = v;
	}
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_int_eq(urls, PROFILE_URLS);
	ck_assert_msg(s > 0 && fabs(s - 0.5 * profile_sum()) < 1e-3, "S printed as %g", s);
	ck_assert_msg(m > 0 && fabs(m - 0.5 * profile_max()) < 1e-3, "M printed as %g", m);
}
END_TEST

START_TEST(bad_options_exit_2_naming_the_option)
{
	static const char *const cases[][3] = {
		{ "--frobnicate", NULL }, { "--delay-scale", "fast", NULL },
		{ "-b", "12345", NULL }, { "--urls", "/nonexistent/urls.txt", NULL },
		{ "--timeout", "-1", NULL },
	};
	char err[512];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int status = tl_run("lab1", cases[i], err, sizeof err);
		ck_assert_msg(status == 2, "%s: exit %d", cases[i][0], status);
		ck_assert_msg(strstr(err, cases[i][0]), "%s: message %s", cases[i][0], err);
	}
}
END_TEST

START_TEST(a_port_in_use_exits_1_with_a_clear_message)
{
	char err[512], bind[64];
	int fd = server_listen("127.0.0.1:0", err, sizeof err);
	ck_assert_int_ge(fd, 0);
	snprintf(bind, sizeof bind, "127.0.0.1:%d", server_port(fd));
	const char *const args[] = { "-b", bind, NULL };
	ck_assert_int_eq(tl_run("lab4", args, err, sizeof err), 1);
	ck_assert_msg(strstr(err, "in use"), "message: %s", err);
	close(fd);
}
END_TEST

/* Count the lines that differ between two files of the same length. */
static int lines_changed(const char *a, const char *b)
{
	FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
	char la[512], lb[512];
	int changed = 0;
	ck_assert_msg(fa && fb, "cannot read %s or %s (run from the top folder)", a, b);
	for (;;) {
		char *ra = fgets(la, sizeof la, fa), *rb = fgets(lb, sizeof lb, fb);
		if (!ra || !rb) {
			ck_assert_msg(!ra && !rb, "%s and %s differ in length", a, b);
			break;
		}
		changed += strcmp(la, lb) != 0;
	}
	fclose(fa);
	fclose(fb);
	return changed;
}

START_TEST(neighbouring_labs_differ_in_one_or_two_lines)
{
	static const char *const pairs[][2] = {
		{ "lab1-sync", "lab2-sync-async" },
		{ "lab1-sync", "lab3-evented-blocking" },
		{ "lab2-sync-async", "lab4-evented-async" },
		{ "lab3-evented-blocking", "lab4-evented-async" },
	};
	for (size_t i = 0; i < 4; i++) {
		char a[128], b[128];
		snprintf(a, sizeof a, "%s/main.c", pairs[i][0]);
		snprintf(b, sizeof b, "%s/main.c", pairs[i][1]);
		int n = lines_changed(a, b);
		ck_assert_msg(n >= 1 && n <= 2, "%s and %s differ in %d lines", a, b, n);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("labs");
	TCase *shape = tcase_create("the model's shape");
	tcase_set_timeout(shape, 60);
	tcase_add_test(shape, lab1_takes_the_sum_of_the_downloads);
	tcase_add_test(shape, lab2_takes_the_sum_of_the_downloads);
	tcase_add_test(shape, lab3_takes_the_sum_of_the_downloads);
	tcase_add_test(shape, lab4_takes_the_longest_download);
	tcase_add_test(shape, lab1_serves_four_requests_one_after_another);
	tcase_add_test(shape, lab2_serves_four_requests_one_after_another);
	tcase_add_test(shape, lab3_overlaps_four_requests);
	tcase_add_test(shape, lab4_overlaps_four_requests_and_their_downloads);
	tcase_add_test(shape, with_the_default_profile_lab1_takes_about_2_45s_and_lab4_about_0_4s);
	suite_add_tcase(s, shape);

	TCase *use = tcase_create("using a lab");
	tcase_set_timeout(use, 60);
	tcase_add_loop_test(use, every_lab_answers_the_json_contract, 0, 4);
	tcase_add_loop_test(use, every_lab_logs_the_statuses_and_the_time, 0, 4);
	tcase_add_loop_test(use, only_evented_labs_answer_while_another_request_is_stuck, 0, 4);
	tcase_add_loop_test(use, bad_requests_get_4xx_and_the_lab_keeps_serving, 0, 4);
	tcase_add_loop_test(use, sigterm_stops_a_busy_lab_and_its_upstream_within_a_second, 0, 4);
	tcase_add_test(use, sigkill_of_a_lab_takes_its_upstream_along);
	tcase_add_loop_test(use, a_lab_restarts_a_simulator_that_dies, 0, 8);
	tcase_add_loop_test(use, a_lab_whose_upstream_keeper_dies_stops_saying_why, 0, 4);
	tcase_add_test(use, sigterm_lets_a_short_request_in_flight_finish);
	tcase_add_loop_test(use, sigint_stops_a_busy_lab_at_once, 0, 4);
	tcase_add_test(use, sigterm_cuts_a_long_request_short_after_the_grace_period);
	tcase_add_test(use, trace_lists_every_download_with_its_start_and_end);
	tcase_add_test(use, labload_times_each_request_of_a_staircase);
	tcase_add_test(use, the_log_draws_a_timeline_row_per_url_within_80_columns);
	tcase_add_test(use, the_simulator_prints_its_profile_for_scripts);
	tcase_add_test(use, bad_options_exit_2_naming_the_option);
	tcase_add_test(use, a_port_in_use_exits_1_with_a_clear_message);
	tcase_add_test(use, neighbouring_labs_differ_in_one_or_two_lines);
	suite_add_tcase(s, use);

	return tl_run_suite(s);
}
