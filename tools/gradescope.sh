#!/bin/sh
# gradescope.sh: the Gradescope autograder, made from the handout (what
# `make gradescope` runs).
#
#   sh tools/gradescope.sh HANDOUT OUT     (from the top of the reference tree)
#
# HANDOUT is the folder tools/handout.sh wrote.  Writes OUT/autograder.zip,
# laid out as Gradescope's autograder specification asks, with at the top
# of the archive:
#
#   setup.sh          run once when Gradescope builds the image: the
#                     packages, then the handout built (tools/gradescope/)
#   run_autograder    run for each submission: the handed-in files into the
#                     handout, then `make grade` (tools/gradescope/ says how)
#   workerlab/        the handout as students get it (from its tarball),
#                     with grade/points and the hidden checks of $GRADE_DIR
#                     (default grade/) put in its grade/
#   submitted-files   the files a student hands in, one a line
#   slow              the WORKERLAB_SLOW to grade with: $WORKERLAB_SLOW, or 1
#
# The zip holds no solution: a file a student leaves out is graded as the
# handout's stub.
set -eu
usage="usage: tools/gradescope.sh HANDOUT OUT"
handout=${1:?$usage}
out=${2:?$usage}
grade_dir=${GRADE_DIR:-grade}
tarball=$handout/workerlab-handout.tar.gz
[ -f "$tarball" ] && [ -f "$handout/submitted-files" ] || {
	echo "gradescope: no handout in $handout: make handout first" >&2
	exit 1
}
stage=$out/autograder
rm -rf "$stage" "$out/autograder.zip"
mkdir -p "$stage"
cp tools/gradescope/setup.sh tools/gradescope/run_autograder "$stage/"
chmod +x "$stage/setup.sh" "$stage/run_autograder"
tar -C "$stage" -xzf "$tarball"
cp "$handout/submitted-files" "$stage/submitted-files"
echo "${WORKERLAB_SLOW:-1}" >"$stage/slow"

# The instructor's points and hidden checks; the handout has the README only.
cp "$grade_dir/points" "$stage/workerlab/grade/points"
hidden=0
for f in "$grade_dir"/hidden/*; do
	[ -f "$f" ] && [ -x "$f" ] || continue
	cp -p "$f" "$stage/workerlab/grade/hidden/"
	hidden=$((hidden + 1))
done

(cd "$stage" && zip -qrX ../autograder.zip .)
echo "gradescope: $out/autograder.zip: the handout, $hidden hidden checks," \
     "WORKERLAB_SLOW=$(cat "$stage/slow"); a student hands in" \
     "$(tr '\n' ' ' <"$stage/submitted-files" | sed 's/ $//')"
