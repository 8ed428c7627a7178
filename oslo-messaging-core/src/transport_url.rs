//! Transport URLs as oslo.messaging writes them.
//!
//! `scheme://[user[:pass]@]host[:port][,[user[:pass]@]host2[:port2],...]/[vhost][?key=value&...]`
//!
//! Parsing follows oslo.messaging's `TransportURL.parse`; rendering
//! ([`Display`](fmt::Display) and [`Debug`]) hides every password as `****`.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::error::{MessagingError, Result};

/// Characters left as they are when rendering URL parts: RFC 3986 unreserved.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Host names may also keep a few sub-delimiters that are harmless there.
const HOST: &AsciiSet = &UNRESERVED.remove(b'!').remove(b'$').remove(b'*');
/// The virtual host keeps `/` unencoded, like Python's `quote()`.
const VHOST: &AsciiSet = &UNRESERVED.remove(b'/');
/// IPv6 addresses keep their colons inside the brackets.
const IPV6: &AsciiSet = &HOST.remove(b':');

/// Text shown instead of a password.
const REDACTED: &str = "****";

/// One broker host of a [`TransportUrl`], with optional credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct TransportHost {
    /// Host name or address, percent-decoded; IPv6 addresses without brackets.
    pub hostname: String,
    /// Port, when the URL names one.
    pub port: Option<u16>,
    /// User name, percent-decoded.
    pub username: Option<String>,
    /// Password, percent-decoded. Never shown by `Display` or `Debug`.
    pub password: Option<String>,
}

/// A parsed oslo.messaging transport URL.
///
/// ```
/// use oslo_messaging_core::transport_url::TransportUrl;
///
/// let url = TransportUrl::parse("rabbit://nova:s3cret@rabbit1:5672,rabbit2/nova?ssl=true")?;
/// assert_eq!(url.driver_name(), "rabbit");
/// assert_eq!(url.hosts.len(), 2);
/// assert_eq!(url.virtual_host.as_deref(), Some("nova"));
/// assert_eq!(url.query_value("ssl"), Some("true"));
/// assert_eq!(url.to_string(), "rabbit://nova:****@rabbit1:5672,rabbit2/nova?ssl=true");
/// # Ok::<(), oslo_messaging_core::error::MessagingError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TransportUrl {
    /// The scheme, e.g. `rabbit` or `kafka+ssl`.
    pub scheme: String,
    /// The hosts in the order written; empty for URLs such as `fake://`.
    pub hosts: Vec<TransportHost>,
    /// The virtual host: `None` when the path is empty or just `/`.
    pub virtual_host: Option<String>,
    /// Query parameters, decoded, in the order written (repeated keys kept).
    pub query: Vec<(String, String)>,
}

fn invalid(msg: impl Into<String>) -> MessagingError {
    MessagingError::InvalidTransportUrl(msg.into())
}

fn decode(part: &str, what: &str) -> Result<String> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            invalid(format!(
                "the {what} is not valid UTF-8 once percent-decoded"
            ))
        })
}

impl TransportUrl {
    /// Parses a transport URL.
    ///
    /// User names, passwords, host names, the virtual host and query keys and
    /// values are percent-decoded. `rabbit://h/` and `rabbit://h` have no
    /// virtual host; `rabbit://h//` and `rabbit://h/%2F` have the virtual host `/`.
    ///
    /// # Errors
    ///
    /// [`MessagingError::InvalidTransportUrl`] when the scheme is missing or
    /// malformed, `://` is missing, a host is empty between commas, a port is
    /// not a number from 0 to 65535, an IPv6 address lacks its `]`, the URL has
    /// a `#` fragment, or a part is not UTF-8 once decoded. The message never
    /// contains a password.
    pub fn parse(s: &str) -> Result<Self> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(invalid(r#"missing "://" after the scheme"#));
        };
        if scheme.is_empty() {
            return Err(invalid(r#"no scheme before "://""#));
        }
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(invalid(
                "bad scheme: it must start with a letter and hold only letters, digits, '+', '-' and '.'",
            ));
        }
        if rest.contains('#') {
            return Err(invalid(
                "unexpected '#': fragments are not allowed (percent-encode '#' as %23)",
            ));
        }
        let (before_query, query_str) = rest.split_once('?').unwrap_or((rest, ""));
        let (netloc, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i + 1..]),
            None => (before_query, ""),
        };
        let mut hosts = Vec::new();
        if !netloc.is_empty() {
            let mut end = 0;
            for (i, text) in netloc.split(',').enumerate() {
                end += text.len() + 1;
                // An '@' further on, with none in this host, means that a
                // password holds ',', '/' or '?': do not echo what follows ':'.
                let suspicious =
                    !text.contains('@') && rest.get(end..).is_some_and(|r| r.contains('@'));
                hosts.push(parse_host(text, i + 1, suspicious)?);
            }
        }
        let virtual_host = match decode(path, "virtual host")? {
            v if v.is_empty() => None,
            v => Some(v),
        };
        let query = url::form_urlencoded::parse(query_str.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Ok(Self {
            scheme: scheme.to_owned(),
            hosts,
            virtual_host,
            query,
        })
    }

    /// The driver part of the scheme: everything before the first `+`
    /// (`kafka+ssl` gives `kafka`), or the whole scheme.
    pub fn driver_name(&self) -> &str {
        self.scheme.split('+').next().unwrap_or(&self.scheme)
    }

    /// Every value given for `key` in the query, in the order written.
    pub fn query_values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.query
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last value given for `key` in the query, if any.
    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The URL with its real passwords, percent-encoded so that it parses
    /// back to an equal value.
    ///
    /// For drivers only, to hand credentials to a broker client: never log it
    /// and never put it into an error message.
    pub fn to_string_with_credentials(&self) -> String {
        let mut out = String::new();
        self.render(&mut out, false);
        out
    }

    fn render(&self, out: &mut String, redact: bool) {
        out.push_str(&self.scheme);
        out.push_str("://");
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            host.render(out, redact);
        }
        out.push('/');
        if let Some(vhost) = &self.virtual_host {
            out.extend(utf8_percent_encode(vhost, VHOST));
        }
        if !self.query.is_empty() {
            out.push('?');
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            ser.extend_pairs(self.query.iter());
            out.push_str(&ser.finish());
        }
    }
}

fn parse_host(text: &str, index: usize, suspicious: bool) -> Result<TransportHost> {
    if text.is_empty() {
        return Err(invalid(format!(
            "host {index} is empty (two commas in a row, or a comma at an end)"
        )));
    }
    let (userinfo, hostport) = match text.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, text),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (
                Some(decode(user, "user name")?),
                Some(decode(pass, "password")?),
            ),
            None => (Some(decode(u, "user name")?), None),
        },
    };
    let (host_raw, port_raw) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return Err(invalid(format!(
                "host {index}: unclosed '[' in IPv6 address"
            )));
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(port) => Some(port),
                None => {
                    return Err(invalid(format!(
                        "host {index}: expected ':' and a port after ']'"
                    )))
                }
            },
        };
        (addr, port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port_raw {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| {
            if suspicious {
                invalid(format!(
                    "host {index}: bad port (if a password contains ',', '/', '?' or '#', percent-encode it)"
                ))
            } else {
                invalid(format!(
                    "host {index}: bad port {p:?}: expected a number from 0 to 65535"
                ))
            }
        })?),
    };
    Ok(TransportHost {
        hostname: decode(host_raw, "host name")?,
        port,
        username,
        password,
    })
}

impl TransportHost {
    fn render(&self, out: &mut String, redact: bool) {
        if let Some(user) = &self.username {
            out.extend(utf8_percent_encode(user, UNRESERVED));
        }
        if let Some(pass) = &self.password {
            out.push(':');
            if redact {
                out.push_str(REDACTED);
            } else {
                out.extend(utf8_percent_encode(pass, UNRESERVED));
            }
        }
        if self.username.is_some() || self.password.is_some() {
            out.push('@');
        }
        if self.hostname.contains(':') {
            out.push('[');
            out.extend(utf8_percent_encode(&self.hostname, IPV6));
            out.push(']');
        } else {
            out.extend(utf8_percent_encode(&self.hostname, HOST));
        }
        if let Some(port) = self.port {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
}

impl FromStr for TransportUrl {
    type Err = MessagingError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// `Display` renders with every password replaced by `****`; `Debug` prints
/// the same text, so neither ever shows a password.
macro_rules! redacted_fmt {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut out = String::new();
                self.render(&mut out, true);
                f.write_str(&out)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    )*};
}

redacted_fmt!(TransportUrl, TransportHost);
