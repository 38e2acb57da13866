#!/bin/sh
# Install the Debian packages workerlab builds with, and nothing else.
# Prints each command it runs; does nothing when everything is present.
#
#   sh tools/deps.sh          everything `make test`, `make bench` and
#                             `make gradescope` use (what `make deps` runs)
#   sh tools/deps.sh grade    only what building and grading the labs need:
#                             the Gradescope autograder's setup.sh runs this
set -e
# Building the labs and the grader; curl for the README's first request and
# for hidden checks that ask a lab something (notes/instructors.md has one).
# postgresql and libpq-dev: the database labs (lab5, lab6) and their
# private cluster.
GRADE_PACKAGES="build-essential pkg-config libcurl4-openssl-dev libev-dev check libhttp-parser-dev curl postgresql libpq-dev"
# valgrind also provides the header that registers fiber stacks; clang and
# its runtime are for `make fuzz` (libFuzzer); gnuplot draws `make bench`'s
# charts; zip packs `make gradescope`'s autograder.zip and unzip tries it.
# gunicorn, python3-flask, python3-gevent and python3-requests run the
# note's Flask app for `make bench-python`; python3-psycopg2 and
# python3-psycogreen, its database scenario.
# chromium runs `make test-browser` (the classroom page), driven by
# playwright-core from the npm registry (below), which downloads no browser.
TOOL_PACKAGES="valgrind clang libclang-rt-14-dev gnuplot-nox zip unzip gunicorn python3-flask python3-gevent python3-requests python3-psycopg2 python3-psycogreen chromium"

case ${1:-all} in
grade) PACKAGES=$GRADE_PACKAGES ;;
all) PACKAGES="$GRADE_PACKAGES $TOOL_PACKAGES" ;;
*) echo "usage: $0 [grade]" >&2; exit 2 ;;
esac

# Node.js runs the browser test; a machine that has it (as node, with npm)
# keeps its own, one without gets Debian's.
if [ "${1:-all}" = all ] && ! command -v npm >/dev/null; then
	PACKAGES="$PACKAGES nodejs npm"
fi

run() { echo "+ $*"; "$@"; }

# The browser test's one npm package, at the version package-lock.json
# names, in tests/browser/node_modules.
browser_test_packages() {
	[ "${1:-all}" = all ] || return 0
	lock=tests/browser/package-lock.json
	want=$(sed -n '/"node_modules\/playwright-core"/,/version/s/.*"version": "\(.*\)".*/\1/p' $lock)
	have=$(sed -n 's/^  "version": "\(.*\)".*/\1/p' \
		tests/browser/node_modules/playwright-core/package.json 2>/dev/null || true)
	if [ "$want" = "$have" ]; then
		echo "deps: playwright-core $have present in tests/browser"
	else
		(cd tests/browser && run npm ci --no-audit --no-fund)
	fi
}

missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all present ($PACKAGES)"
else
	if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
	run $sudo apt-get update
	run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi
browser_test_packages "${1:-all}"
