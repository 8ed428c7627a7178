//! One AMQP connection, opened on the driver's own runtime, and reopened on
//! demand after it is lost: hosts tried in failover order, with
//! oslo.messaging's retry schedule (`rabbit_retry_interval`, growing by
//! `rabbit_retry_backoff` up to `rabbit_interval_max`).
//!
//! The driver runs its connections on a runtime it owns (see
//! [`IoRuntime`]): lapin's I/O loop and heartbeats are tasks of the runtime
//! a connection is opened on, so the application's runtime, however busy or
//! blocked, cannot stall them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{Connection, ConnectionProperties};
use oslo_messaging_core::driver::Retry;
use oslo_messaging_core::transport_url::TransportHost;
use oslo_messaging_core::{MessagingError, Result, TransportUrl};

use crate::options::{RabbitOptions, GROUP};

/// The runtime the driver's connections and consumers run on: OS threads
/// of its own, named `oslo-rabbit-io`.
pub(crate) struct IoRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl IoRuntime {
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oslo-rabbit-io")
            .enable_all()
            .build()
            .map_err(|e| {
                MessagingError::Connection(format!("cannot start the I/O runtime: {e}"))
            })?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        match &self.runtime {
            Some(rt) => rt.handle().clone(),
            None => unreachable!("the runtime is only taken in drop"),
        }
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        // The driver may be dropped inside the application's runtime, where
        // blocking on the runtime's shutdown is not allowed.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Where and how to connect: one URI per host, in failover order.
#[derive(Clone)]
pub(crate) struct Endpoints {
    uris: Vec<AMQPUri>,
    tls: OwnedTLSConfig,
    shuffle: bool,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.uris
                    .iter()
                    .map(|u| format!("{}:{}", u.authority.host, u.authority.port)),
            )
            .finish()
    }
}

impl Endpoints {
    /// The hosts of `url` (or `localhost` with `guest`/`guest`, as
    /// oslo.messaging does for a URL without hosts), as AMQP URIs.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] when a TLS file cannot be read.
    pub fn new(url: &TransportUrl, opts: &RabbitOptions) -> Result<Self> {
        let tls_scheme =
            opts.ssl || url.scheme.ends_with("+ssl") || url.scheme.starts_with("amqps");
        let vhost = match url.virtual_host.as_deref() {
            None | Some("") => "/".to_owned(),
            Some(v) => v.to_owned(),
        };
        let query = AMQPQueryString {
            heartbeat: Some(u16::try_from(opts.heartbeat_timeout_threshold).unwrap_or(u16::MAX)),
            connection_timeout: Some(10_000),
            auth_mechanism: Some(opts.sasl_mechanism()?),
            ..AMQPQueryString::default()
        };
        let no_hosts = [TransportHost {
            hostname: "localhost".into(),
            port: None,
            username: None,
            password: None,
        }];
        let hosts = if url.hosts.is_empty() {
            &no_hosts[..]
        } else {
            &url.hosts[..]
        };
        let mut uris: Vec<AMQPUri> = hosts
            .iter()
            .map(|h| AMQPUri {
                scheme: if tls_scheme {
                    AMQPScheme::AMQPS
                } else {
                    AMQPScheme::AMQP
                },
                authority: AMQPAuthority {
                    userinfo: AMQPUserInfo {
                        username: h
                            .username
                            .clone()
                            .filter(|u| !u.is_empty())
                            .unwrap_or_else(|| "guest".into()),
                        password: h
                            .password
                            .clone()
                            .filter(|p| !p.is_empty())
                            .unwrap_or_else(|| "guest".into()),
                    },
                    host: if h.hostname.is_empty() {
                        "localhost".into()
                    } else {
                        h.hostname.clone()
                    },
                    port: h.port.unwrap_or(5672),
                },
                vhost: vhost.clone(),
                query: query.clone(),
            })
            .collect();
        // As oslo.messaging: the host list is shuffled once, so that
        // services spread over a cluster's nodes.
        if uris.len() > 1 {
            fastrand::shuffle(&mut uris);
        }
        Ok(Self {
            uris,
            tls: tls_config(opts)?,
            shuffle: opts.kombu_failover_strategy == "shuffle",
        })
    }

    #[cfg(test)]
    pub fn uris(&self) -> &[AMQPUri] {
        &self.uris
    }

    fn pick(&self, attempt: usize) -> &AMQPUri {
        if self.shuffle {
            &self.uris[fastrand::usize(..self.uris.len())]
        } else {
            &self.uris[attempt % self.uris.len()]
        }
    }
}

fn read_option_file(option: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| MessagingError::InvalidOption {
        group: GROUP.into(),
        option: option.into(),
        reason: format!("cannot read {path:?}: {e}"),
    })
}

fn tls_config(opts: &RabbitOptions) -> Result<OwnedTLSConfig> {
    let cert_chain = if opts.ssl_ca_file.is_empty() {
        None
    } else {
        let pem = read_option_file("ssl_ca_file", &opts.ssl_ca_file)?;
        Some(String::from_utf8_lossy(&pem).into_owned())
    };
    let identity = if opts.ssl_cert_file.is_empty() {
        None
    } else {
        Some(OwnedIdentity::PKCS8 {
            pem: read_option_file("ssl_cert_file", &opts.ssl_cert_file)?,
            key: read_option_file("ssl_key_file", &opts.ssl_key_file)?,
        })
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}

/// The delay before connection attempt `n` (0-based), as oslo.messaging
/// computes it: `interval + n * backoff`, at most `interval_max`.
pub(crate) fn retry_delay(opts: &RabbitOptions, attempt: u32) -> Duration {
    let secs = opts
        .rabbit_retry_interval
        .saturating_add(u64::from(attempt).saturating_mul(opts.rabbit_retry_backoff))
        .min(opts.rabbit_interval_max);
    Duration::from_secs(secs)
}

/// A connection that reopens itself on demand.
pub(crate) struct Link {
    purpose: &'static str,
    endpoints: Endpoints,
    opts: RabbitOptions,
    io: tokio::runtime::Handle,
    current: tokio::sync::Mutex<Option<Arc<Connection>>>,
    generation: AtomicU64,
}

impl Link {
    pub fn new(
        purpose: &'static str,
        endpoints: Endpoints,
        opts: RabbitOptions,
        io: tokio::runtime::Handle,
    ) -> Self {
        Self {
            purpose,
            endpoints,
            opts,
            io,
            current: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// Counts the connections opened so far; what was declared on an older
    /// generation must be declared again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The open connection, opening one when there is none or it was lost.
    ///
    /// # Errors
    /// [`MessagingError::Connection`] once `retry` attempts (`None`: no limit)
    /// have failed; the text names the host and the broker's or the
    /// network's reason, never the credentials.
    pub async fn connection(&self, retry: Retry) -> Result<Arc<Connection>> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref().filter(|c| c.status().connected()) {
            return Ok(c.clone());
        }
        if current.take().is_some() {
            self.pause_before_reconnect().await;
        }
        let mut attempt: u32 = 0;
        loop {
            let uri = self.endpoints.pick(attempt as usize).clone();
            let host = format!("{}:{}", uri.authority.host, uri.authority.port);
            match self.open(uri).await {
                Ok(c) => {
                    tracing::debug!(purpose = self.purpose, %host, "connected to AMQP server");
                    let c = Arc::new(c);
                    self.generation.fetch_add(1, Ordering::AcqRel);
                    *current = Some(c.clone());
                    return Ok(c);
                }
                Err(e) => {
                    if retry.is_some_and(|limit| attempt >= limit) {
                        return Err(MessagingError::Connection(format!(
                            "cannot connect to AMQP server on {host} after {} attempt(s): {e}",
                            attempt + 1
                        )));
                    }
                    let delay = retry_delay(&self.opts, attempt);
                    tracing::warn!(purpose = self.purpose, %host, error = %e, ?delay, "AMQP server unreachable; retrying");
                    tokio::time::sleep(delay).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    }

    async fn pause_before_reconnect(&self) {
        let splay = self.opts.kombu_reconnect_splay * fastrand::f64();
        let delay = Duration::from_secs_f64(self.opts.kombu_reconnect_delay + splay);
        tracing::info!(
            purpose = self.purpose,
            ?delay,
            "connection lost; reconnecting"
        );
        tokio::time::sleep(delay).await;
    }

    /// Opens a connection on the I/O runtime, so that its I/O loop and
    /// heartbeats live there.
    async fn open(&self, uri: AMQPUri) -> std::result::Result<Connection, lapin::Error> {
        let props = ConnectionProperties::default().with_connection_name(
            format!(
                "{}:{}:{}",
                self.opts.processname,
                std::process::id(),
                crate::wire::new_id()
            )
            .into(),
        );
        let tls = self.endpoints.tls.clone();
        let task = self.io.spawn(async move {
            Connection::connect_uri_with_config(uri, props, tls, lapin::runtime::default_runtime()?)
                .await
        });
        match task.await {
            Ok(r) => r,
            Err(join) => Err(lapin::Error::from(std::io::Error::other(format!(
                "connection task failed: {join}"
            )))),
        }
    }

    /// Closes the connection, if open.
    pub async fn close(&self) {
        if let Some(c) = self.current.lock().await.take() {
            if let Err(e) = c.close(200, "closed by the driver".into()).await {
                tracing::debug!(purpose = self.purpose, error = %e, "closing the connection failed");
            }
        }
    }
}

/// Maps a lapin error into the framework's error: a broker's refusal of
/// one operation is a delivery failure, anything else a connection error.
pub(crate) fn error(what: &str, e: &lapin::Error) -> MessagingError {
    if e.is_amqp_soft_error() {
        MessagingError::MessageDeliveryFailure(format!("{what}: {e}"))
    } else {
        MessagingError::Connection(format!("{what}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_oslo_messaging_defaults() {
        let opts = RabbitOptions::default();
        let url = TransportUrl::parse("rabbit://").expect("url");
        let e = Endpoints::new(&url, &opts).expect("endpoints");
        let u = &e.uris()[0];
        assert_eq!(
            (u.authority.host.as_str(), u.authority.port),
            ("localhost", 5672)
        );
        assert_eq!(u.authority.userinfo.username, "guest");
        assert_eq!(u.vhost, "/");
        assert_eq!(u.query.heartbeat, Some(60));

        let url = TransportUrl::parse("rabbit://nova:s3cret@r1:5673,r2/nova").expect("url");
        let e = Endpoints::new(&url, &opts).expect("endpoints");
        let mut hosts: Vec<String> = e
            .uris()
            .iter()
            .map(|u| format!("{}:{}", u.authority.host, u.authority.port))
            .collect();
        hosts.sort();
        assert_eq!(hosts, ["r1:5673", "r2:5672"]);
        assert!(e
            .uris()
            .iter()
            .all(|u| u.vhost == "nova" && u.scheme == AMQPScheme::AMQP));
        assert!(
            !format!("{e:?}").contains("s3cret"),
            "Debug shows hosts only"
        );
    }

    #[test]
    fn ssl_and_login_method_shape_the_uri() {
        let opts = RabbitOptions {
            ssl: true,
            rabbit_login_method: "PLAIN".into(),
            heartbeat_timeout_threshold: 0,
            ..RabbitOptions::default()
        };
        let url = TransportUrl::parse("rabbit://h/").expect("url");
        let e = Endpoints::new(&url, &opts).expect("endpoints");
        let u = &e.uris()[0];
        assert_eq!(u.scheme, AMQPScheme::AMQPS);
        assert_eq!(
            u.query.auth_mechanism,
            Some(lapin::uri::SASLMechanism::Plain)
        );
        assert_eq!(u.query.heartbeat, Some(0));
        let missing = RabbitOptions {
            ssl_ca_file: "/nonexistent/ca.pem".into(),
            ..opts
        };
        let err = Endpoints::new(&url, &missing).expect_err("unreadable CA file");
        assert!(err.to_string().contains("ssl_ca_file"), "{err}");
    }

    #[test]
    fn retry_delays_grow_to_the_maximum() {
        let opts = RabbitOptions::default();
        let delays: Vec<u64> = (0..20).map(|n| retry_delay(&opts, n).as_secs()).collect();
        assert_eq!(&delays[..4], [1, 3, 5, 7]);
        assert_eq!(delays[19], 30);
    }
}
