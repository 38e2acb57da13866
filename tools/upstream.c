/*
 * upstream: the slow upstream simulator on its own, for instructors and
 * tests.  The labs start their own copy; this one is for poking at it.
 */
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "listen.h"
#include "profile.h"
#include "simulator.h"
#include "upstream.h"
#include "util.h"

static void usage(FILE *out, const char *prog)
{
	fprintf(out, "usage: %s [-b HOST:PORT] [--delay-scale F] [--request-timeout S]\n"
		"          [--profile]\n"
		"  serves /qq /163 /example /nowamagic (the note's profile,\n"
		"  delays times F) and /delay/<ms>; misbehaves on /status/<code>,\n"
		"  /reset, /garbage and /hang; default 127.0.0.1:8000\n"
		"  --request-timeout S  seconds a request may take to arrive and\n"
		"             its answer to leave (default 5, as the labs')\n"
		"  --profile  print the note's ten URLs with their delays, then S\n"
		"             (their sum) and M (the longest), times F, and exit\n", prog);
}

/* One line per URL, then "S <sum>" and "M <max>": for people and scripts. */
static void print_profile(double scale)
{
	for (int i = 0; i < PROFILE_URLS; i++) {
		const struct profile_url *u = profile_url(i);
		printf("%-11s %.3f  %s\n", u->path, u->delay * scale, u->site);
	}
	printf("S %.4f\nM %.4f\n", profile_sum() * scale, profile_max() * scale);
}

/* Tell an instructor about to load the simulator when the open-file limit
 * (ulimit -Hn) holds it below UPSTREAM_CAPACITY connections. */
static void say_capacity(void)
{
	enum { SPARE_FDS = 16 };	/* listener, epoll, stdio */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max == RLIM_INFINITY ||
	    rl.rlim_max >= (rlim_t)UPSTREAM_CAPACITY + SPARE_FDS)
		return;
	fprintf(stderr, "upstream: the open-file limit (ulimit -Hn) is %llu, so "
		"it holds at most %llu connections at once, not %d\n",
		(unsigned long long)rl.rlim_max,
		(unsigned long long)(rl.rlim_max > SPARE_FDS ? rl.rlim_max - SPARE_FDS : 0),
		UPSTREAM_CAPACITY);
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "delay-scale", required_argument, NULL, 's' },
		{ "request-timeout", required_argument, NULL, 'r' },
		{ "profile", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *bind = "127.0.0.1:8000";
	double scale = 1.0;
	bool profile = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":b:h", longs, NULL)) != -1) {
		switch (c) {
		case 'b': bind = optarg; break;
		case 's': scale = positive_arg(argv[0], "--delay-scale", optarg); break;
		case 'r':
			simulator_set_request_timeout(positive_arg(argv[0], "--request-timeout",
								   optarg));
			break;
		case 'p': profile = true; break;
		case 'h': usage(stdout, argv[0]); return 0;
		default:
			bad_option(argv[0], c, argv[optind - 1]);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return 2;
	}
	if (profile) {
		print_profile(scale);
		return 0;
	}
	char err[512];
	int fd = server_listen(bind, err, sizeof err);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", argv[0], err);
		return 1;
	}
	say_capacity();
	sigset_t stops;		/* from the banner on, a stop waits for the handler */
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigprocmask(SIG_BLOCK, &stops, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("upstream: delay scale %g, serving http://127.0.0.1:%d/ "
	       "(/qq /163 /example /nowamagic /delay/<ms>)\n", scale, server_port(fd));
	return upstream_serve(fd, scale);
}
