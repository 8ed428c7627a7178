//! Metric names, labels and the one place each is recorded, through the
//! [`metrics`] facade: they reach whatever recorder the application
//! installed (a Prometheus exporter, say) and cost next to nothing without
//! one.
//!
//! Two families:
//! - oslo.metrics' (`oslo_metrics/metrics/oslo_messaging.py`):
//!   `oslo_messaging_rpc_client_*` with the labels Python's
//!   `oslo_messaging/_metrics/client.py` sends, valued as Python writes them
//!   (`None`, `True`, `False`), so dashboards built for Python services
//!   read ours; and `oslo_messaging_rpc_server_*`, which oslo.metrics
//!   declares and Python never records.
//! - OpenTelemetry's messaging semantic conventions:
//!   `messaging.client.operation.duration`, `messaging.process.duration`
//!   (seconds), `messaging.client.sent.messages`,
//!   `messaging.client.consumed.messages`.
//!
//! Driver events ([`reconnected`], [`consumer_recovered`],
//! [`connection_state_changed`]) are recorded always: they are rare. No label grows
//! without bound: no message ids, reply queues or queue names.

/// Counter: RPC calls and casts started (oslo.metrics).
pub const RPC_CLIENT_INVOCATION_START_TOTAL: &str =
    "oslo_messaging_rpc_client_invocation_start_total";
/// Counter: RPC calls and casts that ended without an error (oslo.metrics).
pub const RPC_CLIENT_INVOCATION_END_TOTAL: &str = "oslo_messaging_rpc_client_invocation_end_total";
/// Counter: RPC calls and casts that failed, label `exception` (oslo.metrics).
pub const RPC_CLIENT_EXCEPTION_TOTAL: &str = "oslo_messaging_rpc_client_exception_total";
/// Histogram, seconds: how long successful calls and casts took (oslo.metrics).
pub const RPC_CLIENT_PROCESSING_SECONDS: &str = "oslo_messaging_rpc_client_processing_seconds";
/// Counter: requests a server found an endpoint method for (oslo.metrics).
pub const RPC_SERVER_INVOCATION_START_TOTAL: &str =
    "oslo_messaging_rpc_server_invocation_start_total";
/// Counter: requests whose method returned (oslo.metrics).
pub const RPC_SERVER_INVOCATION_END_TOTAL: &str = "oslo_messaging_rpc_server_invocation_end_total";
/// Counter: requests whose method failed, label `exception` (oslo.metrics).
pub const RPC_SERVER_EXCEPTION_TOTAL: &str = "oslo_messaging_rpc_server_exception_total";
/// Histogram, seconds: how long methods that returned took (oslo.metrics).
pub const RPC_SERVER_PROCESSING_SECONDS: &str = "oslo_messaging_rpc_server_processing_seconds";
/// Histogram, seconds: a call, cast or notification, from the client's
/// side, failed or not (OpenTelemetry messaging semantic conventions).
pub const CLIENT_OPERATION_DURATION: &str = "messaging.client.operation.duration";
/// Histogram, seconds: processing one received request or notification
/// (semantic conventions).
pub const PROCESS_DURATION: &str = "messaging.process.duration";
/// Counter: messages sent (semantic conventions).
pub const CLIENT_SENT_MESSAGES: &str = "messaging.client.sent.messages";
/// Counter: messages received and handed to an endpoint (semantic conventions).
pub const CLIENT_CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
/// Counter: connections re-established after they were lost, labels
/// `messaging.system`, `purpose`.
pub const CONNECTION_RECONNECTS_TOTAL: &str = "oslo_messaging_connection_reconnects_total";
/// Gauge: how many connections are in each state, labels
/// `messaging.system`, `purpose`, `state` (`idle`, `connecting`,
/// `connected`, `reconnecting`, `failed`, `closed`); summed over every
/// transport of the process.
pub const CONNECTIONS: &str = "oslo_messaging_connections";
/// Counter: consumers consuming again after they stopped (their queue was
/// deleted, their connection lost), label `messaging.system`.
pub const CONSUMER_RECOVERIES_TOTAL: &str = "oslo_messaging_consumer_recoveries_total";

/// oslo.metrics' buckets for `*_processing_seconds`, in seconds.
pub const RPC_PROCESSING_SECONDS_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0, 75.0,
    100.0,
];

/// Describes every metric (help text and unit) to the installed recorder;
/// exporters show it (`# HELP` lines). Call after installing the recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        RPC_CLIENT_INVOCATION_START_TOTAL,
        "Total number of RPC invocation start."
    );
    describe_counter!(
        RPC_CLIENT_INVOCATION_END_TOTAL,
        "Total number of RPC invocation end."
    );
    describe_counter!(
        RPC_CLIENT_EXCEPTION_TOTAL,
        "Total number of exception while RPC processing."
    );
    describe_histogram!(
        RPC_CLIENT_PROCESSING_SECONDS,
        Unit::Seconds,
        "Duration of RPC processing."
    );
    describe_counter!(
        RPC_SERVER_INVOCATION_START_TOTAL,
        "Total number of RPC invocation start. This doesn't count if rpc server failed to find method from endpoints."
    );
    describe_counter!(
        RPC_SERVER_INVOCATION_END_TOTAL,
        "Total number of RPC invocation end."
    );
    describe_counter!(
        RPC_SERVER_EXCEPTION_TOTAL,
        "Total number of exception while RPC processing."
    );
    describe_histogram!(
        RPC_SERVER_PROCESSING_SECONDS,
        Unit::Seconds,
        "Duration of RPC processing."
    );
    describe_histogram!(
        CLIENT_OPERATION_DURATION,
        Unit::Seconds,
        "Duration of messaging operation initiated by a producer or consumer client."
    );
    describe_histogram!(
        PROCESS_DURATION,
        Unit::Seconds,
        "Duration of processing operation."
    );
    describe_counter!(
        CLIENT_SENT_MESSAGES,
        "Number of messages producer attempted to send to the broker."
    );
    describe_counter!(
        CLIENT_CONSUMED_MESSAGES,
        "Number of messages that were delivered to the application."
    );
    describe_counter!(
        CONNECTION_RECONNECTS_TOTAL,
        "Connections re-established after they were lost."
    );
    describe_gauge!(CONNECTIONS, "Connections in each state.");
    describe_counter!(
        CONSUMER_RECOVERIES_TOTAL,
        "Consumers that consume again after they stopped."
    );
}

/// A label value as Python's `str()` writes it: `None` when absent.
pub(crate) fn py_str(value: Option<&str>) -> String {
    value.unwrap_or("None").to_owned()
}

/// A connection was re-established after it was lost.
pub fn reconnected(system: &'static str, purpose: &str) {
    metrics::counter!(CONNECTION_RECONNECTS_TOTAL, "messaging.system" => system, "purpose" => purpose.to_owned()).increment(1);
}

/// A consumer consumes again after it stopped.
pub fn consumer_recovered(system: &'static str) {
    metrics::counter!(CONSUMER_RECOVERIES_TOTAL, "messaging.system" => system).increment(1);
}

/// A connection left state `from` (`None`: it is new) for `to` (`None`:
/// it is gone): the [`CONNECTIONS`] gauge moves one from one to the other.
pub fn connection_state_changed(
    system: &'static str,
    purpose: &str,
    from: Option<crate::health::ConnectionState>,
    to: Option<crate::health::ConnectionState>,
) {
    let gauge = |state: crate::health::ConnectionState| {
        metrics::gauge!(
            CONNECTIONS,
            "messaging.system" => system,
            "purpose" => purpose.to_owned(),
            "state" => state.as_str()
        )
    };
    if let Some(from) = from {
        gauge(from).decrement(1.0);
    }
    if let Some(to) = to {
        gauge(to).increment(1.0);
    }
}
