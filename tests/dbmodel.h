/*
 * dbmodel: what the database labs must do, and the checks that measure it
 * -- tests/model.h's discipline for lab 5 and lab 6.
 *
 * With Q the time of one query (0.1 s times the delay scale) and S = 10 Q
 * the time of /db's ten queries one after another:
 *   lab 5 (evented worker, blocking driver):     one /db S; four at once
 *         end near S, 2S, 3S, 4S; /db?spawn=1 S; a /hello sent while a /db
 *         runs is answered only after it
 *   lab 6 (evented worker, cooperative driver):  one /db S; four at once
 *         all S; /db?spawn=1 Q times ceil(10 / pool); /hello goes on
 * Bounds as in model.h: physics below, a factor of two or more above,
 * times WORKERLAB_SLOW, never reaching what the other lab must take.
 *
 * The labs query the server in dbmodel_db (a libpq conninfo) when it is
 * set -- test_db starts one cluster for its whole suite -- else each starts
 * its private cluster, as a student's does.  check_db_clean_shutdown always
 * lets the lab start its own: what it checks is that it goes.
 */
#ifndef DBMODEL_H
#define DBMODEL_H

#include "model.h"

/* .fibers here: the driver is cooperative (db_patch()). */
extern const struct lab_model db_models[2];
extern const char *dbmodel_db;

void check_db_answers_json(const struct lab_model *m, struct verdict *v);
void check_db_one_request(const struct lab_model *m, struct verdict *v);
void check_db_four_at_once(const struct lab_model *m, struct verdict *v);
void check_db_hello_meanwhile(const struct lab_model *m, struct verdict *v);
void check_db_spawn(const struct lab_model *m, struct verdict *v);
void check_db_clean_shutdown(const struct lab_model *m, struct verdict *v);

#endif
