#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "util.h"

double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct timespec timespec_of(double seconds)
{
	long long ns = (long long)(seconds * 1e9);
	return (struct timespec){ (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
}

unsigned long long raise_file_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* calloc that treats running out of memory as fatal: the kit's servers hold
 * a few small structures per connection, so this means the machine is gone. */
void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL)
		die("out of memory");
	return p;
}

/* A positive number (at most a million) from the command line, or exit 2. */
double positive_arg(const char *prog, const char *opt, const char *value)
{
	char *end;
	double v = strtod(value, &end);
	if (end == value || *end != '\0' || !(v > 0) || v > 1e6) {
		fprintf(stderr, "%s: %s: '%s' is not a positive number\n", prog, opt, value);
		exit(2);
	}
	return v;
}

/* getopt_long returned ':' (a value is missing) or '?' (unknown option). */
void bad_option(const char *prog, int getopt_result, const char *arg)
{
	if (getopt_result == ':')
		fprintf(stderr, "%s: %s needs a value (try --help)\n", prog, arg);
	else
		fprintf(stderr, "%s: unknown option '%s' (try --help)\n", prog, arg);
	exit(2);
}
