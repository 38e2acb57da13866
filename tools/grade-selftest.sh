#!/bin/sh
# grade-selftest: the grader must fail a wrong lab, not only pass a right one.
# Builds deliberately broken variants of the labs in a scratch folder, grades
# each, and checks that it lost exactly the checks it should have lost.
# usage: tools/grade-selftest.sh PATH-TO-GRADER   (from the top of the tree)
set -eu
grader=$(realpath "$1")
top=$(pwd)
scratch=$(mktemp -d /tmp/workerlab-selftest-XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM
failures=0

# variant NAME LAB FILE SED-EXPRESSION LOST-CHECK...
# Grades LAB built with FILE edited; it must lose exactly the LOST-CHECKs.
variant() {
	name=$1 lab=$2 file=$3 edit=$4
	shift 4
	dir=$scratch/$name
	mkdir -p "$dir"
	cp -r "$top/Makefile" "$top/common" "$top/tools" "$top"/lab[1-4]-* "$dir"/
	sed -i "$edit" "$dir/$file"
	if cmp -s "$top/$file" "$dir/$file"; then
		echo "grade-selftest: $name: the edit changed nothing in $file"; exit 1
	fi
	make -s -C "$dir" BUILD=build "$lab" >/dev/null
	out=$(cd "$top" && LAB="$lab" LAB_BIN="$dir" "$grader" 2>/dev/null) && status=0 || status=$?
	lost=$(echo "$out" | grep -c ': FAIL' || true)
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
variant lab3-on-the-sync-worker lab3 lab3-evented-blocking/main.c \
	's/serve_evented, hello/serve_sync, hello/' \
	"four requests overlap, each taking S" "answers while another request is stuck"
variant lab4-fetch-left-blocking lab4 common/fetch.c \
	's/return io_patched() ? fetch_cooperative/return 0 ? fetch_cooperative/' \
	"one request takes M" "four requests overlap, each taking M" \
	"answers while another request is stuck"
variant lab1-no-downloads lab1 lab1-sync/main.c \
	's/sync_download(&d);/d.n = 0;/' \
	"answers /hello with the note's JSON" "one request takes S" \
	"four requests are served one after another" "waits while another request is stuck"

if [ "$failures" -ne 0 ]; then
	echo "grade-selftest: $failures of 4 wrong variants were not caught"; exit 1
fi
echo "grade-selftest: 4 passed, 0 failed"
