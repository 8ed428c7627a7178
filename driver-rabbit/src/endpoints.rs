//! Where and how to connect: one AMQP URI per host of the transport URL,
//! in failover order, with the options' heartbeat, login method and TLS.

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use oslo_messaging_core::transport_url::TransportHost;
use oslo_messaging_core::{MessagingError, Result, TransportUrl};

use crate::options::{RabbitOptions, GROUP};

/// The largest AMQP frame we ask for. lapin keeps a send and a receive
/// buffer of 32 frames per connection, filled with zeros: at RabbitMQ's
/// default of 128 KiB that is 16 MiB resident for our two connections;
/// at 32 KiB it is 4 MiB. Bigger messages are split into more frames.
const FRAME_MAX: u32 = 32 * 1024;

/// Where and how to connect: one URI per host, in failover order.
#[derive(Clone)]
pub(crate) struct Endpoints {
    uris: Vec<AMQPUri>,
    pub(crate) tls: OwnedTLSConfig,
    shuffle: bool,
}

impl std::fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.uris.iter().map(host_of))
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
            frame_max: Some(FRAME_MAX),
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

    /// The URI to try at `cursor` (the failover order, or a random host
    /// with `kombu_failover_strategy = shuffle`).
    pub fn pick(&self, cursor: usize) -> &AMQPUri {
        if self.shuffle {
            &self.uris[fastrand::usize(..self.uris.len())]
        } else {
            &self.uris[cursor % self.uris.len()]
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

/// `host:port` of `uri` for health, logs and errors; an IPv6 address in
/// brackets (`[::1]:5672`), as in a URL.
pub(crate) fn host_of(uri: &AMQPUri) -> String {
    let host = &uri.authority.host;
    if host.contains(':') {
        format!("[{host}]:{}", uri.authority.port)
    } else {
        format!("{host}:{}", uri.authority.port)
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
        assert_eq!(u.query.frame_max, Some(FRAME_MAX));

        let url = TransportUrl::parse("rabbit://nova:s3cret@r1:5673,r2/nova").expect("url");
        let e = Endpoints::new(&url, &opts).expect("endpoints");
        let mut hosts: Vec<String> = e.uris().iter().map(host_of).collect();
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

        let url = TransportUrl::parse("rabbit://[::1]:13401,[2001:db8::2]/").expect("url");
        let e = Endpoints::new(&url, &opts).expect("endpoints");
        let mut hosts: Vec<String> = e.uris().iter().map(host_of).collect();
        hosts.sort();
        assert_eq!(
            hosts,
            ["[2001:db8::2]:5672", "[::1]:13401"],
            "IPv6 in brackets"
        );
        assert_eq!(format!("{e:?}").matches("[::1]:13401").count(), 1);
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
}
