//! Helpers shared by the configuration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use oslo_messaging_core::config::{lenient, OptionGroup};
use oslo_messaging_core::error::MessagingError;
use serde::{Deserialize, Serialize};

/// A small driver group, as a driver crate would define one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TestGroup {
    #[serde(deserialize_with = "lenient::u64")]
    pub heartbeat: u64,
    #[serde(deserialize_with = "lenient::bool")]
    pub ssl: bool,
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    #[serde(deserialize_with = "lenient::string_list")]
    pub hosts: Vec<String>,
    #[serde(deserialize_with = "lenient::f64")]
    pub ratio: f64,
    #[serde(deserialize_with = "lenient::opt_u64")]
    pub limit: Option<u64>,
}

impl Default for TestGroup {
    fn default() -> Self {
        Self {
            heartbeat: 60,
            ssl: false,
            name: "dflt".to_owned(),
            hosts: vec!["h0".to_owned()],
            ratio: 0.5,
            limit: None,
        }
    }
}

impl OptionGroup for TestGroup {
    const NAME: &'static str = "oslo_messaging_test";
}

pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn invalid_option(err: MessagingError) -> (String, String, String) {
    match err {
        MessagingError::InvalidOption {
            group,
            option,
            reason,
        } => (group, option, reason),
        other => panic!("expected InvalidOption, got {other:?}"),
    }
}
