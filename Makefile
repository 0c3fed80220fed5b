# oauthmail — the two commands that matter: `make demo` and `make test` (see README.md).
# Each installs what it needs (scripts/install-deps), builds, and runs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all deps build test test-unit test-asan demo bench fuzz format tidy install install-files clean

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOAUTHMAIL_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The whole suite: unit tests, fuzz-corpus replays and integration tests against real peers,
# then the unit tests and corpus replays again under AddressSanitizer + UBSan.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz'
	@cd $(BUILD) && ctest --output-on-failure -L integration
	@$(MAKE) --no-print-directory test-asan

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DOAUTHMAIL_SANITIZE=ON \
	  -DOAUTHMAIL_WERROR=ON -DOAUTHMAIL_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target unit_and_fuzz_tests
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz'

demo: build
	@scripts/demo $(BUILD)

bench: build
	@bench/run $(BUILD)

# libFuzzer (clang-14): FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DOAUTHMAIL_FUZZ=ON \
	  -DOAUTHMAIL_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@for f in $(FUZZ_BUILD)/fuzz/fuzz_*; do case $$f in *replay*) continue;; esac; \
	  name=$$(basename $$f | sed 's/^fuzz_//'); mkdir -p fuzz/corpus/$$name; \
	  echo "== $$name"; $$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=fuzz/crashes- fuzz/corpus/$$name || exit 1; done

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

tidy: build
	@git ls-files 'src/*.cpp' | xargs clang-tidy -p $(BUILD) --quiet

# PREFIX (default /usr/local), DESTDIR (staging root) and SENDMAIL_LINK=1 (also install
# $(PREFIX)/sbin/sendmail -> oauthmail). install-files copies an already built tree.
SENDMAIL_LINK ?= 0
install: build
	@$(MAKE) --no-print-directory install-files

install-files:
	@DESTDIR=$(DESTDIR) OAUTHMAIL_SENDMAIL_LINK=$(SENDMAIL_LINK) cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
