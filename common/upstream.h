/*
 * upstream: the slow upstream simulator, so that every lab runs offline.
 *
 * It stands in for the note's ten web sites.  GET /qq, /163, /example and
 * /nowamagic answer 200 after the note's profile delays (0.15, 0.15, 0.25
 * and 0.40 s, each times the delay scale); GET /delay/<ms> answers after
 * <ms> milliseconds, unscaled.  For tests of failing upstreams it also
 * misbehaves on request: /status/<code> answers with that status, /reset
 * resets the connection, /garbage answers a line that is not HTTP, /hang
 * never answers.  It runs on the evented worker, so any
 * number of requests wait their delays side by side: its answers take the
 * time the profile says, never longer because another request is waiting.
 */
#ifndef UPSTREAM_H
#define UPSTREAM_H

#include <sys/types.h>

/* Serve on listen_fd until SIGINT or SIGTERM. */
int upstream_serve(int listen_fd, double delay_scale);

/* Start the simulator as a child process on a free 127.0.0.1 port, and
 * return its port.  The child dies with its parent, even when the parent is
 * killed with SIGKILL.  Returns -1 if it cannot start. */
int upstream_spawn(double delay_scale);

/* Stop the child (async-signal-safe: usable from a signal handler). */
void upstream_kill(void);

/* Stop the child and reap it. */
void upstream_stop(void);

#endif
