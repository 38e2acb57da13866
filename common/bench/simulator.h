/*
 * simulator: the upstream simulator's event loop, what serves the requests
 * upstream.h describes.  One thread, one libev loop of its own (never the
 * workers' hub), non-blocking sockets; per connection a small struct and
 * its buffers, no thread and no fiber.  Requests are read with http.c's
 * request reader -- every check http_serve_connection() makes -- and
 * answered in HTTP/1.1 with Content-Length, on connections kept alive.
 * Each connection waits in one queue: for its request (the request
 * timeout, 5 s unless set: then 408 or the end), for its delay, or
 * lingering 2 s (at most the request timeout) after a refusal.  A queue's entries were all given the same time, so they join
 * it in deadline order and one timer serves the queue: a timer per
 * distinct delay, not one per request.
 */
#ifndef SIMULATOR_H
#define SIMULATOR_H

/* Seconds a request may take to arrive and its answer to leave (default
 * 5, the labs' default --request-timeout).  Call before simulator_run. */
void simulator_set_request_timeout(double seconds);

/* Accept and serve connections on listen_fd forever. */
_Noreturn void simulator_run(int listen_fd, double delay_scale);

#endif
