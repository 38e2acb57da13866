/*
 * fetch.c: one download with libcurl, blocking or on the hub.
 *
 * Blocking: curl_easy_perform() on one easy handle kept for the process,
 * so its connection to the upstream is reused from one fetch to the next.
 *
 * Cooperative: the calling fiber adds an easy handle to a multi handle
 * (one of a few shards, below) and suspends.  libcurl tells us which sockets and which timeout it cares
 * about (socket_cb, timer_cb); we mirror them as libev watchers on the hub.
 * When a watcher fires, curl_multi_socket_action() advances the transfers,
 * and finished ones put their fiber on the ready queue (check_done).  No
 * fiber ever runs inside a curl callback.  Each multi handle keeps a
 * connection cache, so connections are reused here too.
 *
 * io_abort() (io.h) cancels fetches too.  Blocking, libcurl notices it in
 * the progress callback.  Cooperative, that callback would run only when a
 * transfer's socket or timer fires -- never, for an upstream that says
 * nothing -- so each transfer is a cancellable wait (io_cancellable), which
 * the hub ends itself.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fiber.h"
#include "fetch.h"
#include "io.h"
#include "util.h"

enum { RECEIVE_BUFFER = 4096 };

static double fetch_timeout = 10;

void fetch_set_timeout(double seconds)
{
	fetch_timeout = seconds;
}

static bool reuse = true;

void fetch_set_reuse(bool keep)
{
	reuse = keep;
}

/* libcurl calls this often during a transfer; non-zero ends it. */
static int check_abort(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	(void)arg, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return io_aborted();
}

static size_t drop_body(char *data, size_t size, size_t n, void *arg)
{
	(void)data;
	struct fetch_result *r = arg;
	r->bytes += size * n;
	return size * n;
}

/* A thread's blocking handle is freed when the thread ends (the main
 * thread's lives as long as the process). */
static pthread_key_t easy_key;

static void easy_end(void *e)
{
	curl_easy_cleanup(e);
}

static void curl_global(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("fetch: curl_global_init failed");
	if (pthread_key_create(&easy_key, easy_end) != 0)
		die("fetch: pthread_key_create failed");
}

/* curl_global_init() is not thread-safe: once per process, whoever comes
 * first. */
static void curl_once(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_global);
}

/* The hosts never fetched through a proxy: loopback (the simulator, a
 * test's upstream) whatever http_proxy, https_proxy or ALL_PROXY say --
 * a proxy elsewhere cannot reach this machine's 127.0.0.1 -- and whatever
 * no_proxy (or NO_PROXY) lists, which CURLOPT_NOPROXY would otherwise
 * override.  Real URLs still go through the proxy the user set. */
static const char *no_proxy(void)
{
	static _Thread_local char *list;	/* per thread: no lock */
	const char *loopback = "localhost,127.0.0.0/8,::1";
	if (list)
		return list;
	const char *user = getenv("no_proxy");
	if (!user || !*user)
		user = getenv("NO_PROXY");
	if (!user || !*user)
		return loopback;
	if (strcmp(user, "*") == 0)
		return "*";	/* libcurl takes "*" only alone: no proxy at all */
	if (asprintf(&list, "%s,%s", loopback, user) < 0) {
		list = NULL;
		return loopback;
	}
	return list;
}

static CURL *easy_new(void)
{
	curl_once();
	CURL *e = curl_easy_init();
	if (!e)
		die("fetch: curl_easy_init failed");
	/* libcurl gives each handle a 16 KiB receive buffer by default.  Lab 4
	 * at 1,000 clients holds 10,000 handles at once, so that buffer alone
	 * would be 160 MB; the simulator's answers are a few hundred bytes,
	 * and a real page only takes a few more reads with a smaller one. */
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)RECEIVE_BUFFER);
	return e;
}

/* Everything both ways of fetching set on the handle before a transfer. */
static void easy_setup(CURL *e, const char *url, struct fetch_result *r)
{
	memset(r, 0, sizeof *r);
	r->start = now();
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, drop_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);	/* as requests.get */
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(fetch_timeout * 1000));
	curl_easy_setopt(e, CURLOPT_USERAGENT, "workerlab");
	curl_easy_setopt(e, CURLOPT_NOPROXY, no_proxy());
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, check_abort);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, (long)!reuse);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, (long)!reuse);
}

/* Fill in r from a finished transfer; returns fetch()'s result. */
static int easy_finish(CURL *e, CURLcode rc, struct fetch_result *r)
{
	r->end = now();
	if (rc != CURLE_OK) {
		r->status = 0;
		r->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
		snprintf(r->error, sizeof r->error, "%s", io_aborted() ?
			 "the server is stopping" : curl_easy_strerror(rc));
		return -1;
	}
	long connects = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
	r->reused = connects == 0;
	return (int)r->status;
}

static int fetch_blocking(const char *url, struct fetch_result *r)
{
	static _Thread_local CURL *easy;	/* a handle, and its connections, per thread */
	if (!easy) {
		easy = easy_new();
		pthread_setspecific(easy_key, easy);
	}
	easy_setup(easy, url, r);
	return easy_finish(easy, curl_easy_perform(easy), r);
}

/* ---- cooperative: libcurl's multi_socket API on the hub ---- */

/*
 * Why shards.  libcurl looks for a connection to reuse by walking
 * every connection its cache holds for the host, busy ones included, each
 * time a transfer starts; and curl_multi_remove_handle() walks the whole
 * cache again.  With 10,000 downloads in flight on one multi handle (lab 4
 * at 1,000 clients) those walks cost more than everything else the hub
 * does.  So the transfers are spread over shards -- multi handles with
 * caches of their own, all on the same hub -- each holding at most
 * SHARD_TRANSFERS at once: every walk is then short, and a shard's cache,
 * sized to match, never has to close a connection it could reuse.  A
 * shard beyond the first that has stood empty for SHARD_IDLE seconds is
 * closed, with its connections, so a burst does not keep thousands of idle
 * sockets open after it.
 */
enum { SHARD_TRANSFERS = 32 };
static const double SHARD_IDLE = 2.0;

struct shard {
	CURLM *multi;
	ev_timer timer;		/* libcurl's timeout for this multi */
	ev_timer idle;		/* closes an empty shard */
	int running;		/* transfers added and not yet removed */
	struct shard *next;
};
static struct shard *shards;

struct transfer {		/* lives on the fetching fiber's stack */
	struct io_cancellable wait;	/* first: io_abort() hands it back */
	bool done;
	CURLcode rc;
};

/* Easy handles of finished transfers, kept for the next ones: a handle
 * holds libcurl's per-transfer buffers, which are not worth rebuilding
 * every time, but beyond this many the memory is better given back. */
enum { IDLE_HANDLES = 1024 };
static CURL *idle[IDLE_HANDLES];
static int nidle;

static void check_done(CURLM *multi)
{
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct transfer *t;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		t->rc = m->data.result;
		t->done = true;
		fiber_wake(t->wait.f);
	}
}

static void on_socket_event(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l;
	struct shard *sh = w->data;
	int action = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
		     (revents & EV_WRITE ? CURL_CSELECT_OUT : 0) |
		     (revents & EV_ERROR ? CURL_CSELECT_ERR : 0);
	int running;
	curl_multi_socket_action(sh->multi, w->fd, action, &running);
	check_done(sh->multi);
}

static void on_timeout(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l, (void)revents;
	struct shard *sh = w->data;
	int running;
	curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(sh->multi);
}

/* io_abort() was called: end this transfer now, whether or not libcurl
 * would ever call us back for it.  Its fiber then takes its handle out of
 * its multi, as after any other end. */
static void cancel_transfer(struct io_cancellable *c)
{
	struct transfer *t = (struct transfer *)c;
	if (!t->done) {
		t->rc = CURLE_ABORTED_BY_CALLBACK;
		t->done = true;
		fiber_wake(c->f);
	}
}

/* libcurl: "watch socket s for `what`" (or stop watching it). */
static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *sockp)
{
	(void)e;
	struct shard *sh = userp;
	struct ev_loop *loop = fiber_loop();
	ev_io *w = sockp;

	if (what == CURL_POLL_REMOVE) {
		if (w) {
			ev_io_stop(loop, w);
			free(w);
			curl_multi_assign(sh->multi, s, NULL);
		}
		return 0;
	}
	if (!w) {
		w = xcalloc(1, sizeof *w);
		curl_multi_assign(sh->multi, s, w);
	} else {
		ev_io_stop(loop, w);
	}
	int events = (what & CURL_POLL_IN ? EV_READ : 0) |
		     (what & CURL_POLL_OUT ? EV_WRITE : 0);
	ev_io_init(w, on_socket_event, s, events);
	w->data = sh;
	ev_io_start(loop, w);
	return 0;
}

/* libcurl: "call me back in timeout_ms" (-1: never mind). */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	(void)m;
	struct shard *sh = userp;
	struct ev_loop *loop = fiber_loop();
	ev_timer_stop(loop, &sh->timer);
	if (timeout_ms >= 0) {
		ev_now_update(loop);
		ev_timer_set(&sh->timer, timeout_ms / 1000.0, 0);
		ev_timer_start(loop, &sh->timer);
	}
	return 0;
}

static void shard_close(struct shard *sh)
{
	struct ev_loop *loop = fiber_loop();
	struct shard **p = &shards;
	while (*p != sh)
		p = &(*p)->next;
	*p = sh->next;
	ev_timer_stop(loop, &sh->idle);
	curl_multi_cleanup(sh->multi);	/* closes its connections */
	ev_timer_stop(loop, &sh->timer);	/* cleanup may have set it */
	free(sh);
}

static void on_idle(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l, (void)revents;
	struct shard *sh = w->data;
	if (sh->running == 0)
		shard_close(sh);
}

static struct shard *shard_new(void)
{
	struct shard *sh = xcalloc(1, sizeof *sh);
	sh->multi = curl_multi_init();
	if (!sh->multi)
		die("fetch: curl_multi_init failed");
	curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
	curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
	/* libcurl counts busy connections against this limit too, and
	 * closes an idle one whenever a transfer ends above it; a shard never
	 * runs more transfers than this, so it never has to. */
	curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, (long)SHARD_TRANSFERS);
	ev_timer_init(&sh->timer, on_timeout, 0, 0);
	sh->timer.data = sh;
	ev_timer_init(&sh->idle, on_idle, SHARD_IDLE, 0);
	sh->idle.data = sh;
	struct shard **p = &shards;
	while (*p)
		p = &(*p)->next;
	*p = sh;
	return sh;
}

/* The first shard with room, oldest first, or a new one at the end.
 * Filling them always in the same order means a wave of transfers finds
 * the connections the wave before it left, shard by shard; and the first
 * shard, never closed, is where light load always finds its own. */
static struct shard *shard_pick(void)
{
	for (struct shard *sh = shards; sh; sh = sh->next)
		if (sh->running < SHARD_TRANSFERS)
			return sh;
	return shard_new();
}

static void shard_enter(struct shard *sh)
{
	if (sh->running++ == 0)
		ev_timer_stop(fiber_loop(), &sh->idle);
}

static void shard_leave(struct shard *sh)
{
	if (--sh->running == 0 && sh != shards)
		ev_timer_start(fiber_loop(), &sh->idle);
}

static int fetch_cooperative(const char *url, struct fetch_result *r)
{
	CURL *e = nidle > 0 ? idle[--nidle] : easy_new();
	struct shard *sh = shard_pick();
	struct transfer t = { .wait = { .f = fiber_self(), .cancel = cancel_transfer } };

	easy_setup(e, url, r);
	curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
	io_cancellable(&t.wait);
	shard_enter(sh);
	if (io_aborted()) {	/* it came before the hub could hear of it */
		t.rc = CURLE_ABORTED_BY_CALLBACK;
		t.done = true;
	}
	/* $begin coop-fetch: run the transfer on the multi handle; suspend this fiber until check_done() sets t.done and t.rc */
	CURLMcode mc = curl_multi_add_handle(sh->multi, e);
	if (mc != CURLM_OK)
		die("fetch: curl_multi_add_handle: %s", curl_multi_strerror(mc));
	while (!t.done)
		fiber_suspend("fetch");
	curl_multi_remove_handle(sh->multi, e);
	/* $end coop-fetch; stub: t.rc = curl_easy_perform(e); */
	shard_leave(sh);
	io_cancellable_end(&t.wait);
	int status = easy_finish(e, t.rc, r);
	if (nidle < IDLE_HANDLES)
		idle[nidle++] = e;
	else
		curl_easy_cleanup(e);
	return status;
}

int fetch(const char *url, struct fetch_result *r)
{
	if (io_aborted()) {
		*r = (struct fetch_result){ .start = now(), .end = now(),
					    .error = "the server is stopping" };
		return -1;
	}
	return io_patched() ? fetch_cooperative(url, r) : fetch_blocking(url, r);
}
