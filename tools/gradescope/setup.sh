#!/bin/sh
# setup.sh: Gradescope runs this once, as root, when it builds the
# autograder's image (tools/gradescope.sh puts it in autograder.zip).  It
# installs the packages the labs and the grader build with -- the Debian
# names, which Gradescope's Ubuntu images have too -- and builds the
# handout once, so that each submission recompiles only the files it hands
# in.  AUTOGRADER_ROOT as in run_autograder.
set -eu
kit=${AUTOGRADER_ROOT:-/autograder}/source/workerlab
sh "$kit/tools/deps.sh" grade
make -C "$kit" -j2 all build/tests/grade
