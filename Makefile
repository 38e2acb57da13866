# workerlab: four small servers that reproduce one experiment.
#
#   make            build lab1..lab6 and upstream, here at the top
#   make lab4       build one lab (then: ./lab4)
#   make test       build, then run the Check suites (same as: make check),
#                   first as built, then again under ASan + UBSan (make asan),
#                   and the ones that run threads under TSan (make tsan);
#                   it builds on JOBS cores (default: all), runs on one
#   make grade      score the labs against the model: one line a check, then
#                   "Score: N/M" (LAB=lab3 for one lab, RESULTS=FILE for a
#                   Gradescope results.json; see grade/)
#   make grade-selftest  check that the grader fails deliberately broken labs
#   make handout    the student handout: build/handout/workerlab/ and its
#                   tarball, every solution region ($begin ... $end in the
#                   sources) replaced by a TODO stub that compiles, without
#                   the answer key, the instructors' guide or hidden checks;
#                   fails if the tarball holds a solution (tools/handout.sh)
#   make gradescope  build/gradescope/autograder.zip from the handout, with
#                   the hidden checks and points of grade/ (or GRADE_DIR=),
#                   WORKERLAB_SLOW= recorded for the grader
#   make handout-selftest  make both, build the handout, grade it through
#                   run_autograder: it must lose exactly the checks of
#                   grade/exercises, and score full marks with the regions
#                   put back (part of make test)
#   make handout-stubs  grade the handout with one task's stub in place at a
#                   time: each must fail exactly the checks grade/exercises
#                   lists under it, within 180 s (tools/handout-stubs.sh)
#   make grade-calibrate  for a grading machine: run each graded check RUNS
#                   times (default 5); per check the worst figure, its bound
#                   and the margin, and the WORKERLAB_SLOW to grade with
#   make stress     the timing suites, the grader, the ASan build's timing
#                   suites and make tsan's suites RUNS times (default 5)
#                   with LOAD busy loops (default 2); "N passed, M failed"
#   make bench      measure every lab at rising concurrency; tables, CSV and
#                   plots in bench/results/full, then regenerate
#                   notes/results.md, its zh-CN twin and notes/img from them
#   make bench-python  the note's Flask app under real gunicorn, same table,
#                   then the database scenario (make bench-db); its rows
#                   and the labs' are kept side by side
#                   QUICK=1 (either bench): delays times 0.1, faster; writes
#                   only bench/results/quick and leaves notes/ alone
#   make bench-db   the database scenario: lab5 and lab6 beside psycopg2
#                   under gunicorn's gevent worker, as it is and with
#                   psycogreen, on one private PostgreSQL cluster; rows in
#                   the same summary.csv (QUICK=1 as above)
#   make test-browser  the classroom page (served by every lab at /) in
#                   headless Chromium against running labs: what it draws
#                   must be the model's shape (part of make test; BROWSER=no
#                   skips it; without Chromium, node or playwright-core it
#                   fails, naming what make deps would install; NODE= picks
#                   another node, 18 or later)
#   make demo       lab1..lab4 on four consecutive free ports, and the URL of
#                   the page that races them; Ctrl-C stops them all
#   make notes-check  check the notes against the code as it is: quoted
#                   diffs, quoted function names, English and zh-CN alike
#                   (part of make test; tools/check-notes.sh says how)
#   make fuzz       run libFuzzer over the request handling (FUZZ_TIME seconds)
#   make valgrind   run lab1 and lab4 under valgrind: no errors, no leaks
#   make deps       install the Debian packages the build needs
#   make clean      remove everything the build made
#
# CC, CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS can be overridden as usual.

CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS := -std=c11 -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -Icommon -Icommon/bench
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
LDLIBS   += $(CURL_LIBS) -lev -lhttp_parser -pthread
# libpq, for the database labs (lab5, lab6) and their suite only.
PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null || echo -I/usr/include/postgresql)
PQ_LIBS   := $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)

BUILD    ?= build
BIN      ?= .

# common/ is the lesson: fibers, IO, downloads, the workers and the
# handler; common/bench/ is what the experiment runs on: the upstream
# simulator, the database cluster, the page, gunicorn's master and the
# labs' command line.
LESSON   := util fiber io fetch http server stop sync_worker threaded_worker evented_worker \
	    profile app answer timeline
BENCH    := arbiter listen simulator upstream page proc lab
COMMON_O := $(LESSON:%=$(BUILD)/common/%.o) $(BENCH:%=$(BUILD)/common/bench/%.o) \
	    $(BUILD)/common/bench/page_html.o
DB_O     := $(BUILD)/common/db.o $(BUILD)/common/queries.o \
	    $(BUILD)/common/bench/pgcluster.o $(BUILD)/common/bench/dblab.o
PROGRAMS := $(BIN)/lab1 $(BIN)/lab2 $(BIN)/lab3 $(BIN)/lab4 $(BIN)/lab5 $(BIN)/lab6 \
	    $(BIN)/upstream $(BIN)/labload $(BIN)/simload
TESTS    := clocks fiber io app http labs hostile faults stop db page upstream workers
TEST_BIN := $(TESTS:%=$(BUILD)/tests/test_%)
TESTLIB_O := $(BUILD)/tests/testlib.o $(BUILD)/tests/model.o $(BUILD)/tests/dbmodel.o
# The grader links only the common modules it uses, none of the files a
# student writes in the handout: code that does not compile costs the labs
# their points, and the labs are still graded.
GRADER_O := $(BUILD)/common/util.o $(BUILD)/common/bench/listen.o $(BUILD)/common/profile.o

.PHONY: all test check test-here test-browser demo asan asan-build tsan tsan-build grade grade-selftest grade-calibrate \
	stress fuzz valgrind bench bench-python bench-db notes-check deps clean handout gradescope \
	handout-selftest handout-stubs
.SECONDARY:
all: $(PROGRAMS)

$(BIN)/lab1: $(BUILD)/lab1-sync/main.o $(COMMON_O)
$(BIN)/lab2: $(BUILD)/lab2-sync-async/main.o $(COMMON_O)
$(BIN)/lab3: $(BUILD)/lab3-evented-blocking/main.o $(COMMON_O)
$(BIN)/lab4: $(BUILD)/lab4-evented-async/main.o $(COMMON_O)
$(BIN)/lab5: $(BUILD)/lab5-evented-db-blocking/main.o $(COMMON_O) $(DB_O)
$(BIN)/lab6: $(BUILD)/lab6-evented-db-cooperative/main.o $(COMMON_O) $(DB_O)
$(BIN)/lab5 $(BIN)/lab6 $(BUILD)/tests/test_db: LDLIBS += $(PQ_LIBS)
$(BUILD)/tests/test_db: $(DB_O)
$(DB_O) $(BUILD)/tests/test_db.o: CPPFLAGS += $(PQ_CFLAGS)
$(BIN)/upstream: $(BUILD)/tools/upstream.o $(COMMON_O)
$(BIN)/labload: $(BUILD)/tools/labload.o $(BUILD)/common/util.o
$(BIN)/simload: $(BUILD)/tools/simload.o $(BUILD)/common/util.o
$(PROGRAMS):
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TESTLIB_O) $(COMMON_O)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(WARNINGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# The classroom page, common/page.html, built into every lab as one string
# (common/bench/page.c):
# its bytes in hex, written to a temporary file first so that -j never
# compiles half of it.
$(BUILD)/common/bench/page_html.c: common/page.html
	@mkdir -p $(@D)
	{ echo '/* common/page.html as a string: made by the Makefile */'; \
	  echo 'extern const char page_html[];'; \
	  echo 'const char page_html[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0 };'; } >$@.tmp
	mv $@.tmp $@

$(BUILD)/common/bench/page_html.o: $(BUILD)/common/bench/page_html.c
	$(CC) $(WARNINGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# The lab tests start lab1 .. lab4 from $(BIN).
test-here: $(PROGRAMS) $(TEST_BIN)
	@for t in $(TEST_BIN); do \
		echo "== $$t"; LAB_BIN=$(BIN) $$t || exit 1; \
	done

# Everything make test runs is built first, on every core (JOBS), then the
# suites run one after another even under make -j: timing checks are built
# to survive a busy machine, but there is no need to make it busy.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test check:
	@$(MAKE) --no-print-directory -j$(JOBS) $(PROGRAMS) $(TEST_BIN) $(BUILD)/tests/grade \
		$(BUILD)/tests/valgrind_labs $(BUILD)/browser/lab3-on-sync $(BUILD)/fuzz/fuzz_http \
		asan-build tsan-build
	@$(MAKE) --no-print-directory -j1 test-here asan tsan grade-selftest handout-selftest \
		valgrind fuzz test-browser notes-check

# test-browser: the page against lab1..lab4 and a wrong lab (lab 3 on the
# sync worker, which must draw a staircase); the screenshot goes to SHOT.
# The full delay profile and notes/img/page.png: make test-browser SCALE=1
# SHOT=notes/img/page.png.
SCALE ?= 0.5
SHOT  ?= $(BUILD)/browser/page.png
BROWSER ?= yes
NODE ?= node
test-browser: $(PROGRAMS) $(BUILD)/browser/lab3-on-sync
	@BROWSER=$(BROWSER) SCALE=$(SCALE) NODE=$(NODE) sh tools/test-browser.sh $(BIN) \
		$(BUILD)/browser/lab3-on-sync $(SHOT)

$(BUILD)/browser/lab3-on-sync.c: lab3-evented-blocking/main.c
	@mkdir -p $(@D)
	sed 's/serve_evented, hello/serve_sync, hello/' $< >$@.tmp
	grep -q 'serve_sync, hello' $@.tmp
	mv $@.tmp $@

$(BUILD)/browser/lab3-on-sync.o: $(BUILD)/browser/lab3-on-sync.c
	$(CC) $(WARNINGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/browser/lab3-on-sync: $(BUILD)/browser/lab3-on-sync.o $(COMMON_O)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

demo: $(PROGRAMS)
	@sh tools/demo.sh $(BIN) $(DEMO_FLAGS)

# valgrind: lab1 and lab4 run a few requests under memcheck (fiber stacks
# are registered with it); any error or definite leak fails.
valgrind: $(PROGRAMS) $(BUILD)/tests/valgrind_labs
	@echo "== $(BUILD)/tests/valgrind_labs"; LAB_BIN=$(BIN) $(BUILD)/tests/valgrind_labs

# fuzz: libFuzzer (clang) over http_serve_connection, seeded from
# tests/fuzz-seeds, for FUZZ_TIME seconds; a finding stops it with an error.
FUZZ_TIME ?= 20
FUZZ_CC   ?= clang
FUZZ_SRC  := tests/fuzz_http.c common/http.c common/io.c common/fiber.c common/util.c
fuzz: $(BUILD)/fuzz/fuzz_http
	@mkdir -p $(BUILD)/fuzz/corpus
	@echo "== fuzzing http_serve_connection for $(FUZZ_TIME) s"
	@$(BUILD)/fuzz/fuzz_http -max_total_time=$(FUZZ_TIME) -max_len=4096 \
		-print_final_stats=1 $(BUILD)/fuzz/corpus tests/fuzz-seeds 2>$(BUILD)/fuzz/log || \
		{ tail -40 $(BUILD)/fuzz/log; exit 1; }
	@grep -E "stat::number_of_executed_units|Done" $(BUILD)/fuzz/log | head -2

$(BUILD)/fuzz/fuzz_http: $(FUZZ_SRC)
	@mkdir -p $(@D)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) -o $@ \
		$(FUZZ_SRC) -lev -lhttp_parser

# make grade: rebuild the labs being graded (a lab that does not build
# loses its points, the others are still graded), then run the grader.
GRADE_LABS := $(if $(LAB),$(foreach l,$(LAB),$(firstword $(subst -, ,$(l)))),lab1 lab2 lab3 lab4 lab5 lab6)
grade: $(BUILD)/tests/grade
	@rm -f $(GRADE_LABS:%=$(BIN)/%)
	@$(MAKE) -k --no-print-directory $(GRADE_LABS:%=$(BIN)/%) $(BIN)/upstream >/dev/null || \
		echo "grade: some labs do not build; they lose their points"
	@LAB="$(LAB)" RESULTS="$(RESULTS)" LAB_BIN=$(BIN) $(BUILD)/tests/grade

$(BUILD)/tests/valgrind_labs: $(BUILD)/tests/valgrind_labs.o $(TESTLIB_O) $(COMMON_O)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/tests/grade: $(BUILD)/tests/grade.o $(TESTLIB_O) $(GRADER_O)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

grade-selftest: $(PROGRAMS) $(BUILD)/tests/grade
	@sh tools/grade-selftest.sh $(BUILD)/tests/grade

# The handout and the autograder are made from the sources as they are;
# tools/handout.sh says how a solution region is marked.
handout: $(BIN)/lab1 $(BIN)/lab2 $(BIN)/lab3 $(BIN)/lab4 $(BIN)/lab5 $(BIN)/lab6
	@REF_BIN=$(BIN) sh tools/handout.sh $(BUILD)/handout

gradescope: handout
	@sh tools/gradescope.sh $(BUILD)/handout $(BUILD)/gradescope

handout-selftest: $(BIN)/lab1 $(BIN)/lab2 $(BIN)/lab3 $(BIN)/lab4 $(BIN)/lab5 $(BIN)/lab6 $(BIN)/upstream
	@REF_BIN=$(BIN) sh tools/handout-selftest.sh

handout-stubs: $(BIN)/lab1 $(BIN)/lab2 $(BIN)/lab3 $(BIN)/lab4 $(BIN)/lab5 $(BIN)/lab6
	@REF_BIN=$(BIN) sh tools/handout-stubs.sh

RUNS ?= 5
LOAD ?= 2
grade-calibrate: $(PROGRAMS) $(BUILD)/tests/grade
	@CALIBRATE=$(RUNS) LAB="$(LAB)" LAB_BIN=$(BIN) $(BUILD)/tests/grade

stress: $(PROGRAMS) $(TEST_BIN) $(BUILD)/tests/grade asan-build tsan-build
	@sh tools/stress.sh $(RUNS) $(LOAD) $(BUILD) $(BIN) build/asan build/tsan

# The same sources and suites built with AddressSanitizer and
# UndefinedBehaviorSanitizer, in a folder of their own.  (The one place this
# Makefile calls make again: a second build of everything, other flags.)
# float-cast-overflow is not part of "undefined" in GCC; a double too big
# for the int it becomes is a bug all the same.
SANITIZE := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow \
	    -fno-sanitize-recover=undefined,float-cast-overflow
ASAN_VARS = BUILD=build/asan BIN=build/asan CFLAGS="$(SANITIZE)" \
	LDFLAGS="$(LDFLAGS) -fsanitize=address,undefined,float-cast-overflow"
asan:
	$(MAKE) $(ASAN_VARS) test-here
# asan-build: the same, built and not run (make stress runs its timing suites).
asan-build:
	$(MAKE) $(ASAN_VARS) all $(TESTS:%=build/asan/tests/test_%)

# ThreadSanitizer over what runs threads -- the labs with --threads, under
# test_workers, and the IO switch that every thread uses (test_io) -- and
# over how the fiber runtime hands on a signal, which TSan changes
# (test_fiber runs only that case in this build), in a folder of its own.
# Every process writes its reports to $(TSAN_LOG).PID: a worker or a
# simulator ends with _exit(), which would lose TSan's exit status, so the
# files decide.
# libcurl and libev are not instrumented; TSan does not need them to be,
# and no report is suppressed.
TSAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
TSAN_LOG := $(CURDIR)/build/tsan/report
# tsan-build: the same, built and not run (make stress runs it each round).
tsan-build:
	$(MAKE) BUILD=build/tsan BIN=build/tsan CFLAGS="$(TSAN_FLAGS)" \
		LDFLAGS="$(LDFLAGS) -fsanitize=thread" TESTS="fiber io workers" \
		all build/tsan/tests/test_fiber build/tsan/tests/test_io build/tsan/tests/test_workers
tsan:
	@rm -f $(TSAN_LOG).*
	$(MAKE) BUILD=build/tsan BIN=build/tsan CFLAGS="$(TSAN_FLAGS)" \
		LDFLAGS="$(LDFLAGS) -fsanitize=thread" TESTS="fiber io workers" \
		TSAN_OPTIONS="log_path=$(TSAN_LOG) $(TSAN_OPTIONS)" test-here
	@if ls $(TSAN_LOG).* >/dev/null 2>&1; then \
		head -60 $(TSAN_LOG).*; echo "tsan: ThreadSanitizer reports above"; exit 1; \
	fi; echo "tsan: no reports"

# Both end by regenerating notes/results.md (and its Chinese twin) from
# bench/results/full/summary.csv: the notes cite measured numbers only from
# there.  A QUICK run's figures are at a tenth of the delays the notes
# teach, so it stops at bench/results/quick/.
QUICK ?= 0
NOTES_FROM_BENCH := $(if $(filter-out 0,$(QUICK)),@echo "QUICK=$(QUICK): results in bench/results/quick; notes/ left alone",sh tools/results-md.sh)
bench: all
	sh tools/bench.sh
	$(NOTES_FROM_BENCH)

bench-python: $(BIN)/upstream $(BIN)/labload $(BIN)/lab5 $(BIN)/lab6
	sh tools/bench-python.sh
	sh tools/bench-db.sh
	$(NOTES_FROM_BENCH)

bench-db: $(BIN)/lab5 $(BIN)/lab6 $(BIN)/upstream $(BIN)/labload
	sh tools/bench-db.sh

# notes-check: every diff the notes quote is what diff prints now, every
# function and name they quote is in the code, every figure they give about
# the grader is the grader's, every link and line number they give leads
# somewhere true, and notes/zh-CN keeps pace with notes/.
notes-check: $(BUILD)/tests/grade
	@GRADER=$(BUILD)/tests/grade sh tools/check-notes.sh

deps:
	@sh tools/deps.sh

clean:
	rm -rf build bench/results $(PROGRAMS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
