#!/usr/bin/env bash
# Where the time of a sequential call goes: `perf record -e cpu-clock -g`
# on `bench rpc-server` and `bench rpc-client` (two processes, CALLS
# sequential calls over RabbitMQ at 127.0.0.1:5672), then for each process
# the share of samples per thread, in the kernel and in user space, and
# the top symbols. See bench/README.md.
#
#   bench/profile.sh                   # 10,000 calls, the release binary
#   CALLS=5000 bench/profile.sh
#
# Needs perf (Debian's linux-perf); cpu-clock works where hardware
# counters do not. Deletes the queues it declares.
set -euo pipefail
cd "$(dirname "$0")/.."

URL="${URL:-rabbit://guest:guest@127.0.0.1:5672/}"
CALLS="${CALLS:-10000}"
TOPIC="bench_profile_$$"
work="target/bench-profile"
mkdir -p "$work"
command -v perf >/dev/null || { echo "profile.sh: perf is not installed" >&2; exit 1; }
perf record -q -o /dev/null -e cpu-clock true >/dev/null 2>&1 ||
    { echo "profile.sh: perf cannot record here (perf_event_paranoid?)" >&2; exit 1; }
cargo build -q --release -p oslo-messaging-cli --bins
cli=target/release/oslo-messaging

server=""; recorder=""
cleanup() {
    local q
    # Nothing of ours outlives the script, however it ends.
    for pid in $server $recorder; do kill "$pid" 2>/dev/null || true; done
    for q in "$TOPIC" "$TOPIC.profiler_server"; do
        rabbitmqctl delete_queue -q "$q" >/dev/null 2>&1 || true
    done
}
trap cleanup EXIT

"$cli" --url "$URL" --topic "$TOPIC" bench rpc-server --messages "$CALLS" --json \
    >"$work/server.json" 2>"$work/server.err" &
server=$!
until grep -q "^bench server ready" "$work/server.err"; do
    kill -0 $server 2>/dev/null || { cat "$work/server.err" >&2; exit 1; }
    sleep 0.05
done
perf record -q -e cpu-clock -F 2000 -g -o "$work/server.perf" -p $server 2>/dev/null &
recorder=$!
perf record -q -e cpu-clock -F 2000 -g -o "$work/client.perf" -- \
    "$cli" --url "$URL" --topic "$TOPIC" --timeout 30 bench rpc-client --calls "$CALLS" --json \
    >"$work/client.json" 2>/dev/null
wait $server
# perf stops recording a process that exited; wait for it to write.
wait $recorder || true

report() { # side
    local data="$work/$1.perf"
    echo "### $1 ($CALLS sequential calls)"
    echo
    echo '```'
    echo "threads:"
    perf report -i "$data" --no-children -g none --sort comm --stdio 2>/dev/null | awk '/%/ && n++ < 5'
    echo "kernel and user space, by thread:"
    perf report -i "$data" --no-children -g none --sort comm,dso --stdio 2>/dev/null | awk '/%/ && n++ < 8'
    echo "top symbols:"
    perf report -i "$data" --no-children -g none --sort sym --stdio 2>/dev/null | awk '/%/ && n++ < 8'
    echo '```'
    echo
}
report client
report server
