/*
 * dbmodel.c: the database labs' checks, each a short experiment.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbmodel.h"
#include "profile.h"
#include "testlib.h"
#include "util.h"

const struct lab_model db_models[2] = {
	{ "lab5", "lab5-evented-db-blocking", true, false },
	{ "lab6", "lab6-evented-db-cooperative", true, true },
};
const char *dbmodel_db;

#define Q(scale) (0.1 * (scale))
#define S(scale) (10 * Q(scale))

/* Start m's lab at this delay scale, on dbmodel_db if set, with one more
 * option and its value if given. */
static void start(struct tl_proc *p, const struct lab_model *m, const char *scale,
		  const char *opt, const char *value)
{
	const char *args[10] = { "-b", "127.0.0.1:0", "--delay-scale", scale };
	int n = 4;
	if (dbmodel_db) {
		args[n++] = "--db";
		args[n++] = dbmodel_db;
	}
	if (opt) {
		args[n++] = opt;
		args[n++] = value;
	}
	args[n] = NULL;
	tl_start(p, m->bin, args);
}

void check_db_answers_json(const struct lab_model *m, struct verdict *v)
{
	static const char prefix[] = "{\"code\": 0, \"message\": \"success\", \"data\": ";
	struct tl_proc p;
	struct tl_reply r;
	char ct[128] = "", *end = NULL;
	double data = 0;

	bound_of(v, 0, 0);
	start(&p, m, "0.1", NULL, NULL);
	tl_get_within(p.port, "/db", model_patience(0), &r);
	tl_stop(&p);
	tl_header(&r, "Content-Type", ct, sizeof ct);
	if (strncmp(r.body, prefix, strlen(prefix)) == 0)
		data = strtod(r.body + strlen(prefix), &end);
	bool ok = r.status == 200 && strcmp(ct, "application/json; charset=utf-8") == 0
		  && end && strcmp(end, "}") == 0 && data >= 0.95 * Q(0.1)
		  && tl_fits_inside(data, &r);
	/* data is the time the queries took: at least one query's sleep */
	verdict(v, ok, r.seconds, 0, "expected 200, application/json; charset=utf-8 and "
		"{\"code\": 0, \"message\": \"success\", \"data\": <seconds>}, the seconds "
		"at least one query's %.3fs; got %d, '%s' and %.300s", Q(0.1), r.status, ct,
		r.body);
}

void check_db_one_request(const struct lab_model *m, struct verdict *v)
{
	const double s = S(0.3);
	double bound = bound_of(v, 2 * s, 0);
	struct tl_proc p;
	struct tl_reply r;
	start(&p, m, "0.3", NULL, NULL);
	tl_get_within(p.port, "/db", model_patience(bound), &r);
	tl_stop(&p);
	double t = r.seconds;
	if (r.status != 200)
		return verdict(v, false, t, bound, "/db %s: %.300s",
			       tl_outcome(&r, (char[64]){ 0 }, 64), r.body);
	verdict(v, t >= 0.95 * s && t <= bound, t, bound, "one /db took %.3fs; expected "
		"near %.3fs, ten queries of %.3fs one after another", t, s, Q(0.3));
}

void check_db_four_at_once(const struct lab_model *m, struct verdict *v)
{
	const double s = S(0.3);
	double bound = m->fibers ? bound_of(v, 2 * s, 4 * s) : bound_of(v, 8 * s, 0);
	struct tl_proc p;
	double e[4];
	start(&p, m, "0.3", NULL, NULL);
	int ok = tl_get_many_within(p.port, "/db", 4, model_patience(bound), e);
	tl_stop(&p);
	if (ok != 4)
		return verdict(v, false, e[3], bound, "%d of 4 /db answered 200", ok);
	if (!m->fibers) {	/* the blocking driver: one after another */
		for (int k = 0; k < 4; k++)
			if (e[k] < 0.95 * (k + 1) * s)
				return verdict(v, false, e[k], bound, "/db %d of 4 ended at %.3fs; "
					       "with a blocking driver it cannot end before %d*S = "
					       "%.3fs: the queries overlapped -- is the driver "
					       "patched (db_patch)?", k + 1, e[k], k + 1, (k + 1) * s);
		return verdict(v, e[3] <= bound, e[3], bound, "the 4th /db ended at %.3fs; "
			       "expected near 4*S = %.3fs", e[3], 4 * s);
	}
	if (e[0] < 0.95 * s)
		return verdict(v, false, e[0], bound, "a /db ended at %.3fs, before its ten "
			       "queries could (S = %.3fs)", e[0], s);
	verdict(v, e[3] <= bound, e[3], bound, "the 4th /db ended at %.3fs; expected all "
		"near S = %.3fs: %s", e[3], s, "the queries of different requests ran one "
		"after another -- does the driver wait in the hub (db_patch, io_wait)?");
}

/* A /db is sent; once the lab is in its handler (it has accepted the
 * connection and opened one to the database), a /hello.  With a blocking
 * driver the process is inside libpq until the /db's queries are done:
 * /hello cannot end sooner.  With a cooperative one it takes its usual M. */
void check_db_hello_meanwhile(const struct lab_model *m, struct verdict *v)
{
	const double s = S(0.5), hm = 0.5 * profile_max();
	double bound = m->fibers ? bound_of(v, 2 * hm, s) : bound_of(v, 4 * (s + hm), 0);
	struct tl_proc p;
	struct tl_reply hello, db;
	start(&p, m, "0.5", NULL, NULL);
	int fds = tl_fd_count(p.pid);
	double t0 = now();
	int fd = model_send_get(p.port, "/db");
	bool started = tl_wait_fds(p.pid, fds + 2, 10 * model_slowness());
	double t1 = now();
	if (started)
		tl_get_within(p.port, "/hello", model_patience(bound), &hello);
	if (fd >= 0) {
		tl_read_reply(fd, t0, model_patience(bound), &db);
		close(fd);
	}
	tl_stop(&p);
	if (!started || fd < 0)
		return verdict(v, false, 0, bound, "the lab never started the /db");
	if (hello.status != 200 || db.status != 200)
		return verdict(v, false, 0, bound, "/hello %s, /db %s",
			       tl_outcome(&hello, (char[64]){ 0 }, 64),
			       tl_outcome(&db, (char[64]){ 0 }, 64));
	double after_db = t1 - t0 + hello.seconds;
	if (!m->fibers) {
		if (after_db < 0.95 * s)
			return verdict(v, false, after_db, bound, "/hello ended %.3fs after the "
				       "/db began, before the /db's queries could (S = %.3fs): "
				       "the driver let the worker go on -- is it patched?",
				       after_db, s);
		return verdict(v, after_db <= bound, after_db, bound, "/hello ended %.3fs "
			       "after the /db began; expected near S + M = %.3fs", after_db,
			       s + hm);
	}
	verdict(v, hello.seconds <= bound, hello.seconds, bound, "/hello took %.3fs while "
		"a /db ran; expected near M = %.3fs: it waited for the queries -- does the "
		"driver wait in the hub (db_patch, io_wait)?", hello.seconds, hm);
}

/* /db?spawn=1, after a first one has opened the pool's connections: with
 * a pool of 5, two rounds of Q in lab 6; ten queries in turn in lab 5. */
void check_db_spawn(const struct lab_model *m, struct verdict *v)
{
	const double q = Q(1.0), s = S(1.0);
	const int rounds = 2;
	double bound = m->fibers ? bound_of(v, 2 * rounds * q, s) : bound_of(v, 2 * s, 0);
	double want = m->fibers ? rounds * q : s;
	struct tl_proc p;
	struct tl_reply warm, r;
	start(&p, m, "1", "--pool", "5");
	tl_get_within(p.port, "/db?spawn=1", model_patience(bound), &warm);
	tl_get_within(p.port, "/db?spawn=1", model_patience(bound), &r);
	tl_stop(&p);
	double t = r.seconds;
	if (r.status != 200)
		return verdict(v, false, t, bound, "/db?spawn=1 %s: %.300s",
			       tl_outcome(&r, (char[64]){ 0 }, 64), r.body);
	if (t < 0.95 * want)
		return verdict(v, false, t, bound, "/db?spawn=1 took %.3fs; it cannot take less "
			       "than %.3fs (%s)", t, want, m->fibers ? "two rounds of the pool "
			       "of 5" : "ten queries one after another, with a blocking driver");
	verdict(v, t <= bound, t, bound, "/db?spawn=1 took %.3fs; expected near %.3fs%s", t,
		want, m->fibers ? ": ten queries on five connections, two rounds -- are the "
		"queries' fibers waiting in the hub, and the pool used?" : "");
}

/* SIGTERM with a /db in flight: the lab exits 0 once the /db is done
 * (S) or the grace period over, whichever comes first, and takes its
 * private cluster with it -- the directory, the postmaster. */
void check_db_clean_shutdown(const struct lab_model *m, struct verdict *v)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.3",
					    "--grace", "0.5", NULL };
	const double grace = 0.5;
	double took, bound = bound_of(v, 2 * (fmin(grace, S(0.3)) + grace), 0);
	struct tl_proc p;
	int status, pm = 0;
	char dir[64] = "", pidfile[128];
	tl_start(&p, m->bin, args);
	const char *at = strstr(p.banner, "/tmp/workerlab-pg-");
	if (at)
		snprintf(dir, sizeof dir, "%.*s", (int)strcspn(at, ", "), at);
	snprintf(pidfile, sizeof pidfile, "%s/data/postmaster.pid", dir);
	FILE *f = fopen(pidfile, "r");
	if (f && fscanf(f, "%d", &pm) != 1)
		pm = 0;
	if (f)
		fclose(f);
	bool exited = model_stop_in_flight(&p, "/db", 2 * bound, &status, &took);
	struct stat st;
	if (!exited)
		return verdict(v, false, took, bound, "still running %.1fs after SIGTERM", took);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return verdict(v, false, took, bound, "after SIGTERM it ended with status 0x%x, "
			       "expected exit 0", status);
	if (!dir[0] || pm <= 0)
		return verdict(v, false, took, bound, "no private cluster named in the banner, "
			       "or no postmaster in it: %.200s", p.banner);
	if (!tl_wait_gone(pm, 5 * model_slowness()))
		return verdict(v, false, took, bound, "its PostgreSQL server (pid %d) outlived it",
			       pm);
	for (double end = now() + 5 * model_slowness(); stat(dir, &st) == 0 && now() < end; )
		usleep(10000);
	if (stat(dir, &st) == 0)
		return verdict(v, false, took, bound, "its cluster's directory %s outlived it", dir);
	verdict(v, took < bound, took, bound, "it took %.2fs to stop after SIGTERM; expected "
		"less than %.2fs", took, bound);
}
