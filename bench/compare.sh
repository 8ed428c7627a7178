#!/usr/bin/env bash
# One run, one broker, one table: the raw floors (lapin and amqprs), ours,
# and Python oslo.messaging, for 100-byte messages, with the client's CPU
# and context switches per message. See bench/README.md.
#
#   bench/compare.sh                 # RabbitMQ at 127.0.0.1:5672, guest/guest
#   CALLS=20000 bench/compare.sh     # messages per concurrent workload
#
# Needs the broker on this machine (the broker's CPU is read from /proc),
# rabbitmqctl, and Python 3 (the venv comes from scripts/interop-venv.sh).
# Every queue the run declares is deleted at the end.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."

URL="${URL:-rabbit://guest:guest@127.0.0.1:5672/}"
# Kafka: the broker scripts/ensure-kafka starts (tansu, in memory).
KAFKA_URL="${KAFKA_URL:-kafka://127.0.0.1:9092/}"
KAFKA_NOTIFICATIONS="${KAFKA_NOTIFICATIONS:-5000}"
CALLS="${CALLS:-50000}"          # concurrent workloads
SEQUENTIAL="${SEQUENTIAL:-10000}" # one caller
PREFIX="bench_cmp_$$"
SERVER_GRACE="${SERVER_GRACE:-60}" # seconds a server may take after its client ends
# oslo.messaging's 2026 preset, as a transport URL query.
PRESET="rabbit_quorum_queue=true&rabbit_transient_quorum_queue=true&use_queue_manager=true"
PRESET+="&rabbit_stream_fanout=true&rabbit_qos_prefetch_count=10"
# What once() runs ours with: the URL, and more global arguments.
run_url="$URL"; run_args=()
work="target/bench-compare"
mkdir -p "$work"
rm -f "$work/short-runs"

echo "== building (release)" >&2
cargo build -q --release -p oslo-messaging-cli --bins
cli=target/release/oslo-messaging
py="$(scripts/interop-venv.sh)"
scripts/ensure-kafka

# The Python simulator ships in oslo.messaging's sdist, not in its wheel.
sim="$work/oslo_messaging-18.3.1/tools/simulator.py"
if [[ ! -f "$sim" ]]; then
    echo "== fetching oslo.messaging 18.3.1 sdist (tools/simulator.py)" >&2
    "$py" -m pip download -q --no-deps --no-binary :all: -d "$work" oslo.messaging==18.3.1
    tar -xzf "$work"/oslo_messaging-18.3.1.tar.gz -C "$work"
fi

# Reply queues outlive their process when it is killed (the Python
# simulator is) or by design (queue-manager names,
# `reply_<host>:oslo-messaging:<N>`): those this run makes are deleted with
# the rest.
reply_queues() { rabbitmqctl list_queues -q name 2>/dev/null | grep "^reply_" || true; }
replies_before="$(reply_queues)"
cleanup() {
    local q
    for q in $(rabbitmqctl list_queues -q name 2>/dev/null | grep "^$PREFIX" || true) \
             $(comm -13 <(sort <<<"$replies_before") <(reply_queues | sort)); do
        rabbitmqctl delete_queue -q "$q" >/dev/null 2>&1 || true
    done
    # The preset's control exchange is durable.
    "$py" -c "import amqp, sys
c = amqp.Connection('127.0.0.1:5672'); c.connect(); c.channel().exchange_delete(sys.argv[1]); c.close()" \
        "${PREFIX}_preset" >/dev/null 2>&1 || true
}
trap cleanup EXIT

json() { "$py" -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }
# "<msg/s> <client CPU µs per message> <client context switches per
# message>": the rate from the report in `rate_json` (or the number given),
# the rest from the client's report.
measures() { # rate_json|rate client_json
    "$py" - "$1" "$2" <<'PY'
import json, sys
last = lambda f: json.loads(open(f).read().strip().splitlines()[-1])
rate = sys.argv[1]
rate = round(last(rate)["messages_per_second"]) if not rate.isdigit() else int(rate)
c = last(sys.argv[2])
cpu, cs = c.get("cpu_us_per_message"), c.get("context_switches_per_message")
print(rate, "-" if cpu is None else f"{cpu:.0f}", "-" if cs is None else f"{cs:.1f}")
PY
}
# take NAME "<rate> <cpu> <cs>": sets NAME, NAME_cpu and NAME_cs.
# A run that failed printed nothing: stop there.
take() {
    (( $# == 4 )) || { echo "compare.sh: no figures for $1" >&2; exit 1; }
    printf -v "$1" %s "$2"; printf -v "$1_cpu" %s "$3"; printf -v "$1_cs" %s "$4"
}
# Wait until `file` has a line matching `pattern`, failing with the
# process's log when process `pid` exits first.
wait_for() { # file pattern pid log
    until grep -q "$2" "$1"; do
        kill -0 "$3" 2>/dev/null || { cat "$4" >&2; exit 1; }
        sleep 0.05
    done
}
# Stops process `pid`: TERM, then KILL after 10 s.
stop() { # pid
    kill -TERM "$1" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

# Ours and the raw floor: a server process and a client process, like the
# Python runs. Prints the client's msg/s (calls) or the server's (casts,
# notifications).
once() { # kind topic count concurrency
    local kind=$1 topic=$2 n=$3 c=$4 server=(rpc-server) client=(rpc-client) rate_of=client
    case $kind in
        cast) client=(rpc-client --cast); rate_of=server ;;
        notify) server=(notify-server); client=(notify-client); rate_of=server ;;
        raw-call) server=(raw-server); client=(raw-client) ;;
        raw-cast) server=(raw-server); client=(raw-client --cast); rate_of=server ;;
        amqprs-call) server=(raw-server --client amqprs); client=(raw-client --client amqprs) ;;
        amqprs-cast) server=(raw-server --client amqprs); client=(raw-client --client amqprs --cast)
            rate_of=server ;;
        oslo-call) server=(raw-server --oslo-amqp); client=(raw-client --oslo-amqp) ;;
        oslo-cast) server=(raw-server --oslo-amqp); client=(raw-client --oslo-amqp --cast); rate_of=server ;;
        quorum-call) server=(raw-server --oslo-amqp --quorum --prefetch 10); client=(raw-client --oslo-amqp --quorum) ;;
        quorum-cast) server=(raw-server --oslo-amqp --quorum --prefetch 10)
            client=(raw-client --oslo-amqp --quorum --cast); rate_of=server ;;
    esac
    # Over Kafka, a consumer group per run: a member of an earlier run's
    # group that the broker still holds would rebalance this one.
    local url=$run_url
    if [[ $url == kafka://* ]]; then
        if [[ $url == *\?* ]]; then url+="&"; else url+="?"; fi
        url+="consumer_group=${topic}_group"
    fi
    "$cli" --url "$url" "${run_args[@]}" --topic "$topic" bench "${server[@]}" --messages "$n" --json \
        >"$work/server.json" 2>"$work/server.err" &
    local pid=$!
    wait_for "$work/server.err" "^bench server ready" $pid "$work/server.err"
    "$cli" --url "$url" "${run_args[@]}" --topic "$topic" --timeout 30 bench "${client[@]}" --calls "$n" \
        --concurrency "$c" --json >"$work/client.json" 2>"$work/client.err"
    # A client with errors leaves the server short of its count: stop it.
    if [[ "$(json 'd["errors"]' <"$work/client.json")" != 0 ]]; then
        stop $pid
        echo "$kind: the client reported errors:" >&2; cat "$work/client.json" "$work/client.err" >&2; exit 1
    fi
    # A server short of its count once the client is done lost messages
    # (or is stuck): stop it after SERVER_GRACE seconds, say so (its log
    # kept as short-<topic>.err), and print SHORT instead of figures,
    # instead of waiting forever.
    local deadline=$(( SECONDS + SERVER_GRACE ))
    while kill -0 $pid 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
    if kill -0 $pid 2>/dev/null; then
        stop $pid
        cp "$work/server.err" "$work/short-$topic.err"
        local got; got=$(json 'd["messages"]' <"$work/server.json" 2>/dev/null || echo "?")
        echo "$kind $topic: the server got $got of $n messages within ${SERVER_GRACE}s of the client's end" \
            "(log: $work/short-$topic.err)" | tee -a "$work/short-runs" >&2
        echo SHORT
        return 0
    fi
    wait $pid
    measures "$work/$rate_of.json" "$work/client.json"
}

# The run with the median rate of three (wall-clock rates move from run to
# run): "<rate> <client CPU µs/msg> <client context switches/msg>".
ours() { # kind topic count concurrency
    local runs=() i r
    # A run whose server came up short (see once) is run again, once, on
    # a new topic; the shortfall is listed under the table. Short twice
    # in a row fails the comparison.
    for i in 1 2 3; do
        r=$(once "$1" "$2_$i" "$3" "$4")
        if [[ $r == SHORT ]]; then
            r=$(once "$1" "$2_${i}r" "$3" "$4")
        fi
        if [[ $r == SHORT ]]; then
            echo "compare.sh: $1 came up short twice in a row (see above)" >&2
            exit 1
        fi
        runs+=("$r")
    done
    printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p
}

# Python: the simulator's server (rpc-server with the threading executor,
# or notify-server), driven by our client with 100-byte messages (the
# simulator's own client only sends its length distribution). Calls report
# our client's msg/s; casts and notifications the rate at which the server
# drained its queue: from the client's start until rabbitmqctl shows no
# message left (ready or unacknowledged), polled every ~0.5 s. (The
# simulator's own server stats come in 1 s buckets its timer thread fills
# late under load.)
# With `python` as the fifth argument the client is Python too
# (bench/python_client.py, the same messages): the all-Python row, what a
# user runs without us.
python() { # kind topic count concurrency [ours|python]
    local kind=$1 topic=$2 n=$3 c=$4 by=${5:-ours} mode=rpc-server extra=(-e threading) client=(rpc-client) rate_of=client
    local pyclient=()
    case $kind in
        cast) client=(rpc-client --cast); pyclient=(--cast); rate_of=server ;;
        notify) mode=notify-server; extra=(); client=(notify-client); pyclient=(--notify); rate_of=server ;;
    esac
    "$py" "$sim" --url "$URL" -tp "$topic" -s profiler_server "$mode" "${extra[@]}" >"$work/py.log" 2>&1 &
    local pid=$!
    # The simulator says nothing when ready: wait for its queue's consumer.
    until rabbitmqctl list_queues -q name consumers 2>/dev/null | grep -Eq "^$topic(\.info)?\s+[1-9]"; do
        kill -0 $pid 2>/dev/null || { cat "$work/py.log" >&2; exit 1; }
        sleep 0.2
    done
    local t0 t1
    t0=$(date +%s.%N)
    if [[ $by == python ]]; then
        "$py" bench/python_client.py --url "$URL" --topic "$topic" --calls "$n" \
            --concurrency "$c" "${pyclient[@]}" >"$work/client.json" 2>"$work/pyclient.err"
    else
        "$cli" --url "$URL" --topic "$topic" --timeout 600 bench "${client[@]}" --calls "$n" \
            --concurrency "$c" --json >"$work/client.json" 2>/dev/null
    fi
    if [[ "$(json 'd["errors"]' <"$work/client.json")" != 0 ]]; then
        echo "python $kind ($by client): the client reported errors:" >&2
        cat "$work/client.json" "$work/pyclient.err" >&2; exit 1
    fi
    if [[ $rate_of == client ]]; then
        measures "$work/client.json" "$work/client.json"
    else
        until [[ "$(rabbitmqctl list_queues -q name messages 2>/dev/null |
                   awk -v t="$topic" '$1 ~ "^"t {s+=$2} END {print s+0}')" == 0 ]]; do
            sleep 0.1
        done
        t1=$(date +%s.%N)
        measures "$("$py" -c "print(round($n / ($t1 - $t0)))")" "$work/client.json"
    fi
    kill -KILL $pid; wait $pid 2>/dev/null || true
}

# Kafka notifications into a Python listener (bench/python_listener.py,
# which makes the topics and commits its group's start first): from the
# client's start until the listener has them all. The client is ours, or
# Python's with `python` as the third argument.
kafka_python() { # topic count [ours|python]
    local topic=$1 n=$2 by=${3:-ours} t0 t1
    "$py" bench/python_listener.py --url "$KAFKA_URL" --topic "$topic" --count "$n" \
        >"$work/pylistener.out" 2>"$work/pylistener.err" &
    local pid=$!
    wait_for "$work/pylistener.out" '"ready"' $pid "$work/pylistener.err"
    t0=$(date +%s.%N)
    if [[ $by == python ]]; then
        "$py" bench/python_client.py --url "$KAFKA_URL" --topic "$topic" --calls "$n" \
            --concurrency 16 --notify >"$work/client.json" 2>"$work/pyclient.err"
    else
        "$cli" --url "$KAFKA_URL" --topic "$topic" bench notify-client --calls "$n" \
            --concurrency 16 --json >"$work/client.json" 2>/dev/null
    fi
    wait_for "$work/pylistener.out" '"messages"' $pid "$work/pylistener.err"
    t1=$(date +%s.%N)
    wait $pid
    "$py" -c "print(round($n / ($t1 - $t0)))"
}

ratio() { "$py" -c "print(f'{$1/$2:.2f}x')"; }
best() { (( $1 > $2 )) && echo "$1" || echo "$2"; }
# met VALUE FACTOR FLOOR: whether VALUE >= FACTOR x FLOOR.
met() { "$py" -c "print('met' if $1 >= $2 * $3 else 'MISSED')"; }

echo "== running (this takes a few minutes)" >&2
take r1 $(ours raw-call "${PREFIX}_r1" "$SEQUENTIAL" 1);   take m1 $(ours amqprs-call "${PREFIX}_m1" "$SEQUENTIAL" 1)
take w1 $(ours oslo-call "${PREFIX}_w1" "$SEQUENTIAL" 1);  take o1 $(ours call "${PREFIX}_c1" "$SEQUENTIAL" 1)
take p1 $(python call "${PREFIX}_pc1" "$SEQUENTIAL" 1);     take a1 $(python call "${PREFIX}_ac1" "$SEQUENTIAL" 1 python)
take r16 $(ours raw-call "${PREFIX}_r16" "$CALLS" 16);      take m16 $(ours amqprs-call "${PREFIX}_m16" "$CALLS" 16)
take w16 $(ours oslo-call "${PREFIX}_w16" "$CALLS" 16);     take o16 $(ours call "${PREFIX}_c16" "$CALLS" 16)
take p16 $(python call "${PREFIX}_pc16" "$CALLS" 16);       take a16 $(python call "${PREFIX}_ac16" "$CALLS" 16 python)
take rp $(ours raw-cast "${PREFIX}_rp" "$CALLS" 16);        take mp $(ours amqprs-cast "${PREFIX}_mp" "$CALLS" 16)
take wp $(ours oslo-cast "${PREFIX}_wp" "$CALLS" 16);       take oc $(ours cast "${PREFIX}_cast" "$CALLS" 16)
take pc $(python cast "${PREFIX}_pcast" "$CALLS" 16);       take ac $(python cast "${PREFIX}_acast" "$CALLS" 16 python)
take on $(ours notify "${PREFIX}_n" "$CALLS" 16);           take pn $(python notify "${PREFIX}_pn" "$CALLS" 16)
take an $(python notify "${PREFIX}_an" "$CALLS" 16 python)
# The preset: ours with it, and the raw oslo-AMQP floor on quorum queues
# with prefetch 10 (the broker's own cost, which the preset cannot avoid).
run_url="$URL?$PRESET"; run_args=(--exchange "${PREFIX}_preset")
take s1 $(ours call "${PREFIX}_s1" "$SEQUENTIAL" 1);       take s16 $(ours call "${PREFIX}_s16" "$CALLS" 16)
take sc $(ours cast "${PREFIX}_scast" "$CALLS" 16);        take sn $(ours notify "${PREFIX}_sn" "$CALLS" 16)
run_url="$URL"; run_args=()
take q1 $(ours quorum-call "${PREFIX}_q1" "$SEQUENTIAL" 1); take q16 $(ours quorum-call "${PREFIX}_q16" "$CALLS" 16)
take qp $(ours quorum-cast "${PREFIX}_qp" "$CALLS" 16)
run_url="$KAFKA_URL"
take kn $(ours notify "${PREFIX}_kn" "$KAFKA_NOTIFICATIONS" 16)
run_url="$URL"
kpn=$(kafka_python "${PREFIX}_kpn" "$KAFKA_NOTIFICATIONS")
kan=$(kafka_python "${PREFIX}_kan" "$KAFKA_NOTIFICATIONS" python)
fake=$("$cli" --url fake:// --topic "${PREFIX}_fake" bench rpc-client --in-process-server \
    --calls 200000 --json 2>/dev/null | json 'round(d["messages_per_second"])')

# Memory: an idle server, and a client with 10,000 calls in flight.
"$cli" --url "$URL" --topic "${PREFIX}_mem" bench rpc-server --messages 10001 --json \
    >"$work/server.json" 2>"$work/server.err" &
mem_pid=$!
until grep -q "^bench server ready" "$work/server.err"; do sleep 0.1; done
"$cli" --url "$URL" --topic "${PREFIX}_mem" bench rpc-client --calls 1 --json >/dev/null 2>&1
idle_kb=$(awk '/^VmRSS/ {print $2}' /proc/$mem_pid/status)
inflight_kb=$("$cli" --url "$URL" --topic "${PREFIX}_mem" --timeout 600 bench rpc-client \
    --calls 10000 --concurrency 10000 --json 2>/dev/null | json 'd["peak_rss_kb"]')
wait $mem_pid

cat <<TABLE

| workload (100-byte messages) | raw lapin | raw amqprs | raw, oslo's AMQP ² | ours | Python server ³ | all Python ⁴ | ours/best raw | ours/raw oslo AMQP | ours/Python server | ours/all Python | target |
|---|---|---|---|---|---|---|---|---|---|---|---|
| call, 1 caller, sequential | $r1/s | $m1/s | $w1/s | $o1/s | $p1/s | $a1/s | $(ratio "$o1" "$(best "$r1" "$m1")") | $(ratio "$o1" "$w1") | $(ratio "$o1" "$p1") | $(ratio "$o1" "$a1") | >= 0.8x best raw: $(met "$o1" 0.8 "$(best "$r1" "$m1")"); >= 5x all Python: $(met "$o1" 5 "$a1") |
| call, 16 concurrent callers | $r16/s | $m16/s | $w16/s | $o16/s | $p16/s | $a16/s | $(ratio "$o16" "$(best "$r16" "$m16")") | $(ratio "$o16" "$w16") | $(ratio "$o16" "$p16") | $(ratio "$o16" "$a16") | >= 0.8x best raw: $(met "$o16" 0.8 "$(best "$r16" "$m16")"); >= 12x all Python: $(met "$o16" 12 "$a16") |
| cast, consumed by the server | $rp/s ¹ | $mp/s ¹ | $wp/s ¹ | $oc/s | $pc/s | $ac/s | $(ratio "$oc" "$(best "$rp" "$mp")") | $(ratio "$oc" "$wp") | $(ratio "$oc" "$pc") | $(ratio "$oc" "$ac") | >= 0.8x best raw: $(met "$oc" 0.8 "$(best "$rp" "$mp")"); >= 5x all Python: $(met "$oc" 5 "$ac") |
| notify, consumed by a listener | $rp/s ¹ | $mp/s ¹ | $wp/s ¹ | $on/s | $pn/s | $an/s | $(ratio "$on" "$(best "$rp" "$mp")") | $(ratio "$on" "$wp") | $(ratio "$on" "$pn") | $(ratio "$on" "$an") | >= 0.8x best raw: $(met "$on" 0.8 "$(best "$rp" "$mp")"); >= 5x all Python: $(met "$on" 5 "$an") |
| notify over Kafka ⁶, consumed by a listener | - | - | - | $kn/s | $kpn/s | $kan/s | - | - | $(ratio "$kn" "$kpn") | $(ratio "$kn" "$kan") | no regression |
| fake driver call, sequential | - | - | - | $fake/s | - | - | - | - | - | - | >= 100,000/s: $(met "$fake" 1 100000) |

The client's CPU time and context switches per message (getrusage of the whole client process, every thread, during the sends; the
broker and the server are not in it):

| client, per message | raw lapin | raw amqprs | raw, oslo's AMQP | ours | Python server (our client) | all Python (Python client) |
|---|---|---|---|---|---|---|
| call, 1 caller, sequential | $r1_cpu µs, $r1_cs cs | $m1_cpu µs, $m1_cs cs | $w1_cpu µs, $w1_cs cs | $o1_cpu µs, $o1_cs cs | $p1_cpu µs, $p1_cs cs | $a1_cpu µs, $a1_cs cs |
| call, 16 concurrent callers | $r16_cpu µs, $r16_cs cs | $m16_cpu µs, $m16_cs cs | $w16_cpu µs, $w16_cs cs | $o16_cpu µs, $o16_cs cs | $p16_cpu µs, $p16_cs cs | $a16_cpu µs, $a16_cs cs |
| cast | $rp_cpu µs, $rp_cs cs | $mp_cpu µs, $mp_cs cs | $wp_cpu µs, $wp_cs cs | $oc_cpu µs, $oc_cs cs | $pc_cpu µs, $pc_cs cs | $ac_cpu µs, $ac_cs cs |
| notify | - | - | - | $on_cpu µs, $on_cs cs | $pn_cpu µs, $pn_cs cs | $an_cpu µs, $an_cs cs |

Memory: idle \`bench rpc-server\` $((idle_kb / 1024)) MB RSS (target < 15 MB: $( ((idle_kb < 15 * 1024)) && echo met || echo MISSED)); a client with 10,000 calls in flight peaks at $((inflight_kb / 1024)) MB (target < 100 MB: $( ((inflight_kb < 100 * 1024)) && echo met || echo MISSED)).

¹ raw floor for casts and notifications: publish with confirms, 16 publishers, consumed and acknowledged.
Raw amqprs: \`bench raw-server --client amqprs\` / \`raw-client --client amqprs\`, the same plain floor on amqprs 2.1 (its I/O runs as
tasks of the application's runtime; lapin's on a thread of its own). Best raw: the faster of the two raw columns.
² \`--oslo-amqp\`: the same, with the AMQP features oslo.messaging's wire format needs (topic exchange, persistent messages, content type and
encoding, expiration on calls, replies mandatory and confirmed); still no envelope and no dispatch.
Raw and ours: \`bench raw-server\`/\`raw-client\` and \`bench rpc-*\`/\`notify-*\`, client and server as two processes, median of three runs.
Python runs once.
³ the simulator's server (rpc-server with the threading executor; notify-server), driven by our client.
⁴ the same server driven by a Python oslo.messaging client (\`bench/python_client.py\`, threads, the same 100-byte messages; the simulator's
own client cannot send them): what a user runs without us. Calls report the client's rate, casts and notifications the server's.

The 2026 preset (quorum, transient quorum, queue manager, stream fanout, prefetch 10) against the broker's own cost of quorum queues:

| workload | raw oslo AMQP, classic | raw oslo AMQP, quorum ⁵ | broker's cost (quorum/classic) | ours, defaults | ours, preset | preset's cost (preset/defaults) |
|---|---|---|---|---|---|---|
| call, 1 caller, sequential | $w1/s | $q1/s | $(ratio "$q1" "$w1") | $o1/s | $s1/s | $(ratio "$s1" "$o1") |
| call, 16 concurrent callers | $w16/s | $q16/s | $(ratio "$q16" "$w16") | $o16/s | $s16/s | $(ratio "$s16" "$o16") |
| cast, consumed by the server | $wp/s | $qp/s | $(ratio "$qp" "$wp") | $oc/s | $sc/s | $(ratio "$sc" "$oc") |
| notify, consumed by a listener | $wp/s | $qp/s | $(ratio "$qp" "$wp") | $on/s | $sn/s | $(ratio "$sn" "$on") |

⁵ \`raw-server --oslo-amqp --quorum --prefetch 10\` and \`raw-client --oslo-amqp --quorum\`: the request queue and the reply queue are
durable quorum queues, consumed with prefetch 10, as the preset makes them. Ours with the preset: \`--url "...?$PRESET"\`.

⁶ $KAFKA_NOTIFICATIONS notifications to tansu 0.6.0 (in memory, \`scripts/ensure-kafka\`), 16 senders; ours: \`bench notify-server\`
and \`notify-client\` over \`$KAFKA_URL\` (the client waits for each record's acknowledgement); Python: \`bench/python_listener.py\`
(oslo.messaging's kafka driver, confluent-kafka), from the client's start until it has them all. Python's client does not wait for
acknowledgements.

Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), RabbitMQ $(rabbitmqctl version 2>/dev/null), $(date -u +%Y-%m-%d), oslo.messaging 18.3.1 (Python $("$py" -c 'import sys; print(sys.version.split()[0])')).
TABLE
if [[ -s "$work/short-runs" ]]; then
    printf '\nRuns whose server came up short (each was run again on a new topic):\n\n'
    sed 's/^/- /' "$work/short-runs"
fi

# Where the time of a sequential call goes, for the targets above that
# are missed: perf's samples of our server and client, by thread, kernel
# and user space, and symbol.
if command -v perf >/dev/null; then
    printf '\nWhere the time of a sequential call goes (bench/profile.sh: perf cpu-clock samples of ours):\n\n'
    CALLS="$SEQUENTIAL" URL="$URL" bench/profile.sh || echo "(profile skipped: bench/profile.sh failed)"
fi
