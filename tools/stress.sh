#!/bin/sh
# stress.sh: run the timing-sensitive suites again and again on a busy
# machine, and count the runs that failed (what `make stress` runs).
#
#   sh tools/stress.sh RUNS LOAD BUILD BIN [ASAN_BUILD [TSAN_BUILD]]
#
# One run is what make test runs whose checks measure time or race a
# signal, stage by stage as make test runs them: every such suite as built --
# the test clocks, the fiber and IO suites, the lab behaviour tests, the
# hostile clients, the upstream faults, stopping, the workers and threads,
# the database labs, the simulator under a crowd -- and the grader; then,
# with ASAN_BUILD, the same timing suites built with AddressSanitizer
# (labs, stop, faults, workers, db), whose slower start widens every race;
# then, with TSAN_BUILD, make tsan's suites: ThreadSanitizer handles
# signals its own way, and how the threads stop is a race it can change.
# The valgrind and fuzz stages are not timing checks and are left to
# `make test`.  LOAD busy loops keep the cores occupied, as on a shared
# grading machine, except during the TSan suites: a correct tree must
# still pass every run.  Checks from the ASan and TSan builds are named
# "asan ..." and "tsan ..." in the failures.
#
# Each run's output is kept in BUILD/stress/run-N.log.  The last line is
# "N passed, M failed", then each check that failed and in how many runs.
set -u
runs=${1:-5} load=${2:-2} build=${3:-build} bin=${4:-.} asan=${5:-} tsan=${6:-}
tsan_dir=${tsan:+$(cd "$tsan" && pwd)}
dir=$build/stress
rm -rf "$dir"
mkdir -p "$dir"

busy=
stop_busy() {
	# shellcheck disable=SC2086  # $busy is a list of pids
	[ -n "$busy" ] && kill $busy 2>/dev/null && kill -CONT $busy 2>/dev/null
	busy=
}
trap 'stop_busy' EXIT
trap 'stop_busy; exit 130' INT
trap 'stop_busy; exit 143' TERM
i=0
while [ "$i" -lt "$load" ]; do
	sh -c 'while :; do :; done' &
	busy="$busy $!"
	i=$((i + 1))
done

# A failing Check test prints "file:line:F:case:test:iteration: why" (E for
# an error); the grader prints "lab: check: FAIL: why" (and "hidden: name:
# FAIL").  The check's name is everything before the why.
failures() {
	sed -n -e 's/^[^:]*:[0-9]*:[FE]:\([^:]*:[^:]*:[0-9]*\):.*/\1/p' \
	       -e 's/^\(lab[1-6][^:]*: [^:]*\): FAIL: .*/grade: \1/p' \
	       -e 's/^hidden: \(.*\): FAIL$/grade: hidden \1/p' "$1"
}

passed=0 failed=0
: >"$dir/failures"
n=1
while [ "$n" -le "$runs" ]; do
	log=$dir/run-$n.log
	ok=yes
	for t in clocks fiber io labs hostile faults stop workers db upstream; do
		echo "== test_$t" >>"$log"
		LAB_BIN=$bin "$build/tests/test_$t" >>"$log" 2>&1 || ok=no
	done
	echo "== grade" >>"$log"
	LAB_BIN=$bin "$build/tests/grade" >>"$log" 2>&1 || ok=no
	for t in ${asan:+labs stop faults workers db}; do
		echo "== asan test_$t" >>"$log"
		LAB_BIN=$asan "$asan/tests/test_$t" >"$dir/asan.out" 2>&1 || ok=no
		sed 's/^\([^:]*:[0-9]*:[FE]:\)/\1asan /' "$dir/asan.out" >>"$log"
	done
	# make tsan's suites run on a quiet machine in make test, as here: the
	# busy loops pause, since what is run again is the threads' stopping,
	# not how slow ThreadSanitizer is under load.  Their checks are named
	# "tsan ..." in the failures.
	# shellcheck disable=SC2086  # $busy is a list of pids
	[ -n "$tsan" ] && [ -n "$busy" ] && kill -STOP $busy
	for t in ${tsan:+fiber io workers}; do
		echo "== tsan test_$t" >>"$log"
		rm -f "$tsan_dir"/report.*
		LAB_BIN=$tsan TSAN_OPTIONS="log_path=$tsan_dir/report" \
			"$tsan/tests/test_$t" >"$dir/tsan.out" 2>&1 || ok=no
		sed 's/^\([^:]*:[0-9]*:[FE]:\)/\1tsan /' "$dir/tsan.out" >>"$log"
		if ls "$tsan_dir"/report.* >/dev/null 2>&1; then
			cat "$tsan_dir"/report.* >>"$log"
			echo "tsan/test_$t.c:0:F:tsan reports:test_$t:0: ThreadSanitizer reports" >>"$log"
			ok=no
		fi
	done
	# shellcheck disable=SC2086
	[ -n "$tsan" ] && [ -n "$busy" ] && kill -CONT $busy
	failures "$log" >>"$dir/failures"
	if [ $ok = yes ]; then
		passed=$((passed + 1))
		echo "stress: run $n of $runs passed"
	else
		failed=$((failed + 1))
		echo "stress: run $n of $runs FAILED (see $log):"
		failures "$log" | sed 's/^/  /'
	fi
	n=$((n + 1))
done
stop_busy

echo "stress: $runs runs of every timing suite and the grader${asan:+, the ASan timing suites}${tsan:+ and the TSan suites}, $load busy loops; logs in $dir"
# The last line: the count, then each check that failed and in how many runs.
named=$(sort "$dir/failures" | uniq -c |
	sed 's/^ *\([0-9]*\) \(.*\)/\2 (\1 runs)/' | paste -sd ';' - | sed 's/;/; /g')
echo "$passed passed, $failed failed${named:+: $named}"
[ "$failed" -eq 0 ]
