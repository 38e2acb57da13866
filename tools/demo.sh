#!/bin/sh
# demo: lab1..lab4 (each with its simulator) on four consecutive free ports
# of 127.0.0.1, and one URL: the page that races them.  Ctrl-C stops them
# all.  Each lab's log goes to a file, named below.
# usage: tools/demo.sh BIN [LAB-OPTION...]   (e.g. --delay-scale 0.5;
#        make demo DEMO_FLAGS="--delay-scale 0.5")
#        PORT=N picks the first port to try (default 12345)
set -u
bin=$1
shift
labopts="$*"
logs=$(mktemp -d /tmp/workerlab-demo-XXXXXX)
pids=

stop() {
	for pid in $pids; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $pids; do
		wait "$pid" 2>/dev/null
	done
	pids=
}
trap 'stop; exit 0' INT TERM
trap 'stop' EXIT

# Start labN on PORT; wait until it says where it listens, or has exited
# (a port in use).  Returns non-zero when it did not start.
start() {
	n=$1 port=$2
	# shellcheck disable=SC2086 # the options, word by word
	"$bin/lab$n" -b "127.0.0.1:$port" $labopts >"$logs/lab$n.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		if grep -q 'try: curl' "$logs/lab$n.log"; then
			pids="$pids $pid"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	return 1
}

base=${PORT:-12345}
tries=0
until start 1 "$base" && start 2 $((base + 1)) && start 3 $((base + 2)) &&
      start 4 $((base + 3)); do
	stop
	tries=$((tries + 1))
	if [ $tries -ge 20 ]; then
		echo "demo: no four free consecutive ports from ${PORT:-12345}; see $logs" >&2
		exit 1
	fi
	base=$((base + 4))
done
ports="$base,$((base + 1)),$((base + 2)),$((base + 3))"
echo "demo: lab1..lab4 on ports $ports (their logs: $logs/)"
echo "demo: open  http://127.0.0.1:$base/?labs=$ports"
echo "demo: 中文  http://127.0.0.1:$base/?labs=$ports&lang=zh-CN"
echo "demo: Ctrl-C stops them all"
wait	# until a signal, or until every lab has stopped
