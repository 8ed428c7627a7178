//! The fuzz targets' regression inputs (`fuzz/regressions/<target>/`:
//! inputs a fuzzer found crashing, kept once fixed, and the hostile
//! inputs the project promises to survive), fed to the same entry points
//! as the targets, in `scripts/test`. No input may panic or hang.

use std::path::{Path, PathBuf};

use oslo_messaging_core::fuzzing::{ini, transport_url};
use oslo_messaging_driver_rabbit::fuzzing::{decode_delivery, message_body};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions")
        .join(target);
    let mut found: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("entry").path();
            let data = std::fs::read(&path).expect("read");
            (path, data)
        })
        .collect();
    found.sort();
    assert!(
        !found.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    found
}

#[test]
fn message_body_regressions_decode_without_panicking() {
    for (path, data) in inputs("message_body") {
        eprintln!("{}", path.display());
        message_body(&data);
    }
}

#[test]
fn transport_url_regressions_parse_without_panicking() {
    for (path, data) in inputs("transport_url") {
        eprintln!("{}", path.display());
        transport_url(&data);
    }
}

#[test]
fn ini_regressions_parse_without_panicking() {
    for (path, data) in inputs("ini") {
        eprintln!("{}", path.display());
        ini(&data);
    }
}

/// Inputs too large to keep as files, made here.
#[test]
fn huge_and_deep_inputs_are_refused_not_fatal() {
    // A 100 MB JSON number (exact integers keep its digits: bounded by the input).
    let mut big = b"{\"method\": \"m\", \"args\": {\"n\": 1".to_vec();
    big.extend(std::iter::repeat_n(b'0', 100 << 20));
    big.extend(b"}}");
    assert!(decode_delivery(None, &big), "a big number is a number");
    // Nesting deeper than serde_json's limit (128) is refused, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    assert!(!decode_delivery(None, deep.as_bytes()));
    let deep_in_envelope = format!(
        "{{\"oslo.version\": \"2.0\", \"oslo.message\": {:?}}}",
        format!("{{\"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000))
    );
    assert!(!decode_delivery(None, deep_in_envelope.as_bytes()));
}
