#!/bin/sh
# Builds bench_validate in Release and runs it; arguments are passed on
# (--events N, --fallback-events N, --runs R, --threads T).
# BUILD_DIR overrides the build directory (default: build/bench).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build/bench"}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_validate -j "$(nproc)" >/dev/null
exec "$build/bench/bench_validate" "$@"
