/*
 * util: the few helpers every module shares.
 *
 * now() is a monotonic clock in seconds, the one clock every timing in the
 * kit is taken from.  die() is for broken invariants only: it prints the
 * message and aborts, loudly, because continuing would hide a bug.  Errors a
 * caller can act on (a bad client, a failed fetch) are returned, never die'd.
 * positive_arg() and bad_option() handle the command line the way every
 * program here does: a bad option or value is one line naming it, and
 * exit status 2.
 */
#ifndef UTIL_H
#define UTIL_H

#include <stddef.h>

double now(void);
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *xcalloc(size_t n, size_t size);
double positive_arg(const char *prog, const char *opt, const char *value);
_Noreturn void bad_option(const char *prog, int getopt_result, const char *arg);

#endif
