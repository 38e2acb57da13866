# workerlab: four small servers that reproduce one experiment.
#
#   make            build lab1..lab4 and upstream, here at the top
#   make lab4       build one lab (then: ./lab4)
#   make test       build, then run the Check suites (same as: make check),
#                   first as built, then again under ASan + UBSan (make asan)
#   make grade      score the labs against the model: one line a check, then
#                   "Score: N/M" (LAB=lab3 for one lab, RESULTS=FILE for a
#                   Gradescope results.json; see grade/)
#   make grade-selftest  check that the grader fails deliberately broken labs
#   make deps       install the Debian packages the build needs
#   make clean      remove everything the build made
#
# CC, CFLAGS, CPPFLAGS, LDFLAGS and LDLIBS can be overridden as usual.

CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS := -std=c11 -Wall -Wextra -Werror
CPPFLAGS += -D_GNU_SOURCE -Icommon
CURL_LIBS := $(shell pkg-config --libs libcurl 2>/dev/null || echo -lcurl)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)
LDLIBS   += $(CURL_LIBS) -lev -lhttp_parser

BUILD    ?= build
BIN      ?= .

COMMON   := util fiber io fetch http server listen app answer upstream lab
COMMON_O := $(COMMON:%=$(BUILD)/common/%.o)
PROGRAMS := $(BIN)/lab1 $(BIN)/lab2 $(BIN)/lab3 $(BIN)/lab4 $(BIN)/upstream \
	    $(BIN)/labload
TESTS    := fiber io http labs
TEST_BIN := $(TESTS:%=$(BUILD)/tests/test_%)
TESTLIB_O := $(BUILD)/tests/testlib.o $(BUILD)/tests/model.o

.PHONY: all test check test-here asan grade grade-selftest deps clean
.SECONDARY:
all: $(PROGRAMS)

$(BIN)/lab1: $(BUILD)/lab1-sync/main.o $(COMMON_O)
$(BIN)/lab2: $(BUILD)/lab2-sync-async/main.o $(COMMON_O)
$(BIN)/lab3: $(BUILD)/lab3-evented-blocking/main.o $(COMMON_O)
$(BIN)/lab4: $(BUILD)/lab4-evented-async/main.o $(COMMON_O)
$(BIN)/upstream: $(BUILD)/tools/upstream.o $(COMMON_O)
$(BIN)/labload: $(BUILD)/tools/labload.o $(BUILD)/common/util.o
$(PROGRAMS):
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(TESTLIB_O) $(COMMON_O)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(WARNINGS) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# The lab tests start lab1 .. lab4 from $(BIN).
test-here: $(PROGRAMS) $(TEST_BIN)
	@for t in $(TEST_BIN); do \
		echo "== $$t"; LAB_BIN=$(BIN) $$t || exit 1; \
	done

test check: test-here asan grade-selftest

# make grade: rebuild the labs being graded (a lab that does not build
# loses its points, the others are still graded), then run the grader.
GRADE_LABS := $(if $(LAB),$(foreach l,$(LAB),$(firstword $(subst -, ,$(l)))),lab1 lab2 lab3 lab4)
grade: $(BUILD)/tests/grade
	@rm -f $(GRADE_LABS:%=$(BIN)/%)
	@$(MAKE) -k --no-print-directory $(GRADE_LABS:%=$(BIN)/%) $(BIN)/upstream >/dev/null || \
		echo "grade: some labs do not build; they lose their points"
	@LAB="$(LAB)" RESULTS="$(RESULTS)" LAB_BIN=$(BIN) $(BUILD)/tests/grade

$(BUILD)/tests/grade: $(BUILD)/tests/grade.o $(TESTLIB_O) $(COMMON_O)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

grade-selftest: $(BUILD)/tests/grade
	@sh tools/grade-selftest.sh $(BUILD)/tests/grade

# The same sources and suites built with AddressSanitizer and
# UndefinedBehaviorSanitizer, in a folder of their own.  (The one place this
# Makefile calls make again: a second build of everything, other flags.)
SANITIZE := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	    -fno-sanitize-recover=undefined
asan:
	$(MAKE) BUILD=build/asan BIN=build/asan CFLAGS="$(SANITIZE)" \
		LDFLAGS="$(LDFLAGS) -fsanitize=address,undefined" test-here

deps:
	@sh tools/deps.sh

clean:
	rm -rf build $(PROGRAMS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
