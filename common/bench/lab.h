/*
 * lab: what every lab's main() does around its handler -- the C counterpart
 * of the gunicorn command line in the note.
 *
 * lab_main() reads the options, starts the upstream simulator (unless
 * --urls names real URLs), listens, prints one line saying what runs and
 * where -- the model in gunicorn's words too (-k sync -w 4) -- routes
 * GET/HEAD /hello to the lab's handler (and /, /about and CORS to
 * common/bench/page.h), and runs the worker until SIGINT or SIGTERM: in this
 * process, or with -w N in N worker processes under a master (arbiter.h)
 * that shares the one simulator with them.  Then it stops the simulator
 * and returns the exit status: 0 after a signal, 1 when it cannot start,
 * 2 for bad usage.
 */
#ifndef LAB_H
#define LAB_H

#include "http.h"
#include "server.h"

/* Route GET/HEAD path to handler as well (before lab_main; a few at most):
 * the database labs add /db this way. */
void lab_route(const char *path, http_handler *handler);

int lab_main(int argc, char **argv, const char *name, const char *style,
	     server_worker *worker, http_handler *hello);

/* Read the options as lab_main() will, and only that: a usage error exits
 * 2 now (--help prints and exits 0).  What an option names is checked
 * later, by lab_main() (that the --urls file can be read, say).  For a lab
 * that must start something first (the database labs' cluster), so that
 * a typo costs nothing.  GNU getopt may reorder argv; lab_main() reads it
 * the same.  Returns how many processes will serve: -w's N, or 1. */
int lab_check_options(int argc, char **argv);

#endif
