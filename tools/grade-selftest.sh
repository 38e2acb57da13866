#!/bin/sh
# grade-selftest: the grader must fail a wrong lab, not only pass a right one.
# Builds deliberately broken variants of the labs in a scratch folder, grades
# each, and checks that it lost exactly the checks it should have lost.
# usage: tools/grade-selftest.sh PATH-TO-GRADER   (from the top of the tree)
set -eu
grader=$(realpath "$1")
top=$(pwd)
built=$(dirname "$(dirname "$grader")")	# the build folder the grader is in
scratch=$(mktemp -d /tmp/workerlab-selftest-XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM
failures=0

# copy_tree DIR: the sources and the tree's own objects, times kept, so
# that a variant's make compiles only the file its edit touched.
copy_tree() {
	cp -a "$top/Makefile" "$top/common" "$top/tools" "$top"/lab[1-6]-* "$1"/
	mkdir -p "$1/build"
	for d in "$built"/common "$built"/lab[1-6]-*; do
		[ ! -d "$d" ] || cp -a "$d" "$1/build"/
	done
}

# variant NAME LAB FILE SED-EXPRESSION LOST-CHECK...
# Grades LAB built with FILE edited; it must lose exactly the LOST-CHECKs,
# and may also lose the one check named in $MAYLOSE (where the breakage
# slows it only sometimes past a bound).
variant() {
	name=$1 lab=$2 file=$3 edit=$4
	shift 4
	dir=$scratch/$name
	mkdir -p "$dir"
	copy_tree "$dir"
	sed -i "$edit" "$dir/$file"
	if cmp -s "$top/$file" "$dir/$file"; then
		echo "grade-selftest: $name: the edit changed nothing in $file"; exit 1
	fi
	make -s -C "$dir" BUILD=build "$lab" >/dev/null
	out=$(cd "$top" && WORKERLAB_SLOW=${SLOW:-1} LAB="$lab" LAB_BIN="$dir" "$grader" 2>/dev/null) &&
		status=0 || status=$?
	lost=$(echo "$out" | grep -c ': FAIL' || true)
	if [ -n "${MAYLOSE:-}" ] && echo "$out" | grep -q ": $MAYLOSE: FAIL"; then
		lost=$((lost - 1))
	fi
	verdict=ok
	[ "$status" -ne 0 ] || verdict="graded full marks"
	[ "$lost" -eq "$#" ] || verdict="lost $lost checks, expected $#"
	for check in "$@"; do
		echo "$out" | grep -q ": $check: FAIL" || verdict="did not lose '$check'"
	done
	if [ "$verdict" = ok ]; then
		echo "grade-selftest: $name: loses exactly the $# checks it should: OK"
	else
		echo "grade-selftest: $name: FAIL: $verdict"; echo "$out" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
}

variant lab4-sequential-handler lab4 lab4-evented-async/main.c \
	's/async_download(&d)/sync_download(\&d)/' \
	"one request takes M" "four requests overlap, each taking M"
# However slow the grading machine is said to be, a wrong lab still fails.
SLOW=4
variant lab4-sequential-handler-slow-machine lab4 lab4-evented-async/main.c \
	's/async_download(&d)/sync_download(\&d)/' \
	"one request takes M" "four requests overlap, each taking M"
variant lab3-on-the-sync-worker-slow-machine lab3 lab3-evented-blocking/main.c \
	's/serve_evented, hello/serve_sync, hello/' \
	"four requests overlap, each taking S" "answers while another request is stuck"
SLOW=
variant lab3-on-the-sync-worker lab3 lab3-evented-blocking/main.c \
	's/serve_evented, hello/serve_sync, hello/' \
	"four requests overlap, each taking S" "answers while another request is stuck"
# Blocking fetches also hold up the hub that would notice SIGTERM, so its
# shutdown can run past the one-second bound: a fair loss, but not a sure one.
MAYLOSE="stops on SIGTERM, its upstream too"
variant lab4-fetch-left-blocking lab4 common/fetch.c \
	's/return io_patched() ? fetch_cooperative/return 0 ? fetch_cooperative/' \
	"one request takes M" "four requests overlap, each taking M" \
	"answers while another request is stuck"
MAYLOSE=
variant lab1-no-downloads lab1 lab1-sync/main.c \
	's/sync_download(&d);/d.n = 0;/' \
	"answers /hello with the note's JSON" "one request takes S" \
	"four requests are served one after another" "waits while another request is stuck" \
	"-w 4 serves four at once, each taking S" \
	"a worker stuck past --timeout is replaced, and answers"
# The database labs: the one line between lab 5 and lab 6, the wrong way
# round in each.
variant lab6-driver-left-blocking lab6 lab6-evented-db-cooperative/main.c \
	's/^\tdb_patch();$//' \
	"four /db overlap, each taking S" "answers /hello while a /db runs" \
	"/db?spawn=1 takes two rounds of a pool of 5"
variant lab5-driver-patched lab5 lab5-evented-db-blocking/main.c \
	's/^\treturn dblab_main/\tdb_patch();\n&/' \
	"four /db are served one after another" "answers /hello only after the /db in flight" \
	"/db?spawn=1 still takes S"

# Hidden checks: one that passes and one that fails, in a grade folder of
# their own; both run, both score, both are hidden in results.json.
hidden() {
	g=$scratch/grade
	mkdir -p "$g/hidden"
	printf 'one-request 2\n' > "$g/points"
	printf '#!/bin/sh\n# points: 3\necho "$LAB_BIN"\n[ -x "$LAB_BIN/lab4" ]\n' > "$g/hidden/passes"
	printf '#!/bin/sh\necho secret reason\nexit 1\n' > "$g/hidden/fails"
	chmod +x "$g/hidden/passes" "$g/hidden/fails"
	out=$(GRADE_DIR="$g" LAB=lab4 RESULTS="$scratch/results.json" "$grader" 2>/dev/null) || true
	verdict=ok
	echo "$out" | grep -q '^hidden: passes: OK$' || verdict="the passing hidden check did not pass"
	echo "$out" | grep -q '^hidden: fails: FAIL$' || verdict="the failing hidden check did not fail"
	echo "$out" | grep -q 'secret reason' && verdict="a hidden check's output reached the terminal"
	echo "$out" | grep -q '^Score: 5/6$' || verdict="score not 5/6: $(echo "$out" | tail -1)"
	[ "$(grep -c '"visibility": "hidden"' "$scratch/results.json")" -eq 2 ] ||
		verdict="results.json does not mark both hidden"
	if [ "$verdict" = ok ]; then
		echo "grade-selftest: hidden checks run, score and stay hidden: OK"
	else
		echo "grade-selftest: hidden checks: FAIL: $verdict"; echo "$out" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
}
hidden

# make grade-calibrate: on the reference lab 4 every margin is printed and
# the run succeeds.  A correct but slow lab 1 (it naps 0.45 s before its
# downloads) passes with thin margins: a factor is recommended.  A wrong
# lab 4 (the sequential handler, still built in the scratch folder) runs
# past its bound, and no factor is recommended, since none may let it pass.
calibration() {
	verdict=ok
	out=$(cd "$top" && CALIBRATE=2 LAB=lab4 "$grader" 2>/dev/null) ||
		verdict="the reference lab 4 failed a calibration run"
	[ "$(echo "$out" | grep -c '^lab4-evented-async: ')" -eq 5 ] ||
		verdict="expected a line for each of 5 timed checks"
	echo "$out" | grep -q '^2 runs of each check at WORKERLAB_SLOW=1: smallest margin' ||
		verdict="no summary line"
	slow=$scratch/lab1-slow
	mkdir -p "$slow"
	copy_tree "$slow"
	sed -i 's/#include "util.h"/#include "util.h"\n#include <unistd.h>/; s/sync_download(&d);/usleep(450000); sync_download(\&d);/' \
		"$slow/lab1-sync/main.c"
	make -s -C "$slow" BUILD=build lab1 >/dev/null
	thin=$(cd "$top" && CALIBRATE=1 LAB=lab1 LAB_BIN="$slow" "$grader" 2>/dev/null) ||
		verdict="a slow but correct lab 1 failed a calibration run"
	echo "$thin" | grep -q '^Recommended: grade on this machine with WORKERLAB_SLOW=1\.[0-9]' ||
		verdict="no WORKERLAB_SLOW recommended for a slow but correct lab"
	bad=$(cd "$top" && CALIBRATE=1 LAB=lab4 LAB_BIN="$scratch/lab4-sequential-handler" \
	      "$grader" 2>/dev/null) && verdict="a lab over its bound calibrated with status 0"
	echo "$bad" | grep -q '^lab4-evented-async: one request takes M .* 0\.[0-9]*  FAILED' ||
		verdict="the wrong lab's margin is not shown below 1, with its failure"
	echo "$bad" | grep -q '^No WORKERLAB_SLOW gives every margin' ||
		verdict="a factor was offered that would let a wrong lab pass"
	if [ "$verdict" = ok ]; then
		echo "grade-selftest: calibration shows each margin and recommends a factor: OK"
	else
		echo "grade-selftest: calibration: FAIL: $verdict"
		printf '%s\n%s\n%s\n' "$out" "$thin" "$bad" | sed 's/^/    /'
		failures=$((failures + 1))
	fi
}
calibration

if [ "$failures" -ne 0 ]; then
	echo "grade-selftest: $failures of 8 checks failed"; exit 1
fi
echo "grade-selftest: 8 passed, 0 failed"
