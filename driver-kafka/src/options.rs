//! The `[oslo_messaging_kafka]` option group, with the names, defaults and
//! meanings of Python oslo.messaging 18.3.1
//! (`_drivers/kafka_driver/kafka_options.py`), and how each becomes a
//! librdkafka property, as `impl_kafka.py` passes them to confluent-kafka.
//!
//! Options are read from configuration files, the environment or the
//! transport URL's query (`kafka://h:9092/?consumer_group=ceilometer`).

use oslo_messaging_core::config::{lenient, OptionGroup};
use oslo_messaging_core::{MessagingError, Result};
use rdkafka::ClientConfig;

use crate::connection::STATS_INTERVAL_MS;
use serde::{Deserialize, Serialize};

/// The group's name, as in oslo.messaging.
pub const GROUP: &str = "oslo_messaging_kafka";

/// When a listener commits a record's offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverySemantics {
    /// Before dispatch, as Python's listener does (`consumer.commit()`
    /// right after `consume()`): a record is handled at most once; one
    /// taken but not handled when the process dies is lost.
    AtMostOnce,
    /// After the endpoint returns (and its requeue, with `allow_requeue`,
    /// delivers the record again): a record is handled at least once; one
    /// handled but not yet committed when the process dies is handled
    /// again. Not in Python.
    AtLeastOnce,
}

/// When a listener commits offsets: the one rule, from
/// `enable_auto_commit` and `delivery_semantics` (which `validate` keeps
/// from conflicting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// librdkafka commits in the background (`enable_auto_commit = true`).
    Auto,
    /// Before dispatch, as Python ([`DeliverySemantics::AtMostOnce`]).
    BeforeDispatch,
    /// Once handled ([`DeliverySemantics::AtLeastOnce`]); requeue possible.
    AfterDispatch,
}

/// The options of the Kafka driver. Field names are the option names.
/// `Debug` hides `ssl_client_key_password`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KafkaOptions {
    /// Largest fetch per partition in bytes (1048576):
    /// `max.partition.fetch.bytes`.
    #[serde(deserialize_with = "lenient::u64")]
    pub kafka_max_fetch_bytes: u64,
    /// Seconds Python's listener waits in one poll (1.0). Accepted for
    /// compatibility; this driver's listeners poll on a thread of their
    /// own in steps of 0.1 s (the bound on how long `stop()` waits for
    /// the poll in progress).
    #[serde(deserialize_with = "lenient::f64")]
    pub kafka_consumer_timeout: f64,
    /// Consumer group of listeners without a pool (`oslo_messaging_consumer`):
    /// `group.id`. A listener's pool, when it has one, is its group instead.
    #[serde(deserialize_with = "lenient::string")]
    pub consumer_group: String,
    /// Seconds a producer waits to fill a batch (0.0): `linger.ms` (x 1000).
    #[serde(deserialize_with = "lenient::f64")]
    pub producer_batch_timeout: f64,
    /// Records per producer batch (16384): `batch.num.messages`.
    #[serde(deserialize_with = "lenient::u64")]
    pub producer_batch_size: u64,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd` (`none`): `compression.codec`.
    #[serde(deserialize_with = "lenient::string")]
    pub compression_codec: String,
    /// Let librdkafka commit offsets in the background (false):
    /// `enable.auto.commit`. When false, listeners commit as
    /// `delivery_semantics` says.
    #[serde(deserialize_with = "lenient::bool")]
    pub enable_auto_commit: bool,
    /// Most records a listener takes from one poll (500).
    #[serde(deserialize_with = "lenient::usize")]
    pub max_poll_records: usize,
    /// `PLAINTEXT`, `SASL_PLAINTEXT`, `SSL` or `SASL_SSL` (`PLAINTEXT`):
    /// `security.protocol`.
    #[serde(deserialize_with = "lenient::string")]
    pub security_protocol: String,
    /// SASL mechanism when the protocol is SASL (`PLAIN`; also
    /// `SCRAM-SHA-256`, `SCRAM-SHA-512`): `sasl.mechanism`. The user name
    /// and password are those of the URL's first host.
    #[serde(deserialize_with = "lenient::string")]
    pub sasl_mechanism: String,
    /// CA certificate (PEM) to verify the broker (`""`): `ssl.ca.location`.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_cafile: String,
    /// Client certificate (PEM) (`""`): `ssl.certificate.location`.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_client_cert_file: String,
    /// Client key (PEM) (`""`): `ssl.key.location`.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_client_key_file: String,
    /// Password of the client key (`""`): `ssl.key.password`.
    #[serde(deserialize_with = "lenient::string")]
    pub ssl_client_key_password: String,
    /// `at-most-once` (default, as Python) or `at-least-once`; see
    /// [`DeliverySemantics`]. Not a Python option: Python services reading
    /// the same file ignore it.
    #[serde(deserialize_with = "lenient::string")]
    pub delivery_semantics: String,
    /// Partitions of the topics this driver creates when they are missing
    /// (-1: the broker's `num.partitions`, as the broker's own topic
    /// auto-creation that Python counts on). Records without a key are
    /// spread over partitions, and order holds within one partition only:
    /// 1 keeps every topic in order. Not a Python option.
    #[serde(deserialize_with = "lenient::i64")]
    pub num_partitions: i64,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            kafka_max_fetch_bytes: 1024 * 1024,
            kafka_consumer_timeout: 1.0,
            consumer_group: "oslo_messaging_consumer".into(),
            producer_batch_timeout: 0.0,
            producer_batch_size: 16384,
            compression_codec: "none".into(),
            enable_auto_commit: false,
            max_poll_records: 500,
            security_protocol: "PLAINTEXT".into(),
            sasl_mechanism: "PLAIN".into(),
            ssl_cafile: String::new(),
            ssl_client_cert_file: String::new(),
            ssl_client_key_file: String::new(),
            ssl_client_key_password: String::new(),
            delivery_semantics: "at-most-once".into(),
            num_partitions: -1,
        }
    }
}

impl std::fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.clone();
        if !shown.ssl_client_key_password.is_empty() {
            shown.ssl_client_key_password = "***".into();
        }
        match serde_json::to_string(&shown) {
            Ok(json) => write!(f, "KafkaOptions {json}"),
            Err(_) => f.write_str("KafkaOptions { .. }"),
        }
    }
}

impl OptionGroup for KafkaOptions {
    const NAME: &'static str = GROUP;
}

fn refuse(option: &str, reason: impl std::fmt::Display) -> MessagingError {
    MessagingError::invalid_option(GROUP, option, reason)
}

fn one_of(option: &str, value: &str, allowed: &[&str]) -> Result<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(refuse(
            option,
            format!("{value:?} is not one of {}", allowed.join(", ")),
        ))
    }
}

impl KafkaOptions {
    /// Checks the choices and ranges Python's options declare.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] naming the option and what is wrong.
    pub fn validate(&self) -> Result<()> {
        one_of(
            "compression_codec",
            &self.compression_codec,
            &["none", "gzip", "snappy", "lz4", "zstd"],
        )?;
        one_of(
            "security_protocol",
            &self.security_protocol,
            &["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL"],
        )?;
        self.delivery()?;
        if !(self.kafka_consumer_timeout > 0.0 && self.kafka_consumer_timeout.is_finite()) {
            return Err(refuse(
                "kafka_consumer_timeout",
                "must be a positive number of seconds",
            ));
        }
        if !(self.producer_batch_timeout >= 0.0 && self.producer_batch_timeout.is_finite()) {
            return Err(refuse(
                "producer_batch_timeout",
                "must be zero or a positive number of seconds",
            ));
        }
        if self.num_partitions == 0
            || self.num_partitions < -1
            || self.num_partitions > i32::MAX.into()
        {
            return Err(refuse(
                "num_partitions",
                "must be -1 (the broker's default) or a positive number of partitions",
            ));
        }
        if self.max_poll_records == 0 {
            return Err(refuse("max_poll_records", "must be at least 1"));
        }
        if self.consumer_group.is_empty() {
            return Err(refuse("consumer_group", "must not be empty"));
        }
        if self.enable_auto_commit && self.delivery()? == DeliverySemantics::AtLeastOnce {
            return Err(refuse(
                "delivery_semantics",
                "at-least-once commits after dispatch, which enable_auto_commit = true would \
                 not wait for; set one or the other",
            ));
        }
        Ok(())
    }

    /// [`delivery_semantics`](Self::delivery_semantics), parsed.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] for a value other than
    /// `at-most-once` or `at-least-once`.
    pub fn delivery(&self) -> Result<DeliverySemantics> {
        match self.delivery_semantics.as_str() {
            "at-most-once" => Ok(DeliverySemantics::AtMostOnce),
            "at-least-once" => Ok(DeliverySemantics::AtLeastOnce),
            other => Err(refuse(
                "delivery_semantics",
                format!("{other:?} is not one of at-most-once, at-least-once"),
            )),
        }
    }

    /// When listeners commit offsets.
    ///
    /// # Errors
    /// As [`delivery`](Self::delivery).
    pub(crate) fn commit(&self) -> Result<Commit> {
        Ok(match (self.enable_auto_commit, self.delivery()?) {
            (true, _) => Commit::Auto,
            (false, DeliverySemantics::AtMostOnce) => Commit::BeforeDispatch,
            (false, DeliverySemantics::AtLeastOnce) => Commit::AfterDispatch,
        })
    }

    /// The properties producers and consumers share: brokers, security.
    /// Empty SSL file options are left out, so librdkafka's defaults apply
    /// (confluent-kafka treats an empty string the same way).
    pub(crate) fn client_config(&self, brokers: &Brokers) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &brokers.servers)
            .set("security.protocol", &self.security_protocol);
        if self.security_protocol.starts_with("SASL") {
            c.set("sasl.mechanism", &self.sasl_mechanism);
            if let Some(user) = &brokers.username {
                c.set("sasl.username", user);
            }
            if let Some(password) = &brokers.password {
                c.set("sasl.password", password);
            }
        }
        for (key, value) in [
            ("ssl.ca.location", &self.ssl_cafile),
            ("ssl.certificate.location", &self.ssl_client_cert_file),
            ("ssl.key.location", &self.ssl_client_key_file),
            ("ssl.key.password", &self.ssl_client_key_password),
        ] {
            if !value.is_empty() {
                c.set(key, value);
            }
        }
        c
    }

    /// A producer's properties (`ProducerConnection._ensure_producer`), and
    /// `statistics.interval.ms`, by which its connection's state is known
    /// (`crate::connection`).
    pub(crate) fn producer_config(&self, brokers: &Brokers) -> ClientConfig {
        let mut c = self.client_config(brokers);
        c.set(
            "linger.ms",
            format!("{}", self.producer_batch_timeout * 1000.0),
        )
        .set("batch.num.messages", self.producer_batch_size.to_string())
        .set("compression.codec", &self.compression_codec)
        .set("statistics.interval.ms", STATS_INTERVAL_MS.to_string());
        c
    }

    /// A listener's properties (`ConsumerConnection.declare_topic_consumer`),
    /// plus `allow.auto.create.topics` so that a listener may start before
    /// anything was sent to its topics, and `statistics.interval.ms`, by
    /// which its connection's state is known (`crate::connection`).
    pub(crate) fn consumer_config(&self, brokers: &Brokers, group: &str) -> ClientConfig {
        let mut c = self.client_config(brokers);
        c.set("group.id", group)
            .set("enable.auto.commit", self.enable_auto_commit.to_string())
            .set(
                "max.partition.fetch.bytes",
                self.kafka_max_fetch_bytes.to_string(),
            )
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", "latest")
            .set("allow.auto.create.topics", "true")
            .set("statistics.interval.ms", STATS_INTERVAL_MS.to_string());
        c
    }
}

/// Where the brokers are and who to be, from the transport URL's hosts
/// (`impl_kafka.py` `Connection._parse_url`): every `host:port` (port 9092
/// when the URL names none), and the credentials of the first host.
#[derive(Clone)]
pub(crate) struct Brokers {
    /// `bootstrap.servers`: `h1:9092,h2:9092`.
    pub(crate) servers: String,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

/// The port of a host the URL gives none for: Kafka's.
pub const DEFAULT_PORT: u16 = 9092;

impl Brokers {
    pub(crate) fn from_url(url: &oslo_messaging_core::TransportUrl) -> Result<Self> {
        if url.hosts.is_empty() {
            return Err(MessagingError::InvalidTransportUrl(
                "a kafka:// URL needs at least one broker host, e.g. kafka://127.0.0.1:9092".into(),
            ));
        }
        let servers = url
            .hosts
            .iter()
            .map(|h| {
                let port = h.port.unwrap_or(DEFAULT_PORT);
                if h.hostname.contains(':') {
                    format!("[{}]:{port}", h.hostname)
                } else {
                    format!("{}:{port}", h.hostname)
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let first = &url.hosts[0];
        if url.hosts.iter().any(|h| h.username != first.username) {
            tracing::warn!(
                "different transport usernames in the kafka URL; the first host's is used"
            );
        }
        Ok(Self {
            servers,
            username: first.username.clone(),
            password: first.password.clone(),
        })
    }
}

impl std::fmt::Debug for Brokers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Brokers")
            .field("servers", &self.servers)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oslo_messaging_core::config::Config;
    use oslo_messaging_core::TransportUrl;

    fn options(url: &str) -> Result<KafkaOptions> {
        let url = TransportUrl::parse(url)?;
        let o: KafkaOptions = Config::defaults().driver_group(&url)?;
        o.validate()?;
        Ok(o)
    }

    #[test]
    fn defaults_are_pythons() {
        let o = options("kafka://h:9092").expect("defaults");
        assert_eq!(o, KafkaOptions::default());
        assert_eq!(o.consumer_group, "oslo_messaging_consumer");
        assert_eq!(o.max_poll_records, 500);
        assert_eq!(o.kafka_max_fetch_bytes, 1_048_576);
        assert_eq!(o.delivery().expect("valid"), DeliverySemantics::AtMostOnce);
    }

    #[test]
    fn bad_choices_name_the_option() {
        for (url, option) in [
            ("kafka://h/?compression_codec=brotli", "compression_codec"),
            ("kafka://h/?security_protocol=TLS", "security_protocol"),
            (
                "kafka://h/?delivery_semantics=exactly-once",
                "delivery_semantics",
            ),
            ("kafka://h/?max_poll_records=0", "max_poll_records"),
            ("kafka://h/?num_partitions=0", "num_partitions"),
            (
                "kafka://h/?kafka_consumer_timeout=0",
                "kafka_consumer_timeout",
            ),
            (
                "kafka://h/?enable_auto_commit=true&delivery_semantics=at-least-once",
                "delivery_semantics",
            ),
            ("kafka://h/?max_poll_records=many", "max_poll_records"),
            (
                "kafka://h/?rabbit_qos_prefetch_count=1",
                "rabbit_qos_prefetch_count",
            ),
        ] {
            match options(url) {
                Err(MessagingError::InvalidOption {
                    group, option: o, ..
                }) => {
                    assert_eq!((group.as_str(), o.as_str()), (GROUP, option), "{url}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn brokers_take_every_host_and_the_first_credentials() {
        let url =
            TransportUrl::parse("kafka://u:secret@h1:9093,u:secret@h2,[::1]:9094/").expect("url");
        let b = Brokers::from_url(&url).expect("brokers");
        assert_eq!(b.servers, "h1:9093,h2:9092,[::1]:9094");
        assert_eq!(b.username.as_deref(), Some("u"));
        assert!(!format!("{b:?}").contains("secret"));
        let with_key = KafkaOptions {
            ssl_client_key_password: "keysecret".into(),
            ..KafkaOptions::default()
        };
        assert!(
            !format!("{with_key:?}").contains("keysecret"),
            "{with_key:?}"
        );
        let c = KafkaOptions {
            security_protocol: "SASL_PLAINTEXT".into(),
            ..KafkaOptions::default()
        }
        .client_config(&b);
        assert_eq!(c.get("sasl.username"), Some("u"));
        assert_eq!(c.get("sasl.mechanism"), Some("PLAIN"));
        let plain = KafkaOptions::default().client_config(&b);
        assert_eq!(
            plain.get("sasl.username"),
            None,
            "PLAINTEXT sends no credentials"
        );
        assert!(Brokers::from_url(&TransportUrl::parse("kafka://").expect("url")).is_err());
    }
}
