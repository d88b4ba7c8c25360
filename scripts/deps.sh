#!/usr/bin/env bash
# Installs the Debian 12 packages Ostrich needs to build and run it, and
# with "test" as argument also what the test suite needs. Idempotent and
# quiet when everything is already there.
#   scripts/deps.sh        build and run (make build, make run, make bench)
#   scripts/deps.sh test   and test (make test)
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libsecp256k1-dev libwebsockets-dev libsqlite3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
    openssl
)
if [ "${1:-}" = test ]; then
    # Test-only tools, kept out of `make run`: the prometheus package also
    # installs (and on a systemd machine starts) a Prometheus server.
    packages+=(
        clang-format
        prometheus # promtool, which the interop tests check GET /metrics with
        systemd    # systemd-analyze, which the systemd_unit test checks the unit with
    )
    # The interop tests run under Node.js; any Node 18+ on PATH will do.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        packages+=(nodejs npm)
    fi
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
run=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        run=(sudo)
    else
        echo "deps: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null; then
    # A fresh machine may have no package lists yet.
    "${run[@]}" apt-get update -qq </dev/null >/dev/null
    "${run[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi
