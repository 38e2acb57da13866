/*
 * model: what each lab must do, and the checks that measure it.
 *
 * With upstream delays d1..d10, S = their sum and M = their maximum:
 *   lab 1, lab 2 (sync worker):          one request S; four at once end
 *                                        near S, 2S, 3S, 4S
 *   lab 3 (evented, sync_download):      one request S; four at once all S
 *   lab 4 (evented, async_download):     one request M; four at once all M
 * The labs run a scaled profile (delay scale 0.3).  Every bound is a ratio
 * to S or M: lower bounds are physics (sequential waits cannot beat their
 * sum), upper bounds leave a factor of two or more, times the slowness
 * factor in $WORKERLAB_SLOW (default 1) for a slow grading machine -- but
 * a bound that tells overlap from one-after-another never stretches past
 * what the one-after-another version must take, so no factor lets a
 * wrong lab pass.  Each
 * time is the client's, from before it connects (tests/testlib.h), so it
 * holds the lab's whole work on the request and a lower bound is sound.
 *
 * Each check fills a verdict: whether the lab passed, the figure measured,
 * and in words what was expected, what was measured and what that usually
 * means.  test_labs asserts them; the grader scores them.
 */
#ifndef MODEL_H
#define MODEL_H

#include <stdbool.h>

struct tl_proc;		/* testlib.h */

struct lab_model {
	const char *bin;	/* lab1 */
	const char *name;	/* lab1-sync */
	bool evented;		/* serve_evented, else serve_sync */
	bool fibers;		/* async_download, else sync_download */
};

extern const struct lab_model lab_models[4];

struct verdict {
	bool ok;
	double seconds;		/* the figure that decided it */
	double bound;		/* the most that figure could be and pass, in
				   seconds (already times the slowness); 0 when
				   the check sets it no upper bound */
	double base;		/* that bound at WORKERLAB_SLOW=1, uncapped */
	double limit;		/* the most any slowness can make it; 0: none */
	char why[600];		/* on failure: expected, measured, likely cause */
};

/* How much slower than usual the machine may be: $WORKERLAB_SLOW, at
 * least 1.  Every upper bound and timeout above is multiplied by it. */
double model_slowness(void);

/* Fill v: passed or not, the figure, its bound, and why (printf-style). */
void verdict(struct verdict *v, bool ok, double seconds, double bound,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The bound a check holds its figure to: base (seconds at WORKERLAB_SLOW=1)
 * times the slowness, but below 0.9 of `wrong`, the least the mistaken lab
 * can take (0: none); notes both in v, for make grade-calibrate. */
double bound_of(struct verdict *v, double base, double wrong);

/* How long a check whose figure is held to `bound` waits for its answers
 * (at least 5 s, times the slowness): long past the bound, so that only a
 * lab that fails anyway is cut off, and short, so that one that hangs is
 * graded in seconds, not minutes. */
double model_patience(double bound);

/* After a check of m failed: ask the lab once more, quickly, how long its
 * /hello says the downloads took.  Less than the longest URL alone means
 * it downloaded nothing, whatever the failure looked like; v->why then
 * says so first, and what the check saw after. */
void model_name_the_cause(const struct lab_model *m, struct verdict *v);

/* Connect to port and send a GET for path; the socket, for reading later
 * (-1 if the request could not be sent). */
int model_send_get(int port, const char *path);

/* SIGTERM to p with a GET for path in flight: sent, and accepted (p holds
 * one more fd) before the signal.  Waits up to `seconds` for p to end;
 * whether it did, its status and the time it took, as tl_terminate says. */
bool model_stop_in_flight(struct tl_proc *p, const char *path, double seconds,
			  int *status, double *took);

/* The check functions; each starts the lab from $LAB_BIN and stops it. */
void check_answers_json(const struct lab_model *m, struct verdict *v);
void check_one_request(const struct lab_model *m, struct verdict *v);
void check_four_at_once(const struct lab_model *m, struct verdict *v);
void check_overlap_while_stuck(const struct lab_model *m, struct verdict *v);
void check_clean_shutdown(const struct lab_model *m, struct verdict *v);

/* gunicorn's other knobs (arbiter.h, server.h), on the same model: -w 4
 * and --threads 4 serve four at once, each in one request's time (S, or M
 * in lab 4); --worker-connections 1 serves them one after another; with
 * -w 1 --timeout 1 and a silent upstream, a sync worker is killed, logged
 * and replaced, an evented one lives on and answers. */
void check_four_workers(const struct lab_model *m, struct verdict *v);
void check_four_threads(const struct lab_model *m, struct verdict *v);
void check_one_connection(const struct lab_model *m, struct verdict *v);
void check_worker_timeout(const struct lab_model *m, struct verdict *v);

#endif
