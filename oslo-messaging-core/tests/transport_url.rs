//! Tests of transport URL parsing and rendering.

use oslo_messaging_core::error::MessagingError;
use oslo_messaging_core::transport_url::{TransportHost, TransportUrl};

fn parse(s: &str) -> TransportUrl {
    TransportUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn parse_err(s: &str) -> String {
    match TransportUrl::parse(s) {
        Err(MessagingError::InvalidTransportUrl(msg)) => msg,
        other => panic!("{s}: expected InvalidTransportUrl, got {other:?}"),
    }
}

fn host(name: &str, port: Option<u16>, user: Option<&str>, pass: Option<&str>) -> TransportHost {
    TransportHost {
        hostname: name.to_owned(),
        port,
        username: user.map(str::to_owned),
        password: pass.map(str::to_owned),
    }
}

#[test]
fn single_host() {
    let url = parse("rabbit://localhost:5672/");
    assert_eq!(url.scheme, "rabbit");
    assert_eq!(url.hosts, vec![host("localhost", Some(5672), None, None)]);
    assert_eq!(url.virtual_host, None);
    assert!(url.query.is_empty());
    let url: TransportUrl = "rabbit://localhost".parse().unwrap();
    assert_eq!(url.hosts, vec![host("localhost", None, None, None)]);
}

#[test]
fn several_hosts_with_credentials() {
    let url = parse("rabbit://u1:p1@h1:5671,u2@h2,h3:5673/vh");
    assert_eq!(
        url.hosts,
        vec![
            host("h1", Some(5671), Some("u1"), Some("p1")),
            host("h2", None, Some("u2"), None),
            host("h3", Some(5673), None, None),
        ]
    );
    assert_eq!(url.virtual_host.as_deref(), Some("vh"));
}

#[test]
fn userinfo_splits_at_last_at_and_first_colon() {
    let url = parse("rabbit://us:er:p@ss@host/");
    assert_eq!(
        url.hosts,
        vec![host("host", None, Some("us"), Some("er:p@ss"))]
    );
    let url = parse("rabbit://user:@host/");
    assert_eq!(url.hosts[0].password.as_deref(), Some(""));
}

#[test]
fn percent_decoding() {
    let url = parse("rabbit://us%3Aer:p%40ss%2Fw@ho%2Dst/v%20h?k%26ey=va%3Dl+ue");
    assert_eq!(
        url.hosts,
        vec![host("ho-st", None, Some("us:er"), Some("p@ss/w"))]
    );
    assert_eq!(url.virtual_host.as_deref(), Some("v h"));
    assert_eq!(url.query, vec![("k&ey".to_owned(), "va=l ue".to_owned())]);
}

#[test]
fn ipv6_hosts() {
    let url = parse("rabbit://u:p@[::1]:5672,[fe80::2]/");
    assert_eq!(
        url.hosts,
        vec![
            host("::1", Some(5672), Some("u"), Some("p")),
            host("fe80::2", None, None, None)
        ]
    );
    assert_eq!(url.to_string(), "rabbit://u:****@[::1]:5672,[fe80::2]/");
}

#[test]
fn empty_netloc() {
    for s in ["fake://", "rabbit:///"] {
        let url = parse(s);
        assert!(url.hosts.is_empty(), "{s}");
        assert_eq!(url.virtual_host, None, "{s}");
    }
    assert_eq!(parse("fake://").to_string(), "fake:///");
}

#[test]
fn virtual_host_forms() {
    assert_eq!(parse("rabbit://h").virtual_host, None);
    assert_eq!(parse("rabbit://h/").virtual_host, None);
    assert_eq!(parse("rabbit://h//").virtual_host.as_deref(), Some("/"));
    assert_eq!(parse("rabbit://h/%2F").virtual_host.as_deref(), Some("/"));
    assert_eq!(
        parse("rabbit://h/nova").virtual_host.as_deref(),
        Some("nova")
    );
    assert_eq!(
        parse("rabbit://h/a/b?x=1").virtual_host.as_deref(),
        Some("a/b")
    );
}

#[test]
fn repeated_query_keys() {
    let url = parse("kafka://h/?topic=a&x=1&topic=b&topic=c&empty");
    assert_eq!(
        url.query_values("topic").collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(url.query_value("topic"), Some("c"));
    assert_eq!(url.query_value("x"), Some("1"));
    assert_eq!(url.query_value("empty"), Some(""));
    assert_eq!(url.query_value("missing"), None);
    assert_eq!(url.query_values("missing").count(), 0);
    // A query right after the hosts, without a '/'.
    assert_eq!(parse("rabbit://h?ssl=1").query_value("ssl"), Some("1"));
}

#[test]
fn driver_name_is_scheme_before_plus() {
    assert_eq!(parse("kafka+ssl://h/").driver_name(), "kafka");
    assert_eq!(parse("a+b+c://h/").driver_name(), "a");
    assert_eq!(parse("rabbit://h/").driver_name(), "rabbit");
    assert_eq!(parse("amqp-1.0://h/").scheme, "amqp-1.0");
}

#[test]
fn malformed_urls_say_what_is_wrong() {
    assert!(parse_err("rabbit").contains("missing \"://\""));
    assert!(parse_err("rabbit:/h").contains("missing \"://\""));
    assert!(parse_err("://h").contains("no scheme"));
    assert!(parse_err("rab bit://h").contains("bad scheme"));
    assert!(parse_err("1abbit://h").contains("bad scheme"));
    assert!(parse_err("rabbit://h1,,h2/").contains("host 2 is empty"));
    assert!(parse_err("rabbit://h1,/").contains("host 2 is empty"));
    assert!(parse_err("rabbit://,h1/").contains("host 1 is empty"));
    let msg = parse_err("rabbit://h:abc/");
    assert!(msg.contains("bad port \"abc\""), "{msg}");
    assert!(parse_err("rabbit://h:70000/").contains("bad port \"70000\""));
    assert!(parse_err("rabbit://h:-1/").contains("bad port \"-1\""));
    assert!(parse_err("rabbit://[::1:5672/").contains("unclosed '['"));
    assert!(parse_err("rabbit://[::1]x/").contains("after ']'"));
    assert!(parse_err("rabbit://h/#frag").contains("'#'"));
    assert!(parse_err("rabbit://h/%FF").contains("not valid UTF-8"));
}

#[test]
fn errors_never_contain_the_password() {
    for s in [
        "rabbit://user:secretpw@h:abc/",
        "rabbit://user:secretpw@[::1/",
        "rabbit://user:secretpw@h,,h2/",
        "rabbit://user:secret#pw@h/",
        "rabbit://user:secret/pw@h/",
        "rabbit://user:secret,pw@h/",
        "rabbit://user:secretpw@h/%FF",
    ] {
        let msg = parse_err(s);
        assert!(!msg.contains("secret"), "{s}: {msg}");
        assert!(!msg.contains("pw"), "{s}: {msg}");
    }
}

#[test]
fn display_and_debug_redact_passwords() {
    let url = parse("rabbit://nova:topsecret@h1:5672,guest:alsosecret@h2/nova?ssl=true");
    let shown = url.to_string();
    assert_eq!(
        shown,
        "rabbit://nova:****@h1:5672,guest:****@h2/nova?ssl=true"
    );
    let debug = format!("{url:?}");
    assert_eq!(debug, shown);
    let host_debug = format!("{:?}", url.hosts[0]);
    assert_eq!(host_debug, "nova:****@h1:5672");
    assert_eq!(url.hosts[0].to_string(), host_debug);
    for text in [&shown, &debug, &host_debug, &format!("{:#?}", url.hosts)] {
        assert!(!text.contains("secret"), "{text}");
    }
}

#[test]
fn to_string_with_credentials_keeps_passwords() {
    let s = "rabbit://nova:p%40ss%2Fw@h1:5672/nova";
    let url = parse(s);
    assert_eq!(url.to_string_with_credentials(), s);
    assert_eq!(parse(&url.to_string_with_credentials()), url);
}

#[test]
fn display_round_trips() {
    for s in [
        "rabbit://localhost:5672/",
        "fake://",
        "rabbit:///",
        "rabbit://u1:p1@h1:5671,u2@h2,h3:5673/vh",
        "rabbit://us%3Aer:p%40ss@ho%2Cst/v%20h?k%26ey=va%3Dl+ue&k%26ey=2",
        "rabbit://u:p@[::1]:5672,[fe80::1%25eth0]/",
        "rabbit://h//",
        "rabbit://h/%2F",
        "rabbit://h/a/b?x=1&x=2&y=",
        "kafka+ssl://:pw@h/",
        "rabbit://:5672/",
    ] {
        let url = parse(s);
        let reparsed = parse(&url.to_string());
        let mut expected = url.clone();
        for h in &mut expected.hosts {
            if h.password.is_some() {
                h.password = Some("****".to_owned());
            }
        }
        assert_eq!(reparsed, expected, "{s} -> {url}");
        assert_eq!(parse(&url.to_string_with_credentials()), url, "{s}");
    }
}
