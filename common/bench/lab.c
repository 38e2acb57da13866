/*
 * lab.c: options, simulator, banner, routing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app.h"
#include "arbiter.h"
#include "fetch.h"
#include "lab.h"
#include "listen.h"
#include "page.h"
#include "proc.h"
#include "profile.h"
#include "upstream.h"
#include "util.h"

static http_handler *lab_hello;

static struct {
	const char *path;
	http_handler *handler;
} routes[4];			/* lab_route()'s, beside /hello */
static int nroutes;

void lab_route(const char *path, http_handler *handler)
{
	if (nroutes == (int)(sizeof routes / sizeof routes[0]))
		die("lab: too many routes");
	routes[nroutes].path = path;
	routes[nroutes++].handler = handler;
}

/* The handler for path: /hello's, a lab_route()'s, or NULL. */
static http_handler *handler_of(const char *path)
{
	if (strcmp(path, "/hello") == 0)
		return lab_hello;
	for (int i = 0; i < nroutes; i++)
		if (strcmp(path, routes[i].path) == 0)
			return routes[i].handler;
	return NULL;
}

static void route(const struct http_request *req, struct http_response *res)
{
	if (page_route(req, res))	/* the browser's: /, /about, CORS */
		return;
	http_handler *h = handler_of(req->path);
	if (!h) {
		http_error(res, 404);
	} else if (strcmp(req->method, "GET") != 0 && !req->head) {
		http_error(res, 405);
		/* OPTIONS /hello is page_route's, a CORS preflight */
		res->allow = strcmp(req->path, "/hello") == 0 ? HTTP_SERVER_ALLOW
							     : "GET, HEAD";
	} else {
		h(req, res);
	}
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [-b HOST:PORT] [-w N] [--threads N] [--worker-connections N]\n"
		"          [--timeout S] [--urls FILE] [--delay-scale F] [--request-timeout S]\n"
		"          [--fetch-timeout S] [--grace S] [--fresh-connections]\n"
		"  -b HOST:PORT      listen here (default 127.0.0.1:12345; port 0: any)\n"
		"  -w, --workers N   a master and N worker processes on one socket, as\n"
		"                    gunicorn's -w (default: one process, no master)\n"
		"  --threads N       sync worker: above 1, gunicorn's gthread worker, whose\n"
		"                    N threads serve at once (default 1; the evented\n"
		"                    worker ignores it)\n"
		"  --worker-connections N  evented and gthread workers: the most\n"
		"                    connections held at once (default 1000; the sync\n"
		"                    worker ignores it)\n"
		"  --timeout S       a worker silent for S seconds is aborted and\n"
		"                    replaced by the master (default 30; without -w,\n"
		"                    --timeout runs a master and one worker: -w 1)\n"
		"  --urls FILE       fetch these URLs (one per line, # comments)\n"
		"                    instead of the built-in upstream simulator\n"
		"  --delay-scale F   multiply the simulator's delays by F (default 1)\n"
		"  --request-timeout S  seconds a request may take to arrive (default 5)\n"
		"  --fetch-timeout S seconds one download may take (default 10)\n"
		"  --grace S         on SIGTERM, seconds requests in flight get to\n"
		"                    finish (default 0.5)\n"
		"  --fresh-connections  a new upstream connection for every download,\n"
		"                    as the note's requests.get() (default: reuse)\n"
		"  -h, --help        show this and exit\n", prog);
}

/* A whole number from 1 to max, or a usage error (exit 2). */
static int count_arg(const char *prog, const char *opt, const char *value, int max)
{
	double v = positive_arg(prog, opt, value);
	if (v > max || v != (double)(int)v) {
		fprintf(stderr, "%s: %s: '%s' is not a whole number from 1 to %d\n",
			prog, opt, value, max);
		exit(2);
	}
	return (int)v;
}

struct options {
	const char *bind;
	const char *urls;
	double scale;
	double request_timeout;
	double fetch_timeout;
	double grace;
	int workers;		/* 0: no -w, one process and no master */
	int threads;
	int worker_connections;
	double timeout;		/* the master's worker timeout */
	bool fresh;
};

static void parse(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {
		{ "urls", required_argument, NULL, 'u' },
		{ "delay-scale", required_argument, NULL, 's' },
		{ "request-timeout", required_argument, NULL, 'r' },
		{ "workers", required_argument, NULL, 'w' },
		{ "threads", required_argument, NULL, 'T' },
		{ "worker-connections", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fetch-timeout", required_argument, NULL, 'f' },
		{ "grace", required_argument, NULL, 'g' },
		{ "fresh-connections", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *prog = argv[0];
	bool timeout_given = false;
	int c;

	*o = (struct options){ "127.0.0.1:12345", NULL, 1.0, 5.0, 10.0, 0.5,
			       0, 1, 1000, 30.0, false };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:w:h", longs, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bind = optarg;
			if (!strchr(optarg, ':')) {
				fprintf(stderr, "%s: -b: '%s' is not HOST:PORT\n",
					prog, optarg);
				exit(2);
			}
			break;
		case 'u': o->urls = optarg; break;
		case 's': o->scale = positive_arg(prog, "--delay-scale", optarg); break;
		case 'r': o->request_timeout = positive_arg(prog, "--request-timeout", optarg); break;
		case 'w': o->workers = count_arg(prog, "-w", optarg, 1024); break;
		case 'T': o->threads = count_arg(prog, "--threads", optarg, 1024); break;
		case 'c': o->worker_connections = count_arg(prog, "--worker-connections", optarg, 1000000); break;
		case 't': o->timeout = positive_arg(prog, "--timeout", optarg); timeout_given = true; break;
		case 'f': o->fetch_timeout = positive_arg(prog, "--fetch-timeout", optarg); break;
		case 'g': o->grace = positive_arg(prog, "--grace", optarg); break;
		case 'F': o->fresh = true; break;
		case 'h': usage(stdout, prog); exit(0);
		default:
			bad_option(prog, c, argv[optind - 1]);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n",
			prog, argv[optind]);
		exit(2);
	}
	/* Only a master keeps a worker timeout: gunicorn always runs one,
	 * the lab only when asked (arbiter.h), and --timeout asks. */
	if (timeout_given && o->workers == 0)
		o->workers = 1;
}

int lab_check_options(int argc, char **argv)
{
	struct options o;
	parse(argc, argv, &o);
	optind = 0;	/* GNU getopt: lab_main() parses afresh */
	return o.workers ? o.workers : 1;
}

/* Open files: a client's connection, and in lab 4 ten downloads beside
 * it, each hold one.  A shell's usual soft limit of 1,024 would stop the
 * evented worker near 90 clients at once, long before it is busy, so the
 * soft limit goes up to the hard one; when even that is short of what
 * `clients` clients need (--worker-connections), say so once, at the start, rather than let the
 * failures speak later. */
enum { FILES_PER_CLIENT = 1 + 10 };

static void check_file_limit(const char *name, server_worker *worker, int clients)
{
	unsigned long long limit = raise_file_limit();
	unsigned long long want = (unsigned long long)FILES_PER_CLIENT * clients + 64;
	if (worker != serve_sync && limit > 0 && limit < want)
		fprintf(stderr, "%s: only %llu open files allowed (ulimit -n); "
			"about %d a client, so expect failures beyond %llu "
			"clients at once\n", name, limit, FILES_PER_CLIENT,
			limit / FILES_PER_CLIENT);
}

/* The model, in the words of gunicorn's command line: -k sync -w 4. */
static const char *gunicorn_words(const struct options *o, server_worker *worker)
{
	static char words[128];
	int n = snprintf(words, sizeof words, "-k %s",
			 worker == serve_sync ? "sync" : "gevent");
	if (o->workers)
		n += snprintf(words + n, sizeof words - n, " -w %d", o->workers);
	if (worker == serve_sync && o->threads > 1)
		n += snprintf(words + n, sizeof words - n, " --threads %d", o->threads);
	if (worker != serve_sync || o->threads > 1)
		snprintf(words + n, sizeof words - n, " --worker-connections %d",
			 o->worker_connections);
	return words;
}

/* The lab's first line, printed once it is ready: scripts and tests wait
 * for it, and read the port from it. */
static char *banner;

static void print_banner(void)
{
	fputs(banner, stdout);
	fflush(stdout);
}

int lab_main(int argc, char **argv, const char *name, const char *style,
	     server_worker *worker, http_handler *hello)
{
	struct options o;
	char err[512];

	proc_name_init(argc, argv);	/* (once: dblab_main() may have) */
	parse(argc, argv, &o);
	/* ps tells the lab's processes apart: with -w this one is gunicorn's
	 * master; without, it is the worker itself. */
	proc_name(o.workers ? "master" : "worker", o.workers ? "master" : "worker");
	check_file_limit(name, worker, o.worker_connections);
	/* The log is written a request at a time: app_log() flushes once
	 * after its dozen lines, rather than one write(2) a line -- at 1,000
	 * clients that is the difference between 1,000 system calls and
	 * 12,000 on the hub's one thread. */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	lab_hello = hello;
	page_set_facts(&(struct page_facts){ name,
		worker == serve_sync ? "sync" : "evented", style,
		o.urls ? -1 : profile_sum() * o.scale,
		o.urls ? -1 : profile_max() * o.scale });
	server_set_request_timeout(o.request_timeout);
	server_set_threads(o.threads);
	server_set_worker_connections(o.worker_connections);
	server_set_grace(o.grace);
	fetch_set_timeout(o.fetch_timeout);
	fetch_set_reuse(!o.fresh);

	if (o.urls && app_load_urls(o.urls, err, sizeof err) != 0) {
		fprintf(stderr, "%s: --urls: %s\n", argv[0], err);
		return 2;
	}
	if (!o.urls) {
		/* before listening, so the child holds no copy of our socket */
		int port = upstream_spawn(o.scale);
		if (port < 0)
			return 1;
		app_use_simulator(port);
		if (!o.workers) {	/* with -w, the master's alone (arbiter.h) */
			server_on_abort(upstream_kill);	/* its fetches then fail at once */
			server_on_child_exit(upstream_gone);
		}
	}
	int fd = server_listen(o.bind, err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], err);
		upstream_stop();
		return 1;
	}

	/* From here on, a stop signal waits for the worker to take it. */
	server_hold_stop_signals();

	/* The URL to try: -b's host, or 127.0.0.1 when -b named every address. */
	const char *host = o.bind;
	int hostlen = (int)(strrchr(o.bind, ':') - o.bind);
	if (hostlen == 0) {
		host = "127.0.0.1";
		hostlen = (int)strlen(host);
	}
	if (asprintf(&banner,
		     "%s: %s worker (%s), %s, %d URLs from %s; try: curl -s http://%.*s:%d/hello\n",
		     name, worker == serve_sync ? "sync" : "evented",
		     gunicorn_words(&o, worker), style,
		     app_url_count(), o.urls ? o.urls : "the upstream simulator",
		     hostlen, host, server_port(fd)) < 0) {
		fprintf(stderr, "%s: out of memory\n", argv[0]);
		upstream_stop();
		return 1;
	}

	/* As gunicorn does, -k sync with --threads N > 1 runs the threaded
	 * worker. */
	server_worker *run = worker == serve_sync && o.threads > 1 ? serve_threaded : worker;
	int status;
	if (o.workers) {	/* the master: its signals are held, its workers to come */
		print_banner();
		status = arbiter_run(o.workers, o.timeout, o.grace, fd, run, route,
				     o.urls ? NULL : upstream_kill);
	} else {		/* the banner once the worker is ready to accept */
		server_on_ready(print_banner);
		status = run(fd, route);
	}
	char why[160];
	if (upstream_lost(why, sizeof why)) {
		fprintf(stderr, "%s: %s; a lab cannot serve without it, so it "
			"stopped: start it again\n", name, why);
		status = 1;
	}
	upstream_stop();
	close(fd);
	free(banner);
	banner = NULL;
	return status;
}
