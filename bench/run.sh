#!/bin/sh
# Load benchmark of the real relay: builds Release, then for each run starts
# a fresh ostrich (temporary directory, port 0, default config otherwise)
# and drives it with bench/load:
#   1. ingest over 1 connection, 2. ingest over 8 connections (a new relay
#   and store each), 3. a new relay loaded with LOAD_EVENTS events, then
#   the query scenario in every shape on that store.
# Prints each run's summary, then a markdown table. Stops every relay with
# SIGTERM and fails if one does not exit cleanly.
# Environment: BUILD_DIR (default build/load), EVENTS (20000), WINDOW (64),
# LOAD_EVENTS (100000), REQS (2000), QUERY_CONNS (4), SEED (1).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build/load"}
events=${EVENTS:-20000}
window=${WINDOW:-64}
load_events=${LOAD_EVENTS:-100000}
reqs=${REQS:-2000}
query_conns=${QUERY_CONNS:-4}
seed=${SEED:-1}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target ostrich bench_load -j "$(nproc)" >/dev/null
relay_bin="$build/relay/ostrich"
load_bin="$build/bench/load"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ostrich-load.XXXXXX")
pid=
port=
status=0
# shellcheck disable=SC2317 # (run from the EXIT trap)
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_relay NAME: a relay with its own store in $tmp/NAME; sets pid, port.
start_relay() {
    mkdir -p "$tmp/$1"
    cat >"$tmp/$1/ostrich.toml" <<EOF
[relay]
port = 0

[storage.sqlite]
path = "$tmp/$1/ostrich.db"
EOF
    "$relay_bin" --config "$tmp/$1/ostrich.toml" </dev/null 2>"$tmp/$1/relay.log" &
    pid=$!
    port=
    tries=0
    while [ -z "$port" ]; do
        port=$(sed -n 's|.*listening on ws://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$tmp/$1/relay.log")
        if [ -z "$port" ]; then
            tries=$((tries + 1))
            if [ "$tries" -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
                echo "run.sh: the relay did not start; its log:" >&2
                cat "$tmp/$1/relay.log" >&2
                exit 1
            fi
            sleep 0.1
        fi
    done
}

# stop_relay NAME: shows the CPU time of each relay thread, sends SIGTERM,
# then the exit status must be 0.
stop_relay() {
    ticks=$(getconf CLK_TCK)
    for task in /proc/"$pid"/task/*; do
        # comm has no spaces (ost-io, ost-val/0, ...): utime and stime are
        # fields 14 and 15 of stat.
        awk -v t="$ticks" -v name="$(cat "$task/comm")" \
            '{ printf "%s %.2f s, ", name, ($14 + $15) / t }' "$task/stat"
    done | sed 's/, $/\n/; s/^/  relay threads (CPU since start): /' >&2
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    pid=
    if [ "$rc" -ne 0 ]; then
        echo "run.sh: relay $1 exited with status $rc after SIGTERM; its log:" >&2
        tail -n 20 "$tmp/$1/relay.log" >&2
        status=1
    fi
}

# load ARGS...: runs bench/load against the current relay; appends its JSON
# line to $tmp/results and shows its summary.
load() {
    out=$("$load_bin" "$@" --port "$port" --relay-pid "$pid" </dev/null) || {
        echo "run.sh: load $* did not complete" >&2
        status=1
    }
    printf '%s\n' "$out" >>"$tmp/results"
}

# The machine may be shared: show the load around the runs.
load_before=$(cut -d' ' -f1 /proc/loadavg)

echo "== ingest, 1 connection" >&2
start_relay ingest1
load ingest --conns 1 --window "$window" --events "$events" --seed "$seed"
stop_relay ingest1

echo "== ingest, 8 connections" >&2
start_relay ingest8
load ingest --conns 8 --window "$window" --events "$events" --seed "$seed"
stop_relay ingest8

echo "== load $load_events events, then query" >&2
start_relay query
load ingest --conns "$query_conns" --window 256 --events "$load_events" --seed "$seed"
for shape in author authors10 ptag recent; do
    load query --conns "$query_conns" --reqs "$reqs" --authors-from-seed "$seed" \
        --shape "$shape"
done
stop_relay query

# get LINE KEY: the value of "KEY" in a flat JSON line.
get() {
    printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

# cpu LINE KEY: CPU seconds and their share of one core over the run.
cpu() {
    awk -v c="$(get "$1" "$2")" -v e="$(get "$1" elapsed_s)" \
        'BEGIN { printf "%.2f s (%.0f%%)", c, (e > 0 ? 100 * c / e : 0) }'
}

echo
echo "Commit $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)," \
    "$(nproc) cores, 1-minute load average $load_before before the runs," \
    "$(cut -d' ' -f1 /proc/loadavg) after."
echo
echo "| scenario | conns | window / REQs | rate | p50 ms | p99 ms | max ms | load CPU | relay CPU | answers |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
while IFS= read -r line; do
    [ -n "$line" ] || continue
    cpu=$(cpu "$line" load_cpu_s)
    rcpu=$(cpu "$line" relay_cpu_s)
    if [ "$(get "$line" scenario)" = ingest ]; then
        printf '| ingest %s events | %s | %s | %s OK true/s | %s | %s | %s | %s | %s | %s true (%s dup.), %s false, %s unanswered |\n' \
            "$(get "$line" events)" "$(get "$line" conns)" "$(get "$line" window)" \
            "$(get "$line" events_per_s)" "$(get "$line" lat_p50_ms)" \
            "$(get "$line" lat_p99_ms)" "$(get "$line" lat_max_ms)" "$cpu" "$rcpu" \
            "$(get "$line" ok_true)" "$(get "$line" duplicate)" "$(get "$line" ok_false)" \
            "$(get "$line" unanswered)"
    else
        printf '| query %s, limit %s | %s | %s | %s REQ/s | %s | %s | %s | %s | %s | %s events, %s empty, %s wrong |\n' \
            "$(get "$line" shape)" "$(get "$line" limit)" "$(get "$line" conns)" \
            "$(get "$line" reqs)" "$(get "$line" reqs_per_s)" "$(get "$line" lat_p50_ms)" \
            "$(get "$line" lat_p99_ms)" "$(get "$line" lat_max_ms)" "$cpu" "$rcpu" \
            "$(get "$line" events)" "$(get "$line" empty)" "$(get "$line" wrong)"
    fi
done <"$tmp/results"
exit "$status"
