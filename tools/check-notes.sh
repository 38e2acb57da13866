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
set -eu
cd "$(dirname "$0")/.."

# Names the notes quote in call form that are not the kit's C code, and why.
#   print, list  Python: the note's Flask app (`print(sync_download())`)
#   recv         the system call a gunicorn sync worker waits in
#   sleep        libc's sleep(), the blocking call exercise 3 adds
ELSEWHERE="print list recv sleep"

NOTES=$(ls README.md notes/*.md notes/zh-CN/*.md)
CODE=$(ls common/*.[ch] lab*/*.c tools/*.c)
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

while IFS='|' read -r file line name span; do
	case $span in
	@*)
		src=${span#@}
		if [ ! -f "$src" ]; then
			problem "$file:$line: \`$src\`: no such file"
		elif ! called "$src" | grep -qx "$name"; then
			problem "$file:$line: \`$name\` is not a function in $src"
		fi
		;;
	*)
		grep -qx "$name" "$TMP/code-names" ||
			problem "$file:$line: \`$span\`: no $name() in common/, lab*/ or tools/"
		;;
	esac
done <"$TMP/names"

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

# ---- the verdict ----

n=$(wc -l <"$TMP/problems")
if [ "$n" -gt 0 ]; then
	cat "$TMP/problems"
	echo "notes-check: $n thing(s) in the notes do not match the code or their twin" >&2
	exit 1
fi
echo "notes-check: $(wc -l <"$TMP/diffs") diff commands," \
     "$(wc -l <"$TMP/names") function names and" \
     "$(echo "$NOTES" | wc -w) notes checked: all match"
