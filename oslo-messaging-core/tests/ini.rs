//! Tests of the oslo.config INI reader and the lenient value helpers.

use figment::value::Value;
use figment::{Figment, Provider};
use oslo_messaging_core::config::ini::IniFile;
use oslo_messaging_core::config::lenient;
use oslo_messaging_core::error::MessagingError;
use serde::Deserialize;

fn value(ini: &IniFile, path: &str) -> Value {
    Figment::from(ini.clone()).find_value(path).unwrap()
}

fn config_err(text: &str) -> String {
    match IniFile::parse_str(text, "test.conf") {
        Err(MessagingError::Config(msg)) => msg,
        Err(other) => panic!("expected Config error, got {other:?}"),
        Ok(_) => panic!("expected an error for {text:?}"),
    }
}

#[test]
fn ini_syntax() {
    let text = "\
# comment
; another comment
[DEFAULT]
a = 1
b: two words
c = x # not a comment
d=
e = \"quoted\"
f = first
  second
\tthird

g = multi
g = values
[Other]
h = 1:2=3
";
    let ini = IniFile::parse_str(&format!("\u{feff}{text}"), "test.conf").unwrap();
    assert!(ini.data().is_ok());
    assert_eq!(
        format!("{ini:?}"),
        r#"IniFile { name: "test.conf", groups: ["default", "other"] }"#
    );
    let s = |p: &str| value(&ini, p).into_string().unwrap();
    assert_eq!(s("default.a"), "1");
    assert_eq!(s("default.b"), "two words");
    assert_eq!(s("default.c"), "x # not a comment");
    assert_eq!(s("default.d"), "");
    assert_eq!(s("default.e"), "quoted");
    assert_eq!(s("default.f"), "first\nsecond\nthird");
    let g: Vec<String> = value(&ini, "default.g").deserialize().unwrap();
    assert_eq!(g, ["multi", "values"]);
    assert_eq!(s("other.h"), "1:2=3");
}

#[test]
fn ini_errors_name_the_line() {
    assert_eq!(
        config_err("a = 1\n"),
        "test.conf, line 1: option set before any [section]"
    );
    assert!(config_err("[DEFAULT]\n  continued\n").contains("line 2"));
    assert!(config_err("[DEFAULT\n").contains("line 1"));
    assert!(config_err("[]\n").contains("without a name"));
    let msg = config_err("[DEFAULT]\nx = 1\nnot an assignment secret\n");
    assert!(msg.contains("line 3") && !msg.contains("secret"), "{msg}");
    assert!(config_err("[DEFAULT]\n= v\n").contains("empty key"));
}

#[test]
fn ini_missing_file_names_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.conf");
    match IniFile::load(&path) {
        Err(MessagingError::Config(msg)) => assert!(msg.contains("absent.conf"), "{msg}"),
        other => panic!(
            "expected Config error, got {:?}",
            other.map(|i| i.name().to_owned())
        ),
    }
}

#[derive(Debug, Deserialize)]
struct Typed {
    #[serde(deserialize_with = "lenient::bool")]
    b: bool,
    #[serde(deserialize_with = "lenient::u64")]
    u: u64,
    #[serde(deserialize_with = "lenient::i64")]
    i: i64,
    #[serde(deserialize_with = "lenient::usize")]
    z: usize,
    #[serde(deserialize_with = "lenient::f64")]
    f: f64,
    #[serde(deserialize_with = "lenient::string")]
    s: String,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    o: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    oi: Option<i64>,
    #[serde(deserialize_with = "lenient::string_list")]
    l: Vec<String>,
}

#[test]
fn lenient_helpers() {
    let t: Typed = serde_json::from_str(
        r#"{"b":"Off","u":"60","i":"-1","z":64,"f":"0.25","s":8080,"o":"","oi":"","l":[1,"a"]}"#,
    )
    .unwrap();
    assert!(!t.b);
    assert_eq!((t.u, t.i, t.z, t.f), (60, -1, 64, 0.25));
    assert_eq!(t.s, "8080");
    assert_eq!(t.o.as_deref(), Some(""));
    assert_eq!(t.oi, None);
    assert_eq!(t.l, ["1", "a"]);
    for (text, expected) in [
        ("TRUE", true),
        ("yes", true),
        ("1", true),
        ("on", true),
        ("No", false),
        ("0", false),
    ] {
        let json = format!(r#"{{"b":"{text}","u":1,"i":1,"z":1,"f":1,"s":true,"l":"a, b"}}"#);
        let t: Typed = serde_json::from_str(&json).unwrap();
        assert_eq!(t.b, expected, "{text}");
        assert_eq!(t.s, "true");
        assert_eq!(t.o, None);
        assert_eq!(t.l, ["a", "b"]);
    }
    let bad = r#"{"b":true,"u":"-5","i":1,"z":1,"f":1,"s":"","l":[]}"#;
    let err = serde_json::from_str::<Typed>(bad).unwrap_err().to_string();
    assert!(err.contains("non-negative integer"), "{err}");
}
