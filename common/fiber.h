/*
 * fiber: cooperative threads on one libev loop (the hub).
 *
 * The C counterpart of gevent's greenlets and hub.  A fiber runs until it
 * waits (join, sleep, an fd, a wake-up); then it switches to the hub, which
 * resumes the next fiber in the ready queue or, when none is ready, runs
 * the libev loop once to learn which waits have ended.  Event callbacks
 * never resume a fiber themselves: they put it on the ready queue.
 *
 * The code that calls fiber_* first becomes the "main" fiber and keeps its
 * own stack.  Every other fiber gets an mmap'd stack with a guard page below
 * it: an overflow stops the process with a message naming the fiber, instead
 * of corrupting a neighbour.  Stacks are registered with valgrind; those of
 * fibers that have ended are kept, up to a bound, for the next ones.
 *
 * Per thread: every thread that calls fiber_* has its own main fiber, hub,
 * ready queue and libev loop, made the first time it does and freed when
 * the thread ends (the main thread's last as long as the process); fibers
 * never move between threads, and a fiber is used only in the thread that
 * spawned it (so is any cache of stacks).  Per process: only the SIGSEGV
 * handler that reports a stack overflow, each thread giving it a signal
 * stack of its own.  A signal that comes while a fiber runs is handled
 * before another fiber of its thread runs, in every build (under
 * ThreadSanitizer a switch hands it on).  A fiber that calls a blocking
 * system call blocks every fiber of its thread: that is the lesson of
 * lab 2, not a bug -- and a sync worker's threads (--threads) do not
 * change it.
 */
#ifndef FIBER_H
#define FIBER_H

#include <stddef.h>

struct ev_loop;
typedef struct fiber fiber;

enum { FIBER_READ = 1, FIBER_WRITE = 2 };	/* same values as EV_READ/EV_WRITE */

/* Create a fiber that will run fn(arg); it starts when the spawner waits.
 * The fiber must be joined exactly once, or detached.  Returns NULL when
 * the system has no memory left for its stack: a server under a flood of
 * connections must be able to say no instead of dying. */
fiber *fiber_spawn(void (*fn)(void *), void *arg, const char *name);

/* Wait until f has returned, then free it. */
void fiber_join(fiber *f);

/* Let f be freed by the hub when it returns; nobody may join it. */
void fiber_detach(fiber *f);

/* Put the calling fiber at the back of the ready queue. */
void fiber_yield(void);

/* Suspend the calling fiber for the given seconds (or until woken). */
void fiber_sleep(double seconds);

/* Suspend until fd is ready for events (FIBER_READ and/or FIBER_WRITE).
 * A negative timeout waits forever.  Returns 1 when ready, 0 on timeout,
 * -1 when fiber_wake() ended the wait first. */
int fiber_wait_fd(int fd, int events, double timeout);

/* Suspend until some other code calls fiber_wake(); state says what the
 * fiber waits for (shown by fiber_state, in the spirit of libtask). */
void fiber_suspend(const char *state);

/* Put a suspended fiber on the ready queue; no effect on one that is
 * running or already queued.  Safe to call from event callbacks. */
void fiber_wake(fiber *f);

fiber *fiber_self(void);
const char *fiber_name(const fiber *f);
const char *fiber_state(const fiber *f);

/* The hub's libev loop, for modules that add their own watchers. */
struct ev_loop *fiber_loop(void);

/* How many spawned fibers have not been freed yet. */
int fiber_count(void);

#endif
