"""note_db_app: the database scenario the note left empty, under real gunicorn.

tools/bench-db.sh runs this module under Debian's gunicorn with the gevent
worker (``-k gevent -w 1``) beside lab 5 and lab 6.  ``GET /db`` runs ten
``SELECT pg_sleep(Q)`` one after another through psycopg2 and answers as
the note's /hello does: {"code": 0, "message": "success", "data": <seconds>}.

Environment:

  NOTE_DB        the libpq conninfo of the server (bench-db.sh passes the
                 private cluster lab 5 started)
  NOTE_QUERY_S   seconds each query sleeps in the server (default 0.1)
  NOTE_DB_PATCH  "psycogreen" to register psycogreen's wait callback when
                 the module loads, anything else to leave psycopg2 as it is

psycopg2 is a C extension around libpq: gevent's monkey.patch_all(), which
the gevent worker calls, does not reach the socket libpq waits on, so as it
is psycopg2 blocks the worker (lab 5).  psycogreen.gevent.patch_psycopg()
registers a wait callback that waits in gevent's hub instead (lab 6).
"""
import json
import os
import sys
import time

import psycopg2
import psycopg2.pool
from flask import Flask, Response

CONNINFO = os.environ.get("NOTE_DB", "")
QUERY_S = float(os.environ.get("NOTE_QUERY_S", "0.1"))
if not CONNINFO:
    sys.exit("note_db_app: set NOTE_DB to a libpq conninfo string")
if os.environ.get("NOTE_DB_PATCH") == "psycogreen":
    from psycogreen.gevent import patch_psycopg
    patch_psycopg()

app = Flask(__name__)
# One connection per request in flight, as lab 5 and lab 6 have: up to ten.
# Under the gevent worker the pool's lock and its "thread" keys are
# gevent's, so each greenlet gets a connection of its own.
POOL = psycopg2.pool.ThreadedConnectionPool(0, 10, CONNINFO)


def sync_queries():
    """Ten queries, one after another, on one connection from the pool."""
    conn = POOL.getconn()
    try:
        with conn.cursor() as cur:
            for _ in range(10):
                cur.execute("SELECT pg_sleep(%s)", (QUERY_S,))
                cur.fetchall()
        conn.commit()
    finally:
        POOL.putconn(conn)


@app.route("/db", methods=["GET"])
def db():
    start = time.time()
    try:
        sync_queries()
        body = {"code": 0, "message": "success"}
        status = 200
    except psycopg2.Error as e:
        body = {"code": 1, "message": "the queries failed: %s" % str(e).strip()}
        status = 502
    body["data"] = time.time() - start
    print("[10 queries] %.3fs" % body["data"], flush=True)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status)
    resp.headers["Content-Type"] = "application/json; charset=utf-8"
    return resp
