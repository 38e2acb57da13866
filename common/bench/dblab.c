/*
 * dblab.c: --db, --pool, --db-timeout, the private cluster, the /db route.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dblab.h"
#include "lab.h"
#include "pgcluster.h"
#include "proc.h"
#include "queries.h"
#include "util.h"

struct db_options {
	const char *conninfo;	/* --db, or NULL */
	int pool;
	double timeout;		/* --db-timeout */
	double scale;		/* --delay-scale, read and left for lab_main */
	bool help;
};

/* The value of option `name` at argv[*i] ("--name V" or "--name=V"), or
 * NULL; *i moves past it. */
static const char *value_of(const char *name, int argc, char **argv, int *i)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "%s: %s needs a value (try --help)\n", argv[0], name);
		exit(2);
	}
	return argv[++*i];
}

/* Take --db, --pool and --db-timeout out of argv; the rest is
 * lab_main's.  Returns the new argc. */
static int take_options(int argc, char **argv, struct db_options *o)
{
	*o = (struct db_options){ NULL, 10, DB_DEFAULT_TIMEOUT, 1.0, false };
	int out = 1;
	for (int i = 1; i < argc; i++) {
		const char *v;
		int from = i;
		if ((v = value_of("--db", argc, argv, &i))) {
			o->conninfo = v;
			continue;
		}
		if ((v = value_of("--db-timeout", argc, argv, &i))) {
			o->timeout = positive_arg(argv[0], "--db-timeout", v);
			continue;
		}
		if ((v = value_of("--pool", argc, argv, &i))) {
			double p = positive_arg(argv[0], "--pool", v);
			if (p != (int)p || p > DB_MAX_POOL) {
				fprintf(stderr, "%s: --pool: give 1 to %d connections\n",
					argv[0], DB_MAX_POOL);
				exit(2);
			}
			o->pool = (int)p;
			continue;
		}
		if ((v = value_of("--delay-scale", argc, argv, &i)))
			o->scale = positive_arg(argv[0], "--delay-scale", v);
		if (!strcmp(argv[from], "-h") || !strcmp(argv[from], "--help"))
			o->help = true;
		for (int k = from; k <= i; k++)	/* kept for lab_main */
			argv[out++] = argv[k];
	}
	argv[out] = NULL;
	return out;
}

/* The private cluster must take every connection the lab may open at
 * once, and each worker process has a pool of its own: -w 11 with the
 * default pool of 10 may open 110, beyond PostgreSQL's default of 100,
 * and the last queries would fail with "too many clients".  More than a
 * private cluster is made for is a usage error (exit 2), now. */
static void size_cluster(const char *prog, int processes, int pool)
{
	int clients = processes * pool;
	if (clients > PGCLUSTER_MAX_CLIENTS) {
		fprintf(stderr, "%s: -w %d with --pool %d may open %d connections at once; "
			"a private cluster takes at most %d (fewer workers, a smaller pool, "
			"or --db a server of your own)\n", prog, processes, pool, clients,
			PGCLUSTER_MAX_CLIENTS);
		exit(2);
	}
	pgcluster_size(clients);
}

int dblab_main(int argc, char **argv, const char *name, server_worker *worker,
	       http_handler *hello, http_handler *query)
{
	struct db_options o;
	char conninfo[512], err[512], style[700];

	proc_name_init(argc, argv);	/* before take_options() moves argv's strings */
	argc = take_options(argc, argv, &o);
	if (o.help) {
		printf("database options (then the options every lab takes):\n"
		       "  --db CONNINFO     query this PostgreSQL server (libpq conninfo,\n"
		       "                    e.g. \"host=/tmp dbname=postgres\") instead of\n"
		       "                    a private cluster the lab starts and removes\n"
		       "  --pool N          at most N connections to it in each worker\n"
		       "                    process (default 10)\n"
		       "  --db-timeout S    seconds to connect, and that a query may run\n"
		       "                    (the server cancels it); /db then answers 504\n"
		       "                    (default %g)\n"
		       "  --delay-scale F   scales the queries' 0.1 s as well\n",
		       DB_DEFAULT_TIMEOUT);
		return lab_main(argc, argv, name, "", worker, hello);	/* prints, exits */
	}
	/* before the cluster: a typo costs nothing */
	int processes = lab_check_options(argc, argv);
	if (o.conninfo) {
		snprintf(conninfo, sizeof conninfo, "%s", o.conninfo);
	} else {
		size_cluster(argv[0], processes, o.pool);
		if (pgcluster_start(conninfo, sizeof conninfo, err, sizeof err) != 0) {
			fprintf(stderr, "%s: cannot start a private PostgreSQL cluster: %s\n",
				argv[0], err);
			return 1;
		}
	}
	db_configure(conninfo, o.pool);
	db_set_timeout(o.timeout);
	queries_set_time(0.1 * o.scale);
	if (queries_time() >= o.timeout)
		fprintf(stderr, "%s: each query sleeps %.3fs, and --db-timeout is %gs: every "
			"query will time out (raise --db-timeout)\n", argv[0], queries_time(),
			o.timeout);
	lab_route("/db", query);
	snprintf(style, sizeof style, "/db: %d queries of %.3fs, %s driver, pool of %d, "
		 "deadline %gs, on %s", QUERIES, queries_time(),
		 db_patched() ? "cooperative" : "blocking", o.pool, o.timeout,
		 o.conninfo ? "the --db server" : pgcluster_dir());
	int status = lab_main(argc, argv, name, style, worker, hello);
	db_close_all();
	pgcluster_stop();
	return status;
}
