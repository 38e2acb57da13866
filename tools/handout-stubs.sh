#!/bin/sh
# handout-stubs: each task of the handout, graded alone (`make
# handout-stubs`; not part of make test: it grades the handout six times,
# five to seven minutes).  In a scratch folder it makes the handout, then
# grades with `make grade`:
#
#   untouched   the handout as a student gets it, every stub in place: it
#               must fail exactly the checks grade/exercises lists, less
#               those marked (alone);
#   TASK        the handout with every region put back but TASK's: it must
#               fail exactly the checks listed under TASK, (alone) ones too.
#
# So every check a task lists really waits for that task, and a student
# who has written all but one task is told so by the checks the notes
# promise.  Each grading must also end within LIMIT seconds (default 180):
# a stub that leaves the grader's client waiting out long timeouts makes a
# student's every try slow, and a Gradescope run can time out.
#
# usage: tools/handout-stubs.sh   (from the top of the tree; REF_BIN as for
#        tools/handout.sh; LIMIT=seconds)
set -eu
if ! grep -q '\$begin ' common/*.c; then
	echo "handout-stubs: no solution regions here (a handout): nothing to check"
	exit 0
fi
limit=${LIMIT:-180}
scratch=$(mktemp -d /tmp/workerlab-handout-stubs-XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM
sh tools/handout.sh "$scratch/h" >/dev/null
handout=$scratch/h/workerlab
tasks=$(awk '!/^#/ && /^[a-z0-9-]+:/ { sub(/:.*/, ""); print }' grade/exercises)

# expected TASK: the checks that variant must fail, one a line, sorted
expected() {
	awk -v want="$1" '
	/^[a-z0-9-]+: / { id = $1; sub(/:$/, "", id); next }
	/^\t/ {
		alone = sub(/^\t\(alone\) /, "\t"); sub(/^\t/, "")
		if (want == id || (want == "untouched" && !alone)) print
	}' grade/exercises | sort -u
}

# variant TASK DIR: a copy of the handout with every TODO but TASK's
# replaced by the region it stands for (the reference's, in order)
variant() {
	cp -a "$handout" "$2"
	[ "$1" = untouched ] && return
	while read -r path; do
		awk -v keep="$1" -f tools/put-back.awk "$path" "$handout/$path" >"$2/$path"
	done <"$scratch/h/submitted-files"
}

failures=0
summary=
for task in untouched $tasks; do
	dir=$scratch/$task
	variant "$task" "$dir"
	expected "$task" >"$scratch/$task.expected"
	problem=
	if ! make -s -C "$dir" -j2 all build/tests/grade >"$scratch/$task.build" 2>&1; then
		problem="it does not build: $(tail -3 "$scratch/$task.build" | tr '\n' ' ')"
		seconds=0
	else
		start=$(date +%s)
		(cd "$dir" && make --no-print-directory grade) >"$scratch/$task.log" 2>&1 || true
		seconds=$(($(date +%s) - start))
		sed -n 's/: FAIL: .*//p' "$scratch/$task.log" | sort -u >"$scratch/$task.failed"
		problem="$(comm -23 "$scratch/$task.expected" "$scratch/$task.failed" |
			sed "s/.*/ did not fail '&';/" | tr '\n' ' ')"
		problem="$problem$(comm -13 "$scratch/$task.expected" "$scratch/$task.failed" |
			sed "s/.*/ failed '&', which grade\/exercises does not list under $task;/" | tr '\n' ' ')"
		[ "$seconds" -le "$limit" ] ||
			problem="$problem grading took ${seconds}s, more than ${limit}s;"
	fi
	score=$(grep '^Score: ' "$scratch/$task.log" 2>/dev/null | tail -1)
	what="$task: fails its $(wc -l <"$scratch/$task.expected") checks, ${score:-no score}, graded in ${seconds}s"
	if [ -z "$problem" ]; then
		echo "handout-stubs: $what: OK"
	else
		echo "handout-stubs: $what: FAIL:$problem"
		sed 's/^/    /' "$scratch/$task.log" 2>/dev/null | grep -v ': OK' || true
		failures=$((failures + 1))
	fi
	summary="$summary $task=${seconds}s"
done
echo "handout-stubs: grading times:$summary"
[ "$failures" -eq 0 ] || { echo "handout-stubs: $failures failed"; exit 1; }
echo "handout-stubs: every task fails exactly its checks"
