//! The notifications example over `kafka://` (the broker `scripts/test`
//! starts) and `fake://`: every sample reaches both pools, and the two
//! listeners of one pool share them.

use std::process::Command;

fn run(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_notifications"))
        .arg(url)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{url}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn the_notifications_example_runs_over_kafka_and_fake() {
    for url in ["kafka://127.0.0.1:9092/", "fake://"] {
        let out = run(url);
        assert!(
            out.contains("pool ceilometer: 40 of 40; pool audit: 40 of 40"),
            "{url}:\n{out}"
        );
        assert!(
            out.contains("ceilometer-1: ") && out.contains("ceilometer-2: "),
            "{url}:\n{out}"
        );
    }
}
