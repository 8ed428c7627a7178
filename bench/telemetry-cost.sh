#!/usr/bin/env bash
# What tracing and metrics cost per call, on the fake driver (no broker, so
# the difference is the library's own work): `bench rpc-client
# --in-process-server` over fake://, sequential calls, with telemetry off,
# with --metrics (a Prometheus recorder), with --trace (every call and its
# processing traced, spans batch-exported over OTLP/HTTP to a local sink)
# and with both. Runs alternate, ROUNDS times; the table shows medians.
#
#   bench/telemetry-cost.sh                  # CALLS=50000 ROUNDS=5
#   BASE=/path/to/older/oslo-messaging bench/telemetry-cost.sh
#
# BASE adds a column for an older build's binary with telemetry off (the
# one in one run, before/after comparison of a change).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${CALLS:-50000}"
ROUNDS="${ROUNDS:-5}"
work="target/bench-telemetry"
mkdir -p "$work"
cargo build -q --release -p oslo-messaging-cli --bins
cli=target/release/oslo-messaging

# An OTLP/HTTP sink: takes every export, answers 200.
python3 - >"$work/sink.port" <<'PY' &
import http.server, socketserver, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Sink)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
while [[ ! -s "$work/sink.port" ]]; do sleep 0.1; done
printf '[oslo_messaging_tracing]\notel_exporter_otlp_endpoint = http://127.0.0.1:%s\n' \
    "$(cat "$work/sink.port")" >"$work/tracing.conf"

rate() { # binary, --trace or "", --metrics or "": calls/s of one run
    local bin=$1 trace=$2 metrics=$3
    # shellcheck disable=SC2086 # empty flags vanish
    "$bin" --url fake:// --topic cost --config-file "$work/tracing.conf" $trace \
        bench rpc-client --in-process-server --calls "$CALLS" --json $metrics 2>/dev/null \
        | tail -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages_per_second"])'
}
declare -A runs
columns=(off metrics trace both)
[[ -n "${BASE:-}" ]] && columns=(base "${columns[@]}")
for ((r = 0; r < ROUNDS; r++)); do
    for c in "${columns[@]}"; do
        case $c in
            base) v=$(rate "$BASE" "" "") ;;
            off) v=$(rate "$cli" "" "") ;;
            metrics) v=$(rate "$cli" "" --metrics) ;;
            trace) v=$(rate "$cli" --trace "") ;;
            both) v=$(rate "$cli" --trace --metrics) ;;
        esac
        runs[$c]+="$v "
    done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
off=$(median <<<"${runs[off]}")
echo "| fake driver, sequential call, $CALLS calls, median of $ROUNDS | calls/s | µs/call | vs off |"
echo "|---|---|---|---|"
for c in "${columns[@]}"; do
    m=$(median <<<"${runs[$c]}")
    python3 -c "import sys; m, off = float(sys.argv[1]), float(sys.argv[2]); \
print(f'| {sys.argv[3]} | {m:,.0f} | {1e6/m:.1f} | {1e6/m - 1e6/off:+.1f} µs |')" "$m" "$off" "$c"
done
