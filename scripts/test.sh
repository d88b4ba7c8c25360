#!/usr/bin/env bash
# The whole test suite: format check, Release build + ctest, sanitizer build
# (ASan + UBSan) + ctest, a ThreadSanitizer run of the threading tests, the
# exported-symbol prefix check and the self-contained-header check.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

step() { printf '\n== %s\n' "$*"; }

step "dependencies"
scripts/deps.sh test

step "interop test dependencies (npm ci)"
(cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)

step "format check"
mapfile -t sources < <(git ls-files '*.c' '*.h')
clang-format --dry-run -Werror "${sources[@]}"

build() { # dir type [targets...]
    local dir=$1 type=$2
    shift 2
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" >/dev/null
    if [ $# -gt 0 ]; then
        cmake --build "$dir" -j "$jobs" --target "$@"
    else
        cmake --build "$dir" -j "$jobs"
    fi
}

step "Release build and tests"
build build/release Release
(cd build/release && ctest --output-on-failure -j "$jobs")

step "exported symbols carry their module prefix"
scripts/check-symbols.sh build/release

step "every header compiles alone"
scripts/check-headers.sh

step "AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
build build/sanitize Sanitize
(cd build/sanitize &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j "$jobs")

step "ThreadSanitizer: queue, validation pool, storage thread"
tsan_tests=(test_queue test_vpool test_batcher)
build build/tsan Tsan "${tsan_tests[@]}"
(cd build/tsan && TSAN_OPTIONS=halt_on_error=1 \
    ctest --output-on-failure -R "^($(IFS='|'; echo "${tsan_tests[*]}"))\$")

step "all tests passed"
