#!/bin/sh
# bench-python.sh: the note's own experiment -- Flask under Debian's
# gunicorn -- timed the same way as the labs (what `make bench-python` runs).
#
#   sh tools/bench-python.sh           default profile (S = 2.45 s, M = 0.40 s)
#   QUICK=1 sh tools/bench-python.sh   every delay times 0.1
#
# tools/note_app.py is the note's application; it downloads from one
# ./upstream simulator on 127.0.0.1, so nothing leaves the machine.  The
# four cases of the note run one after another, each in a gunicorn of its
# own with one worker, and each is sent 1 and then 4 requests at once:
#
#   case  gunicorn flags   download     lab it stands beside
#   1     -w 1 (sync)      sync         lab1
#   2     -w 1 (sync)      async        lab2
#   3     -w 1 -k gevent   sync         lab3
#   4     -w 1 -k gevent   async        lab4
#
# Everything goes to the profile's folder, bench/results/full/ (QUICK=1:
# bench/results/quick/), as in tools/bench.sh.  Its rows (lab =
# gunicorn-case1 ...) replace those of an earlier run in summary.csv and
# leave the labs' alone; CPU and peak RSS are the worker process's, and
# timeline-python.{svg,png} draws the four requests of c = 4.
# When a Debian package it needs is missing, it says which and exits 0.
set -eu

cd "$(dirname "$0")/.."
. tools/bench-lib.sh

missing=
for pkg in gunicorn python3-flask python3-gevent python3-requests; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	echo "bench-python: skipped: install the Debian packages:" \
	     "apt-get install$missing"
	exit 0
fi
for prog in upstream labload; do
	if [ ! -x "./$prog" ]; then
		echo "bench-python: ./$prog is missing; run make first" >&2
		exit 1
	fi
done
mkdir -p "$OUT"
: >"$ROWS"

UP_PID='' GU_PID=''
cleanup() {
	stop_pid "$GU_PID"
	GU_PID=
	stop_pid "$UP_PID"
	UP_PID=
	rm -f "$ROWS"	# an unfinished run's rows; summary.csv keeps the last whole one
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# ---- the upstream simulator ----

: >"$OUT/upstream.log"
./upstream -b 127.0.0.1:0 --delay-scale "$SCALE" >"$OUT/upstream.log" 2>&1 &
UP_PID=$!
# its banner names the port as http://127.0.0.1:PORT/ or as "port PORT"
banner=$(wait_for "$OUT/upstream.log" "$UP_PID" 'http://127\.0\.0\.1:[0-9]*/\|port [0-9]*')
UP_PORT=$(echo "$banner" | grep -o '[0-9]*/\?$' | tr -d /)
if [ -z "$UP_PORT" ]; then
	echo "bench-python: ./upstream did not start:" >&2
	cat "$OUT/upstream.log" >&2
	exit 1
fi
URLS=
for path in qq 163 example nowamagic example example example example example example; do
	URLS="$URLS http://127.0.0.1:$UP_PORT/$path"
done

# ---- one gunicorn per case ----

# start_gunicorn NAME DOWNLOAD FLAGS...: sets GU_PID (the master), URL and
# WORKER (the one worker process, whose CPU and memory we measure).
start_gunicorn() {
	log=$OUT/$1.log
	: >"$log"
	download=$2
	shift 2
	# requests would follow an http_proxy from the environment: not here
	env -u http_proxy -u HTTP_PROXY -u all_proxy -u ALL_PROXY NO_PROXY="*" \
		PYTHONDONTWRITEBYTECODE=1 \
		NOTE_URLS="$URLS" NOTE_DOWNLOAD="$download" \
		gunicorn "$@" -w 1 -b 127.0.0.1:0 --chdir tools note_app:app \
		>"$log" 2>&1 &
	GU_PID=$!
	URL=$(wait_for "$log" "$GU_PID" 'Listening at: http://127\.0\.0\.1:[0-9]*')
	URL="${URL#Listening at: }/hello"
	WORKER=
	i=0
	while [ -z "$WORKER" ] && [ $i -lt 100 ]; do	# the worker boots after the banner
		WORKER=$(awk '{ print $1 }' "/proc/$GU_PID/task/$GU_PID/children" 2>/dev/null) || true
		grep -q 'Booting worker' "$log" || WORKER=
		[ -n "$WORKER" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ "$URL" = /hello ] || [ -z "$WORKER" ]; then
		echo "bench-python: gunicorn did not start; its output:" >&2
		cat "$log" >&2
		exit 1
	fi
}

echo "bench-python: delay scale $SCALE (S = $S s, M = $M s); upstream on port $UP_PORT" >&2
for case in 1 2 3 4; do
	case $case in
	1) download=sync flags='' model=sync what="sync worker, sync_download" ;;
	2) download=async flags='' model=sync what="sync worker, async_download" ;;
	3) download=sync flags="-k gevent" model=seq what="gevent worker, sync_download" ;;
	4) download=async flags="-k gevent" model=fibers what="gevent worker, async_download" ;;
	esac
	# $flags unquoted on purpose: empty, or two words
	# shellcheck disable=SC2086
	start_gunicorn "gunicorn-case$case" "$download" $flags
	echo
	echo "gunicorn-case$case: $what (the note's case $case)"
	echo "  (seconds; 'model' beside each figure it predicts; S = $S, M = $M)"
	table_header
	# Python imports some modules and builds its first connections lazily,
	# during the first request; the note's figures are of a warm process,
	# so one request goes first, unrecorded (its summary: *-warmup.txt).
	./labload "$URL" >"$OUT/gunicorn-case$case-warmup.txt" 2>&1 || true
	for c in 1 4; do
		measure "gunicorn-case$case" "$model" "$URL" "$WORKER" "$c"
	done
	stop_pid "$GU_PID"
	GU_PID=
done
merge_summary

if command -v gnuplot >/dev/null 2>&1; then
	for fmt in svg png; do
		gnuplot -e "dir='$OUT'; fmt='$fmt'; S=$S; M=$M; python=1" tools/timeline.gp
	done
	echo "bench-python: chart in $OUT/timeline-python.{svg,png}" >&2
fi
