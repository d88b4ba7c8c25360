#!/bin/sh
# The systemd unit stays valid and hardened: config/ostrich.service, with
# ExecStart pointed at the built binary (systemd-analyze checks that it
# exists), passes `systemd-analyze verify` without a word about it, and
# `systemd-analyze security --offline` rates its exposure at most 2.0 ("OK").
# Whether or not systemd-analyze is there, the unit's keys are read here:
# the hardening the README promises, a stop timeout above the relay's
# default drain_timeout_ms and a file limit above its default
# max_connections (both read from `ostrich --print-config`).
#
# usage: test_systemd_unit.sh OSTRICH_BINARY SOURCE_DIR
set -eu

bin=$1
src=$2
case $bin in
/*) ;;
*) bin=$PWD/$bin ;; # systemd wants an absolute ExecStart
esac
unit="$src/config/ostrich.service"
failed=0

fail() {
    echo "FAIL: $*" >&2
    failed=1
}

# key KEY: the values of KEY= in [Service], one per line, in order.
key() {
    awk -v k="$1" '
        /^\[/ { in_s = ($0 == "[Service]"); next }
        in_s && index($0, k "=") == 1 { print substr($0, length(k) + 2) }' "$unit"
}

# expect KEY WANT: the last value of KEY is WANT.
expect() {
    got=$(key "$1" | tail -n 1)
    [ "$got" = "$2" ] || fail "ostrich.service: $1=$got, want $1=$2"
}

expect Type simple
expect ExecStart '/usr/local/bin/ostrich --config /etc/ostrich/ostrich.toml'
expect ExecReload '/bin/kill -HUP $MAINPID'
expect KillSignal SIGTERM
expect Restart on-failure
expect DynamicUser yes
expect StateDirectory ostrich
expect ProtectSystem strict
expect ProtectHome yes
expect NoNewPrivileges yes
expect PrivateTmp yes
expect PrivateDevices yes
expect RestrictAddressFamilies 'AF_INET AF_INET6 AF_UNIX'
expect CapabilityBoundingSet ''
[ "$(key SystemCallFilter | head -n 1)" = "@system-service" ] ||
    fail "ostrich.service: the first SystemCallFilter is not @system-service"

# value SECTION KEY: the relay's default for SECTION.KEY.
value() {
    "$bin" --print-config | awk -v s="[$1]" -v k="$2" '
        /^\[/ { in_s = ($0 == s); next }
        in_s && $1 == k && $2 == "=" { print $3; exit }'
}

drain_ms=$(value relay drain_timeout_ms)
max_conns=$(value rate_limit max_connections)
stop_s=$(key TimeoutStopSec | tail -n 1)
nofile=$(key LimitNOFILE | tail -n 1)
case "$drain_ms$max_conns$stop_s$nofile" in
'' | *[!0-9]*)
    fail "not plain numbers: drain_timeout_ms=$drain_ms max_connections=$max_conns" \
        "TimeoutStopSec=$stop_s LimitNOFILE=$nofile"
    ;;
*)
    [ "$((stop_s * 1000))" -gt "$drain_ms" ] ||
        fail "TimeoutStopSec=$stop_s s does not exceed drain_timeout_ms = $drain_ms"
    # Besides connections: listeners, the store, the log, the workers.
    [ "$nofile" -gt "$((max_conns + 1024))" ] ||
        fail "LimitNOFILE=$nofile leaves no room above max_connections = $max_conns"
    ;;
esac

if command -v systemd-analyze >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    sed "s#^ExecStart=/usr/local/bin/ostrich #ExecStart=$bin #" "$unit" >"$tmp/ostrich.service"
    grep -q "^ExecStart=$bin " "$tmp/ostrich.service" || fail "ExecStart could not be rewritten"
    # verify also loads the units this one names (network-online.target,
    # ...); what it says about those is the machine's business, anything
    # about ostrich is a failure.
    if out=$(systemd-analyze verify --man=no "$tmp/ostrich.service" 2>&1); then
        if printf '%s\n' "$out" | grep -q ostrich; then
            fail "systemd-analyze verify: $out"
        fi
    else
        fail "systemd-analyze verify exited $?: $out"
    fi
    if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
        # --threshold is in tenths: 20 is an exposure of 2.0.
        if ! out=$(systemd-analyze security --offline=yes --threshold=20 \
            "$tmp/ostrich.service" 2>&1); then
            fail "systemd-analyze security: an exposure above 2.0, or an error:"
            printf '%s\n' "$out" | grep -v '^✓' >&2
        fi
    else
        echo "note: this systemd-analyze has no security --offline; exposure not rated"
    fi
else
    echo "note: systemd-analyze not found; only the unit's keys were checked"
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "systemd unit: ok"
