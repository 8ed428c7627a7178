//! Opening one AMQP connection over a socket the driver sets up itself:
//! `TCP_NODELAY`, TCP keepalive and `TCP_USER_TIMEOUT` in line with the
//! heartbeat threshold, and a [`Killer`] that shuts the socket down when
//! the broker has gone silent (lapin alone would wait for two heartbeat
//! timeouts, and a graceful close would wait for an answer that never comes).

use std::io;
use std::net::Shutdown;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::tcp::{AsyncTcpStream, OwnedTLSConfig};
use lapin::uri::{AMQPScheme, AMQPUri};
use lapin::{Connection, ConnectionProperties};

/// Shuts down the socket of a connection, so that lapin's I/O loop fails at
/// once and everything waiting on the connection learns it is gone.
#[derive(Clone, Default)]
pub(crate) struct Killer(Arc<Mutex<Option<socket2::Socket>>>);

impl Killer {
    pub fn kill(&self) {
        let socket = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = socket.as_ref() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Opens a connection to `uri`. Must run on the driver's I/O runtime: the
/// connection's I/O loop and heartbeats become tasks of the runtime it is
/// opened on.
pub(crate) async fn open(
    uri: AMQPUri,
    tls: OwnedTLSConfig,
    properties: ConnectionProperties,
    threshold: Duration,
) -> lapin::Result<(Connection, Killer)> {
    let killer = Killer::default();
    let slot = killer.clone();
    let runtime = lapin::runtime::default_runtime()?;
    let connection = Connection::connector(
        uri,
        runtime,
        async move |uri: AMQPUri, _runtime| {
            let stream = connect_tcp(&uri, threshold).await?;
            let dup = socket2::SockRef::from(&stream).try_clone()?;
            *slot
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(dup);
            let stream = AsyncTcpStream::Plain(async_compat::Compat::new(stream));
            Ok(match uri.scheme {
                AMQPScheme::AMQP => stream,
                AMQPScheme::AMQPS => stream
                    .into_tls(&uri.authority.host, tls.as_ref())
                    .await
                    .map_err(|e| {
                        let text = e.to_string();
                        io::Error::new(
                            e.kind(),
                            format!("TLS handshake failed: {text}{}", tls_hint(&text)),
                        )
                    })?,
            })
        },
        properties,
    )
    .await?;
    Ok((connection, killer))
}

/// What a TLS failure means for the operator, from rustls's text.
fn tls_hint(text: &str) -> &'static str {
    if text.contains("UnknownIssuer") {
        "; the broker's certificate is not signed by a CA of ssl_ca_file (or, without it, of the system)"
    } else if text.contains("Expired") || text.contains("certificate expired") {
        "; the broker's certificate has expired (or is not valid yet)"
    } else if text.contains("not valid for name") {
        "; the host of the transport URL must be a name the broker's certificate gives"
    } else if text.contains("InvalidContentType") || text.contains("corrupt message") {
        "; the broker did not answer in TLS: is this port its TLS listener (usually 5671)?"
    } else {
        ""
    }
}

async fn connect_tcp(uri: &AMQPUri, threshold: Duration) -> io::Result<tokio::net::TcpStream> {
    let host = (uri.authority.host.as_str(), uri.authority.port);
    let limit = Duration::from_millis(uri.query.connection_timeout.unwrap_or(10_000));
    let stream = tokio::time::timeout(limit, tokio::net::TcpStream::connect(host))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no TCP connection within {limit:?}"),
            )
        })??;
    stream.set_nodelay(true)?;
    if !threshold.is_zero() {
        let socket = socket2::SockRef::from(&stream);
        let probe = (threshold / 3).max(Duration::from_secs(1));
        socket.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(threshold)
                .with_interval(probe)
                .with_retries(3),
        )?;
        // Unacknowledged data for longer than the threshold: the kernel
        // gives up on the connection.
        socket.set_tcp_user_timeout(Some(threshold))?;
    }
    Ok(stream)
}

/// Whether a failed connection attempt will fail again however often it is
/// retried: refused credentials, an unknown or forbidden virtual host, or a
/// TLS handshake the broker or this side refuses.
pub(crate) fn is_fatal(e: &lapin::Error) -> bool {
    let text = e.to_string();
    const FATAL: [&str; 6] = [
        "ACCESS_REFUSED",
        "NOT_ALLOWED",
        "access refused",
        "not allowed",
        "certificate",
        "handshake",
    ];
    if FATAL.iter().any(|f| text.contains(f)) {
        return true;
    }
    matches!(e.kind(), lapin::ErrorKind::IOError(io) if io.kind() == io::ErrorKind::InvalidData)
}
