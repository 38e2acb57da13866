#!/bin/sh
# test-browser: the classroom page in headless Chromium (`make test-browser`,
# part of `make test`); tests/browser/page.test.mjs says what it checks.
# Skipped, saying so plainly and passing, when BROWSER=no, or when Chromium,
# node or playwright-core is missing (`make deps` installs all three).
# usage: tools/test-browser.sh BIN WRONG_LAB SHOT   (from the top of the tree)
set -eu
bin=$1 wrong=$2 shot=$3
chromium=${CHROMIUM:-/usr/bin/chromium}
skip() {
	echo "test-browser: SKIPPED, $*"
	exit 0
}
[ "${BROWSER:-yes}" != no ] || skip "BROWSER=no was asked for"
[ -x "$chromium" ] || skip "no Chromium at $chromium (make deps installs Debian's chromium)"
command -v node >/dev/null || skip "no node (make deps installs Debian's nodejs)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || skip "node $major is older than playwright-core needs (20)"
[ -d tests/browser/node_modules/playwright-core ] ||
	skip "no playwright-core in tests/browser (make deps runs npm ci there)"
mkdir -p "$(dirname "$shot")"
echo "== test-browser (Chromium: $($chromium --version 2>/dev/null || echo "$chromium"))"
CHROMIUM=$chromium node tests/browser/page.test.mjs "$bin" "$wrong" "$shot"
