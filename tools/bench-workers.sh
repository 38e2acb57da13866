#!/bin/sh
# bench-workers: gunicorn's other answer, measured -- more worker processes
# (-w N) and threads (--threads N) on lab 1, two evented workers on lab 4,
# beside one process of each, all on the same lab binaries.
#
# For each row, C requests are sent at once with ./labload, and we report:
#   max, model  the slowest of C against the model: with W workers or
#               threads serving one request at a time each, the k-th
#               request ends near ceil(k/W) * S, so the slowest near
#               ceil(C/W) * S; an evented worker with fibers, M
#   req/s       labload's, against the model's C / max
#   cpu_s       seconds on a CPU over the run (schedstat), summed over every
#               process of the lab (the master and its workers; the
#               upstream simulator and its keeper are not the lab's)
#   ms/req      that, per request
#   rss_kb, pss_kb  the most the lab's processes held at once, summed
#               (sampled every 0.1 s; PSS splits pages the workers share
#               with the master, RSS counts them once per process)
#   pss/held    peak PSS / the requests the lab held at once (W, or C when
#               C < W or for fibers): the memory one concurrent request
#               costs in each model -- a process, a thread, a fiber --
#               the fixed cost of the lab spread over them
#
# Results: bench/results/{full,quick}/workers.csv and workers.txt.
# QUICK=1: every delay times 0.1 (to try the script; the figures that the
# notes quote come from a full run on a quiet machine).
# usage: tools/bench-workers.sh   (from the top of the tree, after make)
set -eu

if [ "${QUICK:-0}" != 0 ]; then
	SCALE=0.1 OUT=bench/results/quick
else
	SCALE=1 OUT=bench/results/full
fi
for p in ./lab1 ./lab4 ./upstream ./labload; do
	[ -x $p ] || { echo "bench-workers: $p is missing; run make first" >&2; exit 1; }
done
mkdir -p "$OUT"
S=$(./upstream --profile --delay-scale "$SCALE" | awk '$1 == "S" { print $2 }')
M=$(./upstream --profile --delay-scale "$SCALE" | awk '$1 == "M" { print $2 }')
CSV=$OUT/workers.csv TXT=$OUT/workers.txt

# The lab's own processes: the master, and each child that has no child
# of its own (a worker; the simulator's keeper has the simulator).
lab_pids() {
	echo "$1"
	for _c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ -n "$(cat /proc/"$_c"/task/*/children 2>/dev/null)" ] || echo "$_c"
	done
}

cpu_ns() {	# nanoseconds on a CPU, every thread of every process given
	for _p in "$@"; do cat /proc/"$_p"/task/*/schedstat 2>/dev/null || true; done |
		awk '{ t += $1 } END { printf "%.0f\n", t }'
}

mem_kb() {	# "RSS PSS" of every process given, summed, in kB
	for _p in "$@"; do cat "/proc/$_p/smaps_rollup" 2>/dev/null || true; done |
		awk '$1 == "Rss:" { r += $2 } $1 == "Pss:" { p += $2 } END { print r + 0, p + 0 }'
}

# The lab of the row being measured: stopped (the master takes its workers
# and its simulator with it) when the row ends, and when the script does,
# however it ends -- set -e, Ctrl-C, or a signal.
_pid=
stop_row() {
	[ -n "$_pid" ] || return 0
	kill -TERM "$_pid" 2>/dev/null || true
	wait "$_pid" 2>/dev/null || true
	_pid=
}

# row NAME LAB OPTIONS C W: W serving one at a time each (0: fibers, M)
row() {
	_name=$1 _lab=$2 _opts=$3 _c=$4 _w=$5
	_log=$OUT/workers-$_name-c$_c
	# shellcheck disable=SC2086
	./$_lab -b 127.0.0.1:0 --delay-scale "$SCALE" $_opts >"$_log.out" 2>"$_log.err" &
	_pid=$!
	_port=
	for _i in $(seq 100); do
		_port=$(grep -o 'http://127.0.0.1:[0-9]*' "$_log.out" 2>/dev/null | head -n 1 | sed 's/.*://') || true
		[ -n "$_port" ] && break
		sleep 0.1
	done
	[ -n "$_port" ] || { echo "bench-workers: $_lab did not start" >&2; exit 1; }
	# wait for every worker, then measure from here
	_want=$(echo "$_opts" | awk '{ for (i = 1; i < NF; i++) if ($i == "-w") print $(i + 1) }')
	for _i in $(seq 50); do
		[ "$(lab_pids "$_pid" | wc -l)" -ge "$(( ${_want:-0} + 1 ))" ] && break
		sleep 0.1
	done
	./labload "http://127.0.0.1:$_port/hello" -c 1 -n 1 >/dev/null	# warm up
	_pids=$(lab_pids "$_pid")
	# shellcheck disable=SC2086
	# shellcheck disable=SC2086
	_cpu0=$(cpu_ns $_pids)
	_limit=$(awk -v c="$_c" -v S="$S" 'BEGIN { t = 2 * c * S + 10; print (t < 60 ? 60 : t) }')
	./labload "http://127.0.0.1:$_port/hello" -c "$_c" -n "$_c" --timeout "$_limit" \
		>"$_log.txt" 2>&1 &
	_load=$!
	_peak="0 0"
	while kill -0 "$_load" 2>/dev/null; do
		# shellcheck disable=SC2086
		_peak=$(printf '%s\n%s\n' "$_peak" "$(mem_kb $_pids)" |
			awk '{ if ($1 > r) r = $1; if ($2 > p) p = $2 } END { print r, p }')
		sleep 0.1
	done
	_status=0
	wait "$_load" || _status=$?
	# shellcheck disable=SC2086
	_cpu1=$(cpu_ns $_pids)
	_n=$(echo $_pids | wc -w)
	stop_row
	[ "$_status" -le 1 ] || { echo "bench-workers: labload failed" >&2; cat "$_log.txt" >&2; exit 1; }

	_max=$(awk '$1 == "Slowest:" { print $2 }' "$_log.txt")
	_rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$_log.txt")
	awk -v name="$_name" -v opts="$_opts" -v c="$_c" -v w="$_w" -v S="$S" -v M="$M" \
	    -v max="$_max" -v rps="$_rps" -v t0="$_cpu0" -v t1="$_cpu1" \
	    -v peak="$_peak" -v n="$_n" -v scale="$SCALE" -v csv="$CSV" 'BEGIN {
		if (w > 0) { k = c / w; r = int(k); if (r < k) r++; model = r * S }
		else model = M
		cpu = (t1 - t0) / 1e9
		held = w > 0 && w < c ? w : c	# requests in flight at once
		split(peak, m, " ")
		printf "%-12s %-24s %5d %8.3f %8.3f %7.2f %7.2f %6.3f %7.2f %8d %8d %8.0f %3d\n",
			name, opts, c, max, model, rps, c / model, cpu, 1000 * cpu / c,
			m[1], m[2], m[2] / held, n
		printf "%s,%s,%d,%s,%.4f,%s,%.2f,%.3f,%.2f,%d,%d,%.0f,%d,%s\n",
			name, opts, c, max, model, rps, c / model, cpu, 1000 * cpu / c,
			m[1], m[2], m[2] / held, n, scale >> csv
	}'
	[ "$_status" = 0 ] || echo "    (not every answer was 2xx: see $_log.txt)"
}

C=${C:-16} BIG=${BIG:-64}
echo "name,options,concurrency,max,model_max,rps,model_rps,cpu_s,cpu_ms_per_req,rss_kb,pss_kb,pss_kb_per_held,processes,scale" >"$CSV"
{
	trap stop_row EXIT
	trap 'stop_row; exit 130' INT
	trap 'stop_row; exit 143' TERM
	echo "S = $S s, M = $M s (delay scale $SCALE); C requests at once"
	printf '%-12s %-24s %5s %8s %8s %7s %7s %6s %7s %8s %8s %8s %3s\n' name options C \
		max model req/s model cpu_s ms/req rss_kb pss_kb pss/held n
	row lab1 lab1 "" "$C" 1
	row lab1-w2 lab1 "-w 2" "$C" 2
	row lab1-w4 lab1 "-w 4" "$C" 4
	row lab1-w16 lab1 "-w 16" "$C" 16
	row lab1-t4 lab1 "--threads 4" "$C" 4
	row lab1-t64 lab1 "--threads 64" "$C" 64
	row lab4 lab4 "" "$C" 0
	row lab4-w2 lab4 "-w 2" "$C" 0
	row lab1-w16 lab1 "-w 16" "$BIG" 16
	row lab1-t64 lab1 "--threads 64" "$BIG" 64
	row lab4-w2 lab4 "-w 2" "$BIG" 0
} | tee "$TXT"
echo "bench-workers: $CSV" >&2
