#!/bin/sh
# bench-upstream.sh: the upstream simulator's capacity.  For each N (default
# 1000 10000 50000) a fresh ./upstream on a free loopback port, N clients
# at once -- each its own connection, one GET /delay/DELAY_MS (default 1000)
# -- from ./simload; one line each: requests answered, errors, the slowest
# connect and answer, the answer's ratio to the delay, and the simulator's
# CPU time and peak RSS (from /proc).  Both ends run with the open-file
# limit raised to the hard one; the first lines say what that, and the
# kernel's listen backlog, allow.
#
#   sh tools/bench-upstream.sh [N ...]
set -eu
cd "$(dirname "$0")/.."
DELAY_MS=${DELAY_MS:-1000}
for prog in ./upstream ./simload; do
	if [ ! -x $prog ]; then
		echo "bench-upstream: $prog is missing; run make first" >&2
		exit 1
	fi
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
tick=$(getconf CLK_TCK)
delay=$(awk -v ms="$DELAY_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-upstream.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

echo "simulator capacity: GET /delay/$DELAY_MS, N clients at once, each its own connection"
echo "  open files (ulimit -n): $(ulimit -n), so at most $(( $(ulimit -n) - 16 )) connections" \
     "held by one process; listen backlog: net.core.somaxconn = $(cat /proc/sys/net/core/somaxconn)"

cpu_seconds() {	# utime + stime of $1, in seconds
	awk -v t="$tick" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"
}

for n in ${*:-1000 10000 50000}; do
	./upstream -b 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	port=
	for _ in $(seq 50); do
		port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$tmp/out")
		[ -n "$port" ] && break
		sleep 0.1
	done
	if [ -z "$port" ]; then
		echo "bench-upstream: ./upstream did not start" >&2
		cat "$tmp/err" >&2
		exit 1
	fi
	line=$(./simload "$port" "$n" "/delay/$DELAY_MS" "$delay") || true
	cpu=$(cpu_seconds "$pid")
	rss=$(awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=
	echo "  $line; simulator CPU ${cpu} s, peak RSS ${rss} MB"
	grep -v "open-file limit" "$tmp/err" | sed 's/^/    /' || true
done
