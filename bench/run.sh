#!/bin/sh
# The load benchmark of the real relay: builds Release, then runs every
# scenario of bench/load against a fresh ostrich each (temporary directory,
# port 0, default config otherwise), and the generator against bench/sink
# (its ceiling), and prints a markdown table at the end.
#
#   bench/run.sh                   every scenario (about 2 minutes of runs with the defaults)
#   bench/run.sh ingest fanout     a subset, in the order given
#
# Scenarios:
#   validate  bench_validate, short: the two-core verify rate (ingest is
#             reported as a fraction of it)
#   ingest    closed loop, CONNS x WINDOW, then 1 connection x WINDOW1
#   open      open loop, CONNS connections at OPEN_RATE events/s
#   dup       dup-ingest, CONNS x WINDOW: the same corpus twice
#   fanout    FANOUT_SUBS subscribers matching everything, at FANOUT_RATE
#             and FANOUT_SLOW_RATE events/s; each of FANOUT_FILTERS at the
#             slow rate
#   query     STORE_EVENTS events from bench/gen imported with `ostrich
#             import`, the relay's startup time on that store and the
#             database bytes per event, then query QUERY_SHAPES
#   conns     CONNS_K idle connections with one REQ each: KiB per connection
#   sink      ingest, query and fanout against bench/sink (--fanout)
# Environment (defaults): BUILD_DIR (build/load), SEED (1), KEYS (1000),
# EVENTS (20000), CONNS (8), WINDOW (16), WINDOW1 (64), OPEN_RATE (3000),
# FANOUT_SUBS (200), FANOUT_PUBS (2), FANOUT_RATE (2500), FANOUT_SLOW_RATE
# (500), FANOUT_SECONDS (10), FANOUT_FILTERS (""; e.g. "kind authors ptag"),
# STORE_EVENTS (200000; the issue's figure is 1000000), QUERY_CONNS (8),
# QUERY_SECONDS (10), QUERY_SHAPES (mix), CONNS_K (10000), SINK_EVENTS
# (STORE_EVENTS), SINK_QUERY_CONNS (16: one REQ outstanding per connection,
# so 4 connections would measure the round trip, not the generator).
# Each relay is stopped with SIGTERM and must exit with status 0; a run
# that fails or finds wrong answers makes the script exit 1 at the end.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-"$root/build/load"}
seed=${SEED:-1}
keys=${KEYS:-1000}
events=${EVENTS:-20000}
conns=${CONNS:-8}
window=${WINDOW:-16}
window1=${WINDOW1:-64}
open_rate=${OPEN_RATE:-3000}
fanout_subs=${FANOUT_SUBS:-200}
fanout_pubs=${FANOUT_PUBS:-2}
fanout_rate=${FANOUT_RATE:-2500}
fanout_slow_rate=${FANOUT_SLOW_RATE:-500}
fanout_seconds=${FANOUT_SECONDS:-10}
fanout_filters=${FANOUT_FILTERS:-}
store_events=${STORE_EVENTS:-200000}
query_conns=${QUERY_CONNS:-8}
query_seconds=${QUERY_SECONDS:-10}
query_shapes=${QUERY_SHAPES:-mix}
conns_k=${CONNS_K:-10000}
sink_events=${SINK_EVENTS:-$store_events}
sink_query_conns=${SINK_QUERY_CONNS:-16}

all="validate ingest open dup fanout query conns sink"
scenarios=${*:-$all}
for s in $scenarios; do
    case " $all " in
    *" $s "*) ;;
    *)
        echo "run.sh: unknown scenario $s (known: $all)" >&2
        exit 2
        ;;
    esac
done

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target ostrich bench_load bench_gen bench_sink bench_validate \
    -j "$(nproc)" >/dev/null
relay_bin="$build/relay/ostrich"
load_bin="$build/bench/load"
gen_bin="$build/bench/gen"
sink_bin="$build/bench/sink"

# The relays and the generator inherit this: 10,000 connections need more
# descriptors than the usual soft limit of 1024 (dash and bash both have
# ulimit -H and -n).
# shellcheck disable=SC3045
hard=$(ulimit -Hn)
# shellcheck disable=SC3045
ulimit -n "$hard" 2>/dev/null || true

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ostrich-load.XXXXXX")
pid=
port=
status=0
notes=
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

# note TEXT: a line printed under the table.
note() {
    echo "$*" >&2
    notes="$notes$*
"
}

# corpus N: sets c to the path of a bench/gen file of N events (made once
# per run and kept for the other scenarios).
corpus() {
    c="$tmp/corpus-$1.jsonl"
    if [ ! -s "$c" ]; then
        if ! "$gen_bin" --events "$1" --seed "$seed" --keys "$keys" --out "$c" 2>"$tmp/gen.log"; then
            cat "$tmp/gen.log" >&2
            exit 1
        fi
        sed 's/^gen: /  bench\/gen: /' "$tmp/gen.log" >&2
    fi
}

# config NAME: a relay config with its own store in $tmp/NAME.
config() {
    mkdir -p "$tmp/$1"
    cat >"$tmp/$1/ostrich.toml" <<EOF
[relay]
port = 0

[storage.sqlite]
path = "$tmp/$1/ostrich.db"
EOF
}

# start_relay NAME: starts the relay of $tmp/NAME (config writes it when
# missing); sets pid, port and startup_ms (from the exec to the time
# stamp of the "listening" line of its log).
start_relay() {
    [ -f "$tmp/$1/ostrich.toml" ] || config "$1"
    t0=$(date +%s%3N)
    "$relay_bin" --config "$tmp/$1/ostrich.toml" </dev/null 2>"$tmp/$1/relay.log" &
    pid=$!
    port=
    tries=0
    while [ -z "$port" ]; do
        # The log may not exist yet: sed's failure must not end the script.
        port=$(sed -n 's|.*listening on ws://127\.0\.0\.1:\([0-9]*\).*|\1|p' \
            "$tmp/$1/relay.log" 2>/dev/null || true)
        if [ -z "$port" ]; then
            tries=$((tries + 1))
            if [ "$tries" -gt 3000 ] || ! kill -0 "$pid" 2>/dev/null; then
                echo "run.sh: the relay did not start; its log:" >&2
                cat "$tmp/$1/relay.log" >&2
                exit 1
            fi
            sleep 0.01
        fi
    done
    stamp=$(sed -n 's|^\([0-9TZ:.-]*\) .*listening on ws://.*|\1|p' "$tmp/$1/relay.log")
    startup_ms=$(($(date -u -d "$stamp" +%s%3N) - t0))
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

# start_sink: bench/sink --fanout; sets pid and port.
start_sink() {
    "$sink_bin" --fanout >"$tmp/sink.port" 2>"$tmp/sink.log" &
    pid=$!
    port=
    tries=0
    while [ -z "$port" ]; do
        port=$(cat "$tmp/sink.port" 2>/dev/null || true)
        tries=$((tries + 1))
        if [ -z "$port" ] && { [ "$tries" -gt 500 ] || ! kill -0 "$pid" 2>/dev/null; }; then
            echo "run.sh: the sink did not start" >&2
            cat "$tmp/sink.log" >&2
            exit 1
        fi
        [ -n "$port" ] || sleep 0.01
    done
}

stop_sink() {
    kill -TERM "$pid"
    wait "$pid" || status=1
    pid=
    sed 's/^/  /' "$tmp/sink.log" | tail -n 1 >&2
}

# load LABEL ARGS...: runs bench/load against the current relay or sink;
# appends LABEL and its JSON line to $tmp/results and shows its summary.
load() {
    label=$1
    shift
    echo "== $label" >&2
    out=$("$load_bin" "$@" --port "$port" --relay-pid "$pid" </dev/null) || {
        echo "run.sh: load $* did not complete or found wrong answers" >&2
        status=1
    }
    printf '%s\t%s\n' "$label" "$out" >>"$tmp/results"
    last=$out
}

# get LINE KEY: the value of "KEY" in a flat JSON line.
get() {
    printf '%s\n' "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

run_validate() {
    echo "== validate: bench_validate --runs 3 --events 4000 --fallback-events 200" >&2
    vout=$("$build/bench/bench_validate" --runs 3 --events 4000 --fallback-events 200 \
        --threads 2 2>/dev/null | tail -n 1) || status=1
    verify_mt=$(printf '%s\n' "$vout" | sed -n 's/.*"native":{[^}]*"sig_mt":\([0-9]*\).*/\1/p')
    note "Native signature verification on 2 threads (bench_validate, short run): ${verify_mt:-?} verifies/s."
}

run_ingest() {
    corpus "$events"
    start_relay ingest8
    load "ingest, $conns conns x $window" ingest --corpus "$c" --conns "$conns" --window "$window"
    ingest8=$(get "$last" events_per_s)
    stop_relay ingest8
    start_relay ingest1
    load "ingest, 1 conn x $window1" ingest --corpus "$c" --conns 1 --window "$window1"
    stop_relay ingest1
}

run_open() {
    start_relay open
    corpus "$events"
    load "ingest open loop, $conns conns, $open_rate/s" ingest --corpus "$c" --conns "$conns" \
        --rate "$open_rate"
    stop_relay open
}

run_dup() {
    start_relay dup
    corpus "$events"
    load "dup-ingest, $conns conns x $window" dup-ingest --corpus "$c" --conns "$conns" \
        --window "$window"
    stop_relay dup
}

run_fanout() {
    for rate in "$fanout_rate" "$fanout_slow_rate"; do
        start_relay "fanout-$rate"
        load "fanout all, $fanout_subs subs, $rate ev/s" fanout --subs "$fanout_subs" \
            --publishers "$fanout_pubs" --rate "$rate" --seconds "$fanout_seconds" \
            --filter all --seed "$seed" --keys "$keys"
        stop_relay "fanout-$rate"
    done
    for f in $fanout_filters; do
        start_relay "fanout-$f"
        load "fanout $f, $fanout_subs subs, $fanout_slow_rate ev/s" fanout --subs "$fanout_subs" \
            --publishers "$fanout_pubs" --rate "$fanout_slow_rate" \
            --seconds "$fanout_seconds" --filter "$f" --seed "$seed" --keys "$keys"
        stop_relay "fanout-$f"
    done
}

run_query() {
    t0=$(date +%s)
    corpus "$store_events"
    t1=$(date +%s)
    config query
    echo "== import $store_events events into a new store" >&2
    "$relay_bin" import --config "$tmp/query/ostrich.toml" "$c" 2>"$tmp/query/import.log" ||
        status=1
    t2=$(date +%s)
    tail -n 3 "$tmp/query/import.log" >&2
    accepted=$(sed -n 's/.*imported [0-9]* events: \([0-9]*\) accepted.*/\1/p' \
        "$tmp/query/import.log")
    bytes=$(cat "$tmp/query/ostrich.db" "$tmp/query/ostrich.db-wal" 2>/dev/null | wc -c)
    per_event=$(awk -v b="$bytes" -v n="${accepted:-0}" 'BEGIN { printf "%.0f", (n > 0 ? b / n : 0) }')
    note "Query store: $store_events events generated in $((t1 - t0)) s (bench/gen), imported in" \
        "$((t2 - t1)) s (ostrich import, ${accepted:-?} stored); database $bytes bytes" \
        "(.db + -wal), $per_event bytes per stored event."
    start_relay query
    note "Relay startup on that store: $startup_ms ms from exec to the \"listening\" line."
    for shape in $query_shapes; do
        load "query $shape, $query_conns conns, ${query_seconds} s" query --corpus "$c" \
            --conns "$query_conns" --reqs 100000000 --seconds "$query_seconds" \
            --shape "$shape" --seed "$seed" --keys "$keys"
    done
    stop_relay query
}

run_conns() {
    k=$conns_k
    if [ "$hard" != unlimited ] && [ "$hard" -lt $((k + 100)) ]; then
        k=$((hard - 100))
        note "conns: RLIMIT_NOFILE hard limit $hard: $k connections instead of $conns_k."
    fi
    start_relay conns
    load "conns, $k idle conns" conns --conns "$k"
    stop_relay conns
}

run_sink() {
    corpus "$sink_events"
    start_sink
    load "sink: ingest, $conns conns x $window" ingest --corpus "$c" --conns "$conns" \
        --window "$window"
    load "sink: ingest, 1 conn x $window1" ingest --corpus "$c" --conns 1 --window "$window1"
    load "sink: query author, $sink_query_conns conns" query --conns "$sink_query_conns" \
        --reqs 100000000 --seconds 5 --shape author --seed "$seed" --keys "$keys"
    load "sink: fanout all, $fanout_subs subs, $fanout_rate ev/s" fanout \
        --subs "$fanout_subs" --publishers "$fanout_pubs" --rate "$fanout_rate" \
        --seconds "$fanout_seconds" --filter all --seed "$seed" --keys "$keys"
    stop_sink
}

# The machine may be shared: show the load around the runs.
load_before=$(cut -d' ' -f1 /proc/loadavg)
started=$(date +%s)
: >"$tmp/results"
for s in $scenarios; do
    case $s in
    validate) run_validate ;;
    ingest) run_ingest ;;
    open) run_open ;;
    dup) run_dup ;;
    fanout) run_fanout ;;
    query) run_query ;;
    conns) run_conns ;;
    sink) run_sink ;;
    esac
done

# cpu LINE KEY: CPU seconds and their share of one core over the run.
cpu() {
    awk -v c="$(get "$1" "$2")" -v e="$(get "$1" elapsed_s)" \
        'BEGIN { if (c == "null" || c == "") print "-"; else printf "%.2f s (%.0f%%)", c, (e > 0 ? 100 * c / e : 0) }'
}

echo
echo "Commit $(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)," \
    "$(date -u +%Y-%m-%d), $(nproc) cores, 1-minute load average $load_before before the" \
    "runs, $(cut -d' ' -f1 /proc/loadavg) after; $(($(date +%s) - started)) s of runs."
echo
echo "| scenario | rate | p50 ms | p99 ms | max ms | load CPU | relay CPU | answers |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
tab=$(printf '\t')
while IFS="$tab" read -r label line; do
    [ -n "$line" ] || continue
    lat="$(get "$line" lat_p50_ms) | $(get "$line" lat_p99_ms) | $(get "$line" lat_max_ms)"
    case $(get "$line" scenario) in
    ingest)
        rate="$(get "$line" events_per_s) OK true/s"
        answers="$(get "$line" ok_true) true, $(get "$line" ok_false) false ($(get "$line" duplicate) duplicate:), $(get "$line" unanswered) unanswered"
        ;;
    dup-ingest)
        rate="$(get "$line" dups_per_s) dup./s"
        answers="$(get "$line" dup_true) true dup., $(get "$line" dup_false) false dup., $(get "$line" wrong) wrong, $(get "$line" unanswered) unanswered; first pass $(get "$line" first_events_per_s) OK true/s"
        ;;
    fanout)
        rate="$(get "$line" deliveries_per_s) deliveries/s"
        answers="$(get "$line" deliveries) of $(get "$line" expected) expected: $(get "$line" missing) missing, $(get "$line" duplicated) dup., $(get "$line" wrong) wrong, $(get "$line" unexpected) unexpected; publish OK p99 $(get "$line" ok_p99_ms) ms"
        ;;
    query)
        rate="$(get "$line" reqs_per_s) REQ/s"
        answers="$(get "$line" reqs) REQs, $(get "$line" events) events, $(get "$line" wrong) wrong, $(get "$line" over_limit) over limit, $(get "$line" unordered) unordered, $(get "$line" ids_missing) ids missing, $(get "$line" closed) CLOSED"
        if [ "$(get "$line" shape)" = mix ]; then
            for s in author ptag etag window ids search; do
                answers="$answers; $s p99 $(get "$line" "${s}_p99_ms")"
            done
        fi
        ;;
    conns)
        rate="$(get "$line" kib_per_conn) KiB/conn"
        lat="- | - | -"
        answers="RSS $(get "$line" rss_before_kib) -> $(get "$line" rss_after_kib) KiB, fds $(get "$line" fds_before) -> $(get "$line" fds_after), $(get "$line" closed) CLOSED, opened in $(get "$line" open_s) s"
        ;;
    esac
    printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$rate" "$lat" "$(cpu "$line" load_cpu_s)" \
        "$(cpu "$line" relay_cpu_s)" "$answers"
done <"$tmp/results"
echo
printf '%s' "$notes"
if [ -n "${verify_mt:-}" ] && [ -n "${ingest8:-}" ] && [ "$verify_mt" -gt 0 ]; then
    echo "Ingest ($conns x $window) as a fraction of the two-core verify rate:" \
        "$ingest8 / $verify_mt = $(awk -v a="$ingest8" -v b="$verify_mt" 'BEGIN { printf "%.2f", a / b }')."
fi
exit "$status"
