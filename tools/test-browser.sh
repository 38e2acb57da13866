#!/bin/sh
# test-browser: the classroom page in headless Chromium (`make test-browser`,
# part of `make test`); tests/browser/page.test.mjs says what it checks.
# Skipped, saying so plainly and passing, only when BROWSER=no asks for it.
# Chromium, node (18 or later) and playwright-core are what `make deps`
# installs; when one is missing the test fails and says which, because a
# check skipped where the README says it runs is a check that does not
# exist.  Debian 12's own nodejs is 18.20, so playwright-core is pinned
# (tests/browser/package.json) to the last release that runs on it.
# usage: tools/test-browser.sh BIN WRONG_LAB SHOT   (from the top of the tree)
set -eu
bin=$1 wrong=$2 shot=$3
chromium=${CHROMIUM:-/usr/bin/chromium}
node=${NODE:-node}
if [ "${BROWSER:-yes}" = no ]; then
	echo "test-browser: SKIPPED, BROWSER=no was asked for"
	exit 0
fi
missing() {
	echo "test-browser: FAILED, $* (or BROWSER=no to leave the page untested)" >&2
	exit 1
}
[ -x "$chromium" ] || missing "no Chromium at $chromium: make deps installs Debian's chromium"
command -v "$node" >/dev/null || missing "no node: make deps installs Debian's nodejs"
major=$("$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null) ||
	missing "$node does not run"
[ "$major" -ge 18 ] || missing "node $major is older than playwright-core needs (18)"
[ -d tests/browser/node_modules/playwright-core ] ||
	missing "no playwright-core in tests/browser: make deps runs npm ci there"
mkdir -p "$(dirname "$shot")"
echo "== test-browser (Chromium: $($chromium --version 2>/dev/null || echo "$chromium"); node $("$node" --version))"
CHROMIUM=$chromium "$node" tests/browser/page.test.mjs "$bin" "$wrong" "$shot"
