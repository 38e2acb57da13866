/*
 * model.c: the checks, each a short experiment against one lab.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listen.h"
#include "model.h"
#include "profile.h"
#include "testlib.h"
#include "util.h"

const struct lab_model lab_models[4] = {
	{ "lab1", "lab1-sync", false, false },
	{ "lab2", "lab2-sync-async", false, true },
	{ "lab3", "lab3-evented-blocking", true, false },
	{ "lab4", "lab4-evented-async", true, true },
};

/* The labs here run at delay scale 0.3: S and M are the profile's, scaled. */
#define SCALE "0.3"
#define S (0.3 * profile_sum())
#define M (0.3 * profile_max())
static const char *const scaled[] = { "-b", "127.0.0.1:0", "--delay-scale", SCALE, NULL };

double model_slowness(void)
{
	const char *s = getenv("WORKERLAB_SLOW");
	double f = s ? atof(s) : 1;
	return f >= 1 ? f : 1;
}

void verdict(struct verdict *v, bool ok, double seconds, double bound,
	     const char *fmt, ...)
{
	va_list ap;
	v->ok = ok;
	v->seconds = seconds;
	v->bound = bound;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof v->why, fmt, ap);
	va_end(ap);
}

/*
 * The upper bound a check holds its figure to: base (seconds, at
 * WORKERLAB_SLOW=1) times the slowness -- but, where the check tells
 * overlap from one-after-another, never so far that the wrong lab could
 * pass it: `wrong` is the least time the mistaken version can take, by
 * physics (downloads one after another cannot beat their sum; requests one
 * after another cannot beat theirs), and the bound stays below 0.9 of it
 * however large WORKERLAB_SLOW is.  Both are noted in the verdict, for
 * make grade-calibrate.
 */
double bound_of(struct verdict *v, double base, double wrong)
{
	double b = base * model_slowness();
	v->base = base;
	v->limit = wrong > 0 ? 0.9 * wrong : 0;
	return v->limit > 0 && b > v->limit ? v->limit : b;
}

/*
 * How long a check waits for its answers: three times the bound the check
 * holds them to, and at least five seconds (times the slowness).  An answer
 * later than that fails the bound anyway, so waiting longer only makes a
 * lab that hangs -- a task left undone, say -- slow to grade.
 */
double model_patience(double bound)
{
	double least = 5 * model_slowness();
	return 3 * bound > least ? 3 * bound : least;
}

void check_answers_json(const struct lab_model *m, struct verdict *v)
{
	static const char *const fast[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02", NULL };
	/* The note's data is the time its downloads took: never less than the
	 * longest of them, whatever the worker.  A handler that answers
	 * without downloading says 0.000000 or 0.000001 -- and must not pass
	 * by the luck of the clock. */
	const double longest = 0.02 * profile_max();
	static const char prefix[] = "{\"code\": 0, \"message\": \"success\", \"data\": ";
	struct tl_proc p;
	struct tl_reply r;
	char ct[128] = "";
	char *end = NULL;
	double data = 0;

	bound_of(v, 0, 0);	/* untimed */
	tl_start(&p, m->bin, fast);
	tl_get_within(p.port, "/hello", model_patience(0), &r);
	tl_stop(&p);
	tl_header(&r, "Content-Type", ct, sizeof ct);
	if (strncmp(r.body, prefix, strlen(prefix)) == 0)
		data = strtod(r.body + strlen(prefix), &end);
	bool ok = r.status == 200 && strcmp(ct, "application/json; charset=utf-8") == 0
		  && end && strcmp(end, "}") == 0 && data >= 0.95 * longest
		  && tl_fits_inside(data, &r);
	verdict(v, ok, r.seconds, 0, "expected 200, application/json; charset=utf-8 and "
		"{\"code\": 0, \"message\": \"success\", \"data\": <seconds>}, the "
		"seconds at least the longest download (%.3fs) and no more than the "
		"%.6fs the client waited; got %d, '%s' and %.200s",
		longest, r.seconds, r.status, ct, r.body);
}

void model_name_the_cause(const struct lab_model *m, struct verdict *v)
{
	static const char *const fast[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.02", NULL };
	const double longest = 0.02 * profile_max();
	struct tl_proc p;
	struct tl_reply r;
	int status;
	double took;

	static const char get[] = "GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: close\r\n\r\n";
	tl_start(&p, m->bin, fast);
	tl_raw(p.port, get, sizeof get - 1, 2, &r);	/* at 0.02, well under 0.1 s */
	tl_terminate(&p, 5, &status, &took);
	close(p.out);
	close(p.err);
	const char *at = strstr(r.body, "\"data\": ");
	if (r.status != 200 || !at || strtod(at + 8, NULL) >= 0.95 * longest)
		return;
	char saw[sizeof v->why];
	snprintf(saw, sizeof saw, "%s", v->why);
	snprintf(v->why, sizeof v->why, "the lab downloads nothing: its /hello says the "
		 "downloads took %.6fs, less than the longest URL alone (%.3fs) -- does "
		 "the handler fetch every URL and set d->n?  What the check saw: %.380s",
		 strtod(at + 8, NULL), longest, saw);
}

void check_one_request(const struct lab_model *m, struct verdict *v)
{
	struct tl_proc p;
	struct tl_reply r;
	bool overlap = m->evented && m->fibers;
	double want = overlap ? M : S;
	double bound = overlap ? bound_of(v, 0.5 * S, S) : bound_of(v, 2 * S, 0);

	tl_start(&p, m->bin, scaled);
	tl_get_within(p.port, "/hello", model_patience(bound), &r);
	tl_stop(&p);
	double t = r.seconds;
	if (r.status != 200)
		return verdict(v, false, t, bound, "/hello %s: %.200s",
			       tl_outcome(&r, (char[64]){ 0 }, 64), r.body);
	if (t < 0.95 * want)
		return verdict(v, false, t, bound, "one request took %.3fs; expected near %.3fs "
			       "(%s), and it cannot take less: are all the URLs downloaded?",
			       t, want, overlap ? "M" : "S");
	if (overlap && t > bound)
		return verdict(v, false, t, bound, "one request took %.3fs; expected near %.3fs "
			       "(M), not %.3fs (S): the downloads ran one after another -- is "
			       "the IO patched, and does the handler use async_download?",
			       t, M, S);
	if (t > bound)
		return verdict(v, false, t, bound, "one request took %.3fs; expected near "
			       "%.3fs (S)", t, S);
	verdict(v, true, t, bound, "%s", "");
}

/* The message for four requests that should have overlapped and did not:
 * they ended one after another (the 4th long after the 1st), or together
 * but late -- each held up by a wait that let no other run (exercise 3's
 * sleep(1)), or by its own downloads in turn. */
static const char *why_not_together(const double e[4])
{
	return e[3] > 2.5 * e[0] ? "requests were served one at a time -- does the accept "
		"loop give each connection a fiber, and does every wait let the others run?"
		: "the four ended together, late: something in each request kept the others "
		"waiting, or its downloads ran one after another -- is all of the handler's "
		"IO cooperative?";
}

void check_four_at_once(const struct lab_model *m, struct verdict *v)
{
	bool fast = m->evented && m->fibers;
	double want = fast ? M : S;
	const char *name = fast ? "M" : "S";
	double bound = !m->evented ? bound_of(v, 8 * S, 0)
		     : fast ? bound_of(v, 0.5 * S, S) : bound_of(v, 2 * S, 4 * S);
	struct tl_proc p;
	double e[4];
	tl_start(&p, m->bin, scaled);
	int ok = tl_get_many_within(p.port, "/hello", 4, model_patience(bound), e);
	tl_stop(&p);

	if (ok != 4)
		return verdict(v, false, e[3], bound, "%d of 4 requests answered 200", ok);
	if (!m->evented) {	/* one after another: the k-th ends near k*S */
		for (int k = 0; k < 4; k++)
			if (e[k] < 0.95 * (k + 1) * S)
				return verdict(v, false, e[k], bound, "request %d of 4 ended at "
					       "%.3fs; served one at a time it ends near %d*S = "
					       "%.3fs: requests overlapped -- is this lab running "
					       "the evented worker?", k + 1, e[k], k + 1, (k + 1) * S);
		return verdict(v, e[3] <= bound, e[3], bound, "the 4th request ended at "
			       "%.3fs; expected near 4*S = %.3fs", e[3], 4 * S);
	}
	if (e[0] < 0.95 * want)
		return verdict(v, false, e[0], bound, "a request ended at %.3fs; expected all "
			       "near %.3fs (%s), and none can end sooner", e[0], want, name);
	verdict(v, e[3] <= bound, e[3], bound, "the 4th request ended at %.3fs; expected "
		"all near %.3fs (%s): %s", e[3], want, name, why_not_together(e));
}

int model_send_get(int port, const char *path)
{
	int fd = tl_connect(port);
	char req[256];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Connection: close\r\n\r\n", path);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		close(fd);
		return -1;
	}
	return fd;
}

bool model_stop_in_flight(struct tl_proc *p, const char *path, double seconds,
			  int *status, double *took)
{
	int fds = tl_fd_count(p->pid);
	int fd = model_send_get(p->port, path);
	/* accepted: its request has come, so it is answered through the stop */
	tl_wait_fds(p->pid, fds + 1, 10 * model_slowness());
	bool exited = tl_terminate(p, seconds, status, took);
	if (fd >= 0)
		close(fd);
	close(p->out);
	close(p->err);
	return exited;
}

/* Accept a connection within `seconds`, read the request, return the fd. */
static int take_request(int listen_fd, double seconds)
{
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
	if (poll(&pfd, 1, (int)(seconds * 1000)) <= 0)
		return -1;
	int fd = accept(listen_fd, NULL, NULL);
	char buf[4096];
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (fd >= 0 && poll(&pfd, 1, 1000) > 0 && read(fd, buf, sizeof buf) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The lab's first fetch, taken as take_request does; -1 when none came
 * within `seconds`, -2 when the lab answered request fd (or closed it)
 * before it fetched anything. */
static int first_fetch(int listen_fd, int fd, double seconds)
{
	struct pollfd pfd[2] = { { .fd = listen_fd, .events = POLLIN },
				 { .fd = fd, .events = POLLIN } };
	if (poll(pfd, 2, (int)(seconds * 1000)) <= 0)
		return -1;
	return pfd[0].revents ? take_request(listen_fd, 0) : -2;
}

static void answer_and_close(int fd)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
				 "Connection: close\r\n\r\nok\n";
	if (send(fd, ok, sizeof ok - 1, MSG_NOSIGNAL) < 0) {
		/* the lab gave up on it: nothing to do */
	}
	close(fd);
}

/*
 * Timing-free: the lab's one URL is served by this test.  The first fetch
 * it makes is held unanswered; every later one is answered at once.  While
 * request A is stuck on its fetch, request B is sent: a lab that overlaps
 * requests answers B while A is still stuck; one that serves them one at a
 * time cannot, however long we wait.  A is released after a generous wait,
 * so a sync lab still finishes both.  The lab's fetch timeout is set far
 * beyond that wait: A must stay stuck until we release it, on however slow
 * a machine.  The figure is when B was answered, after it was sent.
 */
void check_overlap_while_stuck(const struct lab_model *m, struct verdict *v)
{
	char err[256], urls[] = "/tmp/workerlab-urls-XXXXXX";
	int upstream = server_listen("127.0.0.1:0", err, sizeof err);
	int ufd = mkstemp(urls);
	if (upstream < 0 || ufd < 0)
		return verdict(v, false, 0, 0, "cannot set up the stuck upstream: %s", err);
	dprintf(ufd, "http://127.0.0.1:%d/stuck\n", server_port(upstream));
	close(ufd);

	double release = 3 * model_slowness(), patience = 3 * release;
	char fetch_timeout[32];
	snprintf(fetch_timeout, sizeof fetch_timeout, "%.0f", 2 * patience);
	const char *const args[] = { "-b", "127.0.0.1:0", "--urls", urls,
				     "--fetch-timeout", fetch_timeout, NULL };
	double bound = bound_of(v, m->evented ? release / model_slowness()
					      : patience / model_slowness(), 0);
	struct tl_proc p;
	tl_start(&p, m->bin, args);
	int a = model_send_get(p.port, "/hello");
	int held = a >= 0 ? first_fetch(upstream, a, model_patience(0)) : -1;
	double start = now(), t = 0;	/* before B connects */
	int b = held >= 0 ? model_send_get(p.port, "/hello") : -1;
	bool released = false, overlapped = false, answered = false;

	while (b >= 0 && !answered && now() - start < patience) {
		if (!released && now() - start > release) {
			answer_and_close(held);
			released = true;
		}
		struct pollfd pfd[2] = { { .fd = upstream, .events = POLLIN },
					 { .fd = b, .events = POLLIN } };
		if (poll(pfd, 2, 100) <= 0)
			continue;
		if (pfd[0].revents) {
			int c = take_request(upstream, 0);
			if (c >= 0)
				answer_and_close(c);
		}
		if (pfd[1].revents) {
			char buf[4096];
			if (read(b, buf, sizeof buf) <= 0) {
				answered = true;
				overlapped = !released;
				t = now() - start;
			}
		}
	}
	if (!released && held >= 0)
		answer_and_close(held);
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	close(upstream);
	unlink(urls);
	tl_stop(&p);

	if (held == -2)
		return verdict(v, false, 0, bound, "the lab answered without fetching its "
			       "--urls URL");
	if (held < 0)
		return verdict(v, false, 0, bound, "the lab never fetched its --urls URL "
			       "(waited %.0fs)", model_patience(0));
	if (!answered)
		return verdict(v, false, patience, bound, "the second request was never "
			       "answered");
	if (m->evented && !overlapped)
		return verdict(v, false, t, bound, "while the first request was stuck on a slow "
			       "URL, the second was not answered; expected it to be: "
			       "requests were served one at a time -- is this lab running "
			       "the sync worker, or is its IO blocking?");
	if (!m->evented && overlapped)
		return verdict(v, false, t, bound, "the second request was answered while the "
			       "first was stuck; a sync worker serves one request at a "
			       "time -- is this lab running the evented worker?");
	verdict(v, true, t, bound, "%s", "");
}

void check_clean_shutdown(const struct lab_model *m, struct verdict *v)
{
	struct tl_proc p;
	int status;
	double took, bound = bound_of(v, 1.0, 0);	/* the grace period is 0.5 s */

	tl_start(&p, m->bin, scaled);
	pid_t keeper = tl_child_of(p.pid), upstream = tl_child_of(keeper);
	bool exited = model_stop_in_flight(&p, "/hello", 2 * bound, &status, &took);
	if (!exited)
		return verdict(v, false, took, bound, "still running %.1fs after SIGTERM", took);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return verdict(v, false, took, bound, "after SIGTERM it ended with status "
			       "0x%x, expected exit 0", status);
	if (keeper <= 0 || upstream <= 0)
		return verdict(v, false, took, bound, "no upstream simulator was running");
	if (!tl_wait_gone(keeper, bound) || !tl_wait_gone(upstream, bound))
		return verdict(v, false, took, bound, "its upstream simulator (pid %d) "
			       "outlived it", (int)upstream);
	verdict(v, took < bound, took, bound, "it took %.2fs to stop after SIGTERM; "
		"expected less than %.1fs", took, bound);
}

/* ---- gunicorn's other knobs: -w, --threads, --worker-connections, --timeout ---- */

/* Four requests at once on the lab started with args; each must end near
 * the time one request takes (S, or M in lab 4): they overlap. */
static void four_overlap(const struct lab_model *m, struct verdict *v,
			 const char *const args[], const char *how)
{
	bool fast = m->evented && m->fibers;
	double want = fast ? M : S;
	const char *name = fast ? "M" : "S";
	double bound = fast ? bound_of(v, 0.5 * S, S) : bound_of(v, 2 * S, 4 * S);
	struct tl_proc p;
	double e[4];
	tl_start(&p, m->bin, args);
	int ok = tl_get_many_within(p.port, "/hello", 4, model_patience(bound), e);
	tl_stop(&p);

	if (ok != 4)
		return verdict(v, false, e[3], bound, "with %s, %d of 4 requests answered 200",
			       how, ok);
	if (e[0] < 0.95 * want)
		return verdict(v, false, e[0], bound, "with %s a request ended at %.3fs; "
			       "expected all near %.3fs (%s), and none can end sooner",
			       how, e[0], want, name);
	verdict(v, e[3] <= bound, e[3], bound, "with %s the 4th request ended at %.3fs; "
		"expected all four near %.3fs (%s): fewer than four were served at once "
		"-- does %s reach the worker?", how, e[3], want, name, how);
}

void check_four_workers(const struct lab_model *m, struct verdict *v)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", SCALE,
					    "-w", "4", NULL };
	four_overlap(m, v, args, "-w 4");
}

void check_four_threads(const struct lab_model *m, struct verdict *v)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", SCALE,
					    "--threads", "4", NULL };
	four_overlap(m, v, args, "--threads 4");
}

/* --worker-connections 1: the worker holds one connection at a time, so
 * four requests end near 1, 2, 3 and 4 times what one takes. */
void check_one_connection(const struct lab_model *m, struct verdict *v)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", SCALE,
					    "--worker-connections", "1", NULL };
	double want = m->evented && m->fibers ? M : S;
	double bound = bound_of(v, 8 * want, 0);
	struct tl_proc p;
	double e[4];
	tl_start(&p, m->bin, args);
	int ok = tl_get_many_within(p.port, "/hello", 4, model_patience(bound), e);
	tl_stop(&p);

	if (ok != 4)
		return verdict(v, false, e[3], bound, "%d of 4 requests answered 200", ok);
	for (int k = 0; k < 4; k++)
		if (e[k] < 0.95 * (k + 1) * want)
			return verdict(v, false, e[k], bound, "request %d of 4 ended at %.3fs; "
				       "one connection at a time, it ends near %d times %.3fs: "
				       "the worker held more than one -- is "
				       "--worker-connections the limit of the accept loop?",
				       k + 1, e[k], k + 1, want);
	if (e[3] > bound)
		return verdict(v, false, e[3], bound, "the 4th request ended at %.3fs; "
			       "expected near %.3fs", e[3], 4 * want);
	verdict(v, true, e[3], bound, "%s", "");
}

/*
 * -w 1 --timeout 1, and an upstream that never answers.  A worker whose IO
 * blocks (the sync labs) stops beating while its request waits: the master
 * must kill it once the timeout is over, say WORKER TIMEOUT, and start
 * another that answers the next request.  An evented worker keeps beating
 * while its request waits in the hub: it must live on, answer beside the
 * stuck request, and no timeout be logged.  The figure is when the stuck
 * request was cut off (sync labs), or when the next one was answered.
 */
void check_worker_timeout(const struct lab_model *m, struct verdict *v)
{
	char err[256], urls[] = "/tmp/workerlab-urls-XXXXXX";
	int upstream = server_listen("127.0.0.1:0", err, sizeof err);
	int ufd = mkstemp(urls);
	if (upstream < 0 || ufd < 0)
		return verdict(v, false, 0, 0, "cannot set up the silent upstream: %s", err);
	dprintf(ufd, "http://127.0.0.1:%d/hang\n", server_port(upstream));
	close(ufd);
	const char *const args[] = { "-b", "127.0.0.1:0", "-w", "1", "--timeout", "1",
				     "--urls", urls, "--fetch-timeout", "600", NULL };
	bool blocks = !m->evented;
	double bound = bound_of(v, 3, 0);

	struct tl_proc p;
	struct tl_reply hung, next;
	tl_start(&p, m->bin, args);
	double start = now();
	int fd = model_send_get(p.port, "/hello");
	/* cut off after about a second, or still waiting after two */
	tl_read_reply(fd, start, blocks ? 2 * bound : 2, &hung);
	close(fd);
	tl_get(p.port, "/nothing-here", &next);
	int status;
	double took;
	tl_terminate(&p, 5, &status, &took);
	char log[8192];
	tl_read_err(&p, log, sizeof log);
	close(p.out);
	close(p.err);
	close(upstream);
	unlink(urls);

	bool logged = strstr(log, "WORKER TIMEOUT (pid:") != NULL;
	if (blocks) {
		if (!hung.closed || hung.status != 0)
			return verdict(v, false, hung.seconds, bound, "a request stuck on a "
				       "silent upstream was %s after %.3fs; with --timeout 1 its "
				       "worker should have been killed within about a second",
				       hung.status ? "answered" : "still waiting", hung.seconds);
		if (hung.seconds < 0.5 || hung.seconds > bound)
			return verdict(v, false, hung.seconds, bound, "the stuck request was "
				       "cut off after %.3fs; with --timeout 1, expected about 1 s",
				       hung.seconds);
		if (!logged)
			return verdict(v, false, hung.seconds, bound, "no \"WORKER TIMEOUT "
				       "(pid:N)\" on stderr: %.300s", log);
		if (next.status != 404)
			return verdict(v, false, hung.seconds, bound, "after the timeout the "
				       "next request got %d, not 404: was the worker replaced?",
				       next.status);
		return verdict(v, true, hung.seconds, bound, "%s", "");
	}
	if (hung.closed || hung.status != 0 || logged)
		return verdict(v, false, hung.seconds, bound, "the evented worker's request "
			       "on a silent upstream ended after %.3fs (status %d)%s: it waits "
			       "in the hub, which goes on beating, so no timeout is due",
			       hung.seconds, hung.status, logged ? ", and WORKER TIMEOUT was logged" : "");
	if (next.status != 404 || next.seconds > bound)
		return verdict(v, false, next.seconds, bound, "beside the stuck request the "
			       "next one got %d after %.3fs; expected 404 at once",
			       next.status, next.seconds);
	verdict(v, true, next.seconds, bound, "%s", "");
}
