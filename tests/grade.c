/*
 * grade: score the labs against the model, for a class: lab1..lab4
 * against tests/model.h, the database labs (lab5, lab6) against
 * tests/dbmodel.h.
 *
 * Each check of tests/model.h runs as one Check test (in a process of its
 * own, with a timeout), so a lab that crashes or hangs loses that check and
 * nothing else.  Points come from grade/points; executables in
 * grade/hidden/ are run after and reported as hidden.  Prints one line a
 * check and "Score: N/M"; exits 1 below full marks.
 *
 * Environment: LAB (labs to grade, e.g. "lab3"; default all), LAB_BIN
 * (where lab1..lab6 are), RESULTS (write a Gradescope results.json there),
 * GRADE_DIR (where points and hidden/ are, default grade), GRADE_LIST
 * (list the checks and their points, run nothing),
 * WORKERLAB_SLOW (stretch every bound), and Check's own CK_XML_LOG_FILE_NAME
 * and CK_TAP_LOG_FILE_NAME.
 *
 * CALIBRATE=N (make grade-calibrate) grades nothing: it runs every timed
 * check N times and prints, per check, the worst figure, its bound and the
 * margin between them, and the WORKERLAB_SLOW this machine needs for every
 * margin to be at least 1.5 -- how close the grader came to failing a
 * correct lab here.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dbmodel.h"
#include "model.h"
#include "testlib.h"
#include "util.h"

static void check_builds(const struct lab_model *m, struct verdict *v)
{
	const char *dir = tl_bin_dir();
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, m->bin);
	v->ok = access(path, X_OK) == 0;
	v->seconds = 0;
	v->bound = v->base = v->limit = 0;
	snprintf(v->why, sizeof v->why, "no program %s: did `make %s` fail?", path, m->bin);
}

static const struct check {
	const char *key;	/* its name in grade/points */
	void (*run)(const struct lab_model *, struct verdict *);
	const char *only;	/* the one lab it grades (lab1); NULL: all */
} checks[] = {
	{ "builds", check_builds, NULL },
	{ "answers-json", check_answers_json, NULL },
	{ "one-request", check_one_request, NULL },
	{ "four-at-once", check_four_at_once, NULL },
	{ "overlap-stuck", check_overlap_while_stuck, NULL },
	{ "clean-shutdown", check_clean_shutdown, NULL },
	{ "workers", check_four_workers, "lab1" },
	{ "threads", check_four_threads, "lab2" },
	{ "worker-connections", check_one_connection, "lab3" },
	{ "worker-timeout", check_worker_timeout, "lab1" },
};
enum { NCHECKS = sizeof checks / sizeof checks[0] };

/* ---- the database labs (lab5, lab6): checks of their own, tests/dbmodel.h ---- */

static const struct check db_checks[] = {
	{ "builds", check_builds, NULL },
	{ "db-answers-json", check_db_answers_json, NULL },
	{ "db-one-request", check_db_one_request, NULL },
	{ "db-four-at-once", check_db_four_at_once, NULL },
	{ "db-hello-meanwhile", check_db_hello_meanwhile, NULL },
	{ "db-spawn", check_db_spawn, NULL },
	{ "db-clean-shutdown", check_db_clean_shutdown, NULL },
};
enum { NDBCHECKS = sizeof db_checks / sizeof db_checks[0] };

/* What a database check is called, given the lab (.fibers: cooperative). */
static const char *describe_db(const char *k, const struct lab_model *m)
{
	bool coop = m->fibers;
	if (!strcmp(k, "db-answers-json")) return "answers /db with the note's JSON";
	if (!strcmp(k, "db-one-request")) return "one /db takes its ten queries, S";
	if (!strcmp(k, "db-four-at-once"))
		return coop ? "four /db overlap, each taking S"
			    : "four /db are served one after another";
	if (!strcmp(k, "db-hello-meanwhile"))
		return coop ? "answers /hello while a /db runs"
			    : "answers /hello only after the /db in flight";
	if (!strcmp(k, "db-spawn"))
		return coop ? "/db?spawn=1 takes two rounds of a pool of 5"
			    : "/db?spawn=1 still takes S";
	return "stops on SIGTERM, its database too";
}

/* ---- end of the database labs' block ---- */

enum { MAX_CALIBRATE = 20,
       MAXRUNS = (4 * NCHECKS + 2 * NDBCHECKS) * MAX_CALIBRATE };

/* What a check is called in the report, given what the lab should do. */
static const char *describe(const struct check *c, const struct lab_model *m)
{
	const char *k = c->key;
	if (!strcmp(k, "builds")) return "builds";
	if (!strncmp(k, "db-", 3)) return describe_db(k, m);
	if (!strcmp(k, "answers-json")) return "answers /hello with the note's JSON";
	if (!strcmp(k, "one-request"))
		return m->evented && m->fibers ? "one request takes M" : "one request takes S";
	if (!strcmp(k, "four-at-once"))
		return !m->evented ? "four requests are served one after another"
		       : m->fibers ? "four requests overlap, each taking M"
				   : "four requests overlap, each taking S";
	if (!strcmp(k, "workers"))
		return "-w 4 serves four at once, each taking S";
	if (!strcmp(k, "threads"))
		return "--threads 4 serves four at once, each taking S";
	if (!strcmp(k, "worker-connections"))
		return "--worker-connections 1 serves four one after another";
	if (!strcmp(k, "worker-timeout"))
		return "a worker stuck past --timeout is replaced, and answers";
	if (!strcmp(k, "overlap-stuck"))
		return m->evented ? "answers while another request is stuck"
				  : "waits while another request is stuck";
	return "stops on SIGTERM, its upstream too";
}

struct run {
	const struct lab_model *lab;
	const struct check *check;
	int points;
	bool ok;
	double seconds;
	double bound;		/* the most seconds could be and pass; 0: none */
	double base, limit;	/* as in struct verdict */
	char why[600];
};

static struct run runs[MAXRUNS];
static int nruns;
static char seconds_file[] = "/tmp/workerlab-grade-XXXXXX";

START_TEST(graded_check)
{
	struct run *r = &runs[_i];
	struct verdict v;
	if (isatty(2))		/* a progress line, rewritten in place */
		fprintf(stderr, "\r\033[K[%d/%d] %s: %s ...", _i + 1, nruns,
			r->lab->name, describe(r->check, r->lab));
	r->check->run(r->lab, &v);
	/* a lab 1-4 check that failed: no downloads at all is said first */
	if (!v.ok && r->check >= checks && r->check < checks + NCHECKS &&
	    strcmp(r->check->key, "builds") != 0 && strcmp(r->check->key, "answers-json") != 0)
		model_name_the_cause(r->lab, &v);
	FILE *f = fopen(seconds_file, "a");	/* the measured figure, for the parent */
	if (f) {
		fprintf(f, "%d %.6f %.6f %.6f %.6f\n", _i, v.seconds, v.bound, v.base, v.limit);
		fclose(f);
	}
	ck_assert_msg(v.ok, "%s", v.why);
}
END_TEST

/* The folder with points and hidden/: $GRADE_DIR, or grade/. */
static const char *grade_dir(void)
{
	const char *d = getenv("GRADE_DIR");
	return d && *d ? d : "grade";
}

static int points_of(const char *key)
{
	char path[512];
	snprintf(path, sizeof path, "%s/points", grade_dir());
	FILE *f = fopen(path, "r");
	char line[256], name[64];
	int pts, found = 0;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%63s %d", name, &pts) == 2 && name[0] != '#' &&
		    strcmp(name, key) == 0)
			found = pts;
	if (f)
		fclose(f);
	return found;
}

/* Does check c grade lab m?  The knobs' checks grade one lab each. */
static bool grades(const struct check *c, const struct lab_model *m)
{
	return !c->only || !strcmp(c->only, m->bin);
}

static bool wanted(const struct lab_model *m)
{
	const char *only = getenv("LAB");
	if (!only || !*only)
		return true;
	char copy[256];
	snprintf(copy, sizeof copy, "%s", only);
	for (char *w = strtok(copy, " ,"); w; w = strtok(NULL, " ,"))
		if (!strcmp(w, m->bin) || !strcmp(w, m->name))
			return true;
	return false;
}

/* Run the visible checks through Check; fill runs[].ok and .why. */
static void run_visible(void)
{
	Suite *s = suite_create("grade");
	TCase *tc = tcase_create("labs");
	tcase_set_timeout(tc, 120 * model_slowness());
	for (int i = 0; i < nruns; i++)
		tcase_add_loop_test(tc, graded_check, i, i + 1);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	int fd = mkstemp(seconds_file);
	if (fd >= 0)
		close(fd);
	srunner_run_all(sr, CK_SILENT);
	if (isatty(2))
		fprintf(stderr, "\r\033[K");
	TestResult **res = srunner_results(sr);
	for (int i = 0; i < srunner_ntests_run(sr) && i < nruns; i++) {
		runs[i].ok = tr_rtype(res[i]) == CK_PASS;
		snprintf(runs[i].why, sizeof runs[i].why, "%s", tr_msg(res[i]));
	}
	free(res);
	srunner_free(sr);
	FILE *f = fopen(seconds_file, "r");
	int i;
	double secs, bound, base, limit;
	while (f && fscanf(f, "%d %lf %lf %lf %lf", &i, &secs, &bound, &base, &limit) == 5)
		if (i >= 0 && i < nruns) {
			runs[i].seconds = secs;
			runs[i].bound = bound;
			runs[i].base = base;
			runs[i].limit = limit;
		}
	if (f)
		fclose(f);
	unlink(seconds_file);
}

/* ---- hidden checks: executables in grade/hidden/ ---- */

struct hidden {
	char name[256];
	int points;
	bool ok;
	char output[2048];
};

static int hidden_points(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int pts = 1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "# points: %d", &pts) == 1)
			break;
	if (f)
		fclose(f);
	return pts;
}

static void run_hidden(const char *path, struct hidden *h)
{
	char cmd[1100];	/* path is under 1000 characters */
	snprintf(cmd, sizeof cmd, "timeout %d '%s' 2>&1", (int)(120 * model_slowness()), path);
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(h->output, 1, sizeof h->output - 1, p) : 0;
	h->output[n] = '\0';
	int status = p ? pclose(p) : -1;
	h->ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Hidden checks see LAB_BIN and LAB as grade/hidden/README.md says:
 * where the labs are, and which ones are graded. */
static void hidden_environment(void)
{
	char labs[64] = "";
	setenv("LAB_BIN", tl_bin_dir(), 1);
	const struct lab_model *all[6] = { &lab_models[0], &lab_models[1], &lab_models[2],
					   &lab_models[3], &db_models[0], &db_models[1] };
	for (int l = 0; l < 6; l++)
		if (wanted(all[l]))
			snprintf(labs + strlen(labs), sizeof labs - strlen(labs), "%s%s",
				 labs[0] ? " " : "", all[l]->bin);
	setenv("LAB", labs, 1);
}

static int find_hidden(struct hidden *hs, int max)
{
	char dir[512];
	snprintf(dir, sizeof dir, "%s/hidden", grade_dir());
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) != NULL && n < max) {
		char path[1024];
		struct stat st;
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= 1000)
			continue;	/* leaves room for the command around it */
		if (e->d_name[0] == '.' || stat(path, &st) != 0 ||
		    !S_ISREG(st.st_mode) || access(path, X_OK) != 0)
			continue;
		snprintf(hs[n].name, sizeof hs[n].name, "%s", e->d_name);
		hs[n].points = hidden_points(path);
		run_hidden(path, &hs[n]);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* ---- results.json, in Gradescope's format ---- */

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_test(FILE *f, bool first, const char *name, int score, int max,
		      bool ok, const char *output, bool hidden)
{
	fprintf(f, "%s\n    {\"name\": ", first ? "" : ",");
	json_string(f, name);
	fprintf(f, ", \"score\": %d, \"max_score\": %d, \"status\": \"%s\", \"output\": ",
		score, max, ok ? "passed" : "failed");
	json_string(f, output);
	fprintf(f, ", \"visibility\": \"%s\"}", hidden ? "hidden" : "visible");
}

static void write_results(const char *path, int score, double took,
			  const struct hidden *hs, int nhidden)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "grade: cannot write %s\n", path);
		return;
	}
	fprintf(f, "{\n  \"score\": %d,\n  \"execution_time\": %.1f,\n  \"tests\": [", score, took);
	for (int i = 0; i < nruns; i++) {
		char name[256], out[700];
		snprintf(name, sizeof name, "%s: %s", runs[i].lab->name,
			 describe(runs[i].check, runs[i].lab));
		if (runs[i].ok)
			snprintf(out, sizeof out, "OK (%.2fs)", runs[i].seconds);
		else
			snprintf(out, sizeof out, "FAIL: %s", runs[i].why);
		json_test(f, i == 0, name, runs[i].ok ? runs[i].points : 0,
			  runs[i].points, runs[i].ok, out, false);
	}
	for (int i = 0; i < nhidden; i++)
		json_test(f, nruns == 0 && i == 0, hs[i].name, hs[i].ok ? hs[i].points : 0,
			  hs[i].points, hs[i].ok, hs[i].output, true);
	fprintf(f, "\n  ]\n}\n");
	fclose(f);
}

/* ---- calibration: how close each timed check came to its bound ---- */

/* One line for the runs [first, first + n) of one check on one lab; its
 * margin (bound / worst run) in *margin.  Returns the WORKERLAB_SLOW this
 * check needs for a margin of `want`: 0 for an untimed check, -1 when no
 * factor will do (the bound may not grow that far: see bound_of in
 * tests/model.c). */
static double calibrate_line(const struct run *first, int n, double want, double *margin)
{
	double worst = 0, bound = first->bound;
	const struct run *failure = NULL;
	for (const struct run *r = first; r < first + n; r++) {
		worst = r->seconds > worst ? r->seconds : worst;
		if (!r->ok && !failure)
			failure = r;
	}
	char name[160];
	snprintf(name, sizeof name, "%s: %s", first->lab->name,
		 describe(first->check, first->lab));
	*margin = bound > 0 && bound < 99 * worst ? bound / worst : 99;
	if (bound > 0 && *margin < 99)
		printf("%-62s %7.3fs %7.3fs %6.2f", name, worst, bound, *margin);
	else if (bound > 0)
		printf("%-62s %7.3fs %7.3fs %6s", name, worst, bound, ">99");
	else
		printf("%-62s %7.3fs %8s %6s", name, worst, "none", "-");
	if (failure)
		printf("  FAILED: %s", failure->why);
	printf("\n");
	if (bound <= 0 || first->base <= 0)
		return 0;
	if (first->limit > 0 && want * worst > first->limit)
		return -1;
	return want * worst / first->base;
}

/* The report of CALIBRATE=n; exit status 1 when a run failed. */
static int calibrate(int n)
{
	const double want = 1.5;	/* the least margin we call safe */
	double need = 1, smallest = 99;
	bool hopeless = false;
	int failed = 0;
	printf("%-62s %8s %8s %6s\n", "check (the worst of its runs)", "measured",
	       "bound", "margin");
	for (int i = 0; i < nruns; i += n) {
		double margin, f = calibrate_line(&runs[i], n, want, &margin);
		hopeless |= f < 0;
		need = f > need ? f : need;
		smallest = margin < smallest ? margin : smallest;
	}
	for (int i = 0; i < nruns; i++)
		failed += !runs[i].ok;
	double slow = model_slowness();
	printf("\n%d runs of each check at WORKERLAB_SLOW=%g: smallest margin %.2f, "
	       "%d runs failed.\n", n, slow, smallest, failed);
	if (hopeless)
		printf("No WORKERLAB_SLOW gives every margin %.1f: here a correct lab comes "
		       "too near what a wrong one must take -- grade on a faster or "
		       "quieter machine.\n", want);
	else if (need > slow)
		printf("Recommended: grade on this machine with WORKERLAB_SLOW=%.1f "
		       "(every margin at least %.1f).\n", (int)(need * 10 + 0.99) / 10.0, want);
	else
		printf("Every margin is at least %.1f: WORKERLAB_SLOW=%g is enough here.\n",
		       want, slow);
	return failed ? 1 : 0;
}

/* GRADE_LIST=1: the checks that would run and their points, one a line,
 * "lab<TAB>check<TAB>points<TAB>what it is called", and nothing run:
 * what make notes-check counts the notes' figures against. */
static int list_checks(void)
{
	for (int i = 0; i < nruns; i++)
		printf("%s\t%s\t%d\t%s\n", runs[i].lab->name, runs[i].check->key,
		       runs[i].points, describe(runs[i].check, runs[i].lab));
	return 0;
}

int main(void)
{
	double start = now();
	int score = 0, max = 0;
	struct hidden hs[32];
	bool list = getenv("GRADE_LIST") && *getenv("GRADE_LIST");
	int repeat = !list && getenv("CALIBRATE") ? atoi(getenv("CALIBRATE")) : 0;

	if (repeat < 0 || repeat > MAX_CALIBRATE) {
		fprintf(stderr, "grade: CALIBRATE=%s: give 1 to %d runs\n",
			getenv("CALIBRATE"), MAX_CALIBRATE);
		return 2;
	}
	for (int l = 0; repeat && l < 4; l++)
		for (int c = 1; c < NCHECKS && wanted(&lab_models[l]); c++)	/* not "builds" */
			for (int k = 0; k < repeat && grades(&checks[c], &lab_models[l]); k++)
				runs[nruns++] = (struct run){ .lab = &lab_models[l],
							      .check = &checks[c] };
	for (int l = 0; repeat && l < 2; l++)	/* the database labs */
		for (int c = 1; c < NDBCHECKS && wanted(&db_models[l]); c++)
			for (int k = 0; k < repeat; k++)
				runs[nruns++] = (struct run){ .lab = &db_models[l],
							      .check = &db_checks[c] };
	if (repeat) {
		run_visible();
		return calibrate(repeat);
	}
	for (int l = 0; l < 4; l++)
		for (int c = 0; c < NCHECKS && wanted(&lab_models[l]); c++)
			if (grades(&checks[c], &lab_models[l]))
				runs[nruns++] = (struct run){ .lab = &lab_models[l], .check = &checks[c],
						      .points = points_of(checks[c].key) };
	for (int l = 0; l < 2; l++)	/* the database labs */
		for (int c = 0; c < NDBCHECKS && wanted(&db_models[l]); c++)
			runs[nruns++] = (struct run){ .lab = &db_models[l], .check = &db_checks[c],
						      .points = points_of(db_checks[c].key) };
	if (nruns == 0) {
		fprintf(stderr, "grade: LAB=%s names no lab (lab1..lab6)\n", getenv("LAB"));
		return 2;
	}
	if (list)
		return list_checks();
	run_visible();
	for (int i = 0; i < nruns; i++) {
		struct run *r = &runs[i];
		max += r->points;
		score += r->ok ? r->points : 0;
		if (r->ok)
			printf("%s: %s: OK (%.2fs)\n", r->lab->name, describe(r->check, r->lab),
			       r->seconds);
		else
			printf("%s: %s: FAIL: %s\n", r->lab->name, describe(r->check, r->lab),
			       r->why);
	}
	hidden_environment();
	int nhidden = find_hidden(hs, 32);
	for (int i = 0; i < nhidden; i++) {
		max += hs[i].points;
		score += hs[i].ok ? hs[i].points : 0;
		printf("hidden: %s: %s\n", hs[i].name, hs[i].ok ? "OK" : "FAIL");
	}
	printf("Score: %d/%d\n", score, max);
	if (getenv("RESULTS") && *getenv("RESULTS"))
		write_results(getenv("RESULTS"), score, now() - start, hs, nhidden);
	return score == max ? 0 : 1;
}
