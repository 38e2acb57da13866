#!/bin/sh
# Install the Debian packages workerlab builds with, and nothing else.
# Prints each command it runs; does nothing when everything is present.
set -e
# valgrind also provides the header that registers fiber stacks; clang and
# its runtime are for `make fuzz` (libFuzzer); gnuplot draws `make bench`'s charts.
PACKAGES="build-essential pkg-config libcurl4-openssl-dev libev-dev check libhttp-parser-dev valgrind clang libclang-rt-14-dev gnuplot-nox"

missing=
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "deps: all present ($PACKAGES)"
	exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi
run() { echo "+ $*"; "$@"; }
run $sudo apt-get update
run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
