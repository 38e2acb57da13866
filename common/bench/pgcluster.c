/*
 * pgcluster.c: initdb, postgres and the keeper that cleans up after them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
static const char prefix[] = "workerlab-pg-";	/* a cluster's directory in /tmp */

static char dir[64];
static char bindir[256];
static pid_t keeper;
static pid_t server;
static uid_t run_uid;
static gid_t run_gid;
static int clients;		/* pgcluster_size()'s */

/* Connections beyond the lab's: PostgreSQL keeps 3 of max_connections for
 * superusers (superuser_reserved_connections), and the keeper's readiness
 * check, a psql of yours, or the backends of a worker that the master has
 * just replaced (each ends once its query does) may take a few more. */
enum { SPARE_CONNECTIONS = 10, DEFAULT_CONNECTIONS = 100 };

void pgcluster_size(int n)
{
	clients = n;
}

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

/* Become the server's user, for good, when we are root (otherwise we are
 * that user already): the user a cluster's directory belongs to.  Whether
 * we are it now. */
static bool become_owner(void)
{
	return geteuid() != 0 || (setgroups(0, NULL) == 0 && setgid(run_gid) == 0 &&
				  setuid(run_uid) == 0);
}

/* In a child about to exec a server program: become the server's user,
 * die with the keeper (after setuid, which clears the death signal), send
 * output to a log in the directory, and start from there. */
static void become_server(const char *log, int deathsig, pid_t parent)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (!become_owner())
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

/*
 * Remove the directory `name` in the open directory `at`, and all in it.
 * Every step is taken from an open directory, never by path, and none
 * follows a symlink: a symlink inside is unlinked, and a directory that
 * someone swaps for a symlink while we walk fails to open (O_NOFOLLOW).
 * A walk by path (nftw and remove) can be led out of the tree by such a
 * swap, and delete whatever the symlink points to.
 */
static void remove_tree(int at, const char *name)
{
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL; ) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			remove_tree(fd, e->d_name);
		else
			unlinkat(fd, e->d_name, 0);
	}
	closedir(d);
	unlinkat(at, name, AT_REMOVEDIR);
}

/* Remove /tmp/<name> and all in it. */
static void remove_in_tmp(const char *name)
{
	int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp >= 0) {
		remove_tree(tmp, name);
		close(tmp);
	}
}

/* In the keeper, at its end: remove the cluster's directory, as its owner
 * -- the server's user, which the keeper becomes if it is root -- so that
 * whatever is in it, no more goes than that user could remove. */
static void remove_dir(void)
{
	if (become_owner())
		remove_in_tmp(dir + strlen("/tmp/"));
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

/* Name the keeper in the directory's keeper.pid (for reap_leftovers(),
 * should the keeper be killed outright), then, when we are root, give the
 * directory to the server's user: in that order, so that we write into a
 * directory that is still ours alone.  0, or -1 (reported). */
static int claim_dir(int *ready, pid_t self)
{
	char file[sizeof dir + 16];
	snprintf(file, sizeof file, "%s/keeper.pid", dir);
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dprintf(fd, "%d\n", (int)self);
		close(fd);
	}
	if (geteuid() == 0 && chown(dir, run_uid, run_gid) != 0) {
		report(ready, "cannot give %s to the server's user: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
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
	char prog[300], data[100], log[100], most[40];
	int max_connections = clients + SPARE_CONNECTIONS;
	if (max_connections < DEFAULT_CONNECTIONS)
		max_connections = DEFAULT_CONNECTIONS;
	snprintf(prog, sizeof prog, "%s/postgres", bindir);
	snprintf(data, sizeof data, "%s/data", dir);
	snprintf(log, sizeof log, "%s/postgres.log", dir);
	snprintf(most, sizeof most, "max_connections=%d", max_connections);
	pid_t pid = fork();
	if (pid == 0) {
		become_server(log, SIGQUIT, self);
		execl(prog, "postgres", "-D", data, "-k", dir,
		      "-c", "listen_addresses=", "-c", "fsync=off",
		      "-c", "full_page_writes=off", "-c", "shared_buffers=16MB",
		      "-c", most, (char *)NULL);
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
	if (claim_dir(&ready, self) != 0 || run_initdb(&ready, self) != 0)
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

/* Is the pid in /tmp/<name>/keeper.pid known to be gone?  False when the
 * file is not there yet (a cluster being made) or the process lives. */
static bool keeper_gone(int tmp, const char *name)
{
	char file[300], text[32];
	snprintf(file, sizeof file, "%s/keeper.pid", name);
	int fd = openat(tmp, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
	if (fd >= 0)
		close(fd);
	text[n > 0 ? n : 0] = '\0';
	int pid = atoi(text);
	return pid > 0 && kill(pid, 0) != 0 && errno == ESRCH;
}

/* Is /tmp/<name> a directory the kit made for us: the effective user's,
 * mode 0700 (as mkdtemp makes it), not a symlink?  Anyone may make a
 * /tmp/workerlab-pg-* with a dead pid in it; one that is not ours is left
 * alone, and we say so.  (/tmp is sticky: once we have seen that a name
 * is ours, only we can move or replace it.) */
static bool ours(int tmp, const char *name)
{
	struct stat st;
	if (fstatat(tmp, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
		return false;
	if (st.st_uid == geteuid() && (st.st_mode & 07777) == 0700)
		return true;
	fprintf(stderr, "pgcluster: leaving /tmp/%s alone: it is uid %d's with mode %04o, "
		"not uid %d's with mode 0700 as the kit makes them\n", name, (int)st.st_uid,
		(unsigned)(st.st_mode & 07777), (int)geteuid());
	return false;
}

/* Remove the directories of our clusters whose keeper was killed outright
 * (SIGKILL to the keeper itself: nobody was left to clean up; its
 * postgres got SIGQUIT as the keeper died).  Another lab's live cluster
 * has a live keeper, and stays. */
static void reap_own_leftovers(void)
{
	int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = tmp >= 0 ? fdopendir(tmp) : NULL;
	if (!d) {
		if (tmp >= 0)
			close(tmp);
		return;
	}
	for (struct dirent *e; (e = readdir(d)) != NULL; )
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && ours(tmp, e->d_name) &&
		    keeper_gone(tmp, e->d_name))
			remove_tree(tmp, e->d_name);
	closedir(d);
}

/* Reap as the user our clusters' directories belong to: as root, in a
 * child that has become the server's user, so that root itself removes
 * nothing in /tmp, and a leftover of the server's user is "ours". */
static void reap_leftovers(void)
{
	if (geteuid() != 0) {
		reap_own_leftovers();
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (become_owner())
			reap_own_leftovers();
		_exit(0);
	}
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int pgcluster_start(char *conninfo, size_t len, char *err, size_t errlen)
{
	if (find_bindir(err, errlen) != 0 || pick_user(err, errlen) != 0)
		return -1;
	reap_leftovers();
	snprintf(dir, sizeof dir, "/tmp/%sXXXXXX", prefix);
	if (!mkdtemp(dir)) {	/* mode 0700, ours: reap_own_leftovers() knows it */
		snprintf(err, errlen, "cannot make a directory in /tmp: %s", strerror(errno));
		dir[0] = '\0';
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
