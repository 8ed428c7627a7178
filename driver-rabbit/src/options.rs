//! The `[oslo_messaging_rabbit]` option group, with the names, defaults and
//! meanings of Python oslo.messaging 18.
//!
//! Every option is read from configuration files, the environment or the
//! transport URL's query (`rabbit://h/?rabbit_qos_prefetch_count=10`). An
//! option this driver accepts but does not honour yet is refused by
//! [`RabbitOptions::validate`] when set to anything but its default, so a
//! setting never silently does nothing.

use oslo_messaging_core::config::{lenient, OptionGroup};
use oslo_messaging_core::{MessagingError, Result};
use serde::{Deserialize, Serialize};

/// The group's name, as in oslo.messaging.
pub const GROUP: &str = "oslo_messaging_rabbit";

/// The options of the RabbitMQ driver. Field names are the option names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RabbitOptions {
    /// Most publishing channels open at once (30).
    #[serde(deserialize_with = "lenient::usize")]
    pub rpc_conn_pool_size: usize,
    /// Publishing channels kept open however long they are idle (2).
    #[serde(deserialize_with = "lenient::usize")]
    pub conn_pool_min_size: usize,
    /// Seconds after which an idle publishing channel above the minimum is closed (1200).
    #[serde(deserialize_with = "lenient::u64")]
    pub conn_pool_ttl: u64,
    /// Connect over TLS (false); `amqps` hosts always do.
    #[serde(deserialize_with = "lenient::bool")]
    pub ssl: bool,
    /// TLS version; only `""` (negotiate, TLS 1.2 or later) is supported.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_version: String,
    /// Client private key (PEM) for certificate authentication.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_key_file: String,
    /// Client certificate (PEM) for certificate authentication.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_cert_file: String,
    /// Certificate authorities (PEM) to verify the broker with.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_ca_file: String,
    /// Deprecated for removal in oslo.messaging 18.2 ("verification is
    /// always enabled now"), which no longer reads it: `false` is accepted
    /// with a deprecation warning and the broker's host name is verified
    /// all the same.
    #[serde(deserialize_with = "lenient::bool")]
    pub ssl_enforce_hostname_verification: bool,
    /// Deprecated in oslo.messaging; `true` is refused.
    #[serde(deserialize_with = "lenient::bool")]
    pub ssl_enforce_fips_mode: bool,
    /// Seconds to wait before reconnecting after a connection error (1.0).
    #[serde(deserialize_with = "lenient::f64")]
    pub kombu_reconnect_delay: f64,
    /// Up to this many random seconds are added to the reconnect delay (0.0).
    #[serde(deserialize_with = "lenient::f64")]
    pub kombu_reconnect_splay: f64,
    /// Compress message bodies (kombu's codecs): `gzip` (zlib format) or
    /// `bz2`; unset or empty for none. Receivers decompress whatever the
    /// `compression` header names, whatever this says.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub kombu_compression: Option<String>,
    /// Seconds a server keeps retrying a reply whose queue is missing (60).
    #[serde(deserialize_with = "lenient::u64")]
    pub kombu_missing_consumer_retry_timeout: u64,
    /// The deprecated name of `kombu_missing_consumer_retry_timeout`,
    /// read from configuration files; see
    /// [`missing_consumer_retry_timeout`](Self::missing_consumer_retry_timeout).
    #[serde(deserialize_with = "lenient::opt_u64", skip_serializing)]
    pub kombu_reconnect_timeout: Option<u64>,
    /// How the next host is chosen on failover: `round-robin` or `shuffle`.
    #[serde(deserialize_with = "lenient::string")]
    pub kombu_failover_strategy: String,
    /// SASL mechanism: `PLAIN`, `AMQPLAIN` (default), `EXTERNAL` or `RABBIT-CR-DEMO`.
    #[serde(deserialize_with = "lenient::string")]
    pub rabbit_login_method: String,
    /// Seconds before the first reconnection attempt (1, at least 1).
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_retry_interval: u64,
    /// Seconds added to the interval after each failed attempt (2).
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_retry_backoff: u64,
    /// Longest interval between attempts in seconds (30, at least 1).
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_interval_max: u64,
    /// Declare queues with `x-ha-policy: all` (false). RabbitMQ 3 applies
    /// mirroring by policy only, and 4.0 removed it: this does nothing there.
    #[serde(deserialize_with = "lenient::bool")]
    pub rabbit_ha_queues: bool,
    /// Declare topic, server and notification queues durable with
    /// `x-queue-type: quorum` (+ the three limits below when set), and the
    /// control exchange durable (false). Refused with `rabbit_ha_queues`.
    #[serde(deserialize_with = "lenient::bool")]
    pub rabbit_quorum_queue: bool,
    /// Declare reply and fanout queues durable with `x-queue-type: quorum`
    /// (+ the limits below and `x-expires`), and `<topic>_fanout`
    /// exchanges durable (false).
    #[serde(deserialize_with = "lenient::bool")]
    pub rabbit_transient_quorum_queue: bool,
    /// `x-delivery-limit` of quorum queues; 0 leaves it unset (RabbitMQ 4
    /// then applies its default of 20).
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_quorum_delivery_limit: u64,
    /// `x-max-in-memory-length` of quorum queues; 0 leaves it unset.
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_quorum_max_memory_length: u64,
    /// `x-max-in-memory-bytes` of quorum queues; 0 leaves it unset.
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_quorum_max_memory_bytes: u64,
    /// `x-expires` (this x 1000 ms) of reply and fanout queues, and the
    /// `x-max-age` (`"<this>s"`) of fanout streams (1800); 0 sets neither.
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_transient_queues_ttl: u64,
    /// Unacknowledged messages a consumer may hold: `basic.qos(N,
    /// global=false)` on consuming channels (0: no limit, no `basic.qos`).
    #[serde(deserialize_with = "lenient::u64")]
    pub rabbit_qos_prefetch_count: u64,
    /// Seconds without traffic after which the connection counts as dead (60); 0 disables heartbeats.
    #[serde(deserialize_with = "lenient::u64")]
    pub heartbeat_timeout_threshold: u64,
    /// Liveness checks per `heartbeat_timeout_threshold` (3): the driver asks
    /// the broker for an answer every `threshold / rate` seconds and declares
    /// the connection dead after `threshold` seconds without one.
    #[serde(deserialize_with = "lenient::u64")]
    pub heartbeat_rate: u64,
    /// Publish replies with the mandatory flag, so a missing reply queue is noticed (true).
    #[serde(deserialize_with = "lenient::bool")]
    pub direct_mandatory_flag: bool,
    /// Consume with the argument `x-cancel-on-ha-failover: true` (false);
    /// not on streams, whose consumers carry `x-stream-offset` only.
    #[serde(deserialize_with = "lenient::bool")]
    pub enable_cancel_on_failover: bool,
    /// Stable reply and fanout queue names, `<hostname>:<processname>:<N>`,
    /// kept after close to expire (false); see `queue_manager`.
    #[serde(deserialize_with = "lenient::bool")]
    pub use_queue_manager: bool,
    /// Host name in queue manager names (the machine's host name).
    #[serde(deserialize_with = "lenient::string")]
    pub hostname: String,
    /// Process name in queue manager names and the broker's connection
    /// names (the program's file name, as Python's `sys.argv[0]` basename).
    #[serde(deserialize_with = "lenient::string")]
    pub processname: String,
    /// One shared stream queue per topic for fanout (false): every server
    /// of a topic consumes `<topic>_fanout` (`x-queue-type: stream`,
    /// `x-max-age: "<rabbit_transient_queues_ttl>s"`) from offset `last`,
    /// and after a reconnection from the offset after the last one it saw.
    /// Needs `rabbit_transient_quorum_queue = true` and a positive
    /// `rabbit_qos_prefetch_count`, as in oslo.messaging.
    #[serde(deserialize_with = "lenient::bool")]
    pub rabbit_stream_fanout: bool,
    /// Declare topic exchanges and topic, server and notification queues
    /// durable (false).
    #[serde(deserialize_with = "lenient::bool")]
    pub amqp_durable_queues: bool,
    /// Declare topic exchanges and topic, server and notification queues
    /// auto-delete (false).
    #[serde(deserialize_with = "lenient::bool")]
    pub amqp_auto_delete: bool,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        Self {
            rpc_conn_pool_size: 30,
            conn_pool_min_size: 2,
            conn_pool_ttl: 1200,
            ssl: false,
            ssl_version: String::new(),
            ssl_key_file: String::new(),
            ssl_cert_file: String::new(),
            ssl_ca_file: String::new(),
            ssl_enforce_hostname_verification: true,
            ssl_enforce_fips_mode: false,
            kombu_reconnect_delay: 1.0,
            kombu_reconnect_splay: 0.0,
            kombu_compression: None,
            kombu_missing_consumer_retry_timeout: 60,
            kombu_reconnect_timeout: None,
            kombu_failover_strategy: "round-robin".into(),
            rabbit_login_method: "AMQPLAIN".into(),
            rabbit_retry_interval: 1,
            rabbit_retry_backoff: 2,
            rabbit_interval_max: 30,
            rabbit_ha_queues: false,
            rabbit_quorum_queue: false,
            rabbit_transient_quorum_queue: false,
            rabbit_quorum_delivery_limit: 0,
            rabbit_quorum_max_memory_length: 0,
            rabbit_quorum_max_memory_bytes: 0,
            rabbit_transient_queues_ttl: 1800,
            rabbit_qos_prefetch_count: 0,
            heartbeat_timeout_threshold: 60,
            heartbeat_rate: 3,
            direct_mandatory_flag: true,
            enable_cancel_on_failover: false,
            use_queue_manager: false,
            hostname: hostname(),
            processname: processname(),
            rabbit_stream_fanout: false,
            amqp_durable_queues: false,
            amqp_auto_delete: false,
        }
    }
}

impl OptionGroup for RabbitOptions {
    const NAME: &'static str = GROUP;
}

fn refuse(option: &str, reason: impl std::fmt::Display) -> MessagingError {
    MessagingError::invalid_option(GROUP, option, reason)
}

impl RabbitOptions {
    /// Checks the combination of options, as oslo.messaging does when it
    /// opens a connection, and refuses the options this driver cannot honour.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] naming the option and the reason.
    pub fn validate(&self) -> Result<()> {
        if self.rpc_conn_pool_size == 0 {
            return Err(refuse("rpc_conn_pool_size", "must be at least 1"));
        }
        if self.rpc_conn_pool_size < self.conn_pool_min_size {
            return Err(refuse(
                "rpc_conn_pool_size",
                format!(
                    "{} must be greater than or equal to conn_pool_min_size {}",
                    self.rpc_conn_pool_size, self.conn_pool_min_size
                ),
            ));
        }
        if self.rabbit_quorum_queue && self.rabbit_ha_queues {
            return Err(refuse(
                "rabbit_quorum_queue",
                "rabbit_quorum_queue and rabbit_ha_queues are both enabled; a queue is quorum or HA (mirrored), not both",
            ));
        }
        // As oslo.messaging's Connection.__init__.
        if self.rabbit_stream_fanout && self.rabbit_qos_prefetch_count == 0 {
            return Err(refuse(
                "rabbit_stream_fanout",
                "rabbit_stream_fanout needs rabbit_qos_prefetch_count to be set to a value greater than 0 \
                 (RabbitMQ delivers from a stream only to consumers with a prefetch count)",
            ));
        }
        if self.rabbit_stream_fanout && !self.rabbit_transient_quorum_queue {
            return Err(refuse(
                "rabbit_stream_fanout",
                "rabbit_stream_fanout needs rabbit_transient_quorum_queue to be set to true \
                 (the fanout exchange of a durable stream must be durable)",
            ));
        }
        if self.rabbit_retry_interval == 0 {
            return Err(refuse("rabbit_retry_interval", "must be at least 1"));
        }
        if self.rabbit_interval_max == 0 {
            return Err(refuse("rabbit_interval_max", "must be at least 1"));
        }
        for (name, value) in [
            ("kombu_reconnect_delay", self.kombu_reconnect_delay),
            ("kombu_reconnect_splay", self.kombu_reconnect_splay),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(refuse(name, "must be a number of seconds >= 0"));
            }
        }
        if !matches!(
            self.kombu_failover_strategy.as_str(),
            "round-robin" | "shuffle"
        ) {
            return Err(refuse(
                "kombu_failover_strategy",
                format!(
                    "{:?} is not one of round-robin, shuffle",
                    self.kombu_failover_strategy
                ),
            ));
        }
        self.sasl_mechanism()?;
        if self.heartbeat_rate == 0 {
            return Err(refuse("heartbeat_rate", "must be at least 1"));
        }
        self.refuse_unhonoured()
    }

    /// Logs a warning for each deprecated option set (as oslo.config does
    /// when a deprecated option appears in a file).
    pub fn warn_deprecated(&self) {
        if !self.ssl_enforce_hostname_verification {
            tracing::warn!(
                group = GROUP,
                option = "ssl_enforce_hostname_verification",
                "deprecated for removal (verification is always enabled now): \
                 false is ignored, the broker's host name is verified"
            );
        }
    }

    fn refuse_unhonoured(&self) -> Result<()> {
        if !self.ssl_version.is_empty() {
            return Err(refuse(
                "ssl_version",
                "pinning a TLS version is not supported; leave it empty to negotiate TLS 1.2 or later",
            ));
        }
        if self.ssl_enforce_fips_mode {
            return Err(refuse(
                "ssl_enforce_fips_mode",
                "FIPS mode is not supported",
            ));
        }
        if self.ssl_cert_file.is_empty() != self.ssl_key_file.is_empty() {
            return Err(refuse(
                "ssl_cert_file",
                "ssl_cert_file and ssl_key_file must be given together",
            ));
        }
        self.compression()?;
        Ok(())
    }

    /// The SASL mechanism `rabbit_login_method` names.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] for an unknown method.
    pub fn sasl_mechanism(&self) -> Result<lapin::uri::SASLMechanism> {
        use lapin::uri::SASLMechanism;
        match self.rabbit_login_method.as_str() {
            "PLAIN" => Ok(SASLMechanism::Plain),
            "AMQPLAIN" => Ok(SASLMechanism::AMQPlain),
            "EXTERNAL" => Ok(SASLMechanism::External),
            "RABBIT-CR-DEMO" => Ok(SASLMechanism::RabbitCrDemo),
            other => Err(refuse(
                "rabbit_login_method",
                format!("{other:?} is not one of PLAIN, AMQPLAIN, EXTERNAL, RABBIT-CR-DEMO"),
            )),
        }
    }

    /// Seconds a server retries a reply whose queue is missing:
    /// `kombu_missing_consumer_retry_timeout`, or its deprecated name
    /// `kombu_reconnect_timeout` when only that one is set.
    pub fn missing_consumer_retry_timeout(&self) -> u64 {
        match self.kombu_reconnect_timeout {
            Some(old) if self.kombu_missing_consumer_retry_timeout == 60 => old,
            _ => self.kombu_missing_consumer_retry_timeout,
        }
    }

    /// The codec `kombu_compression` names; `None` for no compression.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] for a codec kombu does not know.
    pub(crate) fn compression(&self) -> Result<Option<crate::compression::Codec>> {
        crate::compression::Codec::from_option(self.kombu_compression.as_deref())
    }

    /// Whether topic exchanges and queues are durable: `amqp_durable_queues`,
    /// or quorum queues, which are always durable.
    pub fn durable(&self) -> bool {
        self.amqp_durable_queues || self.rabbit_quorum_queue
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

fn processname() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut RabbitOptions)) -> RabbitOptions {
        let mut o = RabbitOptions::default();
        f(&mut o);
        o
    }

    fn refused_option(o: &RabbitOptions) -> String {
        match o.validate() {
            Err(MessagingError::InvalidOption { group, option, .. }) => {
                assert_eq!(group, GROUP);
                option
            }
            other => panic!("expected InvalidOption, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_match_oslo_messaging() {
        let o = RabbitOptions::default();
        o.validate().expect("defaults are valid");
        assert_eq!(o.rabbit_transient_queues_ttl, 1800);
        assert_eq!(o.rabbit_login_method, "AMQPLAIN");
        assert_eq!(o.heartbeat_timeout_threshold, 60);
        assert!(!o.durable());
        assert!(with(|o| o.rabbit_quorum_queue = true).durable());
    }

    #[test]
    fn options_of_a_2026_deployment_are_accepted() {
        // Deprecated, no longer read by oslo.messaging 18.2+: accepted (a
        // warning is logged) and the host name is verified all the same.
        with(|o| o.ssl_enforce_hostname_verification = false)
            .validate()
            .expect("accepted as Python accepts it");
        for codec in ["gzip", "bz2", ""] {
            with(|o| o.kombu_compression = Some(codec.into()))
                .validate()
                .expect("kombu's codecs");
        }
        with(|o| o.use_queue_manager = true)
            .validate()
            .expect("queue manager");
        with(|o| {
            o.rabbit_quorum_queue = true;
            o.rabbit_transient_quorum_queue = true;
            o.use_queue_manager = true;
            o.rabbit_stream_fanout = true;
            o.rabbit_qos_prefetch_count = 10;
        })
        .validate()
        .expect("the preset of oslo.messaging's admin guide");
    }

    #[test]
    fn inconsistent_or_unhonoured_options_are_refused() {
        let cases: Vec<(RabbitOptions, &str)> = vec![
            (
                with(|o| {
                    o.rabbit_quorum_queue = true;
                    o.rabbit_ha_queues = true
                }),
                "rabbit_quorum_queue",
            ),
            (
                with(|o| {
                    o.rpc_conn_pool_size = 1;
                    o.conn_pool_min_size = 2
                }),
                "rpc_conn_pool_size",
            ),
            (
                with(|o| o.kombu_failover_strategy = "random".into()),
                "kombu_failover_strategy",
            ),
            (
                with(|o| o.rabbit_login_method = "KERBEROS".into()),
                "rabbit_login_method",
            ),
            (
                with(|o| o.kombu_compression = Some("lz4".into())),
                "kombu_compression",
            ),
            (with(|o| o.ssl_version = "tlsv1".into()), "ssl_version"),
            (with(|o| o.ssl_cert_file = "c.pem".into()), "ssl_cert_file"),
            (
                with(|o| {
                    o.rabbit_stream_fanout = true;
                    o.rabbit_transient_quorum_queue = true;
                }),
                "rabbit_stream_fanout",
            ),
            (
                with(|o| {
                    o.rabbit_stream_fanout = true;
                    o.rabbit_qos_prefetch_count = 10;
                }),
                "rabbit_stream_fanout",
            ),
            (with(|o| o.heartbeat_rate = 0), "heartbeat_rate"),
            (
                with(|o| o.ssl_enforce_fips_mode = true),
                "ssl_enforce_fips_mode",
            ),
            (
                with(|o| o.kombu_reconnect_delay = -1.0),
                "kombu_reconnect_delay",
            ),
        ];
        for (o, option) in cases {
            assert_eq!(refused_option(&o), option);
        }
    }
}
