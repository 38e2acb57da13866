/*
 * testlib: what the Check suites share.
 *
 * Programs under test are started with a pipe on stdout; tl_start() reads
 * their first line (the banner) and takes the port from the URL in it, so
 * every server runs on an ephemeral loopback port.  Every process started
 * here is killed and reaped when the test process exits, however it exits,
 * and dies by itself (PR_SET_PDEATHSIG) if the test process is killed.
 */
#ifndef TESTLIB_H
#define TESTLIB_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tl_proc {
	pid_t pid;
	int port;
	int out;		/* read end of its stdout */
	int err;		/* read end of its stderr */
	char banner[512];
};

/* Where the programs under test are: $LAB_BIN, or ".". */
const char *tl_bin_dir(void);

/* Start $LAB_BIN/prog (LAB_BIN defaults to ".") with the given arguments
 * (NULL-terminated); wait for its banner.  Fails the test if none comes. */
void tl_start(struct tl_proc *p, const char *prog, const char *const args[]);

/* The same, run under a wrapper command (e.g. valgrind and its options). */
void tl_start_wrapped(struct tl_proc *p, const char *const wrap[],
		      const char *prog, const char *const args[]);

/* What the process wrote on stderr, up to its end (or 1 s). */
void tl_read_err(struct tl_proc *p, char *buf, size_t len);

/* Run $LAB_BIN/prog to completion; its exit status, stderr in err. */
int tl_run(const char *prog, const char *const args[], char *err, size_t errlen);

/* The same, giving it `seconds` (a lab that starts a database first). */
int tl_run_within(const char *prog, const char *const args[], double seconds,
		  char *err, size_t errlen);

/*
 * Signals are sent only to a process that is ready for them.  Until a
 * process has a handler for a signal (SigCgt in /proc/PID/status), or
 * holds it blocked to read it from a signalfd (SigBlk), the signal's
 * default action runs, and for the stop signals
 * that is death: a test that signalled a process too early would see a
 * kill where it looks for a clean stop, depending on who won the race.
 * A fixed sleep proves nothing on a busy machine; this does.  (Blocked
 * counts as ready because the kit never unblocks a stop signal it has no
 * handler for; sigtimedwait() would not do, as it unblocks the signals it
 * waits for while it waits.)  Every signal the suites send goes through tl_kill().
 */

/* Is pid ready for sig (always, for 0, SIGKILL and SIGSTOP)? */
bool tl_ready_for(pid_t pid, int sig);

/* Wait up to `seconds` until it is; false if it never was, or is gone. */
bool tl_wait_ready(pid_t pid, int sig, double seconds);

/* kill(pid, sig) once pid is ready for it; fails the test if it is not
 * within 10 s, if it ended first, or if kill() fails.  (tl_signal sends
 * the same way, but reaps one that ended first and reports its status.) */
void tl_kill(pid_t pid, int sig);

/* Wait up to `seconds` until a signal sent to pid is no longer pending
 * (ShdPnd and SigPnd): its handler has begun, or a signalfd has read it.
 * Proof that the process knows it is stopping, where a test needs that
 * before its next step.  Whether it did. */
bool tl_wait_taken(pid_t pid, int sig, double seconds);

/* SIGTERM, then SIGKILL after 5 s; reaps it.  Fails the test unless it
 * exited by itself with status 0; returns the seconds that took.  The 5 s
 * only guard against a hang (a lab's grace period is 0.5 s): a test that
 * cares how long the stop took checks the returned time itself. */
double tl_stop(struct tl_proc *p);

/* SIGTERM; wait up to `seconds` for it to exit (SIGKILL after that).
 * Reaps it; true when it exited by itself.  Does not close its pipes. */
bool tl_terminate(struct tl_proc *p, double seconds, int *status, double *took);

/* The same with another signal (sent by tl_kill; 0 sends none, and only
 * waits). */
bool tl_signal(struct tl_proc *p, int sig, double seconds, int *status, double *took);

/* A connected TCP socket to 127.0.0.1:port (fails the test otherwise). */
int tl_connect(int port);

/* Wait up to `seconds` for pid to exit; reap it if it is our child.
 * Returns true when it is gone (a zombie of someone else counts as gone). */
bool tl_wait_gone(pid_t pid, double seconds);

/* Is pid gone: no such process, or a zombie nobody has reaped yet? */
bool tl_gone(pid_t pid);

/* The children of pid, of each of its threads (a child belongs to the
 * thread that forked it), appended to out[n..max); the new n. */
int tl_children(pid_t pid, pid_t *out, int n, int max);

/* How many fds pid has open (from /proc), or -1. */
int tl_fd_count(pid_t pid);

/* Wait up to `seconds` until pid has at least n fds open; whether it did.
 * Proof, read from outside, that a server got as far as a test needs
 * before it is signalled: one fd more than before a connect means it has
 * accepted the connection; more still, that it has opened its upstream
 * sockets.  (A fixed sleep proves nothing on a busy machine.) */
bool tl_wait_fds(pid_t pid, int n, double seconds);

/* The first child process of pid, or -1. */
pid_t tl_child_of(pid_t pid);

/* Read what the process wrote on stdout so far (waiting up to `seconds`
 * for `want` to appear); returns whether it appeared. */
bool tl_read_until(struct tl_proc *p, const char *want, double seconds,
		   char *buf, size_t len);

/* The same for what it wrote on stderr so far. */
bool tl_err_until(struct tl_proc *p, const char *want, double seconds,
		  char *buf, size_t len);

/*
 * A response: status, headers and body as received.
 *
 * Its clock starts before the client connects and stops when the answer has
 * ended, so it contains the whole of the server's own work on the request:
 * a time the server reports (the "data" of /hello) can never exceed it.
 * Started after the send instead, it could: on loopback the server that the
 * send wakes may run, and start its clock, before the client returns from
 * send() to read its own.
 */
struct tl_reply {
	int status;		/* 0: no HTTP answer */
	char head[2048];
	char body[8192];
	bool closed;		/* the server closed the connection */
	double seconds;		/* from before the connect to the end of the answer */
};

/* How the request ended, for a message: "answered 404", "closed the
 * connection with no answer" or "gave no answer in 5.0s"; in buf. */
const char *tl_outcome(const struct tl_reply *r, char *buf, size_t len);

/* Does a time the server measured for this request (the "data" of /hello,
 * printed with six decimals) fit inside the client's r->seconds, as it must
 * when both are right? */
bool tl_fits_inside(double server_seconds, const struct tl_reply *r);

/* Send raw bytes on a new connection and read until the server closes it
 * or `timeout` passes. */
void tl_raw(int port, const char *bytes, size_t len, double timeout,
	    struct tl_reply *r);

/* GET path with "Connection: close", waiting at most 30 s for the answer;
 * tl_get_within waits at most `patience` seconds. */
void tl_get(int port, const char *path, struct tl_reply *r);
void tl_get_within(int port, const char *path, double patience, struct tl_reply *r);

/* Send n GETs at once on n connections; ends[i] is when the i-th finished
 * (seconds since before the first connect), sorted ascending.  Returns how
 * many answered 200.  Fails the test when some are still unanswered after
 * 60 s, or after `patience` seconds for tl_get_many_within. */
int tl_get_many(int port, const char *path, int n, double *ends);
int tl_get_many_within(int port, const char *path, int n, double patience, double *ends);

/* The value of header name in r->head, copied to out, or false. */
bool tl_header(const struct tl_reply *r, const char *name, char *out, size_t len);

/* tl_start with RLIMIT_NOFILE lowered to `nofile` for the program (and
 * whatever it starts).  The limit is lowered in the test process around
 * the fork, so the child has it before exec, then restored. */
void tl_start_with_fd_limit(struct tl_proc *p, const char *prog,
			    const char *const args[], int nofile);

/* Read an answer on a connected socket until the server closes it or
 * `timeout` passes (counted from this call); fills r as tl_raw does, with
 * r->seconds counted from `since`: the caller's now() from before it
 * connected.  Does not close fd. */
void tl_read_reply(int fd, double since, double timeout, struct tl_reply *r);

/* Lower this process's address-space limit to what it uses now plus
 * `room` bytes, so that the next large allocations fail as on a machine out
 * of memory.  Only for a test's own (forked) process.  False, changing
 * nothing, under AddressSanitizer, whose shadow memory needs the space. */
bool tl_leave_room(size_t room);

/* The rows of a lab's timeline in log (lines with a bar: '|' and '#'),
 * failing the test on any line wider than 80 columns.  Changes log. */
int tl_timeline_rows(char *log);

/* Run a suite the usual way; main()'s exit status. */
int tl_run_suite(Suite *s);

#endif
