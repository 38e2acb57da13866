#!/bin/sh
# check-notes.sh: the notes say what the code says, now (`make notes-check`,
# part of `make test`).  It reads README.md, notes/*.md and notes/zh-CN/*.md
# and the sources as they are when it runs, and prints one line per thing
# that does not match, as FILE:LINE: what, then exits 1.  The rules:
#
# (a) Quoted diffs.  In a fenced code block, a line "$ diff A B" quotes a
#     command and the lines after it, up to the next "$ " line or the end of
#     the block, quote its output: they must be what `diff A B` prints now,
#     line for line.  A quote whose last line is "..." is abridged: the
#     lines before it must be the start of the output, and the output must
#     go on.  Any other "diff A B" in a code block or code span (a command
#     to type, or cited in a sentence) must name files that exist.
#
# (b) Function names.  An inline code span that starts with a C identifier
#     and "(" -- `fiber_spawn()`, `fiber_suspend("join")`, `sleep(1);` --
#     names a function.  That name must be written before a "(" somewhere
#     in the C code of common/, lab*/ or tools/ (comments and string
#     literals left out): a function the kit defines, or one it calls, such
#     as curl_easy_perform.  The few names the notes take from elsewhere
#     are listed in ELSEWHERE below.  And in a table row with a cell that
#     is one code span naming a C file (`common/fiber.c`), every bare
#     identifier in a code span to the right of it (`fiber_join`) must be
#     written before a "(" in that file.
#
# (c) Twins.  notes/ and notes/zh-CN/ hold the same .md files; each pair has
#     the same headings of level ## and ### in the same order of levels
#     (outside code blocks); and exercises.md and its twin number the same
#     exercises ("## N. ..."), in the same order.
#
# (d) The grader's figures.  The grader lists what it grades (GRADE_LIST=1
#     GRADER, default build/tests/grade) and grade/exercises lists the
#     tasks' checks; every figure the notes give about them must be one of
#     theirs: "Score: A/B" is out of all labs' points or one lab's (a line
#     about hidden checks excepted); "N points", "worth N", "N 分" is a
#     total, a lab's, a check's, the tasks', one task's or the untouched
#     handout's -- unless it is what a lab scored;
#     "N checks", "N 项检查" is a lab's count (that lab's, when the line
#     names one lab), all of them, the tasks' or one task's -- unless it is
#     what a wrong lab fails or loses; a table row's `check` | N is its
#     points in grade/points; and on a line about grading, "lab1..labK" and
#     "all N labs" name every lab graded.  Numbers in words count too.
#
# (e) Links.  Every relative link leads to a file of the kit, and its
#     #anchor, if any, to a heading of that file, as GitHub names it.
#
# (f) Names.  A code span that is one name written the way C names are --
#     with an underscore or in capitals -- is a word of the kit's code,
#     Makefile or scripts, or one listed in ELSEWHERE_NAMES.
#
# (g) Line numbers.  "line N" (and "第 N 行") points into the diff quoted
#     or named last before it in its section: diff must report line N as
#     changed.
set -eu
cd "$(dirname "$0")/.."
GRADER=${GRADER:-build/tests/grade}
NUMBER_WORDS="one two three four five six seven eight nine ten eleven twelve
	thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty
	thirty forty fifty sixty"

# Names the notes quote in call form that are not the kit's C code, and why.
#   print, list  Python: the note's Flask app (`print(sync_download())`)
#   recv         the system call a gunicorn sync worker waits in
#   sleep        libc's sleep(), the blocking call exercise 3 adds
ELSEWHERE="print list recv sleep"

NOTES=$(ls README.md notes/*.md notes/zh-CN/*.md)
CODE=$(ls common/*.[ch] common/bench/*.[ch] lab*/*.c tools/*.c)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
: >"$TMP/problems"
problem() {
	echo "$*" >>"$TMP/problems"
}

# strip FILE...: C code with comments and string and character literals
# blanked, so a name in a comment does not count as code.
strip() {
	awk '
	{
		out = ""
		n = length($0)
		for (i = 1; i <= n; i++) {
			ch = substr($0, i, 1)
			two = substr($0, i, 2)
			if (comment) {
				if (two == "*/") { comment = 0; i++ }
				continue
			}
			if (quote != "") {
				if (ch == "\\") i++
				else if (ch == quote) quote = ""
				continue
			}
			if (two == "/*") { comment = 1; i++; out = out " "; continue }
			if (two == "//") break
			if (ch == "\"" || ch == "\047") { quote = ch; out = out " "; continue }
			out = out ch
		}
		quote = ""
		print out
	}' "$@"
}

# called FILE...: every identifier written before a "(" in FILE's code.
called() {
	strip "$@" | grep -o '[A-Za-z_][A-Za-z0-9_]*[[:space:]]*(' |
		tr -d '( \t' | sort -u
}

# ---- (a) quoted diffs ----

# One record per quote: FILE|LINE|A|B|N, with the quoted lines in $TMP/q.N;
# and FILE|LINE|A|B|- for a diff command with no output quoted.
# shellcheck disable=SC2086  # NOTES: one word a file
awk -v tmp="$TMP" '
function flush() {
	if (quoting) { printf "%s|%d|%s|%s|%d\n", qfile, qline, qa, qb, q; close(tmp "/q." q) }
	quoting = 0
}
FNR == 1 { flush(); fence = 0 }
/^[ \t]*```/ { if (fence) flush(); fence = !fence; next }
fence && /^\$ / {
	flush()
	if ($2 == "diff" && NF == 4) {
		q++; quoting = 1; qfile = FILENAME; qline = FNR; qa = $3; qb = $4
		printf "" >(tmp "/q." q)
	}
	next
}
fence && quoting { print >(tmp "/q." q); next }
# a diff command anywhere else in a code block or a code span
fence || /`[^`]*diff / {
	s = $0
	while (match(s, /diff [^ `]+ [^ `]+/)) {
		split(substr(s, RSTART, RLENGTH), w, " ")
		if (w[2] ~ /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.\/-]+$/)
			printf "%s|%d|%s|%s|-\n", FILENAME, FNR, w[2], w[3]
		s = substr(s, RSTART + RLENGTH)
	}
}
END { flush() }' $NOTES >"$TMP/diffs"

while IFS='|' read -r file line a b n; do
	missing=
	for f in "$a" "$b"; do
		case $f in
		/* | *..*) problem "$file:$line: diff $a $b: $f is outside the kit" ;;
		*) [ -f "$f" ] || missing="$missing $f" ;;
		esac
	done
	if [ -n "$missing" ]; then
		problem "$file:$line: diff $a $b: no such file:$missing"
		continue
	fi
	[ "$n" != - ] || continue
	status=0
	diff "$a" "$b" >"$TMP/real" 2>&1 || status=$?
	if [ "$status" -gt 1 ]; then
		problem "$file:$line: diff $a $b failed: $(cat "$TMP/real")"
		continue
	fi
	# the quote's k-th line is the note's line LINE + k
	awk -v file="$file" -v line="$line" -v cmd="diff $a $b" '
	FILENAME == ARGV[1] { real[++r] = $0; next }
	{ quote[++q] = $0 }
	END {
		abridged = q > 0 && quote[q] == "..."
		want = abridged ? q - 1 : q
		for (k = 1; k <= want; k++) {
			if (k > r) {
				printf "%s:%d: %s prints %d lines; the quote goes on with \"%s\"\n",
				       file, line + k, cmd, r, quote[k]
				exit
			}
			if (quote[k] != real[k]) {
				printf "%s:%d: %s: the quote has \"%s\" where diff prints \"%s\"\n",
				       file, line + k, cmd, quote[k], real[k]
				exit
			}
		}
		if (abridged && r <= want)
			printf "%s:%d: %s: the quote ends in \"...\" but diff prints nothing more\n",
			       file, line + q, cmd
		else if (!abridged && r > want)
			printf "%s:%d: %s: diff also prints \"%s\" (and %d more lines); quote it or end the quote with \"...\"\n",
			       file, line + want, cmd, real[want + 1], r - want - 1
	}' "$TMP/real" "$TMP/q.$n" >>"$TMP/problems"
done <"$TMP/diffs"

# ---- (b) function names ----

# shellcheck disable=SC2086  # CODE: one word a file
called $CODE >"$TMP/code-names"
for name in $ELSEWHERE; do echo "$name"; done >>"$TMP/code-names"

# FILE|LINE|NAME|SPAN for call-shaped spans; FILE|LINE|NAME|@SOURCE for
# the identifiers of a table row that names SOURCE.
# shellcheck disable=SC2086
awk '
FNR == 1 { fence = 0; carry = "" }
/^[ \t]*```/ { fence = !fence; carry = ""; next }
fence { next }
/^[ \t]*$/ { carry = "" }		# a code span ends with its paragraph
{
	# a span left open on the line before goes on here
	if (carry != "") { s = carry " " $0; at = carryline } else { s = $0; at = FNR }
	carry = ""; source = ""
	table = /^[ \t]*\|/
	while (match(s, /`[^`]+`/)) {
		span = substr(s, RSTART + 1, RLENGTH - 2)
		before = substr(s, 1, RSTART - 1)
		s = substr(s, RSTART + RLENGTH)
		if (match(span, /^[A-Za-z_][A-Za-z0-9_]*\(/))
			printf "%s|%d|%s|%s\n", FILENAME, at, substr(span, 1, RLENGTH - 1), span
		else if (table && span ~ /^[A-Za-z0-9_.\/-]+\.[ch]$/ &&
			 before ~ /\|[ \t]*$/ && s ~ /^[ \t]*\|/)
			source = span		# the cell is this one span: a C file
		else if (source != "" && span ~ /^[A-Za-z_][A-Za-z0-9_]*$/)
			printf "%s|%d|%s|@%s\n", FILENAME, FNR, span, source
		at = FNR
	}
	if (index(s, "`")) { carry = substr(s, index(s, "`")); carryline = at }
}' $NOTES >"$TMP/names"

# A name with no file beside it is looked up in one pass ...
awk -F'|' 'NR == FNR { code[$0] = 1; next }
$4 !~ /^@/ && !($3 in code) { printf "%s:%d: `%s`: no %s() in common/, lab*/ or tools/\n", $1, $2, $4, $3 }' \
	"$TMP/code-names" "$TMP/names" >>"$TMP/problems"
# ... and one with its file against what that file calls, made once a file.
grep '|@' "$TMP/names" | sort -t'|' -k4,4 | while IFS='|' read -r file line name span; do
	src=${span#@}
	if [ ! -f "$src" ]; then
		problem "$file:$line: \`$src\`: no such file"
		continue
	fi
	[ "$src" = "${made:-}" ] || { called "$src" >"$TMP/calls"; made=$src; }
	grep -qx "$name" "$TMP/calls" || problem "$file:$line: \`$name\` is not a function in $src"
done

# ---- (c) the English notes and their Chinese twins ----

for en in notes/*.md; do
	zh=notes/zh-CN/${en#notes/}
	[ -f "$zh" ] || problem "$en:1: no Chinese twin $zh"
done
for zh in notes/zh-CN/*.md; do
	en=notes/${zh#notes/zh-CN/}
	[ -f "$en" ] || problem "$zh:1: no English twin $en"
done

# headings FILE: LINE|LEVEL|TEXT for every ## and ### outside code blocks
headings() {
	awk '
	/^[ \t]*```/ { fence = !fence; next }
	!fence && /^###? / { print FNR "|" length($1) "|" $0 }' "$1"
}
for en in notes/*.md; do
	zh=notes/zh-CN/${en#notes/}
	[ -f "$zh" ] || continue
	headings "$en" >"$TMP/h.en"
	headings "$zh" >"$TMP/h.zh"
	awk -F'|' -v en="$en" -v zh="$zh" '
	FILENAME == ARGV[1] { eline[++e] = $1; elevel[e] = $2; etext[e] = $3; next }
	{ zline[++z] = $1; zlevel[z] = $2; ztext[z] = $3 }
	END {
		for (k = 1; k <= e || k <= z; k++) {
			if (k > z) {
				printf "%s:%d: \"%s\" has no counterpart in %s (it has %d sections)\n", en, eline[k], etext[k], zh, z
				break
			}
			if (k > e) {
				printf "%s:%d: \"%s\" has no counterpart in %s (it has %d sections)\n", zh, zline[k], ztext[k], en, e
				break
			}
			if (elevel[k] != zlevel[k]) {
				printf "%s:%d: section %d is \"%s\" but %s:%d is \"%s\"\n", en, eline[k], k, etext[k], zh, zline[k], ztext[k]
				break
			}
		}
	}' "$TMP/h.en" "$TMP/h.zh" >>"$TMP/problems"
done

# exercises FILE: LINE|N for every "## N. ..." heading outside code blocks
exercises() {
	awk '
	/^[ \t]*```/ { fence = !fence; next }
	!fence && /^## [0-9]+\. / { n = $2; sub(/\.$/, "", n); print FNR "|" n }' "$1"
}
if [ -f notes/exercises.md ] && [ -f notes/zh-CN/exercises.md ]; then
	exercises notes/exercises.md >"$TMP/x.en"
	exercises notes/zh-CN/exercises.md >"$TMP/x.zh"
	awk -F'|' '
	FILENAME == ARGV[1] { eline[++e] = $1; enum[e] = $2; next }
	{ zline[++z] = $1; znum[z] = $2 }
	END {
		en = "notes/exercises.md"; zh = "notes/zh-CN/exercises.md"
		for (k = 1; k <= e || k <= z; k++) {
			if (k > z) { printf "%s:%d: exercise %s is missing from %s\n", en, eline[k], enum[k], zh; continue }
			if (k > e) { printf "%s:%d: exercise %s is missing from %s\n", zh, zline[k], znum[k], en; continue }
			if (enum[k] != znum[k])
				printf "%s:%d: exercise %s stands where %s:%d has exercise %s\n", en, eline[k], enum[k], zh, zline[k], znum[k]
		}
	}' "$TMP/x.en" "$TMP/x.zh" >>"$TMP/problems"
fi

# ---- (d) the grader's figures ----

# The grader lists what it grades (GRADE_LIST=1: lab, check, points, name,
# nothing run); grade/exercises lists the handout's checks under each task.
# shellcheck disable=SC2086
if [ ! -x "$GRADER" ]; then
	problem "$GRADER:1: no grader to count the notes' figures against (make $GRADER)"
else
	LAB= CALIBRATE= GRADE_DIR=grade GRADE_LIST=1 "$GRADER" >"$TMP/graded"
	awk '/^[a-z0-9-]+: / { id = $1; sub(/:$/, "", id); next }
	     /^\t/ { sub(/^\t/, ""); alone = sub(/^\(alone\) /, "")
		      print id "\t" $0 "\t" alone }' grade/exercises >"$TMP/tasks"
	awk -F'\t' -v words="$NUMBER_WORDS" '
	function number(s) { return s ~ /^[0-9]+$/ ? s + 0 : (s in word ? word[s] : -1) }
	function allow(set, n) {
		if ((set, n) in ok) return
		ok[set, n] = 1; list[set] = list[set] (list[set] == "" ? "" : ", ") n
	}
	function say(what) { printf "%s:%d: %s\n", FILENAME, FNR, what }
	BEGIN { n = split(words, w, " "); for (k = 1; k <= n; k++) word[w[k]] = k <= 20 ? k : (k - 18) * 10 }
	FILENAME == ARGV[1] {
		if (!($1 in labpts)) { labs++; labpts[$1] = 0 }
		labpts[$1] += $3; labchecks[$1]++; total += $3; checks++
		keypts[$2] = $3; pts[$1 ": " $4] = $3
		num = $1; sub(/^lab/, "", num); sub(/-.*/, "", num); labof[num] = $1
		next
	}
	FILENAME == ARGV[2] {
		# (alone) checks count for their task, not for the whole handout
		if (!$3 && !($2 in listed)) { listed[$2] = 1; tasked++; taskpts += pts[$2] }
		taskchecks[$1]++; onetask[$1] += pts[$2]
		next
	}
	FNR == 1 && !ready {
		ready = 1
		allow("points", total); allow("points", taskpts); allow("points", total - taskpts)
		for (l in labpts) allow("points", labpts[l])
		for (k in keypts) allow("points", keypts[k])
		for (t in onetask) allow("points", onetask[t])
		allow("checks", checks); allow("checks", tasked)
		for (l in labchecks) allow("checks", labchecks[l])
		for (t in taskchecks) allow("checks", taskchecks[t])
		allow("score", total)
		for (l in labpts) allow("score", labpts[l])
	}
	FNR == 1 { fence = 0 }
	/^[ \t]*```/ { fence = !fence }
	{
		s = tolower($0); gsub(/[*_]/, "", s)
		# Score: A/B is a whole class (or one lab) out of its full marks;
		# a line about hidden checks adds points of its own.
		t = s
		while (match(t, /score: [0-9]+\/[0-9]+/)) {
			split(substr(t, RSTART + 7, RLENGTH - 7), ab, "/")
			t = substr(t, RSTART + RLENGTH)
			if (s ~ /hidden/) continue
			if (!ok["score", ab[2] + 0])
				say("Score: " ab[1] "/" ab[2] ": the grader gives " list["score"] " points (all labs, or one)")
			else if (ab[1] + 0 > ab[2] + 0)
				say("Score: " ab[1] "/" ab[2] ": more than full marks")
		}
		# N points, worth N, N 分 (not 分钟, 分位): a figure the grader
		# gives, unless it is what a lab scored
		t = s; at = 0
		while (match(t, /(^|[^0-9a-z.\/])([0-9]+|[a-z]+) points?([^a-z]|$)|worth ([0-9]+|[a-z]+)|[0-9]+ ?分/)) {
			from = at + RSTART	# where the match is in s
			before = substr(s, from > 30 ? from - 30 : 1, from > 30 ? 30 : from - 1)
			m = substr(t, RSTART, RLENGTH); t = substr(t, RSTART + RLENGTH)
			at = from + RLENGTH - 1	# t is what follows in s
			if (m ~ /分$/ && t ~ /^(钟|位)/) continue
			if (before ~ /(scor|给了|得了|拿到)/) continue
			sub(/^[^0-9a-z]*/, "", m); sub(/^worth /, "", m); sub(/ ?(points?|分).*$/, "", m)
			if ((v = number(m)) >= 0 && !ok["points", v])
				say("\"" m " points\": the grader gives " list["points"] " (totals, a lab, a check, the tasks, a task)")
		}
		# N checks, N 项检查: a count the grader has, unless it is how many a
		# wrong lab fails or loses
		t = s; at = 0
		while (match(t, /([0-9]+|[a-z]+) (graded |visible |of the grader.s )?checks?([^a-z-]|$)|[0-9]+ ?(项|个)(评分)?检查/)) {
			from = at + RSTART	# where the match is in s
			before = substr(s, from > 30 ? from - 30 : 1, from > 30 ? 30 : from - 1)
			m = substr(t, RSTART, RLENGTH); t = substr(t, RSTART + RLENGTH)
			at = from + RLENGTH - 1	# t is what follows in s
			sub(/ .*$/, "", m); sub(/(项|个).*$/, "", m); sub(/ $/, "", m)
			if (before ~ /(fail|lose|lost|失败|丢)[a-z]*( exactly| only)?( the)? *$/) continue
			if (before ~ /lab ?$/) continue		# "every lab 1 check"
			if ((v = number(m)) < 0) continue
			if (match(s, /lab ?[1-9]/) && gsub(/lab ?[1-9]/, "&", s) == 1) {
				n1 = substr(s, RSTART, RLENGTH); gsub(/[^0-9]/, "", n1)
				if ((n1 in labof) && v != labchecks[labof[n1]])
					say("\"" m " checks\" for lab " n1 ": the grader has " labchecks[labof[n1]])
			} else if (!ok["checks", v])
				say("\"" m " checks\": the grader has " list["checks"] " (a lab, all, the tasks, one task)")
		}
		# the labs it grades, on a line about grading
		if (s ~ /grade|grader|评分/) {
			t = s
			while (match(t, /lab1 ?(\.\.|…|–|-|to) ?lab[0-9]/)) {
				m = substr(t, RSTART, RLENGTH); t = substr(t, RSTART + RLENGTH)
				if (substr(m, length(m)) + 0 != labs)
					say(m ": the grader grades lab1..lab" labs)
			}
			if (match(s, /all ([0-9]+|[a-z]+) labs/)) {
				m = substr(s, RSTART + 4, RLENGTH - 9)
				if ((v = number(m)) >= 0 && v != labs)
					say("\"all " m " labs\": the grader grades " labs)
			}
		}
		# a table row: `check` | points
		if (!fence && $0 ~ /^[ \t]*\|/) {
			c = split($0, cell, "|")
			for (k = 2; k < c; k++) {
				name = cell[k]; gsub(/^[ \t]*`|`[ \t]*$/, "", name)
				val = cell[k + 1]; gsub(/[ \t]/, "", val)
				if ((name in keypts) && val ~ /^[0-9]+$/ && val + 0 != keypts[name])
					say("`" name "` is worth " keypts[name] " in grade/points, not " val)
			}
		}
	}' "$TMP/graded" "$TMP/tasks" $NOTES $(ls grade/hidden/README.md \
	    tools/handout/README.md 2>/dev/null) >>"$TMP/problems"
fi

# ---- (e) links and anchors ----

# slugs FILE: the anchor of each heading, as GitHub makes it: lower case,
# punctuation gone (the CJK kind too), spaces as "-", "-1", "-2" after a
# repeated one.
slugs() {
	awk '
	/^[ \t]*```/ { fence = !fence; next }
	fence || !/^#+ / { next }
	{
		s = tolower($0); sub(/^#+ +/, "", s)
		gsub(/[!-,.\/:-@[\\\]^`{-~]/, "", s)
		gsub(/，|。|、|：|；|！|？|（|）|「|」|『|』|《|》|“|”|‘|’|—|–|…|·|×/, "", s)
		gsub(/ /, "-", s)
		print (seen[s]++ ? s "-" seen[s] - 1 : s)
	}' "$1"
}
# FILE|LINE|TARGET for every relative link outside code
# shellcheck disable=SC2086
awk '
FNR == 1 { fence = 0 }
/^[ \t]*```/ { fence = !fence; next }
fence { next }
{
	s = $0; gsub(/`[^`]*`/, "", s)
	while (match(s, /\]\([^) ]+( "[^"]*")?\)/)) {
		t = substr(s, RSTART + 2, RLENGTH - 3); sub(/ ".*/, "", t)
		s = substr(s, RSTART + RLENGTH)
		if (t !~ /^[a-z]+:/) printf "%s|%d|%s\n", FILENAME, FNR, t
	}
}' $NOTES >"$TMP/links"
# Files first, one test each; then each anchor against its file's headings,
# made once a file.
while IFS='|' read -r file line target; do
	path=${target%%#*}
	dest=$file
	case $file in */*) dir=${file%/*} ;; *) dir=. ;; esac
	[ -z "$path" ] || dest=$dir/$path
	if [ ! -e "$dest" ]; then
		problem "$file:$line: ($target): no such file $dest"
	else
		case $target in *#*) echo "$dest|${target#*#}|$file|$line|$target" ;; esac
	fi
done <"$TMP/links" | sort -t'|' -k1,1 >"$TMP/anchors"
while IFS='|' read -r dest anchor file line target; do
	[ "$dest" = "${made:-}" ] || { slugs "$dest" >"$TMP/slugs"; made=$dest; }
	grep -qxF -- "$anchor" "$TMP/slugs" ||
		problem "$file:$line: ($target): no heading in $dest has the anchor #$anchor"
done <"$TMP/anchors"

# ---- (f) names in code spans ----

# A code span that is one name written as C writes them -- with an
# underscore, or in capitals (`fiber_spawn`, `SHARD_TRANSFERS`, `LAB_BIN`)
# -- is a word of the kit: its C code, the Makefile, its scripts, a file
# in tests/ or tools/; or one of the names the notes take from elsewhere:
#   time_total           curl's -w variable
#   tcp_child_process    the kernel function perf shows
#   post_fork            gunicorn's server hook
#   wait_read wait_write gevent's waits on a socket (psycogreen's)
#   max_overflow pool_timeout  SQLAlchemy's QueuePool options
ELSEWHERE_NAMES="time_total tcp_child_process post_fork wait_read wait_write max_overflow
	pool_timeout"
# shellcheck disable=SC2086
{
	cat common/*.[ch] common/bench/*.[ch] lab*/*.c tools/*.c tests/*.[ch] Makefile tools/*.sh \
	    tools/gradescope/* tools/*.py tools/*.gp notes/*.py tests/browser/*.mjs 2>/dev/null
	ls tests tools | sed 's/\..*//'
	echo $ELSEWHERE_NAMES
} | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | sort -u >"$TMP/words"
# shellcheck disable=SC2086
awk '
FNR == 1 { fence = 0 }
/^[ \t]*```/ { fence = !fence; next }
fence { next }
{
	s = $0
	while (match(s, /`[A-Za-z_][A-Za-z0-9_]*`/)) {
		name = substr(s, RSTART + 1, RLENGTH - 2); s = substr(s, RSTART + RLENGTH)
		if (name ~ /_/ || name ~ /^[A-Z][A-Z0-9]+$/ && length(name) >= 3)
			printf "%s|%d|%s\n", FILENAME, FNR, name
	}
}' $NOTES >"$TMP/spans"
awk -F'|' 'NR == FNR { word[$0] = 1; next }
!($3 in word) { printf "%s:%d: `%s`: no such name in the kit'"'"'s code, Makefile or scripts\n", $1, $2, $3 }' \
	"$TMP/words" "$TMP/spans" >>"$TMP/problems"

# ---- (g) line numbers ----

# "line N", "lines N and M", "第 N 行" in a note points into the diff quoted
# or named last before it in its section: N must be a line that diff
# reports as changed (in either file).
# shellcheck disable=SC2086
awk '
FNR == 1 { fence = 0; a = "" }
/^#+ / && !fence { a = "" }
/^[ \t]*```/ { fence = !fence; next }
{
	s = $0
	if (match(s, /diff [A-Za-z0-9_.\/-]+\/[A-Za-z0-9_.\/-]+ [A-Za-z0-9_.\/-]+/)) {
		split(substr(s, RSTART, RLENGTH), w, " "); a = w[2]; b = w[3]
	}
	if (fence) next
	t = s
	while (match(t, /(^|[^A-Za-z])[Ll]ines? [0-9]+(( and |, |–|-)[0-9]+)*|第 *[0-9]+ *行/)) {
		m = substr(t, RSTART, RLENGTH); t = substr(t, RSTART + RLENGTH)
		sub(/^[^A-Za-z第]/, "", m)
		gsub(/[^0-9]+/, " ", m)
		n = split(m, num, " ")
		for (k = 1; k <= n; k++)
			printf "%s|%d|%s|%s|%s\n", FILENAME, FNR, a == "" ? "-" : a, b, num[k]
	}
}' $NOTES >"$TMP/lines"
while IFS='|' read -r file line a b n; do
	if [ "$a" = - ]; then
		problem "$file:$line: line $n: no diff quoted or named before it in its section to check it against"
		continue
	fi
	[ -f "$a" ] && [ -f "$b" ] || continue	# (a) reports the missing file
	diff "$a" "$b" | awk -v n="$n" '
	/^[0-9]/ {
		split($0, side, /[acd]/)
		for (k = 1; k <= 2; k++) {
			lo = side[k]; hi = side[k]; sub(/,.*/, "", lo); sub(/.*,/, "", hi)
			if (n >= lo + 0 && n <= hi + 0) found = 1
		}
	}
	END { exit !found }' ||
		problem "$file:$line: line $n: diff $a $b changes no line $n"
done <"$TMP/lines"

# ---- the verdict ----

n=$(wc -l <"$TMP/problems")
if [ "$n" -gt 0 ]; then
	cat "$TMP/problems"
	echo "notes-check: $n thing(s) in the notes do not match the code or their twin" >&2
	exit 1
fi
echo "notes-check: $(wc -l <"$TMP/diffs") diff commands," \
     "$(wc -l <"$TMP/names") function names, $(wc -l <"$TMP/links") links," \
     "$(wc -l <"$TMP/spans") names, $(wc -l <"$TMP/lines") line numbers and" \
     "$(echo "$NOTES" | wc -w) notes checked: all match"
