/*
 * upstream: the slow upstream simulator, so that every lab runs offline.
 *
 * It stands in for the note's ten web sites.  GET /qq, /163, /example and
 * /nowamagic answer 200 after the note's profile delays (0.15, 0.15, 0.25
 * and 0.40 s, each times the delay scale); GET /delay/<ms> answers after
 * <ms> milliseconds, unscaled.  For tests of failing upstreams it also
 * misbehaves on request: /status/<code> answers with that status, /reset
 * resets the connection, /garbage answers a line that is not HTTP, /hang
 * never answers.  Requests wait their delays side by side: an answer takes
 * the time the profile says, not longer because others are waiting, for up
 * to UPSTREAM_CAPACITY connections at once (keep-alive, HTTP/1.1, answers
 * with Content-Length).  One thread and one event loop serve them all:
 * per connection a small struct, no thread, no fiber; requests given the
 * same delay share one timer.  It raises its open-file limit (soft to
 * hard) and says on stderr when the hard limit is below the capacity;
 * beyond what it can hold, connections wait in the listen backlog (as
 * long as the kernel allows) and their answers come that much later.  It
 * runs none of the code a student writes in the handout (the evented
 * worker, the cooperative IO), so every lab has a working upstream from
 * the start.
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { UPSTREAM_CAPACITY = 50000 };	/* connections held at once */

/* Serve on listen_fd until SIGINT or SIGTERM, then exit with status 0.
 * Either may be blocked when it is called (./upstream blocks them before
 * its banner): it unblocks them once it catches them. */
int upstream_serve(int listen_fd, double delay_scale);

/* Start the simulator on a free 127.0.0.1 port, and return its port.  It
 * runs under a keeper, a child process that holds the port and restarts the
 * simulator (saying so on stderr) if it dies.  Both die with their parent,
 * even when the parent is killed with SIGKILL.  Should the keeper die, the
 * lab has no upstream left and stops, saying why (upstream_gone).  Returns
 * -1 if it cannot start. */
int upstream_spawn(double delay_scale);

/* Stop the keeper, and with it the simulator (async-signal-safe: usable
 * from a signal handler). */
void upstream_kill(void);

/* Stop the keeper and the simulator, and reap the keeper. */
void upstream_stop(void);

/* Has the keeper died (killed: it never ends by itself), and the simulator
 * with it?  Reaps it, and then says so once.  Async-signal-safe: a stop
 * hook (server_on_child_exit). */
bool upstream_gone(void);

/* How the keeper died, in buf, once upstream_gone() has said it did;
 * otherwise NULL. */
const char *upstream_lost(char *buf, size_t len);

#endif
