/*
 * fiber.c: stacks, context switches and the hub.
 *
 * Every switch goes through the hub: a waiting fiber switches to the hub,
 * the hub switches to the next ready fiber.  That keeps the scheduling
 * decision in one place (hub_main) and lets libev callbacks stay trivial.
 */
#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "fiber.h"
#include "util.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(lo, hi) 0
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

/* ThreadSanitizer must be told of every switch, or it takes one stack for
 * another and reports races that are not there (make tsan). */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#else
#define __tsan_get_current_fiber() NULL
#define __tsan_create_fiber(flags) NULL
#define __tsan_destroy_fiber(f) ((void)(f))
#define __tsan_switch_to_fiber(f, flags) ((void)(f))
#endif

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define ASAN_UNPOISON_MEMORY_REGION(addr, size) ((void)(addr), (void)(size))
#define __sanitizer_start_switch_fiber(save, lo, size) ((void)(save))
#define __sanitizer_finish_switch_fiber(save, lo, size) ((void)(save))
#endif

/* Generous, because libcurl runs on these stacks: curl_easy_perform() in
 * lab 2's download fibers, curl_multi_socket_action() in the hub's
 * callbacks (the hub has a stack like any other fiber's). */
enum { STACK_SIZE = 256 * 1024 };

struct fiber {
	ucontext_t ctx;
	void (*fn)(void *);
	void *arg;
	const char *name;
	const char *state;	/* what it waits for; "running", "ready", ... */
	char *map;		/* mmap'd region: guard page, then stack */
	size_t map_size;
	const void *stack_lo;	/* for AddressSanitizer's fiber switches */
	size_t stack_size;
	unsigned valgrind_id;
	void *tsan;		/* ThreadSanitizer's fiber, when it runs */
	bool done, detached, suspended, queued;
	fiber *joiner;		/* the fiber waiting in fiber_join, if any */
	fiber *next;		/* ready queue link */
};

/* Per thread, all of it (fiber.h): each thread that uses fibers has its
 * own main fiber, hub, ready queue and libev loop.  `current` is set by
 * init(), which every entry point that reads it calls first. */
static _Thread_local fiber main_fiber = { .name = "main", .state = "running" };
static _Thread_local fiber *hub;
static _Thread_local fiber *current;
static _Thread_local fiber *previous;
static _Thread_local fiber *ready_head, *ready_tail;
static _Thread_local struct ev_loop *loop;
static _Thread_local size_t page_size;
static _Thread_local int alive;
/* The stack SIGSEGV is handled on, to name a fiber whose stack overflowed
 * (sigaltstack is per thread); mapped with the hub, as fiber stacks are. */
enum { ALTSTACK_SIZE = 64 * 1024 };
static _Thread_local char *altstack;

static void hub_main(void);
static void trampoline(void);
static void catch_stack_overflow(void);

static void ready_push(fiber *f)
{
	f->queued = true;
	f->state = "ready";
	f->next = NULL;
	if (ready_tail)
		ready_tail->next = f;
	else
		ready_head = f;
	ready_tail = f;
}

static fiber *ready_pop(void)
{
	fiber *f = ready_head;
	if (f) {
		ready_head = f->next;
		if (!ready_head)
			ready_tail = NULL;
		f->queued = false;
	}
	return f;
}

/*
 * Stacks are kept for reuse: a server spawns a fiber per download and per
 * connection, and mapping, protecting and unmapping a fresh stack each
 * time -- then faulting in and zeroing its first pages -- is a good part
 * of what a short fiber would cost.  Up to SPARE_STACKS stacks of fibers
 * that have ended wait here, spare, for the next fiber of the same thread
 * (their touched pages stay resident); beyond that they are unmapped.  A
 * spare stack keeps its guard page and its valgrind registration.  The
 * array is allocated when the first fiber ends: a thread that runs no
 * fiber (lab 1's, with --threads) pays nothing for it.
 */
enum { SPARE_STACKS = 256 };
struct stack {
	char *map;
	unsigned valgrind_id;
};
static _Thread_local struct stack *spare;	/* SPARE_STACKS, or NULL: none yet */
static _Thread_local int nspare;

static bool stack_map(struct stack *st)
{
	size_t size = STACK_SIZE + page_size;
	if (nspare > 0) {
		*st = spare[--nspare];
		return true;
	}
	st->map = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (st->map == MAP_FAILED)
		return false;
	if (mprotect(st->map, page_size, PROT_NONE) != 0) {
		munmap(st->map, size);
		return false;
	}
	st->valgrind_id = VALGRIND_STACK_REGISTER(st->map + page_size, st->map + size);
	return true;
}

static void stack_unmap(fiber *f)
{
	if (!spare)
		spare = calloc(SPARE_STACKS, sizeof *spare);	/* NULL: unmap it */
	if (spare && nspare < SPARE_STACKS) {
		/* The fiber never returned from its last frames: under
		 * AddressSanitizer their redzones are still marked, and would
		 * be blamed on the next fiber to use this stack. */
		ASAN_UNPOISON_MEMORY_REGION(f->map + page_size, STACK_SIZE);
		spare[nspare++] = (struct stack){ f->map, f->valgrind_id };
		return;
	}
	VALGRIND_STACK_DEREGISTER(f->valgrind_id);
	munmap(f->map, f->map_size);
}

static void spare_stacks_free(void)
{
	while (nspare > 0) {
		struct stack *st = &spare[--nspare];
		VALGRIND_STACK_DEREGISTER(st->valgrind_id);
		munmap(st->map, STACK_SIZE + page_size);
	}
	free(spare);
	spare = NULL;
}

/* Give f a stack of its own, with one PROT_NONE page below it.
 * Returns false when the system has no memory (or mappings) left. */
static bool stack_alloc(fiber *f, void (*entry)(void))
{
	struct stack st;
	if (!stack_map(&st))
		return false;
	f->map = st.map;
	f->map_size = STACK_SIZE + page_size;
	f->valgrind_id = st.valgrind_id;
	f->stack_lo = f->map + page_size;
	f->stack_size = STACK_SIZE;
	if (getcontext(&f->ctx) != 0)
		die("fiber: getcontext failed");
	f->ctx.uc_stack.ss_sp = f->map + page_size;
	f->ctx.uc_stack.ss_size = STACK_SIZE;
	f->ctx.uc_link = NULL;
	makecontext(&f->ctx, entry, 0);
	f->tsan = __tsan_create_fiber(0);
	return true;
}

/* The end of a thread that used fibers (a sync worker's, --threads):
 * free its hub and loop, and give the signal stack back, so that the
 * thread leaves nothing behind -- nor a stack that is about to vanish
 * for a sanitizer to find.  Its spawned fibers have all been joined. */
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static void thread_end(void *unused)
{
	(void)unused;
	stack_t off = { .ss_flags = SS_DISABLE };
	sigaltstack(&off, NULL);
	munmap(altstack, ALTSTACK_SIZE);
	altstack = NULL;
	VALGRIND_STACK_DEREGISTER(hub->valgrind_id);
	__tsan_destroy_fiber(hub->tsan);
	munmap(hub->map, hub->map_size);
	free(hub);
	hub = NULL;
	ev_loop_destroy(loop);
	loop = NULL;
	spare_stacks_free();
}

static void make_thread_key(void)
{
	if (pthread_key_create(&thread_key, thread_end) != 0)
		die("fiber: pthread_key_create failed");
}

static void init(void)
{
	if (!current) {
		current = &main_fiber;
		main_fiber.tsan = __tsan_get_current_fiber();
	}
	if (hub)
		return;
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	/* A loop of our own, not libev's default one: the default loop also
	 * reaps every child process, which would take the upstream simulator's
	 * exit status away from the code that started it. */
	loop = ev_loop_new(EVFLAG_AUTO);
	if (!loop)
		die("fiber: cannot start the libev loop");
	hub = xcalloc(1, sizeof *hub);
	hub->name = "hub";
	if (!stack_alloc(hub, hub_main))
		die("fiber: no memory for the hub's stack");
	catch_stack_overflow();
	pthread_once(&thread_key_once, make_thread_key);
	pthread_setspecific(thread_key, hub);
}

/* Built with ThreadSanitizer, a signal that comes while the code runs
 * outside the runtime's own calls is kept, and handled at the next such
 * call -- of the fiber it came in, for each fiber has its own record of
 * them.  A fiber that switched away before that call, and waits for
 * something that never comes, kept it for good: in GCC 12's runtime a
 * worker whose SIGTERM came that way never stopped (once in 33 runs of
 * make tsan's workers suite).  So a switch first holds the asynchronous
 * signals with a call the runtime sees -- at which it handles what the
 * leaving fiber kept -- and the fiber that runs next lets them in again
 * with another, in which they reach it.  The synchronous ones are never
 * held: a fault must still reach its handler.  Other builds hold none. */
#if defined(__SANITIZE_THREAD__)
static void hold_signals(sigset_t *was)
{
	sigset_t all;
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGTRAP);
	pthread_sigmask(SIG_BLOCK, &all, was);
}

static void release_signals(const sigset_t *was)
{
	pthread_sigmask(SIG_SETMASK, was, NULL);
}
#else
static void hold_signals(sigset_t *was) { (void)was; }
static void release_signals(const sigset_t *was) { (void)was; }
#endif

/* Leave the current fiber for `to`; returns when someone switches back. */
static void switch_to(fiber *to)
{
	fiber *from = current;
	void *fake_stack = NULL;
	sigset_t was;

	hold_signals(&was);
	previous = from;
	current = to;
	to->state = "running";
	__sanitizer_start_switch_fiber(from->done ? NULL : &fake_stack,
				       to->stack_lo, to->stack_size);
	__tsan_switch_to_fiber(to->tsan, 0);
	if (swapcontext(&from->ctx, &to->ctx) != 0)
		die("fiber: swapcontext failed");
	__sanitizer_finish_switch_fiber(fake_stack, &previous->stack_lo,
					&previous->stack_size);
	release_signals(&was);
}

/* The hub: run ready fibers; when none is ready, wait for libev events. */
static void hub_main(void)
{
	__sanitizer_finish_switch_fiber(NULL, &previous->stack_lo,
					&previous->stack_size);
	for (;;) {
		fiber *f;
		while ((f = ready_pop()) != NULL) {
			f->suspended = false;
			switch_to(f);
			if (f->done && f->detached)
				fiber_join(f);	/* frees it; it is done */
		}
		if (!ev_run(loop, EVRUN_ONCE) && !ready_head)
			die("fiber: deadlock: every fiber waits and no event "
			    "can wake one (main is '%s')", main_fiber.state);
	}
}

/* First frame of every spawned fiber. */
static void trampoline(void)
{
	__sanitizer_finish_switch_fiber(NULL, &previous->stack_lo,
					&previous->stack_size);
	fiber *f = current;
	f->fn(f->arg);
	f->done = true;
	f->state = "done";
	if (f->joiner)
		fiber_wake(f->joiner);
	switch_to(hub);
	die("fiber: finished fiber '%s' was resumed", f->name);
}

fiber *fiber_spawn(void (*fn)(void *), void *arg, const char *name)
{
	init();
	fiber *f = calloc(1, sizeof *f);	/* NULL, not die: see fiber.h */
	if (!f)
		return NULL;
	f->fn = fn;
	f->arg = arg;
	f->name = name ? name : "fiber";
	if (!stack_alloc(f, trampoline)) {
		free(f);
		return NULL;
	}
	alive++;
	f->suspended = true;
	ready_push(f);
	return f;
}

void fiber_suspend(const char *state)
{
	init();
	if (current == hub)
		die("fiber: the hub cannot wait (waiting for %s)", state);
	current->state = state;
	current->suspended = true;
	switch_to(hub);
}

void fiber_wake(fiber *f)
{
	if (f->suspended && !f->queued && !f->done)
		ready_push(f);
}

void fiber_join(fiber *f)
{
	if (f == current)
		die("fiber: '%s' cannot join itself", f->name);
	if (f->joiner && f->joiner != current)
		die("fiber: '%s' is joined twice", f->name);
	while (!f->done) {
		f->joiner = current;
		fiber_suspend("join");
	}
	__tsan_destroy_fiber(f->tsan);
	stack_unmap(f);
	memset(f, 0x5a, sizeof *f);	/* make a use after free show at once */
	free(f);
	alive--;
}

void fiber_detach(fiber *f)
{
	if (f->done)
		fiber_join(f);
	else
		f->detached = true;
}

void fiber_yield(void)
{
	init();
	current->suspended = true;
	ready_push(current);
	switch_to(hub);
}

static void timer_fired(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l, (void)revents;
	fiber_wake(w->data);
}

void fiber_sleep(double seconds)
{
	init();
	ev_timer t;
	ev_now_update(loop);	/* the fiber may have run a while: no stale "now" */
	ev_timer_init(&t, timer_fired, seconds > 0 ? seconds : 0, 0);
	t.data = current;
	ev_timer_start(loop, &t);
	fiber_suspend("sleep");
	ev_timer_stop(loop, &t);
}

/* One wait on an fd, with its timeout; lives on the waiting fiber's stack. */
struct fd_wait {
	ev_io io;
	ev_timer timer;
	fiber *f;
	int result;		/* WAITING until the first of the two fires */
};
enum { WAITING = -2 };

static void fd_ready(struct ev_loop *l, ev_io *w, int revents)
{
	(void)l, (void)revents;
	struct fd_wait *fw = w->data;
	if (fw->result == WAITING)
		fw->result = 1;
	fiber_wake(fw->f);
}

static void fd_timeout(struct ev_loop *l, ev_timer *w, int revents)
{
	(void)l, (void)revents;
	struct fd_wait *fw = w->data;
	if (fw->result == WAITING)
		fw->result = 0;
	fiber_wake(fw->f);
}

int fiber_wait_fd(int fd, int events, double timeout)
{
	init();
	struct fd_wait fw = { .f = current, .result = WAITING };

	ev_io_init(&fw.io, fd_ready, fd, events);
	fw.io.data = &fw;
	ev_io_start(loop, &fw.io);
	if (timeout >= 0) {
		ev_now_update(loop);
		ev_timer_init(&fw.timer, fd_timeout, timeout, 0);
		fw.timer.data = &fw;
		ev_timer_start(loop, &fw.timer);
	}
	fiber_suspend(events & FIBER_WRITE ? "write fd" : "read fd");
	ev_io_stop(loop, &fw.io);
	if (timeout >= 0)
		ev_timer_stop(loop, &fw.timer);
	return fw.result == WAITING ? -1 : fw.result;
}

fiber *fiber_self(void)
{
	init();
	return current;
}

const char *fiber_name(const fiber *f)
{
	return f->name;
}

const char *fiber_state(const fiber *f)
{
	return f->state;
}

struct ev_loop *fiber_loop(void)
{
	init();
	return loop;
}

int fiber_count(void)
{
	return alive;
}

/*
 * Stack overflow: the fault lands in the guard page of the running fiber.
 * The handler runs on its own signal stack (the fiber's is exhausted),
 * names the fiber and aborts.  Any other fault keeps its default meaning.
 */
static void on_segv(int sig, siginfo_t *si, void *uctx)
{
	(void)uctx;
	int saved_errno = errno;	/* as every handler here does */
	const char *addr = si->si_addr;
	fiber *f = current;

	if (f && f->map && addr >= f->map && addr < f->map + page_size) {
		static const char msg[] = "fiber: stack overflow in fiber '";
		write(2, msg, sizeof msg - 1);
		write(2, f->name, strlen(f->name));
		write(2, "'\n", 2);
		signal(SIGABRT, SIG_DFL);
		abort();
	}
	signal(sig, SIG_DFL);	/* return and fault again, the usual way */
	errno = saved_errno;
}

static void catch_stack_overflow(void)
{
	altstack = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (altstack == MAP_FAILED)
		die("fiber: no memory for the signal stack");
	stack_t ss = { .ss_sp = altstack, .ss_size = ALTSTACK_SIZE };
	struct sigaction sa;

	if (sigaltstack(&ss, NULL) != 0)
		die("fiber: sigaltstack failed");
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
}
