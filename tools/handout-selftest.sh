#!/bin/sh
# handout-selftest: the handout and its autograder do what they say
# (`make handout-selftest`, part of `make test`).  In a scratch folder:
#
#  1. tools/handout.sh makes the handout (it checks its tarball: no
#     solution line, marker, left-out or built file, no link that leads
#     nowhere), and tools/gradescope.sh the autograder, given one hidden
#     check of our own (1 point, always passes).
#  2. The handout, unpacked from the autograder as Gradescope would, builds
#     as setup.sh builds it, with the kit's warnings, which are errors, and
#     its make notes-check passes.
#  3. Every reference lab (ref/) answers /hello in its model time.
#  4. run_autograder grades it twice, in a folder laid out as Gradescope's
#     (source/, submission/, results/), and results.json is read:
#     - the handout's own files handed in, untouched, in a repository's
#       layout: it fails exactly the checks grade/exercises lists, all of
#       them and no other (but those marked alone), scores what the rest
#       are worth, and is graded within 180 s;
#     - the same files with the reference regions put back, handed in as
#       bare files: full marks.
#     Both times the hidden check runs, scores and is marked hidden.
#
# The regions are put back here, not by copying the reference files: each
# TODO line and its stub become the region they stand for, and the file
# must then be the reference file less its marker lines.
#
# In a tree with no solution regions -- a student's handout -- there is
# nothing to check: it says so and succeeds.  It takes about a minute and a
# half, most of it the two grading runs.
# usage: tools/handout-selftest.sh   (from the top of the tree)
set -eu
if ! grep -q '\$begin ' common/*.c; then
	echo "handout-selftest: no solution regions here (a handout): nothing to check"
	exit 0
fi
scratch=$(mktemp -d /tmp/workerlab-handout-selftest-XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM
failures=0
verdict() {	# NAME PROBLEM (empty: passed)
	if [ -z "$2" ]; then
		echo "handout-selftest: $1: OK"
	else
		echo "handout-selftest: $1: FAIL: $2"
		failures=$((failures + 1))
	fi
}

# ---- 1. the handout and the autograder ----

mkdir -p "$scratch/grade/hidden"
cp grade/points "$scratch/grade/points"
printf '#!/bin/sh\n# points: 1\necho "a hidden check ran"\n' >"$scratch/grade/hidden/selftest"
chmod +x "$scratch/grade/hidden/selftest"
sh tools/handout.sh "$scratch/handout" >/dev/null
GRADE_DIR=$scratch/grade WORKERLAB_SLOW=${WORKERLAB_SLOW:-1} \
	sh tools/gradescope.sh "$scratch/handout" "$scratch/zip" >/dev/null
root=$scratch/autograder
mkdir -p "$root/source" "$root/submission" "$root/results"
(cd "$root/source" && unzip -q "$scratch/zip/autograder.zip")
problem=
for f in setup.sh run_autograder workerlab/Makefile submitted-files slow; do
	[ -e "$root/source/$f" ] || problem="$problem no $f;"
done
[ -x "$root/source/run_autograder" ] || problem="$problem run_autograder is not executable;"
verdict "autograder.zip holds setup.sh, run_autograder and the handout" "$problem"

# ---- 2. it builds ----

kit=$root/source/workerlab
if make -C "$kit" -j2 all build/tests/grade >"$scratch/build.log" 2>&1; then
	verdict "the handout builds with no warning" ""
else
	tail -20 "$scratch/build.log"
	verdict "the handout builds with no warning" "make failed"
	exit 1
fi
# Its notes hold to its own code and README, as the kit's do.
problem=
make -C "$kit" -s notes-check >"$scratch/notes.log" 2>&1 ||
	problem=" $(tail -5 "$scratch/notes.log" | tr '\n' ' ')"
verdict "the handout's make notes-check passes" "$problem"

# ---- 3. the reference labs ----

# Each ref/ lab, as the student gets it, answers /hello in its model time
# at half the delays: S for lab 1 to lab 3, M for lab 4, no faster
# and at most 2.5 times slower; lab 5 and lab 6 answer it.  The banner is
# the lab's word that it is ready, for the request and for SIGTERM.
S=$("${REF_BIN:-.}/upstream" --profile --delay-scale 0.5 | sed -n 's/^S //p')
M=$("${REF_BIN:-.}/upstream" --profile --delay-scale 0.5 | sed -n 's/^M //p')
problem=
[ -n "$S" ] && [ -n "$M" ] || problem=" no S and M from ${REF_BIN:-.}/upstream --profile;"
pid=
trap '[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null; rm -rf "$scratch"' EXIT INT TERM
for lab in lab1 lab2 lab3 lab4 lab5 lab6; do
	out=$scratch/ref-$lab.out
	"$kit/ref/$lab" -b 127.0.0.1:0 --delay-scale 0.5 >"$out" 2>&1 &
	pid=$!
	port=
	for _ in $(seq 300); do		# at most 30 s: lab 5 and 6 start a database
		port=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9][0-9]*\)/.*|\1|p' "$out" | head -1)
		[ -n "$port" ] || ! kill -0 "$pid" 2>/dev/null || { sleep 0.1; continue; }
		break
	done
	if [ -n "$port" ]; then
		got=$(curl -s -m 20 -o /dev/null -w '%{http_code} %{time_total}' \
			"http://127.0.0.1:$port/hello" || true)
	else
		got="no-banner 0"
	fi
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=
	case $lab in lab1 | lab2 | lab3) want=$S ;; lab4) want=$M ;; *) want= ;; esac
	echo "$got" | awk -v want="$want" '$1 == 200 && (want == "" || $2 >= 0.95 * want && $2 <= 2.5 * want) { ok = 1 } END { exit !ok }' ||
		problem="$problem ref/$lab: HTTP ${got% *} in ${got#* }s${want:+, expected about ${want}s}: $(head -c 300 "$out" | tr '\n' ' ');"
done
verdict "every ref/ lab answers /hello in its model time (S = ${S}s, M = ${M}s)" "$problem"

# ---- 4. graded ----

# tests RESULTS: one line per test, "STATUS<tab>MAX<tab>VISIBILITY<tab>NAME".
tests() {
	sed -n 's/^ *{"name": "\([^"]*\)", "score": [0-9]*, "max_score": \([0-9]*\), "status": "\([a-z]*\)".*"visibility": "\([a-z]*\)"}.*/\3\t\2\t\4\t\1/p' "$1"
}
score() {
	sed -n 's/^ *"score": \([0-9]*\),$/\1/p' "$1"
}

# grade NAME: run_autograder on what is in submission/ now; its results.json
# is left in $scratch/NAME.json, its output in $scratch/NAME.log.
grade() {
	rm -f "$root/results/results.json"
	start=$(date +%s)
	AUTOGRADER_ROOT=$root sh "$root/source/run_autograder" >"$scratch/$1.log" 2>&1 || true
	echo $(($(date +%s) - start)) >"$scratch/$1.seconds"
	cp "$root/results/results.json" "$scratch/$1.json" 2>/dev/null || : >"$scratch/$1.json"
}

# The hidden check: run, scored, hidden.
hidden_ok() {
	tests "$1" | grep -q "$(printf '^passed\t1\thidden\tselftest$')" ||
		echo " the hidden check did not pass, hidden;"
}

# Untouched: the handout's files, in a repository's layout, beside an
# older app.c deeper down that must not be taken for common/app.c.
while read -r path; do
	mkdir -p "$root/submission/repo/$(dirname "$path")"
	cp "$kit/$path" "$root/submission/repo/$path"
done <"$root/source/submitted-files"
mkdir -p "$root/submission/repo/old/common/attic"
echo "this does not compile" >"$root/submission/repo/old/common/attic/app.c"
grade untouched
awk '/^\t/ && !/^\t\(alone\) / { sub(/^\t/, ""); print }' grade/exercises |
	sort -u >"$scratch/expected"
tests "$scratch/untouched.json" | awk -F'\t' '$1 == "failed" { print $4 }' | sort >"$scratch/failed"
problem=
[ -s "$scratch/untouched.json" ] || problem="no results.json;"
problem="$problem$(comm -23 "$scratch/expected" "$scratch/failed" |
	sed "s/.*/ did not fail '&';/" | tr '\n' ' ')"
problem="$problem$(comm -13 "$scratch/expected" "$scratch/failed" |
	sed "s/.*/ failed '&', which grade\/exercises does not list;/" | tr '\n' ' ')"
total=$(tests "$scratch/untouched.json" | awk -F'\t' '{ n += $2 } END { print n + 0 }')
lost=$(tests "$scratch/untouched.json" | awk -F'\t' '$1 == "failed" { n += $2 } END { print n + 0 }')
got=$(score "$scratch/untouched.json")
[ "$got" = "$((total - lost))" ] || problem="$problem score $got, expected $((total - lost));"
problem="$problem$(hidden_ok "$scratch/untouched.json")"
grep -q "grading repo/common/app.c as common/app.c" "$scratch/untouched.log" ||
	problem="$problem repo/common/app.c was not the app.c taken;"
# A student grades often: the untouched handout must not keep them (or
# Gradescope) waiting out long timeouts.  make handout-stubs holds each
# task's stub alone to the same.
seconds=$(cat "$scratch/untouched.seconds")
[ "$seconds" -le 180 ] || problem="$problem run_autograder took ${seconds}s, more than 180s;"
verdict "the untouched handout loses exactly the $(wc -l <"$scratch/expected") checks of grade/exercises (score $got/$total, ${seconds}s)" "$problem"

# Restored: each stub in the handout's files replaced by its region.
rm -rf "$root/submission"/*
problem=
while read -r path; do
	awk -f tools/put-back.awk "$path" "$kit/$path" >"$root/submission/$(basename "$path")"
	grep -Ev '^[[:blank:]]*/\* \$(begin|end) ' "$path" >"$scratch/reference"
	cmp -s "$scratch/reference" "$root/submission/$(basename "$path")" ||
		problem="$problem $path with its regions put back is not the reference;"
done <"$root/source/submitted-files"
grade restored
got=$(score "$scratch/restored.json")
total=$(tests "$scratch/restored.json" | awk -F'\t' '{ n += $2 } END { print n + 0 }')
[ -n "$got" ] && [ "$got" = "$total" ] || problem="$problem score ${got:-none}/$total;"
problem="$problem$(hidden_ok "$scratch/restored.json")"
verdict "the regions put back score full marks ($got/$total)" "$problem"

if [ "$failures" -ne 0 ]; then
	for run in untouched restored; do
		echo "---- run_autograder, $run:"
		sed 's/^/    /' "$scratch/$run.log"
	done
	echo "handout-selftest: $failures of 6 checks failed"
	exit 1
fi
echo "handout-selftest: 6 passed, 0 failed"
