/*
 * dblab: what the database labs' main() does around lab_main() (lab.h).
 *
 * dblab_main() takes its own options out of the command line --
 *   --db CONNINFO   use this PostgreSQL server (a libpq conninfo string)
 *                   instead of a private cluster
 *   --pool N        at most N connections to it (default 10)
 *   --db-timeout S  the database's deadline (db.h; default 5 s)
 * -- and reads --delay-scale, which scales the queries' 0.1 s too.  With no
 * --db it starts a private cluster (pgcluster.h) for the lab's lifetime.
 * It routes /db to the query handler and hands the rest to lab_main(),
 * which also serves /hello; then it closes the connections and stops the
 * cluster.  Whether the driver is patched is the caller's: db_patch().
 */
#ifndef DBLAB_H
#define DBLAB_H

#include "http.h"
#include "server.h"

int dblab_main(int argc, char **argv, const char *name, server_worker *worker,
	       http_handler *hello, http_handler *query);

#endif
