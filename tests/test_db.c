/*
 * The database labs: lab 5 (the blocking driver under the evented worker)
 * and lab 6 (the same handler, the driver made cooperative), on one private
 * PostgreSQL cluster the suite starts for all of them (--db), and one test
 * of the cluster a lab starts by itself.
 *
 * With Q the time of one query and S = 10 Q, the time of /db:
 *   lab 5: one /db S; four at once end near S, 2S, 3S, 4S; /db?spawn=1 S;
 *          a /hello sent meanwhile waits for the /db in flight
 *   lab 6: one /db S; four at once all S; /db?spawn=1 Q times
 *          ceil(10 / pool size); /hello goes on meanwhile
 * Lower bounds are physics, upper bounds leave a factor of two or more,
 * times WORKERLAB_SLOW, as in tests/model.h.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <linux/sockios.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "dbmodel.h"
#include "fiber.h"
#include "io.h"
#include "pgcluster.h"
#include "profile.h"
#include "testlib.h"
#include "util.h"

static char conninfo[512];	/* the suite's cluster */

static const char *const db_labs[] = { "lab5", "lab6" };

/* Start lab with --db (the suite's cluster, or `db`), the scale, and more. */
static void start(struct tl_proc *p, const char *lab, const char *db, const char *more,
		  const char *value)
{
	const char *args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.3", "--db",
			       db ? db : conninfo, more, value, NULL };
	tl_start(p, lab, args);
}

/* Run one of dbmodel.c's checks on db_models[i]; fail with its words. */
#define CHECK(fn, i) do { \
	struct verdict v; \
	fn(&db_models[i], &v); \
	ck_assert_msg(v.ok, "%s: %s", db_models[i].name, v.why); \
} while (0)

START_TEST(both_labs_answer_db_with_the_notes_json) { CHECK(check_db_answers_json, _i); } END_TEST
START_TEST(one_db_request_takes_ten_queries_in_both_labs) { CHECK(check_db_one_request, _i); } END_TEST
START_TEST(lab5_serves_four_db_requests_one_after_another) { CHECK(check_db_four_at_once, 0); } END_TEST
START_TEST(lab6_overlaps_four_db_requests) { CHECK(check_db_four_at_once, 1); } END_TEST
START_TEST(hello_waits_for_db_in_lab5_only) { CHECK(check_db_hello_meanwhile, _i); } END_TEST
START_TEST(spawned_queries_overlap_in_lab6_only) { CHECK(check_db_spawn, _i); } END_TEST
START_TEST(sigterm_stops_a_busy_lab_and_its_cluster) { CHECK(check_db_clean_shutdown, _i); } END_TEST

/* Pool of 10: one round, Q; pool of 3: ceil(10 / 3) = 4 rounds.  With
 * queries of 0.3 s, so that the bound below one round more -- a ratio --
 * leaves a busy machine a quarter of a second, and after a first request
 * has opened the connections. */
START_TEST(spawned_queries_in_lab6_take_a_round_per_pool_load)
{
	static const int pools[] = { 10, 3 };
	const double qq = 0.3;
	const int rounds = (10 + pools[_i] - 1) / pools[_i];
	char pool[8];
	snprintf(pool, sizeof pool, "%d", pools[_i]);
	const char *args[] = { "-b", "127.0.0.1:0", "--db", conninfo, "--pool", pool,
			       "--delay-scale", "3", NULL };
	struct tl_proc p;
	struct tl_reply warm, r;
	tl_start(&p, "lab6", args);
	tl_get(p.port, "/db?spawn=1", &warm);
	tl_get(p.port, "/db?spawn=1", &r);
	tl_stop(&p);
	ck_assert_int_eq(warm.status, 200);
	ck_assert_int_eq(r.status, 200);
	double bound = fmin(2 * rounds * qq * model_slowness(), (rounds + 0.8) * qq);
	ck_assert_msg(r.seconds >= 0.95 * rounds * qq && r.seconds <= bound,
		      "lab6 --pool %d: /db?spawn=1 took %.3fs, expected %d rounds of %.1fs",
		      pools[_i], r.seconds, rounds, qq);
}
END_TEST

/* A /db that fails names the problem in the JSON, and the lab goes on. */
static void expect_failure(const char *lab, const char *db, const char *words)
{
	struct tl_proc p;
	struct tl_reply r, hello, again;
	start(&p, lab, db, NULL, NULL);
	tl_get(p.port, "/db", &r);
	tl_get(p.port, "/hello", &hello);
	tl_get(p.port, "/db", &again);
	tl_stop(&p);
	ck_assert_msg(r.status == 502 && strstr(r.body, "\"code\": 1, \"message\": \"10 of 10 queries failed: ")
		      && strstr(r.body, words), "%s with --db '%s': %d %s", lab, db, r.status, r.body);
	ck_assert_int_eq(hello.status, 200);
	ck_assert_msg(again.status == 502 && strstr(again.body, words), "again: %s", again.body);
}

START_TEST(a_database_that_is_down_is_named_in_the_answer)
{
	expect_failure(db_labs[_i], "host=/nonexistent/workerlab port=5432 dbname=postgres",
		       "cannot connect to the database: ");
}
END_TEST

START_TEST(a_refused_login_is_named_in_the_answer)
{
	char db[600];
	snprintf(db, sizeof db, "%s user=nosuchrole", conninfo);	/* the last user= wins */
	expect_failure(db_labs[_i], db, "role \\\"nosuchrole\\\" does not exist");
}
END_TEST

/* Terminate every backend sleeping in pg_sleep, from a connection of the
 * test's own; how many it ended. */
static int terminate_sleepers(PGconn *admin)
{
	PGresult *r = PQexec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
			     "WHERE query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()");
	int n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0;
	PQclear(r);
	return n;
}

START_TEST(a_connection_dropped_mid_query_is_named_and_replaced)
{
	const char *args[] = { "-b", "127.0.0.1:0", "--db", conninfo, NULL };	/* 1 s */
	struct tl_proc p;
	struct tl_reply r, again;
	tl_start(&p, db_labs[_i], args);
	PGconn *admin = PQconnectdb(conninfo);
	ck_assert_msg(PQstatus(admin) == CONNECTION_OK, "%s", PQerrorMessage(admin));
	double t0 = now();
	int fd = tl_connect(p.port);
	const char *get = "GET /db HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
	/* Until a query is found, or the answer has come without one; a first
	 * connection on a busy machine may be slow to come. */
	struct pollfd answer = { .fd = fd, .events = POLLIN };
	double give_up = t0 + 10 * model_slowness();
	int ended = 0;
	while ((ended = terminate_sleepers(admin)) == 0 && now() < give_up &&
	       poll(&answer, 1, 10) == 0)
		;
	PQfinish(admin);
	tl_read_reply(fd, t0, 10, &r);
	close(fd);
	tl_get(p.port, "/db", &again);
	tl_stop(&p);
	ck_assert_msg(ended > 0, "no query of %s's was found to terminate", db_labs[_i]);
	ck_assert_msg(r.status == 502 && strstr(r.body, "queries failed: the query failed: ") &&
		      (strstr(r.body, "terminating connection") || strstr(r.body, "closed the connection")),
		      "%s after pg_terminate_backend: %d %s", db_labs[_i], r.status, r.body);
	ck_assert_msg(again.status == 200, "%s's next /db: %d %s", db_labs[_i], again.status, again.body);
}
END_TEST

/* Has the lab read all we sent on fd, our connection to its port?
 * Nothing is left unacknowledged on our side (SIOCOUTQ) nor unread on its
 * (the rx_queue of its end in /proc/net/tcp): it has accepted the
 * connection and taken the request, which then goes on through a stop
 * (server.h).  A connection not accepted yet never would. */
static bool request_taken(int fd, int port)
{
	struct sockaddr_in me;
	socklen_t len = sizeof me;
	int unacked;
	if (getsockname(fd, (struct sockaddr *)&me, &len) != 0 ||
	    ioctl(fd, SIOCOUTQ, &unacked) != 0 || unacked > 0)
		return false;
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[256];
	bool taken = false;
	while (f && fgets(line, sizeof line, f)) {
		unsigned local, remote;
		unsigned long rx;
		if (sscanf(line, " %*d: %*x:%x %*x:%x %*x %*x:%lx", &local, &remote, &rx) == 3 &&
		    local == (unsigned)port && remote == ntohs(me.sin_port))
			taken = rx == 0;
	}
	if (f)
		fclose(f);
	return taken;
}

/* SIGTERM while fibers wait for the only connection: once the grace
 * period is over, every one of them gives up, and both requests are
 * answered that the server is stopping -- none is left waiting for a
 * connection nobody will give back.  The query in flight may end first
 * (Q); a lab that ran the rest of the twenty queries instead would take
 * far longer. */
START_TEST(sigterm_answers_queries_still_waiting_for_a_connection)
{
	const double q = 0.1, grace = 0.5;
	const char *args[] = { "-b", "127.0.0.1:0", "--db", conninfo, "--pool", "1",
			       "--grace", "0.5", NULL };
	struct tl_proc p;
	struct tl_reply r[2];
	int fd[2];
	tl_start(&p, "lab6", args);
	double t0 = now();
	for (int k = 0; k < 2; k++) {
		fd[k] = tl_connect(p.port);
		const char *get = "GET /db?spawn=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
		ck_assert_int_eq(write(fd[k], get, strlen(get)), (ssize_t)strlen(get));
	}
	bool in_flight = false;	/* both taken: proof, where a sleep is a guess */
	for (double end = t0 + 10 * model_slowness(); !in_flight && now() < end; usleep(1000))
		in_flight = request_taken(fd[0], p.port) && request_taken(fd[1], p.port);
	/* the least a lab that ran the twenty queries to their end would take */
	double rest = 20 * q - (now() - t0);
	double bound = fmin(2 * (grace + q) * model_slowness(), 0.9 * rest);
	int status;
	double took;
	bool exited = tl_terminate(&p, bound + 1, &status, &took);
	for (int k = 0; k < 2; k++) {
		tl_read_reply(fd[k], t0, 3, &r[k]);
		close(fd[k]);
	}
	close(p.out);
	close(p.err);
	ck_assert_msg(in_flight, "lab6 never took both requests");
	ck_assert_msg(exited && took >= 0.95 * grace && took <= bound, "lab6 took %.2fs to "
		      "stop; expected the grace period of %.1fs, and no more than %.2fs",
		      took, grace, bound);
	for (int k = 0; k < 2; k++)
		ck_assert_msg(r[k].status == 502 && strstr(r[k].body, "the server is stopping"),
			      "request %d: %d %s", k, r[k].status, r[k].body);
}
END_TEST

/* SIGTERM while ten spawned queries run longer than the grace period:
 * when it is over they are cut short, and the request is answered that
 * the server is stopping -- not dropped unanswered as the lab exits. */
START_TEST(sigterm_cuts_short_queries_longer_than_the_grace)
{
	const char *args[] = { "-b", "127.0.0.1:0", "--db", conninfo, "--grace", "0.2",
			       "--delay-scale", "20", NULL };	/* queries of 2 s */
	struct tl_proc p;
	struct tl_reply r;
	tl_start(&p, "lab6", args);
	double t0 = now();
	int fd = tl_connect(p.port);
	const char *get = "GET /db?spawn=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
	bool in_flight = false;
	for (double end = t0 + 10 * model_slowness(); !in_flight && now() < end; usleep(1000))
		in_flight = request_taken(fd, p.port);
	usleep(100000);		/* the queries are sent: they wait in the hub */
	int status;
	double took;
	bool exited = tl_terminate(&p, 10, &status, &took);
	tl_read_reply(fd, t0, 3, &r);
	close(fd);
	close(p.out);
	close(p.err);
	ck_assert_msg(in_flight, "lab6 never took the request");
	ck_assert_msg(exited && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "lab6: status 0x%x", status);
	ck_assert_msg(r.status == 502 && strstr(r.body, "the server is stopping"),
		      "the request in flight: %d %s", r.status, r.body);
}
END_TEST

/* ---- a database that answers late, or never, and the pool's turns ---- */

/* A TCP proxy on 127.0.0.1 in front of the suite's cluster (which listens
 * on a Unix socket only), run by a thread of the test.  What libpq sends
 * goes through at once; what the server answers goes through a message at
 * a time, so that once a connection has started (its first ReadyForQuery)
 * the proxy can hold the ReadyForQuery ('Z') that ends each answer for
 * hold_z seconds -- an answer split in two, as TCP or TLS may deliver it --
 * or, while mute is set, hold every message: a server that has stopped
 * answering. */
enum { PROXY_PAIRS = 32 };

struct proxy_pair {
	int client, server;	/* -1: a free slot */
	char buf[65536];	/* from the server, not forwarded yet */
	size_t len;
	bool started;		/* the start-up's ReadyForQuery went through */
	double release;		/* when the 'Z' held goes on (0: none held) */
};

struct pg_proxy {
	int listen_fd, port, stop[2];
	char path[108];		/* the cluster's socket */
	double hold_z;
	atomic_bool mute;
	atomic_int held;	/* answers whose end it has held so far */
	pthread_t thread;
	struct proxy_pair pairs[PROXY_PAIRS];
};

static struct pg_proxy proxy;

static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Pass on the server's whole messages that may go now; false when the
 * client is gone. */
static bool proxy_forward(struct pg_proxy *px, struct proxy_pair *p)
{
	size_t off = 0;
	while (p->len - off >= 5) {
		const unsigned char *m = (const unsigned char *)p->buf + off;
		size_t size = 1 + ((size_t)m[1] << 24 | (size_t)m[2] << 16 | (size_t)m[3] << 8 | m[4]);
		if (p->len - off < size || (p->started && atomic_load(&px->mute)))
			break;
		if (m[0] == 'Z' && p->started && px->hold_z > 0) {
			if (p->release == 0) {
				p->release = now() + px->hold_z;
				atomic_fetch_add(&px->held, 1);
			}
			if (now() < p->release)
				break;
			p->release = 0;
		}
		p->started |= m[0] == 'Z';
		if (!send_all(p->client, m, size))
			return false;
		off += size;
	}
	memmove(p->buf, p->buf + off, p->len - off);
	p->len -= off;
	return true;
}

static void proxy_close(struct proxy_pair *p)
{
	close(p->client);
	close(p->server);
	p->client = p->server = -1;
	p->len = 0;
}

/* A new client: a connection of its own to the cluster's socket. */
static void proxy_accept(struct pg_proxy *px)
{
	int c = accept4(px->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", px->path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	for (int i = 0; i < PROXY_PAIRS; i++)
		if (px->pairs[i].client < 0) {
			if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0)
				break;
			px->pairs[i] = (struct proxy_pair){ .client = c, .server = s };
			return;
		}
	close(c);
	if (s >= 0)
		close(s);
}

/* Move what came on the pair's sockets; false when it has ended. */
static bool proxy_pump(struct pg_proxy *px, struct proxy_pair *p, short from_client,
		       short from_server)
{
	char buf[8192];
	if (from_client) {
		ssize_t n = read(p->client, buf, sizeof buf);
		if (n <= 0 || !send_all(p->server, buf, (size_t)n))
			return false;
	}
	if (from_server) {
		ssize_t n = read(p->server, p->buf + p->len, sizeof p->buf - p->len);
		if (n <= 0)
			return false;
		p->len += (size_t)n;
	}
	return proxy_forward(px, p);
}

/* Milliseconds until the proxy must look again: a held message to let go. */
static int proxy_timeout(const struct pg_proxy *px)
{
	int ms = -1;
	for (int i = 0; i < PROXY_PAIRS; i++) {
		const struct proxy_pair *p = &px->pairs[i];
		if (p->client < 0 || p->len == 0)
			continue;
		int t = p->release > 0 ? (int)((p->release - now()) * 1000) + 1 : 10;
		t = t < 0 ? 0 : t;
		ms = ms < 0 || t < ms ? t : ms;
	}
	return ms;
}

static void *proxy_run(void *arg)
{
	struct pg_proxy *px = arg;
	for (;;) {
		struct pollfd fds[2 + 2 * PROXY_PAIRS] = {
			{ .fd = px->stop[0], .events = POLLIN },
			{ .fd = px->listen_fd, .events = POLLIN },
		};
		for (int i = 0; i < PROXY_PAIRS; i++) {
			struct proxy_pair *p = &px->pairs[i];
			fds[2 + 2 * i] = (struct pollfd){ .fd = p->client, .events = POLLIN };
			fds[3 + 2 * i] = (struct pollfd){ .fd = p->server,
				.events = p->len < sizeof p->buf ? POLLIN : 0 };
		}
		if (poll(fds, 2 + 2 * PROXY_PAIRS, proxy_timeout(px)) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		for (int i = 0; i < PROXY_PAIRS; i++) {
			struct proxy_pair *p = &px->pairs[i];
			if (p->client >= 0 && !proxy_pump(px, p, fds[2 + 2 * i].revents,
							  fds[3 + 2 * i].revents))
				proxy_close(p);
		}
		if (fds[1].revents & POLLIN)
			proxy_accept(px);
	}
	for (int i = 0; i < PROXY_PAIRS; i++)
		if (px->pairs[i].client >= 0)
			proxy_close(&px->pairs[i]);
	return NULL;
}

/* The value of keyword in the suite's conninfo, in out. */
static void conninfo_value(const char *keyword, char *out, size_t len)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	out[0] = '\0';
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val)
			snprintf(out, len, "%s", o->val);
	PQconninfoFree(opts);
}

/* Start the proxy; the conninfo a lab reaches the cluster by through it,
 * in db (no TLS nor GSS: their one-byte answers are not messages). */
static void proxy_start(double hold_z, char *db, size_t len)
{
	char host[256], port[16], user[64], dbname[64];
	conninfo_value("host", host, sizeof host);
	conninfo_value("port", port, sizeof port);
	conninfo_value("user", user, sizeof user);
	conninfo_value("dbname", dbname, sizeof dbname);
	memset(&proxy, 0, sizeof proxy);
	for (int i = 0; i < PROXY_PAIRS; i++)
		proxy.pairs[i].client = proxy.pairs[i].server = -1;
	int n = snprintf(proxy.path, sizeof proxy.path, "%s/.s.PGSQL.%s", host,
			 port[0] ? port : "5432");
	ck_assert_msg(n < (int)sizeof proxy.path, "the cluster's socket path is too long: %s", host);
	proxy.hold_z = hold_z;
	proxy.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	ck_assert(proxy.listen_fd >= 0 && bind(proxy.listen_fd, (struct sockaddr *)&a, sizeof a) == 0 &&
		  listen(proxy.listen_fd, 64) == 0 &&
		  getsockname(proxy.listen_fd, (struct sockaddr *)&a, &alen) == 0);
	proxy.port = ntohs(a.sin_port);
	ck_assert_int_eq(pipe2(proxy.stop, O_CLOEXEC), 0);
	ck_assert_int_eq(pthread_create(&proxy.thread, NULL, proxy_run, &proxy), 0);
	snprintf(db, len, "host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable "
		 "gssencmode=disable", proxy.port, user, dbname);
}

static void proxy_stop(void)
{
	ck_assert_int_eq(write(proxy.stop[1], "x", 1), 1);
	pthread_join(proxy.thread, NULL);
	close(proxy.listen_fd);
	close(proxy.stop[0]);
	close(proxy.stop[1]);
}

/* An answer that comes in two parts -- the result, then, 2.5 s later, the
 * ReadyForQuery that ends it -- must not stop the hub: a /hello sent while
 * the end is held takes its usual M (0.04 s here).  A driver that asks
 * libpq for the next result while it is still on its way waits in libpq's
 * own poll(), and every fiber with it, until the end comes. */
START_TEST(an_answer_split_in_two_does_not_stop_lab6)
{
	const double hold = 2.5;
	char db[600];
	proxy_start(hold, db, sizeof db);
	const char *args[] = { "-b", "127.0.0.1:0", "--db", db, "--delay-scale", "0.1", NULL };
	struct tl_proc p;
	struct tl_reply hello, r;
	tl_start(&p, "lab6", args);
	double t0 = now();
	int fd = tl_connect(p.port);
	const char *get = "GET /db?spawn=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	ck_assert_int_eq(write(fd, get, strlen(get)), (ssize_t)strlen(get));
	/* the proxy holds the end of a query's answer: proof, where a sleep is a guess */
	for (double end = t0 + 10 * model_slowness(); !atomic_load(&proxy.held) && now() < end; )
		usleep(1000);
	bool held = atomic_load(&proxy.held) > 0;
	if (held)
		tl_get_within(p.port, "/hello", 10, &hello);
	tl_read_reply(fd, t0, 10 * model_slowness() + hold, &r);
	close(fd);
	tl_stop(&p);
	proxy_stop();
	ck_assert_msg(held, "lab6 sent no query through the proxy");
	double bound = fmin(0.5 * hold * model_slowness(), 0.8 * hold);
	ck_assert_msg(hello.status == 200 && hello.seconds <= bound, "/hello took %.3fs (%d) "
		      "while the end of a query's answer was held for %.1fs; expected no more "
		      "than %.2fs: the driver waited for it in libpq, not in the hub",
		      hello.seconds, hello.status, hold, bound);
	ck_assert_msg(r.status == 200 && r.seconds >= 0.95 * hold, "/db?spawn=1 through the "
		      "proxy: %d after %.3fs: %s", r.status, r.seconds, r.body);
}
END_TEST

/* A server that takes the connection and never says a word (a listening
 * socket nobody accepts on: the kernel completes the handshake): /db
 * answers 504 once the deadline has passed, naming what happened, and the
 * first query that passes it ends the request -- not ten deadlines, one
 * after another.  The lab goes on serving.  Lab 5 waits out the default
 * deadline (5 s); lab 6 takes the same path with --db-timeout 1, which
 * keeps the suite a few seconds shorter in each build. */
START_TEST(a_database_that_never_answers_is_a_504_after_the_deadline)
{
	const double deadline = _i == 0 ? 5 : 1;
	int mute = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	ck_assert(mute >= 0 && bind(mute, (struct sockaddr *)&a, sizeof a) == 0 &&
		  listen(mute, 64) == 0 && getsockname(mute, (struct sockaddr *)&a, &alen) == 0);
	char db[128];
	snprintf(db, sizeof db, "host=127.0.0.1 port=%d dbname=postgres", ntohs(a.sin_port));
	struct tl_proc p;
	struct tl_reply r, hello;
	double bound = 2 * deadline * model_slowness();
	start(&p, db_labs[_i], db, _i == 0 ? NULL : "--db-timeout", "1");
	tl_get_within(p.port, "/db", bound + 1, &r);
	tl_get_within(p.port, "/hello", 5 * model_slowness(), &hello);
	int status;
	double took;
	tl_terminate(&p, 5, &status, &took);
	close(p.out);
	close(p.err);
	close(mute);
	ck_assert_msg(r.status == 504 && strstr(r.body, "\"code\": 1, \"message\": \"10 of 10 "
		      "queries failed: cannot connect to the database: no answer") &&
		      r.seconds >= 0.95 * deadline && r.seconds <= bound,
		      "%s, a server that never answers: %s after %.3fs, expected 504 naming it "
		      "after the deadline of %.0fs (and no more than %.1fs): %s", db_labs[_i],
		      tl_outcome(&r, (char[64]){ 0 }, 64), r.seconds, deadline, bound, r.body);
	ck_assert_msg(hello.status == 200, "%s: /hello %d", db_labs[_i], hello.status);
}
END_TEST

/* A query longer than --db-timeout is cancelled by the server itself
 * (statement_timeout): 504 naming it, long before the query's 2 s. */
START_TEST(a_query_longer_than_db_timeout_is_cancelled_by_the_server)
{
	struct tl_proc p;
	struct tl_reply r;
	const char *args[] = { "-b", "127.0.0.1:0", "--db", conninfo, "--delay-scale", "20",
			       "--db-timeout", "0.5", NULL };	/* queries of 2 s */
	tl_start(&p, db_labs[_i], args);
	tl_get_within(p.port, "/db", 10 * model_slowness(), &r);
	tl_stop(&p);
	double bound = fmin(2 * (0.5 + 0.3) * model_slowness(), 1.9);	/* the query: 2 s */
	ck_assert_msg(r.status == 504 && strstr(r.body, "the query timed out: ") &&
		      strstr(r.body, "statement timeout") && r.seconds >= 0.45 && r.seconds <= bound,
		      "%s --db-timeout 0.5, queries of 2 s: %s after %.3fs (expected 504 by "
		      "%.2fs): %s", db_labs[_i], tl_outcome(&r, (char[64]){ 0 }, 64), r.seconds,
		      bound, r.body);
}
END_TEST

/* A server that goes silent in the middle of a query (the proxy holds its
 * answer): the lab gives up a second after --db-timeout, answers 504, and
 * closes that connection -- its state is unknown -- so that the next /db,
 * once the server answers again, runs on a new one. */
START_TEST(a_server_silent_mid_query_is_a_504_and_its_connection_dropped)
{
	char db[600];
	proxy_start(0, db, sizeof db);
	atomic_store(&proxy.mute, true);
	const char *args[] = { "-b", "127.0.0.1:0", "--db", db, "--delay-scale", "0.1",
			       "--db-timeout", "0.5", NULL };
	struct tl_proc p;
	struct tl_reply r, again;
	tl_start(&p, db_labs[_i], args);
	tl_get_within(p.port, "/db", 10 * model_slowness(), &r);
	atomic_store(&proxy.mute, false);
	tl_get_within(p.port, "/db", 10 * model_slowness(), &again);
	tl_stop(&p);
	proxy_stop();
	double bound = 2 * 1.5 * model_slowness();
	ck_assert_msg(r.status == 504 && strstr(r.body, "the query timed out: no answer") &&
		      r.seconds >= 0.95 * 1.5 && r.seconds <= bound, "%s, a silent server: %s "
		      "after %.3fs (expected 504 after 0.5 + 1 s, by %.2fs): %s", db_labs[_i],
		      tl_outcome(&r, (char[64]){ 0 }, 64), r.seconds, bound, r.body);
	ck_assert_msg(again.status == 200, "%s, the server back: /db %s: %s", db_labs[_i],
		      tl_outcome(&again, (char[64]){ 0 }, 64), again.body);
}
END_TEST

START_TEST(help_names_the_database_deadline)
{
	char cmd[512], out[4096];
	snprintf(cmd, sizeof cmd, "%s/%s --help", tl_bin_dir(), db_labs[_i]);
	FILE *f = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof out - 1, f);
	out[n] = '\0';
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_msg(strstr(out, "--db-timeout S"), "%s", out);
}
END_TEST

/* The pool's turns, in this process's own hub against the suite's
 * cluster: a pool of one; "first" runs two queries in a row, while
 * "second" and "third" wait for the connection.  When first's query ends,
 * the connection is second's, then third's: first's next query asked
 * after them and goes last -- it must not take the connection it has just
 * given back, ahead of those already waiting.  (Check runs each test in a
 * process of its own: the patches end with it.) */
struct turn {
	const char *name;
	int queries;
};
static char turn_order[128], turn_error[300];

static void take_turns(void *arg)
{
	const struct turn *t = arg;
	for (int i = 0; i < t->queries; i++) {
		char err[256];
		if (db_sleep(0.05, err, sizeof err) != 0 && !turn_error[0])
			snprintf(turn_error, sizeof turn_error, "%s: %s", t->name, err);
		size_t used = strlen(turn_order);
		snprintf(turn_order + used, sizeof turn_order - used, "%s%s", used ? " " : "",
			 t->name);
	}
}

START_TEST(the_pool_hands_its_connection_over_in_turn)
{
	static const struct turn turns[] = { { "first", 2 }, { "second", 1 }, { "third", 1 } };
	fiber *f[3];
	db_configure(conninfo, 1);
	db_patch();
	io_patch();
	for (int k = 0; k < 3; k++) {
		f[k] = fiber_spawn(take_turns, (void *)&turns[k], turns[k].name);
		ck_assert_ptr_nonnull(f[k]);
	}
	for (int k = 0; k < 3; k++)
		fiber_join(f[k]);
	db_close_all();
	ck_assert_msg(!turn_error[0], "%s", turn_error);
	ck_assert_msg(strcmp(turn_order, "first second third first") == 0, "the connection "
		      "served: %s; in turn is: first second third first", turn_order);
}
END_TEST

/* ---- the embedded default: a cluster of the lab's own ---- */

/* The postmaster's pid, from its pid file in dir. */
/* The pid in the cluster directory's file (data/postmaster.pid, the
 * server's; keeper.pid, the lab's keeper's); 0 if none. */
static pid_t pid_in(const char *dir, const char *file)
{
	char path[256];
	int pid = 0;
	snprintf(path, sizeof path, "%s/%s", dir, file);
	FILE *f = fopen(path, "r");
	if (f && fscanf(f, "%d", &pid) != 1)
		pid = 0;
	if (f)
		fclose(f);
	return pid;
}

/* The children of pid (the server's backends and helpers), up to max. */
static int children_of(pid_t pid, pid_t *kids, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)) != NULL && n < max) {
		char path[300], stat[512];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[len] = '\0';
		const char *paren = strrchr(stat, ')');
		int ppid;
		if (paren && sscanf(paren + 2, "%*c %d", &ppid) == 1 && ppid == pid)
			kids[n++] = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return n;
}

static bool dir_gone(const char *dir, double seconds)
{
	struct stat st;
	double end = now() + seconds;
	while (stat(dir, &st) == 0 && now() < end)
		usleep(10000);
	return stat(dir, &st) != 0;
}

/* With no --db: the lab makes, uses and removes a cluster of its own;
 * after SIGTERM (_i 0) or SIGKILL (_i 1), neither its directory nor any of
 * its processes is left. */
START_TEST(a_lab_without_db_runs_and_removes_its_own_cluster)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "--delay-scale", "0.3", NULL };
	struct tl_proc p;
	struct tl_reply r;
	char dir[64] = "";
	pid_t kids[64];
	tl_start(&p, "lab5", args);
	const char *at = strstr(p.banner, "/tmp/workerlab-pg-");
	ck_assert_msg(at, "no cluster directory in the banner: %s", p.banner);
	snprintf(dir, sizeof dir, "%.*s", (int)strcspn(at, ", "), at);
	tl_get(p.port, "/db", &r);
	ck_assert_msg(r.status == 200, "/db: %d %s", r.status, r.body);
	pid_t pm = pid_in(dir, "data/postmaster.pid"), keeper = pid_in(dir, "keeper.pid");
	ck_assert_msg(pm > 0 && !tl_gone(pm), "no postmaster for %s", dir);
	/* the keeper named itself before it started the server */
	char comm[64] = "", path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)keeper);
	FILE *f = fopen(path, "r");
	if (f && fgets(comm, sizeof comm, f))
		comm[strcspn(comm, "\n")] = '\0';
	if (f)
		fclose(f);
	ck_assert_msg(strcmp(comm, "lab5: db keeper") == 0,
		      "the cluster's keeper (pid %d) is called '%s' in ps", (int)keeper, comm);
	int nkids = children_of(pm, kids, 64);
	ck_assert_msg(nkids >= 2, "the postmaster has %d children", nkids);	/* a backend, at least */
	if (_i == 0) {
		tl_stop(&p);
	} else {
		int status;
		double took;
		tl_signal(&p, SIGKILL, 2, &status, &took);
	}
	ck_assert_msg(tl_wait_gone(pm, 5), "the postmaster (pid %d) outlived the lab", (int)pm);
	for (int k = 0; k < nkids; k++)
		ck_assert_msg(tl_wait_gone(kids[k], 5), "server process %d outlived the lab", (int)kids[k]);
	ck_assert_msg(dir_gone(dir, 5), "%s outlived the lab", dir);
}
END_TEST

START_TEST(help_names_the_database_options)
{
	char cmd[512], out[4096];
	snprintf(cmd, sizeof cmd, "%s/lab6 --help", tl_bin_dir());
	FILE *f = popen(cmd, "r");
	size_t n = fread(out, 1, sizeof out - 1, f);
	out[n] = '\0';
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_msg(strstr(out, "--db CONNINFO") && strstr(out, "--pool N") &&
		      strstr(out, "--delay-scale F"), "%s", out);
}
END_TEST

/* A usage error is reported before the lab starts its cluster (it used to
 * start one, and remove it, first): exit 2, naming the option, in a small
 * part of the time that a mistake found after the start takes (--urls
 * naming no file: lab_main() reads it once the cluster runs). */
START_TEST(a_bad_option_is_a_usage_error)
{
	static const char *const bogus[] = { "--bogus", NULL };
	static const char *const no_file[] = { "--urls", "/nonexistent/workerlab", NULL };
	char err[1024];
	double start = now();
	ck_assert_int_eq(tl_run(db_labs[_i], bogus, err, sizeof err), 2);
	double t_bogus = now() - start;
	ck_assert_msg(strstr(err, "'--bogus'"), "%s", err);
	start = now();	/* initdb first: on a busy machine, more than tl_run's 5 s */
	ck_assert_int_eq(tl_run_within(db_labs[_i], no_file, 30 * model_slowness(), err,
				       sizeof err), 2);
	double t_started = now() - start;
	ck_assert_msg(strstr(err, "--urls"), "%s", err);
	ck_assert_msg(t_bogus < t_started / 4, "--bogus took %.3fs, and a mistake found "
		      "after the cluster started %.3fs", t_bogus, t_started);
}
END_TEST

/* ---- the clusters left behind: what a lab removes of them ---- */

/* What the leftover test plants: a stranger's leftover, one of ours, and
 * a directory outside that a symlink in ours points to.  They are planted
 * and removed by the runner process (an unchecked fixture), so that they
 * go even when the test fails: a failed check ends the test's own process
 * at once, with no atexit. */
static char planted[3][64];
static char plant_error[256];	/* what went wrong planting them, for the test to say */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st, (void)flag, (void)f;
	remove(path);
	return 0;
}

static void remove_planted(void)
{
	for (int k = 0; k < 3; k++)
		if (planted[k][0])
			nftw(planted[k], remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Note the first thing that failed; false. */
static bool plant_failed(const char *what)
{
	if (!plant_error[0])
		snprintf(plant_error, sizeof plant_error, "%s: %s", what, strerror(errno));
	return false;
}

/* A pid that names no process: a child of ours, ended and reaped. */
static pid_t dead_pid(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return pid;
}

/* Make dir/name, with `text` in it, and give it to uid:gid. */
static bool plant_file(const char *dir, const char *name, const char *text, uid_t uid, gid_t gid)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	bool ok = f && fputs(text, f) >= 0;
	if (f && fclose(f) != 0)
		ok = false;
	return (ok && chown(path, uid, gid) == 0) || plant_failed(path);
}

/* A leftover as a keeper killed outright leaves it, in dir: keeper.pid
 * naming a dead pid, a log, and data/ with a file in it; all uid:gid's,
 * the directory of the given mode. */
static bool plant_leftover(char *dir, uid_t uid, gid_t gid, mode_t mode)
{
	char pid[16], data[96];
	snprintf(dir, 64, "/tmp/workerlab-pg-XXXXXX");
	if (!mkdtemp(dir)) {
		dir[0] = '\0';
		return plant_failed("mkdtemp");
	}
	snprintf(pid, sizeof pid, "%d\n", (int)dead_pid());
	snprintf(data, sizeof data, "%s/data", dir);
	return plant_file(dir, "keeper.pid", pid, uid, gid) &&
	       plant_file(dir, "postgres.log", "LOG:  database system is ready\n", uid, gid) &&
	       (mkdir(data, 0700) == 0 || plant_failed(data)) &&
	       (chown(data, uid, gid) == 0 || plant_failed(data)) &&
	       plant_file(data, "PG_VERSION", "15\n", uid, gid) &&
	       ((chown(dir, uid, gid) == 0 && chmod(dir, mode) == 0) || plant_failed(dir));
}

/* Whom the kit gives a cluster's directory to: the server's user (as
 * root, "postgres"; else ourselves).  The stranger: as root, nobody
 * (65534); else ourselves, with a mode the kit never gives. */
static uid_t stranger(void)
{
	return geteuid() == 0 ? 65534 : geteuid();
}

static mode_t strangers_mode(void)
{
	return geteuid() == 0 ? 0700 : 0755;
}

/* Unchecked setup: plant the three, a symlink in ours to the third. */
static void plant_leftovers(void)
{
	struct passwd *pw = geteuid() == 0 ? getpwnam("postgres") : NULL;
	uid_t uid = pw ? pw->pw_uid : geteuid();
	gid_t gid = pw ? pw->pw_gid : getegid();
	char link[96];
	plant_error[0] = '\0';
	snprintf(planted[2], sizeof planted[2], "/tmp/workerlab-outside-XXXXXX");
	if (!mkdtemp(planted[2])) {
		planted[2][0] = '\0';
		plant_failed("mkdtemp");
		return;
	}
	if (plant_file(planted[2], "keep", "not the cluster's\n", geteuid(), getegid()) &&
	    plant_leftover(planted[0], stranger(), stranger(), strangers_mode()) &&
	    plant_leftover(planted[1], uid, gid, 0700)) {
		snprintf(link, sizeof link, "%s/data/outside", planted[1]);
		if (symlink(planted[2], link) != 0 || lchown(link, uid, gid) != 0)
			plant_failed(link);
	}
}

static bool exists(const char *dir, const char *name)
{
	char path[128];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return lstat(path, &st) == 0;
}

/* A lab that starts its cluster removes the leftovers of ours (keeper
 * gone), and only those: not a stranger's (as root: owned by another
 * user; otherwise: ours, but not mode 0700, so not made by the kit), nor
 * what a symlink in ours points to. */
START_TEST(a_lab_removes_only_its_own_users_leftovers_and_follows_no_symlink)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", NULL };
	char err[4096];
	struct tl_proc p;
	int status;
	double took;

	ck_assert_msg(!plant_error[0], "cannot plant the leftovers: %s", plant_error);
	tl_start(&p, "lab5", args);	/* its cluster is started: leftovers reaped */
	tl_terminate(&p, 5, &status, &took);
	tl_read_err(&p, err, sizeof err);
	close(p.out);
	close(p.err);
	ck_assert_msg(exists(planted[0], "keeper.pid") && exists(planted[0], "data/PG_VERSION"),
		      "%s (owner %d, mode %04o) was removed: it is not the lab's to remove",
		      planted[0], (int)stranger(), (unsigned)strangers_mode());
	ck_assert_msg(exists(planted[2], "keep"), "%s/keep, behind a symlink in a leftover, "
		      "was removed", planted[2]);
	ck_assert_msg(!exists(planted[1], ""), "%s, a leftover of ours whose keeper is gone, "
		      "is still there", planted[1]);
	ck_assert_msg(strstr(err, planted[0] + strlen("/tmp/")),
		      "the lab did not say it left %s alone: %s", planted[0], err);
}
END_TEST

/* ---- how many connections a private cluster takes ---- */

/* The lab's workers times its pool is how many connections it may open
 * at once: lab 6, whose ten spawned queries take the whole pool, with
 * -w 11 and the default pool of 10 may open 110, beyond PostgreSQL's
 * default max_connections of 100.  Eleven requests, one per worker
 * (--worker-connections 1: a worker holding one takes no other), each
 * with queries of 2 s so that all eleven are in flight at once: each is
 * answered, none with "too many clients". */
START_TEST(eleven_workers_with_full_pools_fit_the_private_cluster)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "-w", "11",
					    "--worker-connections", "1", "--delay-scale", "20", NULL };
	enum { N = 11 };
	const char *get = "GET /db?spawn=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	struct tl_proc p;
	struct tl_reply r[N];
	int fd[N], ok = 0, bad = 0;
	tl_start(&p, "lab6", args);
	double t0 = now();
	for (int k = 0; k < N; k++) {
		fd[k] = tl_connect(p.port);
		ck_assert_int_eq(write(fd[k], get, strlen(get)), (ssize_t)strlen(get));
	}
	for (int k = 0; k < N; k++) {
		tl_read_reply(fd[k], t0, 20 * model_slowness(), &r[k]);
		close(fd[k]);
		if (r[k].status == 200)
			ok++;
		else
			bad = k;
	}
	tl_stop(&p);
	ck_assert_msg(ok == N, "lab6 -w 11 (pool of 10): %d of %d /db?spawn=1 answered 200; "
		      "one: %d %.300s", ok, N, r[bad].status, r[bad].body);
}
END_TEST

/* More connections than a private cluster is made for: a usage error at
 * the start, naming the two options, rather than a cluster of gigabytes. */
START_TEST(more_connections_than_a_private_cluster_takes_is_a_usage_error)
{
	static const char *const args[] = { "-b", "127.0.0.1:0", "-w", "65", "--pool", "64",
					    NULL };
	char err[1024];
	int status = tl_run("lab6", args, err, sizeof err);
	ck_assert_msg(status == 2 && strstr(err, "-w 65") && strstr(err, "--pool 64") &&
		      strstr(err, "4160"), "lab6 -w 65 --pool 64: exit %d, %s", status, err);
}
END_TEST

static Suite *db_suite(void)
{
	Suite *su = suite_create("db");
	TCase *tc = tcase_create("labs");
	tcase_set_timeout(tc, 30 * model_slowness());
	tcase_add_loop_test(tc, both_labs_answer_db_with_the_notes_json, 0, 2);
	tcase_add_loop_test(tc, one_db_request_takes_ten_queries_in_both_labs, 0, 2);
	tcase_add_test(tc, lab5_serves_four_db_requests_one_after_another);
	tcase_add_test(tc, lab6_overlaps_four_db_requests);
	tcase_add_loop_test(tc, hello_waits_for_db_in_lab5_only, 0, 2);
	tcase_add_loop_test(tc, spawned_queries_overlap_in_lab6_only, 0, 2);
	tcase_add_loop_test(tc, sigterm_stops_a_busy_lab_and_its_cluster, 0, 2);
	tcase_add_loop_test(tc, spawned_queries_in_lab6_take_a_round_per_pool_load, 0, 2);
	tcase_add_loop_test(tc, a_database_that_is_down_is_named_in_the_answer, 0, 2);
	tcase_add_loop_test(tc, a_refused_login_is_named_in_the_answer, 0, 2);
	tcase_add_loop_test(tc, a_connection_dropped_mid_query_is_named_and_replaced, 0, 2);
	tcase_add_test(tc, sigterm_answers_queries_still_waiting_for_a_connection);
	tcase_add_test(tc, sigterm_cuts_short_queries_longer_than_the_grace);
	tcase_add_test(tc, an_answer_split_in_two_does_not_stop_lab6);
	tcase_add_loop_test(tc, a_database_that_never_answers_is_a_504_after_the_deadline, 0, 2);
	tcase_add_loop_test(tc, a_query_longer_than_db_timeout_is_cancelled_by_the_server, 0, 2);
	tcase_add_loop_test(tc, a_server_silent_mid_query_is_a_504_and_its_connection_dropped, 0, 2);
	tcase_add_loop_test(tc, help_names_the_database_deadline, 0, 2);
	tcase_add_test(tc, the_pool_hands_its_connection_over_in_turn);
	tcase_add_loop_test(tc, a_lab_without_db_runs_and_removes_its_own_cluster, 0, 2);
	tcase_add_test(tc, help_names_the_database_options);
	tcase_add_loop_test(tc, a_bad_option_is_a_usage_error, 0, 2);
	tcase_add_test(tc, eleven_workers_with_full_pools_fit_the_private_cluster);
	tcase_add_test(tc, more_connections_than_a_private_cluster_takes_is_a_usage_error);
	suite_add_tcase(su, tc);
	TCase *left = tcase_create("leftovers");	/* planted and removed around it */
	tcase_set_timeout(left, 30 * model_slowness());
	tcase_add_unchecked_fixture(left, plant_leftovers, remove_planted);
	tcase_add_test(left, a_lab_removes_only_its_own_users_leftovers_and_follows_no_symlink);
	suite_add_tcase(su, left);
	return su;
}

int main(void)
{
	char err[512];
	if (pgcluster_start(conninfo, sizeof conninfo, err, sizeof err) != 0) {
		fprintf(stderr, "test_db: cannot start a PostgreSQL cluster: %s\n", err);
		return EXIT_FAILURE;
	}
	dbmodel_db = conninfo;
	int rc = tl_run_suite(db_suite());
	pgcluster_stop();
	return rc;
}
