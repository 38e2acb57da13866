#!/bin/sh
# bench-db.sh: the database scenario, measured -- lab 5 and lab 6 beside
# psycopg2 under real gunicorn with the gevent worker, as it is and with
# psycogreen's wait callback (make bench-python runs it after the note's
# four cases).
#
#   sh tools/bench-db.sh            (from the top of the tree; QUICK=1 for
#                                    delays times 0.1)
#
#   server                   what it is                              model
#   lab5                     evented worker, blocking libpq          one after another
#   lab6                     evented worker, db_patch()              all overlap
#   gunicorn-db-psycopg2     -k gevent, psycopg2 as it is            one after another
#   gunicorn-db-psycogreen   -k gevent, psycogreen.gevent.patch_psycopg()  all overlap
#
# Each answers GET /db: ten SELECT pg_sleep(Q) one after another, Q = 0.1 s
# times the delay scale, so S = 10 Q.  All four query one private
# PostgreSQL cluster: the one lab 5 starts (its directory is on lab 5's
# banner), which goes when lab 5 is stopped, last.  Rows go to the same
# summary.csv as bench.sh's and bench-python.sh's, in tools/bench-lib.sh's
# format; the model column is 4S for the one-after-another servers at
# c = 4, S for the others.  Skipped, with a message, when the Python
# packages are missing.
set -eu

cd "$(dirname "$0")/.."
. tools/bench-lib.sh

for prog in lab5 lab6 labload; do
	if [ ! -x "./$prog" ]; then
		echo "bench-db: ./$prog is missing; run make first" >&2
		exit 1
	fi
done
# S and M as bench-lib.sh's model reads them: here, the ten queries.
Q=$(awk -v s="$SCALE" 'BEGIN { printf "%.4f", 0.1 * s }')
S=$(awk -v q="$Q" 'BEGIN { printf "%.4f", 10 * q }')
M=$Q
python=yes
missing=
for pkg in gunicorn python3-flask python3-gevent python3-psycopg2 python3-psycogreen; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	echo "bench-db: the gunicorn rows are skipped: install the Debian packages:" \
	     "apt-get install$missing (make deps installs them)" >&2
	python=
fi
mkdir -p "$OUT"
: >"$ROWS"

LAB5_PID='' SERVER_PID=''
cleanup() {
	stop_pid "$SERVER_PID"
	SERVER_PID=
	stop_pid "$LAB5_PID"	# and with it the cluster
	LAB5_PID=
	rm -f "$ROWS"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# run NAME MODEL URL PID: one table, c = 1 and c = 4, after a warm-up
# request (connections to the database are opened on first use).
run() {
	echo
	echo "$1: $2 (seconds; 'model' beside each figure; S = $S, ten queries of $Q)"
	table_header
	./labload "$3" >"$OUT/$1-warmup.txt" 2>&1 || true
	for c in 1 4; do
		measure "$1" "$4" "$3" "$5" "$c"
	done
}

# ---- lab 5, and the cluster every server here uses ----

log=$OUT/lab5.log
./lab5 -b 127.0.0.1:0 --delay-scale "$SCALE" >"$log" 2>&1 &
LAB5_PID=$!
url=$(wait_for "$log" "$LAB5_PID" 'http://127\.0\.0\.1:[0-9]*')
dir=$(grep -o '/tmp/workerlab-pg-[A-Za-z0-9]*' "$log" | head -n 1) || true
if [ -z "$url" ] || [ -z "$dir" ]; then
	echo "bench-db: ./lab5 did not start:" >&2
	cat "$log" >&2
	exit 1
fi
DB="host=$dir port=5432 user=postgres dbname=postgres"
echo "bench-db: delay scale $SCALE (Q = $Q s, S = $S s); PostgreSQL in $dir" >&2
run lab5 "evented worker, blocking libpq" "$url/db" sync "$LAB5_PID"

# ---- lab 6 on the same cluster ----

log=$OUT/lab6.log
./lab6 -b 127.0.0.1:0 --delay-scale "$SCALE" --db "$DB" >"$log" 2>&1 &
SERVER_PID=$!
url=$(wait_for "$log" "$SERVER_PID" 'http://127\.0\.0\.1:[0-9]*')
[ -n "$url" ] || { echo "bench-db: ./lab6 did not start:" >&2; cat "$log" >&2; exit 1; }
run lab6 "evented worker, db_patch()" "$url/db" seq "$SERVER_PID"
stop_pid "$SERVER_PID"
SERVER_PID=

# ---- psycopg2 under gunicorn's gevent worker, without and with psycogreen ----

for patch in psycopg2 psycogreen; do
	[ -n "$python" ] || break
	name=gunicorn-db-$patch
	log=$OUT/$name.log
	env PYTHONDONTWRITEBYTECODE=1 NOTE_DB="$DB" NOTE_QUERY_S="$Q" NOTE_DB_PATCH="$patch" \
		gunicorn -k gevent -w 1 -b 127.0.0.1:0 --chdir tools note_db_app:app \
		>"$log" 2>&1 &
	SERVER_PID=$!
	url=$(wait_for "$log" "$SERVER_PID" 'Listening at: http://127\.0\.0\.1:[0-9]*')
	url=${url#Listening at: }
	worker=
	i=0
	while [ $i -lt 100 ]; do	# the one worker, whose CPU and memory count
		grep -q 'Booting worker' "$log" &&
			worker=$(awk '{ print $1 }' "/proc/$SERVER_PID/task/$SERVER_PID/children" 2>/dev/null) || true
		[ -n "$worker" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$url" ] || [ -z "$worker" ]; then
		echo "bench-db: gunicorn did not start; its output:" >&2
		cat "$log" >&2
		exit 1
	fi
	if [ "$patch" = psycopg2 ]; then
		run "$name" "-k gevent, psycopg2 as it is" "$url/db" sync "$worker"
	else
		run "$name" "-k gevent, psycopg2 + psycogreen" "$url/db" seq "$worker"
	fi
	stop_pid "$SERVER_PID"
	SERVER_PID=
done
merge_summary
