/*
 * pgcluster: a private PostgreSQL cluster that lives and dies with the lab.
 *
 * pgcluster_start() makes a temporary directory, runs initdb into it and
 * starts postgres on it, listening on nothing but a Unix socket in that
 * directory (listen_addresses ''), and returns once the server takes
 * connections.  It needs only Debian's postgresql package (the binaries in
 * /usr/lib/postgresql/<version>/bin, the newest one; $PG_BIN overrides).
 * PostgreSQL refuses to run as root, so a lab run as root runs the server
 * as the user "postgres", which the package creates.
 *
 * A keeper process runs the server, as upstream.h's keeper runs the
 * simulator: when the lab ends -- pgcluster_stop(), or the lab killed, even
 * with SIGKILL (PR_SET_PDEATHSIG) -- the keeper stops postgres with every
 * backend (an immediate shutdown: there is nothing to save) and removes the
 * directory.  No process and no directory outlives the lab.  Should the
 * keeper itself be killed outright, postgres still stops (it dies with
 * the keeper), and the next start removes the directory left behind.
 *
 * The directory is made mode 0700 and belongs to the server's user (as
 * root, it is given to "postgres").  Anyone may make a /tmp/workerlab-pg-*,
 * so a start removes only leftovers of that user with that mode, and
 * does it as that user; every removal walks the directory from open
 * directories, never by path, and follows no symlink.
 */
#ifndef PGCLUSTER_H
#define PGCLUSTER_H

#include <stddef.h>
#include <sys/types.h>

/* The most connections at once a private cluster is made for.  Its
 * shared memory grows with max_connections, about 50 kB each: 4,096 take
 * some 200 MB and start in under a second; the 65,536 of -w 1024 --pool 64
 * would take 3 GB and ten seconds. */
enum { PGCLUSTER_MAX_CLIENTS = 4096 };

/* Make the next cluster take `clients` connections at once (1 ..
 * PGCLUSTER_MAX_CLIENTS), the most the lab may open -- its worker
 * processes times its pool -- beside a few of its own.  Unless called, or
 * below that, PostgreSQL's default of 100, which make bench-db's other
 * servers share. */
void pgcluster_size(int clients);

/* Start the cluster; its libpq conninfo in conninfo.  0, or -1 with the
 * reason in err. */
int pgcluster_start(char *conninfo, size_t len, char *err, size_t errlen);

/* The cluster's directory ("" before a start), and its postmaster's pid
 * (0 when none): for the lab's banner and for tests. */
const char *pgcluster_dir(void);
pid_t pgcluster_server_pid(void);

/* Stop the server, remove the directory, reap the keeper. */
void pgcluster_stop(void);

#endif
