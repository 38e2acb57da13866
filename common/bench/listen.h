/*
 * listen: the listening socket both workers, the simulator and the tests
 * start from.  IPv4 or IPv6, port 0 for a free one; an empty host ("":PORT)
 * listens on every address, which is why the labs default to 127.0.0.1.
 */
#ifndef LISTEN_H
#define LISTEN_H

#include <stddef.h>

/* Listen on "HOST:PORT" (IPv4 or [IPv6]; port 0 picks a free one) with a
 * non-blocking socket.  Returns the fd, or -1 with a message in err. */
int server_listen(const char *host_port, char *err, size_t errlen);

/* The port a listening socket is bound to. */
int server_port(int listen_fd);

#endif
