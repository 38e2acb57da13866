/*
 * The fiber runtime: order of spawn, join, yield and sleep; waits on fds;
 * thousands of fibers; a stack overflow caught and named; a signal that
 * comes in a fiber handled before the next one runs.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fiber.h"
#include "util.h"
#include "testlib.h"

static char trail[256];		/* what the fibers did, in order */

static void note(const char *what)
{
	strncat(trail, what, sizeof trail - strlen(trail) - 1);
}

static void say(void *arg)
{
	note(arg);
}

START_TEST(spawned_fibers_run_in_order_once_the_spawner_waits)
{
	trail[0] = '\0';
	fiber *a = fiber_spawn(say, "a", "a");
	fiber *b = fiber_spawn(say, "b", "b");
	fiber *c = fiber_spawn(say, "c", "c");
	note("main ");
	fiber_join(b);
	fiber_join(a);
	fiber_join(c);
	ck_assert_str_eq(trail, "main abc");
	ck_assert_int_eq(fiber_count(), 0);
}
END_TEST

static void twice(void *arg)
{
	note(arg);
	fiber_yield();
	note(arg);
}

START_TEST(yield_lets_the_other_fibers_run)
{
	trail[0] = '\0';
	fiber *a = fiber_spawn(twice, "a", "a");
	fiber *b = fiber_spawn(twice, "b", "b");
	fiber_join(a);
	fiber_join(b);
	ck_assert_str_eq(trail, "abab");
}
END_TEST

struct nap { double seconds; const char *name; };

static void nap(void *arg)
{
	struct nap *n = arg;
	fiber_sleep(n->seconds);
	note(n->name);
}

START_TEST(sleeping_fibers_wake_in_order_of_their_deadlines)
{
	struct nap naps[] = { { 0.06, "3" }, { 0.02, "1" }, { 0.04, "2" } };
	fiber *f[3];
	trail[0] = '\0';
	double start = now();
	for (int i = 0; i < 3; i++)
		f[i] = fiber_spawn(nap, &naps[i], naps[i].name);
	for (int i = 0; i < 3; i++)
		fiber_join(f[i]);
	ck_assert_str_eq(trail, "123");
	/* they slept side by side: the longest nap, not the sum (0.12 s) */
	ck_assert_double_ge(now() - start, 0.06);
}
END_TEST

static int pipe_fds[2];

static void write_later(void *arg)
{
	(void)arg;
	fiber_sleep(0.02);
	ck_assert_int_eq(write(pipe_fds[1], "x", 1), 1);
}

START_TEST(wait_fd_returns_when_the_fd_is_ready_or_the_timeout_passes)
{
	ck_assert_int_eq(pipe(pipe_fds), 0);
	ck_assert_int_eq(fiber_wait_fd(pipe_fds[0], FIBER_READ, 0.02), 0);
	fiber *w = fiber_spawn(write_later, NULL, "writer");
	ck_assert_int_eq(fiber_wait_fd(pipe_fds[0], FIBER_READ, 5), 1);
	fiber_join(w);
}
END_TEST

static void wake_main(void *arg)
{
	fiber_wake(arg);
}

START_TEST(wake_ends_a_wait_early)
{
	ck_assert_int_eq(pipe(pipe_fds), 0);
	fiber *w = fiber_spawn(wake_main, fiber_self(), "waker");
	ck_assert_int_eq(fiber_wait_fd(pipe_fds[0], FIBER_READ, 5), -1);
	fiber_join(w);
}
END_TEST

static void nap_a_while(void *arg)
{
	(void)arg;
	fiber_sleep(0.02);
}

START_TEST(a_fiber_says_what_it_waits_for)
{
	fiber *f = fiber_spawn(nap_a_while, NULL, "napper");
	ck_assert_str_eq(fiber_name(f), "napper");
	ck_assert_str_eq(fiber_state(f), "ready");
	fiber_yield();		/* the napper runs first, up to its sleep */
	ck_assert_str_eq(fiber_state(f), "sleep");
	ck_assert_str_eq(fiber_state(fiber_self()), "running");
	fiber_join(f);
}
END_TEST

static int counted;

static void count(void *arg)
{
	(void)arg;
	fiber_sleep(0.01);
	counted++;
}

START_TEST(ten_thousand_fibers_run_and_are_freed)
{
	enum { N = 10000 };
	fiber **f = calloc(N, sizeof *f);
	for (int i = 0; i < N; i++)
		f[i] = fiber_spawn(count, NULL, "many");
	ck_assert_int_eq(fiber_count(), N);
	for (int i = 0; i < N; i++)
		fiber_join(f[i]);
	ck_assert_int_eq(counted, N);
	ck_assert_int_eq(fiber_count(), 0);
	free(f);
}
END_TEST

static void detached(void *arg)
{
	fiber_sleep(0.01);
	note(arg);
}

START_TEST(detached_fibers_are_freed_when_they_end)
{
	trail[0] = '\0';
	fiber_detach(fiber_spawn(detached, "d", "detached"));
	ck_assert_int_eq(fiber_count(), 1);
	fiber_sleep(0.05);
	ck_assert_str_eq(trail, "d");
	ck_assert_int_eq(fiber_count(), 0);
}
END_TEST

static volatile int depth_limit = 1 << 30;	/* volatile: the compiler
						   cannot see it never ends */
static int deep(int n)
{
	volatile char frame[1024];
	frame[0] = (char)n;
	return n < depth_limit ? deep(n + 1) + frame[0] : 0;
}

static void overflow(void *arg)
{
	(void)arg;
	deep(0);
}

START_TEST(a_stack_overflow_is_reported_with_the_fiber_name)
{
	int err[2];
	ck_assert_int_eq(pipe(err), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(err[1], 2);
		fiber_join(fiber_spawn(overflow, NULL, "deep"));
		_exit(0);
	}
	close(err[1]);
	char msg[256] = "";
	size_t used = 0;
	ssize_t n;
	while (used < sizeof msg - 1 &&
	       (n = read(err[0], msg + used, sizeof msg - 1 - used)) > 0)
		used += (size_t)n;
	msg[used] = '\0';
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		      "the overflow did not abort the process (status %d)", status);
	ck_assert_msg(strstr(msg, "stack overflow in fiber 'deep'"),
		      "no message naming the fiber; stderr was: %s", msg);
}
END_TEST

/* A signal that comes while a fiber runs is handled by the time the next
 * fiber runs, even if the fiber it came in then waits for good.  The
 * handler of a plain build runs at once.  Under ThreadSanitizer (make
 * tsan) it runs at the next call the runtime intercepts -- of the fiber
 * the signal came in -- unless a switch hands it on (fiber.c's
 * switch_to): a worker whose SIGTERM came that way never stopped.  The
 * fiber asks the kernel for the signal itself, by a system call the
 * runtime does not intercept, so it comes in this fiber, every time. */
static volatile sig_atomic_t handled;

static void on_usr1(int sig)
{
	(void)sig;
	handled = 1;
}

static void take_a_signal_then_wait(void *arg)
{
	(void)arg;
	syscall(SYS_tgkill, getpid(), gettid(), SIGUSR1);
	fiber_suspend("nothing, until the test ends");
}

START_TEST(a_signal_is_handled_though_its_fiber_waits_for_good)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	fiber *f = fiber_spawn(take_a_signal_then_wait, NULL, "taker");
	fiber_yield();		/* it runs, takes SIGUSR1, waits; we go on */
	ck_assert_str_eq(fiber_state(f), "nothing, until the test ends");
	ck_assert_msg(handled, "the fiber that took SIGUSR1 waits, and its "
		      "handler has not run");
	fiber_wake(f);
	fiber_join(f);
}
END_TEST

static void nothing(void *arg)
{
	(void)arg;
}

/* fiber.h: out of memory, fiber_spawn says no; it does not end the process. */
START_TEST(spawn_returns_null_when_memory_runs_out)
{
	fiber_join(fiber_spawn(nothing, NULL, "first"));	/* the hub exists */
	if (!tl_leave_room(64 * 1024))
		return;		/* not under AddressSanitizer */
	fiber *f[64];
	int n = 0;
	while (n < 64 && (f[n] = fiber_spawn(nothing, NULL, "more")) != NULL)
		n++;
	ck_assert_msg(n < 64, "64 fibers of 256 KiB fitted in 64 KiB of address space");
	for (int i = 0; i < n; i++)
		fiber_join(f[i]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fiber");
	TCase *tc = tcase_create("runtime");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, spawned_fibers_run_in_order_once_the_spawner_waits);
	tcase_add_test(tc, yield_lets_the_other_fibers_run);
	tcase_add_test(tc, sleeping_fibers_wake_in_order_of_their_deadlines);
	tcase_add_test(tc, wait_fd_returns_when_the_fd_is_ready_or_the_timeout_passes);
	tcase_add_test(tc, wake_ends_a_wait_early);
	tcase_add_test(tc, a_fiber_says_what_it_waits_for);
	tcase_add_test(tc, ten_thousand_fibers_run_and_are_freed);
	tcase_add_test(tc, detached_fibers_are_freed_when_they_end);
	tcase_add_test(tc, a_stack_overflow_is_reported_with_the_fiber_name);
	tcase_add_test(tc, spawn_returns_null_when_memory_runs_out);
	TCase *sig = tcase_create("signals");
	tcase_add_test(sig, a_signal_is_handled_though_its_fiber_waits_for_good);
	suite_add_tcase(s, sig);
	/* Built with ThreadSanitizer (make tsan), only the signals: the
	 * runtime's checks of ten thousand fibers and of an address-space
	 * limit ask more memory, and a looser limit, than its allocator can
	 * give.  The other builds run both. */
#if !defined(__SANITIZE_THREAD__)
	suite_add_tcase(s, tc);
#endif
	return tl_run_suite(s);
}
