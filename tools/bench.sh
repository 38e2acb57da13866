#!/bin/sh
# bench.sh: measure the four labs under load and set the figures beside the
# model's predictions (what `make bench` runs).
#
#   sh tools/bench.sh            the default profile: S = 2.45 s, M = 0.40 s
#   QUICK=1 sh tools/bench.sh    the same shape, every delay times 0.1
#
# Each lab is started once, on a free port, and sent c requests at once for
# c = 1 2 4 8 16 (labs 3 and 4 also 64 256 1000) with ./labload.  Every
# client sends exactly one request (n = c), so a level shows what N users
# who click at the same moment see: the sync labs' staircase, the evented
# labs' overlap.  For each level it records latency p50/p90/p99/max and
# throughput (from labload), the lab process's CPU time (utime + stime in
# /proc/PID/stat, before and after the level) and its peak RSS (VmHWM in
# /proc/PID/status, reset before each level where the kernel allows).  The
# simulator is the lab's child: its CPU and memory are not counted.
#
# Output, in bench/results/full/ (QUICK=1: bench/results/quick/; nothing
# outside that folder is written -- the notes are tools/results-md.sh's):
#   summary.csv       lab,concurrency,p50,p90,p99,max,rps,cpu_s,rss_kb,predicted,scale
#                     (predicted: the model's max latency, seconds; scale:
#                     the delay factor).  The rows of lab1..lab4 are
#                     replaced at the end of the run; gunicorn's rows, from
#                     tools/bench-python.sh, are kept.
#   LAB-cC.csv        labload --csv of one level: one row per request
#   LAB-cC.txt        labload's summary of that level
#   LAB.log           the lab's own stdout and stderr
#   latency.svg/png   max latency against concurrency, labs and model
#   timeline.svg/png  the four requests of c = 4, one bar each, per lab
#
# The model's predictions and the measuring itself are in tools/bench-lib.sh,
# shared with tools/bench-python.sh.
#
# Timing: the sync labs at c = 16 take 16 S = 39 s for the last answer, so
# the full run is about three minutes, QUICK=1 about twenty seconds.
set -eu

cd "$(dirname "$0")/.."
. tools/bench-lib.sh		# OUT, SCALE, S, M, the model, measure()
SYNC_LEVELS="1 2 4 8 16"
EVENTED_LEVELS="1 2 4 8 16 64 256 1000"

for prog in lab1 lab2 lab3 lab4 labload upstream; do
	if [ ! -x "./$prog" ]; then
		echo "bench: ./$prog is missing; run make first" >&2
		exit 1
	fi
done
mkdir -p "$OUT"
: >"$ROWS"

# ---- starting and stopping a lab ----

LAB_PID=
stop_lab() {
	stop_pid "$LAB_PID"	# the lab takes its simulator with it
	LAB_PID=
}
# A background job of a script ignores Ctrl-C, so the lab (and with it its
# simulator) would outlive an interrupted bench without this.  The rows of
# an unfinished run are thrown away: summary.csv keeps the last whole one.
trap 'stop_lab; rm -f "$ROWS"' EXIT
trap 'stop_lab; exit 130' INT
trap 'stop_lab; exit 143' TERM

# Start lab $1 on a free port; sets LAB_PID and URL.  At c = 1000 the lab
# holds a socket per client plus one per download (lab 4: ten per request),
# and its simulator as many again, so it gets as many open files as the
# hard limit allows, up to 65536.
start_lab() {
	log=$OUT/$1.log
	: >"$log"
	(
		# not POSIX, but dash, bash and busybox sh all have ulimit -n and -H
		# shellcheck disable=SC3045
		ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
		exec "./$1" -b 127.0.0.1:0 --delay-scale "$SCALE"
	) >"$log" 2>&1 &
	LAB_PID=$!
	URL=$(wait_for "$log" "$LAB_PID" 'http://127\.0\.0\.1:[0-9]*/hello')
	if [ -z "$URL" ]; then
		echo "bench: $1 did not start; its output:" >&2
		cat "$log" >&2
		exit 1
	fi
	files=$(awk '/^Max open files/ { print $4 }' "/proc/$LAB_PID/limits")
	case $1 in lab3 | lab4)
		if [ "$files" != unlimited ] && [ "$files" -lt 12000 ]; then
			echo "bench: warning: $1 may open only $files files;" \
			     "c = 1000 needs about 11000 (raise ulimit -Hn)" >&2
		fi
	esac
}

# ---- the run ----

describe() {
	case $1 in
	lab1) echo "sync worker, sequential downloads; model: one by one, k-th ends at k*S" ;;
	lab2) echo "sync worker, one fiber per download; model: one by one, k-th ends at k*S" ;;
	lab3) echo "evented worker, sequential downloads; model: all overlap, each S" ;;
	lab4) echo "evented worker, one fiber per download; model: all overlap, each M" ;;
	esac
}

echo "bench: delay scale $SCALE (S = $S s, M = $M s); results in $OUT/" >&2
for lab in lab1 lab2 lab3 lab4; do
	case $lab in
	lab1 | lab2) levels=$SYNC_LEVELS model=sync ;;
	lab3) levels=$EVENTED_LEVELS model=seq ;;
	lab4) levels=$EVENTED_LEVELS model=fibers ;;
	esac
	start_lab "$lab"
	echo
	echo "$lab: $(describe "$lab")"
	echo "  (seconds; 'model' beside each figure it predicts; S = $S, M = $M)"
	table_header
	for c in $levels; do
		measure "$lab" "$model" "$URL" "$LAB_PID" "$c"
	done
	stop_lab
done
merge_summary

# ---- the charts ----

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "bench: gnuplot not found (Debian: gnuplot-nox); no charts drawn" >&2
	exit 0
fi
for fmt in svg png; do
	for chart in latency timeline; do
		gnuplot -e "dir='$OUT'; fmt='$fmt'; S=$S; M=$M" "tools/$chart.gp"
	done
done
echo >&2
echo "bench: charts in $OUT/latency.{svg,png} and $OUT/timeline.{svg,png}" >&2
