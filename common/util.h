/*
 * util: the few helpers every module shares.
 *
 * now() is a monotonic clock in seconds, the one clock every timing in the
 * kit is taken from; timespec_of() turns its seconds into what system
 * calls take.  die() is for broken invariants only: it prints the
 * message and aborts, loudly, because continuing would hide a bug.  Errors a
 * caller can act on (a bad client, a failed fetch) are returned, never die'd.
 * positive_arg() and bad_option() handle the command line the way every
 * program here does: a bad option or value is one line naming it, and
 * exit status 2.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>
#include <time.h>

double now(void);
/* Seconds (>= 0) as a timespec, as nanosleep(), ppoll(), sigtimedwait()
 * and timers take them: tv_nsec below a billion whatever the rounding. */
struct timespec timespec_of(double seconds);
/* Raise this process's soft limit on open files to the hard one; returns
 * the soft limit it has then (0 if it cannot tell). */
unsigned long long raise_file_limit(void);
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t size);
double positive_arg(const char *prog, const char *opt, const char *value);
_Noreturn void bad_option(const char *prog, int getopt_result, const char *arg);

#endif
