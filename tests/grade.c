/*
 * grade: score the four labs against the model, for a class.
 *
 * Each check of tests/model.h runs as one Check test (in a process of its
 * own, with a timeout), so a lab that crashes or hangs loses that check and
 * nothing else.  Points come from grade/points; executables in
 * grade/hidden/ are run after and reported as hidden.  Prints one line a
 * check and "Score: N/M"; exits 1 below full marks.
 *
 * Environment: LAB (labs to grade, e.g. "lab3"; default all), LAB_BIN
 * (where lab1..lab4 are), RESULTS (write a Gradescope results.json there),
 * GRADE_DIR (where points and hidden/ are, default grade),
 * WORKERLAB_SLOW (stretch every bound), and Check's own CK_XML_LOG_FILE_NAME
 * and CK_TAP_LOG_FILE_NAME.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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
	snprintf(v->why, sizeof v->why, "no program %s: did `make %s` fail?", path, m->bin);
}

static const struct check {
	const char *key;	/* its name in grade/points */
	void (*run)(const struct lab_model *, struct verdict *);
} checks[] = {
	{ "builds", check_builds },
	{ "answers-json", check_answers_json },
	{ "one-request", check_one_request },
	{ "four-at-once", check_four_at_once },
	{ "overlap-stuck", check_overlap_while_stuck },
	{ "clean-shutdown", check_clean_shutdown },
};
enum { NCHECKS = sizeof checks / sizeof checks[0], MAXRUNS = 4 * NCHECKS };

/* What a check is called in the report, given what the lab should do. */
static const char *describe(const struct check *c, const struct lab_model *m)
{
	const char *k = c->key;
	if (!strcmp(k, "builds")) return "builds";
	if (!strcmp(k, "answers-json")) return "answers /hello with the note's JSON";
	if (!strcmp(k, "one-request"))
		return m->evented && m->fibers ? "one request takes M" : "one request takes S";
	if (!strcmp(k, "four-at-once"))
		return !m->evented ? "four requests are served one after another"
		       : m->fibers ? "four requests overlap, each taking M"
				   : "four requests overlap, each taking S";
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
	FILE *f = fopen(seconds_file, "a");	/* the measured figure, for the parent */
	if (f) {
		fprintf(f, "%d %.3f\n", _i, v.seconds);
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
	double secs;
	while (f && fscanf(f, "%d %lf", &i, &secs) == 2)
		if (i >= 0 && i < nruns)
			runs[i].seconds = secs;
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
	for (int l = 0; l < 4; l++)
		if (wanted(&lab_models[l]))
			snprintf(labs + strlen(labs), sizeof labs - strlen(labs), "%s%s",
				 labs[0] ? " " : "", lab_models[l].bin);
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

int main(void)
{
	double start = now();
	int score = 0, max = 0;
	struct hidden hs[32];

	for (int l = 0; l < 4; l++)
		for (int c = 0; c < NCHECKS && wanted(&lab_models[l]); c++)
			runs[nruns++] = (struct run){ .lab = &lab_models[l], .check = &checks[c],
						      .points = points_of(checks[c].key) };
	if (nruns == 0) {
		fprintf(stderr, "grade: LAB=%s names no lab (lab1..lab4)\n", getenv("LAB"));
		return 2;
	}
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
