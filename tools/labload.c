/*
 * labload: a small load client for the labs, in the spirit of hey and wrk.
 *
 *   ./labload URL [-c N] [-n M] [--timeout S] [--csv FILE] [--fresh]
 *
 * It keeps N requests to URL in flight until M have finished, then prints
 * the total time, requests per second, the latency distribution, the HTTP
 * status codes and the errors.  With --csv it also writes one row per
 * request -- index,start,end,latency,status, times in seconds since the
 * first request was sent -- which is what tools/bench.sh plots as a
 * timeline.
 *
 * Why our own client rather than hey or wrk: the lesson is *when* each of
 * N simultaneous requests ends (the sync labs' staircase, the evented
 * labs' overlap), so we want every request's start and end, not only a
 * histogram; and the kit may depend on nothing beyond Debian's libcurl.
 * It is one thread on libcurl's multi interface -- the same machinery the
 * evented worker uses for fetch() -- so "in flight" means truly concurrent
 * connections, not a thread pool's best effort.
 *
 * It only ever contacts URL: no proxy from the environment, no redirects,
 * http and https only.  Every request has a deadline (--timeout, default
 * 60 s), so a run always ends.  Exit status: 0 when every request got a
 * 2xx answer, 1 when some did not, 2 for bad usage.
 */
#include <curl/curl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "util.h"

enum { MAX_CONCURRENCY = 20000, MAX_REQUESTS = 1000000, MAX_STATUS = 600 };

struct options {
	const char *url;
	long concurrency;
	long requests;
	double timeout;
	const char *csv;
	bool fresh;		/* a new connection for every request */
};

/* One request's fate; status 0 means no HTTP answer arrived (see err). */
struct request {
	double start, end;
	long status;
	CURLcode err;
};

struct run {
	const struct options *o;
	CURLM *multi;
	struct request *req;
	long sent, done;
	double t0;		/* now() when the first request was sent */
	double t_end;		/* now() when the last one finished */
};

/* ---- options ---- */

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s URL [-c N] [-n M] [--timeout S] [--csv FILE] [--fresh]\n"
		"  -c N         requests kept in flight at once (default 1)\n"
		"  -n M         requests in all (default 1)\n"
		"  --timeout S  seconds one request may take (default 60)\n"
		"  --csv FILE   one row per request: index,start,end,latency,status\n"
		"               (seconds since the first request was sent)\n"
		"  --fresh      a new connection for every request, none kept\n"
		"  -h, --help   show this and exit\n"
		"exit status: 0 all answers 2xx, 1 otherwise, 2 bad usage\n", prog);
}

/* An integer in [1, max], or exit 2 naming the option. */
static long count_arg(const char *prog, const char *opt, const char *s, long max)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end != '\0' || v < 1 || v > max) {
		fprintf(stderr, "%s: %s: '%s' is not a whole number from 1 to %ld\n",
			prog, opt, s, max);
		exit(2);
	}
	return v;
}

static void parse(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "csv", required_argument, NULL, 'o' },
		{ "fresh", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = argv[0];
	int c;

	*o = (struct options){ NULL, 1, 1, 60.0, NULL, false };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:n:h", longs, NULL)) != -1) {
		switch (c) {
		case 'c': o->concurrency = count_arg(prog, "-c", optarg, MAX_CONCURRENCY); break;
		case 'n': o->requests = count_arg(prog, "-n", optarg, MAX_REQUESTS); break;
		case 't': o->timeout = positive_arg(prog, "--timeout", optarg); break;
		case 'o': o->csv = optarg; break;
		case 'f': o->fresh = true; break;
		case 'h': usage(stdout, prog); exit(0);
		default:
			bad_option(prog, c, argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "%s: URL missing (try --help)\n", prog);
		exit(2);
	}
	if (optind + 1 < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n",
			prog, argv[optind + 1]);
		exit(2);
	}
	o->url = argv[optind];
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
		fprintf(stderr, "%s: URL: '%s' is not an http:// or https:// URL\n",
			prog, o->url);
		exit(2);
	}
	if (o->concurrency > o->requests)	/* more would never be used */
		o->concurrency = o->requests;
}

/* Each connection in flight is a file descriptor: ask for enough of them
 * up front, so that -c 1000 fails here, by name, rather than as a stream
 * of "couldn't connect" errors that look like the server's fault. */
static void raise_fd_limit(const char *prog, long concurrency)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)concurrency + 64;	/* stdio, csv, curl's own */

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		fprintf(stderr, "%s: warning: -c %ld needs about %lu open files, "
			"the limit is %lu (ulimit -n)\n", prog, concurrency,
			(unsigned long)want, (unsigned long)rl.rlim_cur);
}

/* ---- the run ---- */

/* The body is not ours to keep: count it as received and drop it. */
static size_t discard(char *data, size_t size, size_t nmemb, void *user)
{
	(void)data;
	(void)user;
	return size * nmemb;
}

static CURL *new_handle(const struct options *o)
{
	CURL *h = curl_easy_init();
	if (!h)
		die("labload: curl_easy_init failed");
	curl_easy_setopt(h, CURLOPT_URL, o->url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* Only ever the URL given: an http_proxy in the environment or a
	 * redirect must not send load anywhere else. */
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* --fresh: every request pays for its connection, as a client that
	 * opens one per request does; what one request costs the server then
	 * includes accepting it. */
	if (o->fresh) {
		curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(h, CURLOPT_FORBID_REUSE, 1L);
	}
	return h;
}

/* Send request number r->sent on handle h. */
static void send_next(struct run *r, CURL *h)
{
	long i = r->sent++;

	curl_easy_setopt(h, CURLOPT_PRIVATE, (void *)(intptr_t)i);
	r->req[i].start = now();
	if (i == 0)
		r->t0 = r->req[i].start;
	if (curl_multi_add_handle(r->multi, h) != CURLM_OK)
		die("labload: curl_multi_add_handle failed");
}

/* Record a finished request, and reuse its handle for the next one (it
 * keeps its connection when the server allows keep-alive, as hey does). */
static void finish(struct run *r, CURLMsg *msg)
{
	CURL *h = msg->easy_handle;
	CURLcode err = msg->data.result;
	void *priv;

	curl_easy_getinfo(h, CURLINFO_PRIVATE, &priv);
	struct request *q = &r->req[(intptr_t)priv];
	q->end = now();
	q->err = err;
	q->status = 0;
	if (err == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &q->status);
	r->done++;
	r->t_end = q->end;

	curl_multi_remove_handle(r->multi, h);
	if (r->sent < r->o->requests)
		send_next(r, h);
	else
		curl_easy_cleanup(h);
}

/* Run the whole load.  Bounded: each request ends by its own deadline,
 * and a new one starts only when one ends, until M have been sent. */
static void run_load(struct run *r)
{
	int running = 0;

	r->multi = curl_multi_init();
	if (!r->multi)
		die("labload: curl_multi_init failed");
	for (long i = 0; i < r->o->concurrency; i++)
		send_next(r, new_handle(r->o));

	while (r->done < r->o->requests) {
		if (curl_multi_perform(r->multi, &running) != CURLM_OK)
			die("labload: curl_multi_perform failed");
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(r->multi, &left)))
			if (msg->msg == CURLMSG_DONE)
				finish(r, msg);
		if (r->done < r->o->requests)
			curl_multi_poll(r->multi, NULL, 0, 1000, NULL);
	}
	curl_multi_cleanup(r->multi);
}

/* ---- the report ---- */

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted[0..n-1], n > 0. */
static double percentile(const double *sorted, long n, double p)
{
	long rank = (long)(p / 100.0 * n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

/* Latencies of the requests that got an HTTP answer, sorted; *n of them.
 * Failed requests are left out, as wrk does: a connection refused in 1 ms
 * is not a fast answer.  They are counted under "Errors" instead. */
static double *answered_latencies(const struct run *r, long *n)
{
	double *lat = xcalloc(r->o->requests, sizeof *lat);
	*n = 0;
	for (long i = 0; i < r->o->requests; i++)
		if (r->req[i].status)
			lat[(*n)++] = r->req[i].end - r->req[i].start;
	qsort(lat, *n, sizeof *lat, by_value);
	return lat;
}

static void print_latency(const struct run *r)
{
	long n;
	double *lat = answered_latencies(r, &n);
	double sum = 0;

	for (long i = 0; i < n; i++)
		sum += lat[i];
	printf("\nLatency (%ld answered):\n", n);
	if (n > 0) {
		printf("  Average:\t%.4f secs\n", sum / n);
		printf("  Fastest:\t%.4f secs\n", lat[0]);
		printf("  p50:\t\t%.4f secs\n", percentile(lat, n, 50));
		printf("  p90:\t\t%.4f secs\n", percentile(lat, n, 90));
		printf("  p99:\t\t%.4f secs\n", percentile(lat, n, 99));
		printf("  Slowest:\t%.4f secs\n", lat[n - 1]);
	}
	free(lat);
}

/* Status codes and errors; returns how many requests were not 2xx. */
static long print_outcomes(const struct run *r)
{
	long status[MAX_STATUS] = { 0 }, errors[CURL_LAST] = { 0 };
	long bad = 0, nerr = 0;

	for (long i = 0; i < r->o->requests; i++) {
		const struct request *q = &r->req[i];
		if (q->status > 0 && q->status < MAX_STATUS)
			status[q->status]++;
		else if (q->status == 0 && q->err > 0 && q->err < CURL_LAST) {
			errors[q->err]++;
			nerr++;
		}
		bad += q->status < 200 || q->status > 299;
	}
	printf("\nStatus code distribution:\n");
	for (int s = 0; s < MAX_STATUS; s++)
		if (status[s])
			printf("  [%d]\t%ld responses\n", s, status[s]);
	printf("\nErrors: %ld\n", nerr);
	for (int e = 0; e < CURL_LAST; e++)
		if (errors[e])
			printf("  [%ld]\t%s\n", errors[e], curl_easy_strerror(e));
	return bad;
}

/* Returns the exit status: 0 when every answer was 2xx. */
static int print_summary(const struct run *r)
{
	double total = r->t_end - r->t0;

	printf("Summary: %ld requests to %s, %ld at a time\n",
	       r->o->requests, r->o->url, r->o->concurrency);
	printf("  Total:\t%.4f secs\n", total);
	printf("  Requests/sec:\t%.4f\n", total > 0 ? r->o->requests / total : 0.0);
	print_latency(r);
	return print_outcomes(r) ? 1 : 0;
}

static void write_csv(const struct run *r, const char *prog)
{
	FILE *f = fopen(r->o->csv, "w");
	if (!f) {
		fprintf(stderr, "%s: --csv: cannot write %s: %m\n", prog, r->o->csv);
		exit(1);
	}
	fprintf(f, "index,start,end,latency,status\n");
	for (long i = 0; i < r->o->requests; i++) {
		const struct request *q = &r->req[i];
		fprintf(f, "%ld,%.6f,%.6f,%.6f,%ld\n", i, q->start - r->t0,
			q->end - r->t0, q->end - q->start, q->status);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: --csv: writing %s failed: %m\n", prog, r->o->csv);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct options o;
	struct run r = { 0 };

	parse(argc, argv, &o);
	/* Fail on an unwritable --csv before the load, not after it. */
	if (o.csv) {
		FILE *f = fopen(o.csv, "a");
		if (!f) {
			fprintf(stderr, "%s: --csv: cannot write %s: %m\n", argv[0], o.csv);
			return 1;
		}
		fclose(f);
	}
	raise_fd_limit(argv[0], o.concurrency);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("labload: curl_global_init failed");

	r.o = &o;
	r.req = xcalloc(o.requests, sizeof *r.req);
	run_load(&r);
	int status = print_summary(&r);
	if (o.csv)
		write_csv(&r, argv[0]);
	free(r.req);
	curl_global_cleanup();
	return status;
}
