#!/usr/bin/env bash
# Create (once) the Python venv the interoperability tests (RabbitMQ and
# Kafka) run the real oslo.messaging in, and print its python's path on stdout.
#
#   scripts/interop-venv.sh            # venv in target/interop-venv
#   OSLO_INTEROP_VENV=/some/dir scripts/interop-venv.sh
#
# Idempotent: a stamp file records what was installed, so a rerun with the
# same pins only prints the path. Safe to run concurrently (flock).
set -euo pipefail

OSLO_MESSAGING_VERSION="18.3.1"
# The Kafka interop tests run oslo.messaging's kafka driver (extra "kafka":
# confluent-kafka, which bundles librdkafka).
CONFLUENT_KAFKA_VERSION="2.12.1"
# The interface tests pass nova-style versioned objects.
OSLO_VERSIONEDOBJECTS_VERSION="3.12.0"
# The tracing tests run Python's own tracing (oslo_messaging/_tracing) with
# the OpenTelemetry SDK.
OPENTELEMETRY_SDK_VERSION="1.45.2"
PYTHON="${PYTHON:-python3}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${OSLO_INTEROP_VENV:-$repo_root/target/interop-venv}"
stamp="$venv/.interop-stamp"
want="oslo.messaging[kafka]==$OSLO_MESSAGING_VERSION confluent-kafka==$CONFLUENT_KAFKA_VERSION oslo.versionedobjects==$OSLO_VERSIONEDOBJECTS_VERSION opentelemetry-sdk==$OPENTELEMETRY_SDK_VERSION python=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
# Another process may have finished the job while this one waited.
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

echo "interop-venv: creating $venv ($want)" >&2
rm -rf "$venv"
"$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "oslo.messaging[kafka]==$OSLO_MESSAGING_VERSION" \
    "confluent-kafka==$CONFLUENT_KAFKA_VERSION" \
    "oslo.versionedobjects==$OSLO_VERSIONEDOBJECTS_VERSION" \
    "opentelemetry-sdk==$OPENTELEMETRY_SDK_VERSION" >&2
"$venv/bin/python" -c 'import oslo_messaging, kombu, oslo_versionedobjects, confluent_kafka, opentelemetry.sdk.trace' >&2
# oslo.versionedobjects must not have pulled another oslo.messaging in.
"$venv/bin/python" -c "import importlib.metadata as m; v = m.version('oslo.messaging'); \
assert v == '$OSLO_MESSAGING_VERSION', v" >&2
echo "$want" >"$stamp"
echo "$venv/bin/python"
