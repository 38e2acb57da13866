/*
 * testlib.c: start, talk to, and reap the programs under test.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

static pid_t started[64];
static int nstarted;

/* atexit: whatever a test left running is killed and reaped. */
static void reap_all(void)
{
	for (int i = 0; i < nstarted; i++) {
		if (started[i] > 0) {
			kill(started[i], SIGKILL);
			waitpid(started[i], NULL, 0);
		}
	}
	nstarted = 0;
}

static void forget(pid_t pid)
{
	for (int i = 0; i < nstarted; i++)
		if (started[i] == pid)
			started[i] = 0;
}

const char *tl_bin_dir(void)
{
	const char *dir = getenv("LAB_BIN");
	return dir && *dir ? dir : ".";
}

/* Start $LAB_BIN/prog with args, under the wrapper command wrap (NULL, or
 * e.g. valgrind and its options) -- stdout and stderr on pipes. */
static pid_t spawn_wrapped(const char *const wrap[], const char *prog,
			   const char *const args[], int *out, int *err)
{
	static bool registered;
	const char *dir = tl_bin_dir();
	char path[512];
	const char *argv[32];
	int o[2], e[2];
	int n = 0;

	if (!registered) {
		atexit(reap_all);
		signal(SIGPIPE, SIG_IGN);
		registered = true;
	}
	snprintf(path, sizeof path, "%s/%s", dir, prog);
	for (int i = 0; wrap && wrap[i] && n < 16; i++)
		argv[n++] = wrap[i];
	argv[n++] = path;
	for (int i = 0; args && args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(o, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(e, O_CLOEXEC), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(o[1], 1);
		dup2(e[1], 2);
		execvp(argv[0], (char **)argv);
		fprintf(stderr, "cannot run %s: %m\n", argv[0]);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	*out = o[0];
	*err = e[0];
	if (nstarted < 64)
		started[nstarted++] = pid;
	return pid;
}

static pid_t spawn(const char *prog, const char *const args[], int *out, int *err)
{
	return spawn_wrapped(NULL, prog, args, out, err);
}

/* The port in the first "http://HOST:PORT/" of line, or -1. */
static int port_in(const char *line)
{
	const char *p = strstr(line, "http://");
	if (!p)
		return -1;
	const char *slash = strchr(p + 7, '/');
	if (!slash)
		return -1;
	const char *colon = slash;
	while (colon > p + 7 && colon[-1] != ':')
		colon--;
	return colon > p + 7 ? atoi(colon) : -1;
}

/* Append what fd has to buf, waiting until `want` is in it or time is up. */
static bool read_until(int fd, const char *want, double seconds, char *buf, size_t len)
{
	size_t used = strlen(buf);
	double end = now() + seconds;
	while (!strstr(buf, want)) {
		double left = end - now();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			return false;
		ssize_t n = read(fd, buf + used, len - used - 1);
		if (n <= 0)
			return false;
		used += (size_t)n;
		buf[used] = '\0';
		if (used + 1 >= len)
			return strstr(buf, want) != NULL;
	}
	return true;
}

void tl_start_wrapped(struct tl_proc *p, const char *const wrap[],
		      const char *prog, const char *const args[])
{
	double wait = wrap ? 60 : 10;	/* valgrind takes a while to start */
	memset(p, 0, sizeof *p);
	p->pid = spawn_wrapped(wrap, prog, args, &p->out, &p->err);
	bool ok = read_until(p->out, "\n", wait, p->banner, sizeof p->banner);
	ck_assert_msg(ok, "%s printed no banner line within %.0f s", prog, wait);
	p->port = port_in(p->banner);
	ck_assert_msg(p->port > 0, "no http://HOST:PORT/ in the banner: %s", p->banner);
}

void tl_start(struct tl_proc *p, const char *prog, const char *const args[])
{
	tl_start_wrapped(p, NULL, prog, args);
}

void tl_read_err(struct tl_proc *p, char *buf, size_t len)
{
	buf[0] = '\0';
	read_until(p->err, "\n\n\n\n", 1, buf, len);	/* all of it, until EOF */
}

/* The text of a /proc file, NUL-terminated, and its length (0: none). */
static size_t read_proc(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	return n;
}

/* The state letter in a /proc stat file (R, S, D, Z ...), or 0 when the
 * process or thread is not there.  It follows the name, in parentheses,
 * which may itself hold a ')'. */
static char proc_state(const char *stat_path)
{
	char stat[512];
	read_proc(stat_path, stat, sizeof stat);
	const char *paren = strrchr(stat, ')');
	return paren && paren[1] ? paren[2] : 0;
}

/* Is pid gone: no such process, or a zombie nobody has reaped yet? */
bool tl_gone(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	char state = proc_state(path);
	return state == 0 || state == 'Z' || state == 'X';
}

/* The threads of pid (their ids, from /proc/PID/task), at most max. */
enum { MAX_THREADS = 256 };
static int threads_of(pid_t pid, int *tids, int max)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	int n = 0;
	for (struct dirent *e; d && n < max && (e = readdir(d)); )
		if (e->d_name[0] != '.')
			tids[n++] = atoi(e->d_name);
	if (d)
		closedir(d);
	return n;
}

int tl_children(pid_t pid, pid_t *out, int n, int max)
{
	int tids[MAX_THREADS];
	int threads = threads_of(pid, tids, MAX_THREADS);
	for (int i = 0; i < threads; i++) {
		char file[64];
		snprintf(file, sizeof file, "/proc/%d/task/%d/children", (int)pid, tids[i]);
		FILE *f = fopen(file, "r");
		int child;
		while (f && n < max && fscanf(f, "%d", &child) == 1)
			out[n++] = child;
		if (f)
			fclose(f);
	}
	return n;
}

/* Wait up to `seconds` for pid to end; reap it when it is our child. */
static bool wait_exit(pid_t pid, double seconds, int *status)
{
	double end = now() + seconds;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			forget(pid);
			return true;
		}
		if (r < 0 && errno == ECHILD && tl_gone(pid))
			return true;
		if (now() > end)
			return false;
		usleep(10000);
	}
}

bool tl_wait_gone(pid_t pid, double seconds)
{
	int status;
	return wait_exit(pid, seconds, &status);
}

int tl_run(const char *prog, const char *const args[], char *err, size_t errlen)
{
	return tl_run_within(prog, args, 5, err, errlen);
}

int tl_run_within(const char *prog, const char *const args[], double seconds,
		  char *err, size_t errlen)
{
	int out, efd, status = 0;
	pid_t pid = spawn(prog, args, &out, &efd);
	err[0] = '\0';
	read_until(efd, "\n\n\n", seconds, err, errlen);	/* all of it, until EOF */
	ck_assert_msg(wait_exit(pid, seconds, &status), "%s did not exit within %.0f s",
		      prog, seconds);
	close(out);
	close(efd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

bool tl_terminate(struct tl_proc *p, double seconds, int *status, double *took)
{
	return tl_signal(p, SIGTERM, seconds, status, took);
}

/* The hex mask after `field` in /proc/PID/status (e.g. "SigCgt:"): does
 * it hold sig?  False when the file or the field is not there. */
static bool status_mask_has(pid_t pid, const char *field, int sig)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	bool has = false;
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, field, strlen(field)) == 0) {
			unsigned long long mask = strtoull(line + strlen(field), NULL, 16);
			has = (mask >> (sig - 1)) & 1;
			break;
		}
	}
	if (f)
		fclose(f);
	return has;
}

bool tl_ready_for(pid_t pid, int sig)
{
	if (sig == 0 || sig == SIGKILL || sig == SIGSTOP)
		return true;	/* nothing in the target decides what these do */
	return status_mask_has(pid, "SigCgt:", sig) || status_mask_has(pid, "SigBlk:", sig);
}

bool tl_wait_ready(pid_t pid, int sig, double seconds)
{
	double end = now() + seconds;
	while (!tl_ready_for(pid, sig)) {
		if (now() > end || tl_gone(pid))
			return false;
		usleep(2000);
	}
	return true;
}

/* tl_kill, but false (sending nothing) when pid ended first. */
static bool kill_when_ready(pid_t pid, int sig)
{
	bool ready = tl_wait_ready(pid, sig, 10);
	if (!ready && tl_gone(pid))
		return false;
	ck_assert_msg(ready, "pid %d neither caught nor blocked signal %d within 10 s: "
		      "sending it would be a race", (int)pid, sig);
	ck_assert_msg(kill(pid, sig) == 0, "kill(%d, %d): %s", (int)pid, sig, strerror(errno));
	return true;
}

void tl_kill(pid_t pid, int sig)
{
	ck_assert_msg(kill_when_ready(pid, sig), "pid %d ended before it was sent signal %d",
		      (int)pid, sig);
}

bool tl_wait_taken(pid_t pid, int sig, double seconds)
{
	double end = now() + seconds;
	while (status_mask_has(pid, "ShdPnd:", sig) || status_mask_has(pid, "SigPnd:", sig)) {
		if (now() > end)
			return false;
		usleep(2000);
	}
	return true;
}

/* Is this /proc/PID/status line one a stuck process is described by:
 * its state and its signal masks? */
static bool is_described_field(const char *line)
{
	static const char *const fields[] = {
		"State:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:",
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (strncmp(line, fields[i], strlen(fields[i])) == 0)
			return true;
	return false;
}

/* One line per thread of pid: its state and what it waits in (wchan). */
static void describe_threads(pid_t pid, int indent)
{
	int tids[MAX_THREADS];
	int threads = threads_of(pid, tids, MAX_THREADS);
	for (int i = 0; i < threads; i++) {
		char file[64], wchan[64];
		snprintf(file, sizeof file, "/proc/%d/task/%d/stat", (int)pid, tids[i]);
		char state = proc_state(file);
		snprintf(file, sizeof file, "/proc/%d/task/%d/wchan", (int)pid, tids[i]);
		read_proc(file, wchan, sizeof wchan);
		fprintf(stderr, "%*sthread %d: state %c, in %s\n", indent, "", tids[i],
			state ? state : '?', wchan[0] ? wchan : "-");
	}
}

/* What a process that did not end in time was doing, and every process
 * below it: its name, its signal masks, each thread's wait.  Printed on
 * stderr before it is killed, so that the failure says why. */
static void describe_stuck(pid_t pid, int depth)
{
	char path[64], buf[4096];
	int indent = 2 * depth;
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	size_t n = read_proc(path, buf, sizeof buf);
	for (size_t i = 0; i + 1 < n; i++)
		buf[i] = buf[i] ? buf[i] : ' ';
	fprintf(stderr, "%*spid %d: %s\n", indent, "", (int)pid, buf);
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	read_proc(path, buf, sizeof buf);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (is_described_field(line))
			fprintf(stderr, "%*s  %s\n", indent, "", line);
	describe_threads(pid, indent + 2);
	pid_t kids[16];
	int nkids = tl_children(pid, kids, 0, 16);
	for (int i = 0; i < nkids && depth < 4; i++)
		describe_stuck(kids[i], depth + 1);
}

bool tl_signal(struct tl_proc *p, int sig, double seconds, int *status, double *took)
{
	double start = now();
	*status = 0;
	if (sig != 0)		/* one that ended first is reaped below */
		kill_when_ready(p->pid, sig);
	bool ok = wait_exit(p->pid, seconds, status);
	*took = now() - start;
	if (!ok) {
		fprintf(stderr, "pid %d still there %.1f s after %s%s; what it and those "
			"below it were doing:\n", (int)p->pid, *took, sig ? "SIG" : "the wait began",
			sig ? sigabbrev_np(sig) : "");
		describe_stuck(p->pid, 1);
		kill(p->pid, SIGKILL);
		wait_exit(p->pid, 5, status);
	}
	return ok;
}

double tl_stop(struct tl_proc *p)
{
	int status;
	double took;
	bool ok = tl_terminate(p, 5, &status, &took);
	char err[2048] = "";
	read_until(p->err, "\n==", 0.01, err, sizeof err);	/* a sanitizer's report */
	close(p->out);
	close(p->err);
	ck_assert_msg(ok, "pid %d did not exit within 5 s of SIGTERM", (int)p->pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "pid %d ended with status 0x%x after SIGTERM; stderr: %s",
		      (int)p->pid, status, err);
	return took;
}

int tl_fd_count(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d)); )
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

bool tl_wait_fds(pid_t pid, int n, double seconds)
{
	double end = now() + seconds;
	while (tl_fd_count(pid) < n)
		if (now() > end)
			return false;
		else
			usleep(1000);
	return true;
}

pid_t tl_child_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "r");
	int child = -1;
	if (f) {
		if (fscanf(f, "%d", &child) != 1)
			child = -1;
		fclose(f);
	}
	return child;
}

bool tl_read_until(struct tl_proc *p, const char *want, double seconds,
		   char *buf, size_t len)
{
	buf[0] = '\0';
	return read_until(p->out, want, seconds, buf, len);
}

bool tl_err_until(struct tl_proc *p, const char *want, double seconds,
		  char *buf, size_t len)
{
	buf[0] = '\0';
	return read_until(p->err, want, seconds, buf, len);
}

int tl_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof a) == 0,
		      "cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
	return fd;
}

/* Split what arrived into status, head and body. */
static void parse_reply(const char *buf, size_t len, struct tl_reply *r)
{
	const char *end = strstr(buf, "\r\n\r\n");
	r->status = 0;
	if (strncmp(buf, "HTTP/1.", 7) == 0 && len > 12)
		r->status = atoi(buf + 9);
	if (!end)
		return;
	size_t hl = (size_t)(end - buf);
	if (hl >= sizeof r->head)
		hl = sizeof r->head - 1;
	memcpy(r->head, buf, hl);
	r->head[hl] = '\0';
	snprintf(r->body, sizeof r->body, "%s", end + 4);
}

void tl_raw(int port, const char *bytes, size_t len, double timeout,
	    struct tl_reply *r)
{
	double since = now();
	int fd = tl_connect(port);
	if (len)
		ck_assert_int_eq(send(fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
	tl_read_reply(fd, since, timeout, r);
	close(fd);
}

const char *tl_outcome(const struct tl_reply *r, char *buf, size_t len)
{
	if (r->status)
		snprintf(buf, len, "answered %d", r->status);
	else if (r->closed)
		snprintf(buf, len, "closed the connection with no answer");
	else
		snprintf(buf, len, "gave no answer in %.1fs", r->seconds);
	return buf;
}

bool tl_fits_inside(double server_seconds, const struct tl_reply *r)
{
	return server_seconds >= 0 && server_seconds <= r->seconds + 0.5e-6;
}

void tl_get_within(int port, const char *path, double patience, struct tl_reply *r)
{
	char req[1024];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Connection: close\r\n\r\n", path);
	tl_raw(port, req, (size_t)n, patience, r);
}

void tl_get(int port, const char *path, struct tl_reply *r)
{
	tl_get_within(port, path, 30, r);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int tl_get_many(int port, const char *path, int n, double *ends)
{
	return tl_get_many_within(port, path, n, 60, ends);
}

int tl_get_many_within(int port, const char *path, int n, double patience, double *ends)
{
	struct pollfd pfd[64];
	char buf[64][256];
	char req[512];
	int ok = 0, open = n;
	int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			   "Connection: close\r\n\r\n", path);

	ck_assert_int_le(n, 64);
	double start = now();	/* before the connects: see struct tl_reply */
	for (int i = 0; i < n; i++) {
		pfd[i] = (struct pollfd){ .fd = tl_connect(port), .events = POLLIN };
		buf[i][0] = '\0';
	}
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(send(pfd[i].fd, req, len, MSG_NOSIGNAL), len);
	while (open > 0 && now() - start < patience) {
		ck_assert_int_ge(poll(pfd, n, 100), 0);
		for (int i = 0; i < n; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			size_t used = strlen(buf[i]);
			ssize_t got = read(pfd[i].fd, buf[i] + used, sizeof buf[i] - 1 - used);
			if (got > 0 && used + (size_t)got < sizeof buf[i] - 1) {
				buf[i][used + (size_t)got] = '\0';
				continue;
			}
			ends[i] = now() - start;	/* closed (or more than we keep) */
			ok += strncmp(buf[i], "HTTP/1.1 200", 12) == 0;
			close(pfd[i].fd);
			pfd[i].fd = -1;
			open--;
		}
	}
	ck_assert_msg(open == 0, "%d of %d requests got no answer within %.1f s", open, n,
		      patience);
	qsort(ends, (size_t)n, sizeof *ends, by_value);
	return ok;
}

bool tl_header(const struct tl_reply *r, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	for (const char *line = strstr(r->head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
		const char *h = line + 2;
		if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
			const char *v = h + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = strcspn(v, "\r\n");
			snprintf(out, len, "%.*s", (int)vl, v);
			return true;
		}
	}
	return false;
}

/* --- added for test_hostile and test_faults --- */
#include <sys/resource.h>

void tl_start_with_fd_limit(struct tl_proc *p, const char *prog,
			    const char *const args[], int nofile)
{
	struct rlimit old, low;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)nofile;
	ck_assert_msg(setrlimit(RLIMIT_NOFILE, &low) == 0,
		      "cannot lower RLIMIT_NOFILE to %d: %s", nofile, strerror(errno));
	tl_start(p, prog, args);	/* the child inherits the limit */
	setrlimit(RLIMIT_NOFILE, &old);
}

void tl_read_reply(int fd, double since, double timeout, struct tl_reply *r)
{
	static char buf[65536];
	size_t used = 0;
	memset(r, 0, sizeof *r);
	double end = now() + timeout;
	while (used < sizeof buf - 1) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = end - now();
		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			break;
		ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			r->closed = true;
			break;
		}
		used += (size_t)n;
	}
	buf[used] = '\0';
	r->seconds = now() - since;
	parse_reply(buf, used, r);
}

bool tl_leave_room(size_t room)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)room;
	return false;
#else
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long kb = 0;
	while (f && fgets(line, sizeof line, f) && sscanf(line, "VmSize: %lu kB", &kb) != 1)
		;
	if (f)
		fclose(f);
	ck_assert_msg(kb > 0, "no VmSize in /proc/self/status");
	struct rlimit lim;
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &lim), 0);
	lim.rlim_cur = kb * 1024 + room;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
	return true;
#endif
}

int tl_timeline_rows(char *log)
{
	int rows = 0;
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
		ck_assert_msg(strlen(line) <= 80, "a line is %zu columns: %s", strlen(line), line);
		rows += strchr(line, '|') && strchr(line, '#');
	}
	return rows;
}

int tl_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
