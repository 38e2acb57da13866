#!/bin/sh
# handout.sh: the student handout, made from the reference kit (what
# `make handout` runs).
#
#   sh tools/handout.sh OUT        (from the top of the reference tree)
#
# writes OUT/workerlab/, the student's tree, OUT/workerlab-handout.tar.gz,
# the same packed, and OUT/submitted-files, the files that hold solution
# regions (what a student hands in; tools/gradescope.sh reads it), then
# checks that the tarball gives no solution away.
#
# Solution regions.  In the C sources a solution is marked by two comment
# lines, each alone on its line:
#
#	/* $begin ID: TASK */
#	... the reference solution ...
#	/* $end ID */
#
# ID names the task (lower-case letters, digits and '-'); TASK says in
# one line what to write.  When the handout needs code in the region's
# place -- a function must return a value, a helper must stay in use, the
# lab should still run -- the $end line carries it, after "; stub: ":
#
#	/* $end coop-wait; stub: return poll_wait(fd, events, timeout); */
#
# In the handout each region becomes its TODO line and its stub, at the
# indent of the $begin line:
#
#	/* TODO(coop-wait): TASK */
#	return poll_wait(fd, events, timeout);
#
# One task may mark several regions (a helper, and the function that
# uses it).  grade/exercises lists the tasks and the grader's checks
# each one serves: an ID in the sources that is not there, or one there
# with no region, stops the script, as does a malformed marker.
#
# The handout holds the sources with their regions stubbed, the tests, the
# grader with grade/points and grade/exercises, the notes and the tools,
# tools/handout/README.md, written for the student, as its README.md, and
# the reference labs, built, in ref/.
# It leaves out the answer key and the instructors' guide (notes/answers.md,
# notes/instructors.md and their zh-CN twins), the hidden checks
# (grade/hidden/ keeps only its README), the CI script, and anything built.
# In the notes it keeps, a link to a file left out loses its link (its text
# stays), and a list item whose only links are such links goes.
#
# In the notes, a passage that spells out a task's solution is marked too
# (see "the notes: no task written out" below) and becomes its hint.
#
# The tree is a git repository whose one commit is the handout.
#
# Then it checks, and fails when one does not hold: every relative link in
# the handout's Markdown leads to a file in it; the tarball is that
# repository, clean, and holds no marker, no file left out, nothing built but ref/,
# and none of the solutions' lines (each line of a region that is 12
# characters or more once its leading and trailing blanks are trimmed,
# searched for as is).
set -eu
out=${1:?usage: tools/handout.sh OUT}
top=$(pwd)
name=workerlab
tree=$out/$name
tarball=$out/$name-handout.tar.gz

# What a student gets, and what is taken out of it again.
SHIP="Makefile README.md .gitignore bench/.gitignore common lab1-sync
      lab2-sync-async lab3-evented-blocking lab4-evented-async
      lab5-evented-db-blocking lab6-evented-db-cooperative tests tools
      notes grade urls"
LEAVE_OUT="notes/answers.md notes/zh-CN/answers.md notes/instructors.md
	   notes/zh-CN/instructors.md"

fail() {
	echo "handout: $*" >&2
	exit 1
}

# The C files with solution regions in them.
region_files=$(grep -l '\$begin ' common/*.[ch] lab*/*.c tools/*.c tests/*.[ch] || true)
[ -n "$region_files" ] ||
	fail "no solution regions in the sources: is this tree a handout already?"

scratch=$(mktemp -d /tmp/workerlab-handout-XXXXXX)
trap 'rm -rf "$scratch"' EXIT INT TERM

# ---- the tree ----

rm -rf "$tree" "$tarball"
mkdir -p "$tree"
echo "$region_files" | tr ' ' '\n' >"$out/submitted-files"
for item in $SHIP; do
	mkdir -p "$tree/$(dirname "$item")"
	cp -R "$item" "$tree/$item"
done
for f in $LEAVE_OUT; do
	rm -f "$tree/$f"
done
find "$tree/grade/hidden" -mindepth 1 ! -name README.md -exec rm -rf {} +
# The student's README in place of the maintainers' (tools/handout/).
cp tools/handout/README.md "$tree/README.md"
rm -rf "$tree/tools/handout"
rm -rf "$tree/tests/browser/node_modules"	# what `make deps` installs

# ---- the reference labs ----

# ref/lab1 .. ref/lab6: the labs built from the solution, stripped -- the
# way CS:APP ships tshref -- so that a student measures the notes' numbers
# on a working kit before and while writing their own.  They come from
# $REF_BIN (default: here), which `make handout` builds first.
ref_bin=${REF_BIN:-.}
mkdir -p "$tree/ref"
for lab in lab1 lab2 lab3 lab4 lab5 lab6; do
	[ -x "$ref_bin/$lab" ] || fail "no $ref_bin/$lab to ship as ref/$lab: build the labs first (make)"
	strip -o "$tree/ref/$lab" "$ref_bin/$lab" || fail "cannot strip $ref_bin/$lab"
done

# ---- regions into stubs ----

# stub FILE: FILE with each region replaced by its TODO and stub, on stdout.
# Each solution line goes to $scratch/solutions as "ID<tab>line", each ID
# to $scratch/ids.
stub() {
	awk -v solutions="$scratch/solutions" -v ids="$scratch/ids" '
	function malformed(what) {
		printf "%s:%d: %s\n", FILENAME, FNR, what > "/dev/stderr"
		bad = 1
		exit 1
	}
	/^[ \t]*\/\* \$begin / {
		if (id != "")
			malformed("$begin inside the region " id)
		indent = $0; sub(/[^ \t].*/, "", indent)
		rest = $0; sub(/^[ \t]*\/\* \$begin /, "", rest)
		if (rest !~ /^[a-z0-9-]+: .*[^ ] \*\/[ \t]*$/)
			malformed("a $begin line is: /* $begin ID: TASK */")
		id = rest; sub(/:.*/, "", id)
		task = rest; sub(/^[a-z0-9-]+: /, "", task); sub(/ \*\/[ \t]*$/, "", task)
		print indent "/* TODO(" id "): " task " */"
		print id >> ids
		next
	}
	/^[ \t]*\/\* \$end / {
		rest = $0; sub(/^[ \t]*\/\* \$end /, "", rest)
		if (rest !~ / \*\/[ \t]*$/)
			malformed("an $end line is: /* $end ID */ or /* $end ID; stub: CODE */")
		sub(/ \*\/[ \t]*$/, "", rest)
		end = rest; sub(/;.*/, "", end)
		if (id == "" || end != id)
			malformed("$end " end " does not close " (id == "" ? "any region" : "$begin " id))
		if (rest ~ /^[a-z0-9-]+; stub: /) {
			sub(/^[a-z0-9-]+; stub: /, "", rest)
			print indent rest
		} else if (rest != id) {
			malformed("an $end line is: /* $end ID */ or /* $end ID; stub: CODE */")
		}
		id = ""
		next
	}
	/\$(begin|end)/ { malformed("a marker must be a comment alone on its line") }
	id != "" { print id "\t" $0 >> solutions; next }
	{ print }
	END {
		if (!bad && id != "")
			malformed("the region " id " has no $end")
	}' "$1"
}

: >"$scratch/solutions"
: >"$scratch/ids"
for f in $region_files; do
	stub "$f" >"$tree/$f" || fail "$f: cannot make its stubs"
done

# Every task has regions, and every region a task in grade/exercises.
sort -u "$scratch/ids" >"$scratch/ids.sorted"
awk '!/^#/ && /^[a-z0-9-]+:/ { sub(/:.*/, ""); print }' grade/exercises |
	sort -u >"$scratch/listed"
unlisted=$(comm -23 "$scratch/ids.sorted" "$scratch/listed")
[ -z "$unlisted" ] || fail "regions of tasks not in grade/exercises:" $unlisted
unmarked=$(comm -13 "$scratch/ids.sorted" "$scratch/listed")
[ -z "$unmarked" ] || fail "grade/exercises lists tasks with no region:" $unmarked

# ---- the notes: no link to a file left out ----

# drop_links FILE: the Markdown on stdin, FILE's, with every link to a
# file in $LEAVE_OUT turned into its text, and a list item whose links all
# lead there dropped.
drop_links() {
	awk -v file="$1" -v gone="$LEAVE_OUT" '
	BEGIN {
		n = split(gone, g, /[ \t\n]+/)
		for (i = 1; i <= n; i++)
			if (g[i] != "")
				leftout[g[i]] = 1
		dir = file; if (!sub(/\/[^\/]*$/, "", dir)) dir = ""
	}
	# the path a link target names, from the top of the tree
	function resolve(target,    path, parts, n, i, out, k) {
		sub(/#.*/, "", target)
		path = dir == "" ? target : dir "/" target
		n = split(path, parts, "/")
		k = 0
		for (i = 1; i <= n; i++) {
			if (parts[i] == "." || parts[i] == "") continue
			if (parts[i] == "..") { if (k > 0) k--; continue }
			out[++k] = parts[i]
		}
		path = ""
		for (i = 1; i <= k; i++) path = path (i > 1 ? "/" : "") out[i]
		return path
	}
	# text with links into LEAVE_OUT unlinked; counts them in cut, others in kept
	function rewrite(text,    result, link, label, target) {
		result = ""
		while (match(text, /\[[^]]*\]\([^)]*\)/)) {
			link = substr(text, RSTART, RLENGTH)
			label = link; sub(/\]\(.*/, "", label); sub(/^\[/, "", label)
			target = link; sub(/^\[[^]]*\]\(/, "", target); sub(/\)$/, "", target)
			result = result substr(text, 1, RSTART - 1)
			if (target !~ /^[a-z]+:/ && resolve(target) in leftout) {
				result = result label
				cut++
			} else {
				result = result link
				kept++
			}
			text = substr(text, RSTART + RLENGTH)
		}
		return result text
	}
	function flush() {
		if (item != "" && !(cut > 0 && kept == 0))
			printf "%s", item
		item = ""
	}
	/^[ \t]*```/ { fence = !fence }
	!fence && /^[ \t]*[-*] / { flush(); cut = kept = 0; item = rewrite($0) "\n"; next }
	!fence && item != "" && /^[ \t]+[^ \t]/ { item = item rewrite($0) "\n"; next }
	{ flush(); print fence ? $0 : rewrite($0) }
	END { flush() }'
}

(cd "$tree" && find . -name '*.md' | sed 's|^\./||') | while read -r md; do
	drop_links "$md" <"$tree/$md" >"$scratch/md"
	cmp -s "$scratch/md" "$tree/$md" || cp "$scratch/md" "$tree/$md"
done

# ---- the notes: no task written out ----

# A passage of the notes that spells out a task's solution is marked by two
# HTML comments, each alone on its line (invisible where the notes are
# read as Markdown):
#
#	<!-- $begin ID: hint: TEXT -->
#	... the passage ...
#	<!-- $end ID -->
#
# ID is the task's, as in the code; in the handout, TEXT (one line of
# Markdown) stands in the passage's place.
unmark() {
	awk '
	function malformed(what) {
		printf "%s:%d: %s\n", FILENAME, FNR, what > "/dev/stderr"
		bad = 1
		exit 1
	}
	/^<!-- \$begin [a-z0-9-]+: hint: .* -->$/ {
		if (id != "") malformed("$begin inside the passage " id)
		id = $3; sub(/:$/, "", id)
		hint = $0; sub(/^<!-- \$begin [a-z0-9-]+: hint: /, "", hint); sub(/ -->$/, "", hint)
		print hint
		next
	}
	/^<!-- \$end [a-z0-9-]+ -->$/ {
		if ($3 != id) malformed("$end " $3 " does not close " (id == "" ? "any passage" : "$begin " id))
		id = ""
		next
	}
	/<!-- \$(begin|end) / { malformed("a notes marker is <!-- $begin ID: hint: TEXT --> or <!-- $end ID -->, alone on its line") }
	id != "" { next }
	{ print }
	END { if (!bad && id != "") malformed("the passage " id " has no $end") }' "$1"
}
(cd "$tree" && grep -rl '<!-- \$begin ' --include='*.md' . | sed 's|^\./||') | while read -r md; do
	unmark "$tree/$md" >"$scratch/md" || fail "$md: cannot take out its passages"
	cp "$scratch/md" "$tree/$md"
done

# ---- the checks ----

# Every relative link (and image) in the handout's Markdown, outside code,
# leads to a file in the handout.
(cd "$tree" && find . -name '*.md' | sed 's|^\./||' | sort) | while read -r md; do
	awk '
	/^[ \t]*```/ { fence = !fence; next }
	fence { next }
	{
		s = $0
		gsub(/`[^`]*`/, "", s)		# a code span is not a link
		while (match(s, /\]\([^)]*\)/)) {
			target = substr(s, RSTART + 2, RLENGTH - 3)
			s = substr(s, RSTART + RLENGTH)
			sub(/#.*/, "", target)
			sub(/ .*/, "", target)		# a title after the target
			if (target != "" && target !~ /^[a-z]+:/)
				print FNR "\t" target
		}
	}' "$tree/$md" | while IFS='	' read -r line target; do
		[ -e "$tree/$(dirname "$md")/$target" ] ||
			echo "handout: $md:$line: the link to $target leads nowhere in the handout" >&2
	done
done 2>"$scratch/dangling"
[ ! -s "$scratch/dangling" ] || { cat "$scratch/dangling" >&2; exit 1; }

# A repository with the handout as its one commit: the exercises' git
# steps (git diff, git checkout -- FILE) work from the start, and a
# student's own commits show what they wrote.
# Git runs without the maintainer's own configuration (hooks, excludes,
# templates), and the commit is dated as the reference tree's last one.
GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_CONFIG_GLOBAL GIT_CONFIG_NOSYSTEM
GIT_AUTHOR_DATE=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE
export GIT_AUTHOR_DATE GIT_COMMITTER_DATE
git -C "$tree" init -q
git -C "$tree" add -A
git -C "$tree" -c user.name=workerlab -c user.email=workerlab@localhost \
	-c commit.gpgsign=false commit -q -m "workerlab: the handout"

tar -C "$out" --sort=name --owner=0 --group=0 --numeric-owner -czf "$tarball" "$name"

# From here on, what is checked is what a student gets: the tarball.
mkdir "$scratch/x"
tar -C "$scratch/x" -xzf "$tarball"
got=$scratch/x/$name
problems=$scratch/problems
: >"$problems"
problem() {
	echo "handout: $tarball: $*" >>"$problems"
}

for f in $LEAVE_OUT; do
	[ ! -e "$got/$f" ] || problem "holds $f, which is left out"
done
find "$got/grade/hidden" -mindepth 1 ! -name README.md | while read -r f; do
	problem "holds a hidden check, ${f#"$got"/}"
done
# A repository of one commit, the handout as it is: nothing left out of it,
# and no other repository inside.
[ "$(git -C "$got" rev-list --count HEAD 2>/dev/null)" = 1 ] ||
	problem "is not a git repository with the handout as its one commit"
[ -z "$(git -C "$got" status --porcelain 2>&1)" ] ||
	problem "has files its commit does not: $(git -C "$got" status --porcelain 2>&1 | head -3)"
find "$got" -mindepth 2 -name .git | while read -r f; do
	problem "holds ${f#"$got"/}"
done
# Built things: the build folder, objects, and any executable program.
find "$got" \( -name build -o -name '*.o' -o -name '*.d' -o -name '*.a' \) |
	while read -r f; do problem "holds ${f#"$got"/}, which is built"; done
find "$got" -type f ! -path "$got/ref/*" | while read -r f; do
	[ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" != 7f454c46 ] ||
		problem "holds ${f#"$got"/}, a program"
done
for lab in lab1 lab2 lab3 lab4 lab5 lab6; do
	[ -x "$got/ref/$lab" ] || problem "has no reference lab ref/$lab"
done
grep -rl -e '\$begin ' -e '\$end ' --include='*.[ch]' --include='*.md' "$got" | while read -r f; do
	problem "${f#"$got"/} still has solution markers"
done

# The solutions' lines.  A line that the kit's code also has outside any
# region (an accept_failed(); of the sync worker, say) gives nothing away,
# so the search is for the others, in every file of the tarball.
for f in common/*.[ch] common/bench/*.[ch] lab*/*.c tools/*.c; do
	awk '/^[ \t]*\/\* \$begin / { inside = 1 } !inside { print } /^[ \t]*\/\* \$end / { inside = 0 }' "$f"
done >"$scratch/code"
cut -f2- "$scratch/solutions" | sed 's/^[[:blank:]]*//; s/[[:blank:]]*$//' | sort -u |
while IFS= read -r line; do
	[ "${#line}" -ge 12 ] || continue
	! grep -qF -e "$line" "$scratch/code" || continue
	grep -rlF -e "$line" "$got" | while read -r f; do
		problem "${f#"$got"/} has a line of a solution: $line"
	done
done

if [ -s "$problems" ]; then
	cat "$problems" >&2
	exit 1
fi
echo "handout: $tree and $tarball: $(grep -c . "$scratch/ids") regions of" \
     "$(wc -l <"$scratch/ids.sorted") tasks stubbed in" \
     "$(echo "$region_files" | wc -w) files; no solution line, marker, left-out" \
     "or built file in the tarball, and no link leads nowhere"
