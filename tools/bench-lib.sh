# bench-lib.sh: what tools/bench.sh and tools/bench-python.sh share --
# the profile, starting and stopping a server, the model's predictions, and
# measuring one concurrency level with ./labload.  Sourced, not run.
#
# A caller sets nothing before sourcing it; it reads QUICK from the
# environment and leaves OUT, SCALE, S, M, ROWS in the caller's variables.
#
# Each profile has a results folder of its own, so a quick run can never
# be mixed with a full one: bench/results/full (delays as in the note) and
# bench/results/quick (QUICK=1, every delay times 0.1).  Only the full
# profile's summary.csv feeds the notes (tools/results-md.sh).

if [ "${QUICK:-0}" != 0 ]; then
	SCALE=0.1 OUT=bench/results/quick
else
	SCALE=1 OUT=bench/results/full
fi
# S, the sum of the ten delays, and M, the longest: from the simulator's own
# profile (common/profile.c), scaled.
if [ ! -x ./upstream ]; then
	echo "bench: ./upstream is missing; run make first" >&2
	exit 1
fi
S=$(./upstream --profile --delay-scale "$SCALE" | awk '$1 == "S" { print $2 }')
M=$(./upstream --profile --delay-scale "$SCALE" | awk '$1 == "M" { print $2 }')
HZ=$(getconf CLK_TCK)
# summary.csv: one row a server and level; scale is the delay factor the
# row was measured at, so a reader can tell a quick row from a full one.
SUMMARY_HEADER="lab,concurrency,p50,p90,p99,max,rps,cpu_s,rss_kb,predicted,scale"
# This run's rows are collected here and folded into summary.csv only at
# the end (merge_summary), so an interrupted run leaves the old one whole.
ROWS=$OUT/summary.csv.$$

# ---- servers ----

# wait_for LOG PID REGEX: print the first match of REGEX in LOG once the
# server has written it (its banner); empty if PID died or 10 s passed.
wait_for() {
	_i=0
	while [ $_i -lt 100 ]; do
		_m=$(grep -o "$3" "$1" 2>/dev/null | head -n 1) || true
		if [ -n "$_m" ]; then
			echo "$_m"
			return 0
		fi
		kill -0 "$2" 2>/dev/null || return 0
		sleep 0.1
		_i=$((_i + 1))
	done
}

# stop_pid PID: SIGTERM, up to five seconds to go, then SIGKILL; reaped.
stop_pid() {
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null || true
	_i=0
	while kill -0 "$1" 2>/dev/null && [ $_i -lt 50 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# ---- what one level measures ----

cpu_ticks() {	# utime + stime; the fields after comm's ")"
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

peak_rss_kb() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# The model (see the design brief), by worker and application code:
#   sync   -- sync worker, either code (labs 1, 2; gunicorn -w 1): one
#     request at a time, so of c sent at once the k-th ends at k*S.  The
#     latencies are S, 2S, ..., cS: max = c*S, and the nearest-rank p-th
#     percentile is ceil(p/100 * c) * S (p50 = ceil(c/2) * S).  Throughput
#     stays 1/S whatever c is.
#   seq    -- evented worker, sequential downloads (lab 3; -k gevent +
#     sync_download): requests overlap, but each waits for its ten
#     downloads in turn: every latency = S, throughput c/S.
#   fibers -- evented worker, one fiber per download (lab 4; -k gevent +
#     async_download): the downloads overlap too: latency M, throughput c/M.
# None of this counts CPU: where the figures part from the model at high
# c, the process has become CPU-bound (see the cpu_s column).
#
# predict MODEL C P: the predicted P-th percentile latency (P = 100: max).
predict() {
	awk -v model="$1" -v c="$2" -v p="$3" -v S="$S" -v M="$M" 'BEGIN {
		if (model == "sync") {
			k = p / 100 * c; r = int(k); if (r < k) r++
			printf "%.4f", r * S
		} else if (model == "seq") printf "%.4f", S
		else printf "%.4f", M
	}'
}

predict_rps() {
	awk -v model="$1" -v c="$2" -v S="$S" -v M="$M" 'BEGIN {
		if (model == "sync") printf "%.2f", 1 / S
		else if (model == "seq") printf "%.2f", c / S
		else printf "%.2f", c / M
	}'
}

# labload's summary line "  p50:  0.1234 secs" -> 0.1234
figure() {
	awk -v key="$1" '$1 == key { print $2; exit }' "$2"
}

table_header() {
	printf '%6s %7s %7s %7s %7s %7s %7s %8s %8s %6s %8s\n' \
		conc p50 model p90 p99 max model req/s model cpu_s rss_kb
}

# measure NAME MODEL URL PID C: send C requests at once to URL with
# ./labload (its CSV and summary kept as OUT/NAME-cC.*), measure process
# PID's CPU time and peak RSS over it, append a row to ROWS and print one
# to stdout.
measure() {
	_name=$1 _model=$2 _url=$3 _pid=$4 _c=$5
	_base=$OUT/$_name-c$_c
	# the last sync answer comes after c*S: allow twice that, at least 60 s
	_limit=$(awk -v c="$_c" -v S="$S" 'BEGIN { t = 2 * c * S + 10; print (t < 60 ? 60 : t) }')

	echo 5 2>/dev/null >"/proc/$_pid/clear_refs" || true	# restart VmHWM here
	_cpu0=$(cpu_ticks "$_pid")
	printf 'bench: %s c=%-4s ...' "$_name" "$_c" >&2
	_status=0
	./labload "$_url" -c "$_c" -n "$_c" --timeout "$_limit" --csv "$_base.csv" \
		>"$_base.txt" 2>&1 || _status=$?
	_cpu1=$(cpu_ticks "$_pid")
	_rss=$(peak_rss_kb "$_pid")
	echo " $(figure Total: "$_base.txt") s" >&2
	if [ "$_status" -gt 1 ]; then
		echo "bench: labload failed:" >&2
		cat "$_base.txt" >&2
		exit 1
	fi

	_p50=$(figure p50: "$_base.txt")
	_p90=$(figure p90: "$_base.txt")
	_p99=$(figure p99: "$_base.txt")
	_max=$(figure Slowest: "$_base.txt")
	_rps=$(figure Requests/sec: "$_base.txt")
	_cpu=$(awk -v a="$_cpu0" -v b="$_cpu1" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) / hz }')
	_pmax=$(predict "$_model" "$_c" 100)
	echo "$_name,$_c,$_p50,$_p90,$_p99,$_max,$_rps,$_cpu,$_rss,$_pmax,$SCALE" >>"$ROWS"

	_note=
	[ "$_status" = 0 ] || _note="  <- $(figure Errors: "$_base.txt") errors, not all 2xx: see $_base.txt"
	printf '%6s %7s %7s %7s %7s %7s %7s %8s %8s %6s %8s%s\n' "$_c" \
		"${_p50:--}" "$(predict "$_model" "$_c" 50)" "${_p90:--}" "${_p99:--}" \
		"${_max:--}" "$_pmax" "$_rps" "$(predict_rps "$_model" "$_c")" \
		"$_cpu" "$_rss" "$_note"
}

# ---- summary.csv ----

# merge_summary: fold this run's rows (ROWS) into OUT/summary.csv.  The
# servers this run measured lose their old rows; every other server keeps
# its own, so `make bench` (lab1..lab4) and `make bench-python`
# (gunicorn-case1..4) can run in either order and the notes still get both.
# An old row is dropped, with a word on stderr, when it cannot stand beside
# the new ones: written in another format, or at another delay scale.
# Labs come first, then the rest, each in the order it was measured.
merge_summary() {
	[ -f "$OUT/summary.csv" ] || echo "$SUMMARY_HEADER" >"$OUT/summary.csv"
	awk -F, -v header="$SUMMARY_HEADER" -v scale="$SCALE" '
	FILENAME == ARGV[1] { mine[$1] = 1; row[++n] = $0; next }
	FNR == 1 {
		stale = $0 != header
		if (stale) print "bench: " FILENAME " has an older format; its other rows are dropped" >"/dev/stderr"
		next
	}
	stale || $1 in mine { next }
	$11 + 0 != scale + 0 {
		print "bench: dropping " $1 " c=" $2 ": measured at delay scale " $11 ", not " scale >"/dev/stderr"
		next
	}
	{ old[++m] = $0 }
	END {
		print header
		for (i = 1; i <= m; i++) if (old[i] ~ /^lab/) print old[i]
		for (i = 1; i <= n; i++) if (row[i] ~ /^lab/) print row[i]
		for (i = 1; i <= m; i++) if (old[i] !~ /^lab/) print old[i]
		for (i = 1; i <= n; i++) if (row[i] !~ /^lab/) print row[i]
	}' "$ROWS" "$OUT/summary.csv" >"$OUT/summary.csv.new"
	mv "$OUT/summary.csv.new" "$OUT/summary.csv"
	rm -f "$ROWS"
}
