/*
 * pgcluster.c: initdb, postgres and the keeper that cleans up after them.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pgcluster.h"
#include "proc.h"
#include "util.h"

static const double start_timeout = 30;	/* initdb and startup, seconds */

static char dir[64];
static char bindir[256];
static pid_t keeper;
static pid_t server;
static uid_t run_uid;
static gid_t run_gid;

const char *pgcluster_dir(void)
{
	return dir;
}

pid_t pgcluster_server_pid(void)
{
	return server;
}

/* The newest /usr/lib/postgresql/<version>/bin with a postgres in it. */
static int find_bindir(char *err, size_t errlen)
{
	const char *env = getenv("PG_BIN");
	if (env && *env) {
		char prog[300];
		snprintf(bindir, sizeof bindir, "%s", env);
		snprintf(prog, sizeof prog, "%s/postgres", bindir);
		if (access(prog, X_OK) != 0) {
			snprintf(err, errlen, "PG_BIN=%s: no postgres there to run", env);
			return -1;
		}
		return 0;
	}
	glob_t g;
	int best = -1, bestver = -1;
	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) == 0)
		for (size_t i = 0; i < g.gl_pathc; i++) {
			int v = atoi(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"));
			if (v > bestver) {
				bestver = v;
				best = (int)i;
			}
		}
	if (best < 0) {
		snprintf(err, errlen, "no PostgreSQL server in /usr/lib/postgresql/*/bin "
			 "(install the postgresql package: make deps), or set PG_BIN");
		globfree(&g);
		return -1;
	}
	snprintf(bindir, sizeof bindir, "%.*s", (int)(strlen(g.gl_pathv[best]) - 9),
		 g.gl_pathv[best]);
	globfree(&g);
	return 0;
}

/* Whom the server runs as: ourselves, or "postgres" when we are root. */
static int pick_user(char *err, size_t errlen)
{
	run_uid = getuid();
	run_gid = getgid();
	if (geteuid() != 0)
		return 0;
	struct passwd *pw = getpwnam("postgres");
	if (!pw) {
		snprintf(err, errlen, "running as root, and there is no user \"postgres\" "
			 "to run the server as (install the postgresql package)");
		return -1;
	}
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	return 0;
}

/* In a child about to exec a server program: become the server's user,
 * die with the keeper (after setuid, which clears the death signal), send
 * output to a log in the directory, and start from there. */
static void become_server(const char *log, int deathsig, pid_t parent)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(run_gid) != 0 ||
				setuid(run_uid) != 0))
		_exit(126);
	if (!proc_tie_to_parent(deathsig, parent))	/* after setuid, which unties */
		_exit(126);
	int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (chdir(dir) != 0)
		_exit(126);
}

/* Remove the directory and all in it (the keeper runs as root, or as
 * the server's user: either may). */
static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(path);
	return 0;
}

static void remove_dir(void)
{
	nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int stop_signal;		/* in the keeper: SIGTERM or SIGINT came */

/* In the keeper: wait up to `seconds` for the lab's SIGTERM (from
 * pgcluster_stop or PR_SET_PDEATHSIG) or a child's end.  These signals
 * are blocked in the keeper and taken here, so none is lost. */
static void keeper_wait(double seconds)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	struct timespec ts = timespec_of(seconds);
	int sig = sigtimedwait(&set, NULL, &ts);
	if (sig == SIGTERM || sig == SIGINT)
		stop_signal = sig;
}

/* Has the child ended?  Reaps it; its status in *status. */
static bool ended(pid_t pid, int *status)
{
	return waitpid(pid, status, WNOHANG) == pid;
}

static _Noreturn void keeper_exit(pid_t pg, int code)
{
	if (pg > 0) {
		kill(pg, SIGQUIT);	/* immediate shutdown: backends too */
		while (waitpid(pg, NULL, 0) < 0 && errno == EINTR)
			;
	}
	remove_dir();
	_exit(code);
}

/* Tell the lab how the start went, in one line, and stop listening. */
static void report(int *ready, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int *ready, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 1)
		n = sizeof line - 1;
	ssize_t w = write(*ready, line, (size_t)n);	/* fails only when the lab is gone */
	(void)w;
	close(*ready);
	*ready = -1;
}

/* The last line a server program logged, for the lab's message: the
 * directory with the log is about to go. */
static void last_line(const char *path, char *buf, size_t len)
{
	char line[512];
	snprintf(buf, len, "no message (exit status only)");
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (line[0] != '\n') {
			line[strcspn(line, "\n")] = '\0';
			snprintf(buf, len, "%.200s", line);
		}
	if (f)
		fclose(f);
}

/* Run initdb to its end: 0, or -1 (reported). */
static int run_initdb(int *ready, pid_t self)
{
	char prog[300], data[100], log[100];
	snprintf(prog, sizeof prog, "%s/initdb", bindir);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(log, sizeof log, "%s/initdb.log", dir);
	pid_t pid = fork();
	if (pid == 0) {
		become_server(log, SIGKILL, self);
		execl(prog, "initdb", "-D", data, "-U", "postgres", "--auth=trust",
		      "--no-sync", "-E", "UTF8", "--locale=C", (char *)NULL);
		_exit(127);
	}
	int status = 0;
	double give_up = now() + start_timeout;
	while (pid > 0 && !ended(pid, &status)) {
		if (stop_signal || now() > give_up) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			keeper_exit(0, 1);
		}
		keeper_wait(0.05);
	}
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char last[300];
		last_line(log, last, sizeof last);
		report(ready, "initdb failed: %s", last);
		return -1;
	}
	return 0;
}

static pid_t start_postgres(pid_t self)
{
	char prog[300], data[100], log[100];
	snprintf(prog, sizeof prog, "%s/postgres", bindir);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(log, sizeof log, "%s/postgres.log", dir);
	pid_t pid = fork();
	if (pid == 0) {
		become_server(log, SIGQUIT, self);
		execl(prog, "postgres", "-D", data, "-k", dir,
		      "-c", "listen_addresses=", "-c", "fsync=off",
		      "-c", "full_page_writes=off", "-c", "shared_buffers=16MB",
		      "-c", "max_connections=100", (char *)NULL);
		_exit(127);
	}
	return pid;
}

/*
 * The keeper: runs initdb and postgres, says on `ready` when the server
 * takes connections ("ok PID") or why it does not, then waits for the
 * lab's end -- SIGTERM, from pgcluster_stop() or, when the lab dies, from
 * PR_SET_PDEATHSIG -- and cleans up.  If postgres dies first, it cleans up
 * and leaves: the lab's queries then fail with "cannot connect".
 */
static _Noreturn void keep_cluster(int ready, const char *conninfo)
{
	pid_t self = getpid();
	if (run_initdb(&ready, self) != 0)
		keeper_exit(0, 1);
	pid_t pg = start_postgres(self);
	if (pg < 0) {
		report(&ready, "cannot fork postgres: %s", strerror(errno));
		keeper_exit(0, 1);
	}
	double give_up = now() + start_timeout;
	int status;
	while (ready >= 0) {
		if (stop_signal)
			keeper_exit(pg, 1);
		if (ended(pg, &status)) {
			char log[100], last[300];
			snprintf(log, sizeof log, "%s/postgres.log", dir);
			last_line(log, last, sizeof last);
			report(&ready, "postgres stopped as it started: %s", last);
			keeper_exit(0, 1);
		}
		if (PQping(conninfo) == PQPING_OK)
			report(&ready, "ok %d", (int)pg);
		else if (now() > give_up)
			report(&ready, "postgres did not take connections within %.0f s", start_timeout);
		else
			keeper_wait(0.02);
	}
	while (!stop_signal && !ended(pg, &status))
		keeper_wait(1);
	if (!stop_signal)
		fprintf(stderr, "pgcluster: postgres (pid %d) ended; database queries will fail\n",
			(int)pg);
	keeper_exit(stop_signal ? pg : 0, 0);
}

/* Is the pid named in path/keeper.pid known to be gone?  False when the
 * file is not there yet (a cluster being made) or the process lives. */
static bool keeper_gone(const char *path)
{
	char file[300];
	int pid = 0;
	snprintf(file, sizeof file, "%s/keeper.pid", path);
	FILE *f = fopen(file, "r");
	if (f && fscanf(f, "%d", &pid) != 1)
		pid = 0;
	if (f)
		fclose(f);
	return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

/* Remove the directories of clusters whose keeper was killed outright
 * (SIGKILL to the keeper itself: nobody was left to clean up; its
 * postgres got SIGQUIT as the keeper died).  Another lab's live cluster
 * has a live keeper, and stays. */
static void reap_leftovers(void)
{
	glob_t g;
	if (glob("/tmp/workerlab-pg-*", GLOB_ONLYDIR, NULL, &g) != 0)
		return;
	char mine[sizeof dir];
	memcpy(mine, dir, sizeof dir);
	for (size_t i = 0; i < g.gl_pathc; i++)
		if (strlen(g.gl_pathv[i]) < sizeof dir && keeper_gone(g.gl_pathv[i])) {
			snprintf(dir, sizeof dir, "%s", g.gl_pathv[i]);
			remove_dir();
		}
	memcpy(dir, mine, sizeof dir);
	globfree(&g);
}

int pgcluster_start(char *conninfo, size_t len, char *err, size_t errlen)
{
	if (find_bindir(err, errlen) != 0 || pick_user(err, errlen) != 0)
		return -1;
	reap_leftovers();
	snprintf(dir, sizeof dir, "/tmp/workerlab-pg-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(err, errlen, "cannot make a directory in /tmp: %s", strerror(errno));
		dir[0] = '\0';
		return -1;
	}
	if (geteuid() == 0 && chown(dir, run_uid, run_gid) != 0) {
		snprintf(err, errlen, "cannot give %s to the server's user: %s", dir, strerror(errno));
		rmdir(dir);
		return -1;
	}
	snprintf(conninfo, len, "host=%s port=5432 user=postgres dbname=postgres", dir);

	int ready[2];
	if (pipe2(ready, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		rmdir(dir);
		return -1;
	}
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);	/* the keeper takes them in turn */
	pid_t parent = getpid();
	fflush(NULL);
	keeper = fork();
	if (keeper == 0) {
		if (!proc_tie_to_parent(SIGTERM, parent))
			stop_signal = SIGTERM;
		proc_name("database keeper", "db keeper");
		close(ready[0]);
		keep_cluster(ready[1], conninfo);
	}
	if (keeper < 0)		/* before the calls below can change errno */
		snprintf(err, errlen, "fork: %s", strerror(errno));
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ready[1]);
	if (keeper < 0) {	/* nothing is in the directory yet */
		keeper = 0;
		close(ready[0]);
		rmdir(dir);
		return -1;
	}
	char file[sizeof dir + 16];
	snprintf(file, sizeof file, "%s/keeper.pid", dir);
	int kfd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (kfd >= 0) {		/* for reap_leftovers(), should the keeper be killed */
		dprintf(kfd, "%d\n", (int)keeper);
		close(kfd);
	}
	char line[512];
	ssize_t n, got = 0;
	while ((n = read(ready[0], line + got, sizeof line - 1 - (size_t)got)) != 0)
		if (n > 0)
			got += n;
		else if (errno != EINTR)
			break;
	line[got] = '\0';
	close(ready[0]);
	int pid;
	if (sscanf(line, "ok %d", &pid) == 1) {
		server = pid;
		return 0;
	}
	snprintf(err, errlen, "%s", got ? line : "the cluster's keeper died");
	pgcluster_stop();
	return -1;
}

void pgcluster_stop(void)
{
	pid_t pid = keeper;
	if (pid <= 0)
		return;
	keeper = 0;
	server = 0;
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}
