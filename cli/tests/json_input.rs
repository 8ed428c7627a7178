//! JSON from a file (`@FILE`) or from standard input (`-`), wherever the
//! CLI takes JSON: call and cast's JSON_OBJECT, notify's PAYLOAD_JSON and
//! `--context`. A payload over Linux's 128 KiB limit of one argument cannot
//! be given on the command line at all; these give 1 MiB.
//!
//! Most tests run the real binary over `fake://` (casts and notifications
//! succeed there without a server), so that standard input is the child's;
//! one runs `serve` and `call` in-process to see the value arrive unchanged.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;

use oslo_messaging_cli::Status;
use serde_json::{json, Value};

mod support;
use support::{cli, Running};

/// One MiB, the size of the payloads below.
const MIB: usize = 1024 * 1024;

/// A file under the test target's temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("json-input-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write the temporary file");
        Self(path)
    }

    /// A path that does not exist (nothing is written).
    fn missing(name: &str) -> Self {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("json-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 path")
    }

    /// The `@FILE` argument for this file.
    fn at(&self) -> String {
        format!("@{}", self.path())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A JSON object of about `size` bytes: `{"blob": "xxx...", "n": [1, 2.5]}`.
fn big_object(size: usize) -> Value {
    json!({ "blob": "x".repeat(size), "n": [1, 2.5, null, "é"] })
}

/// Runs the binary with `args` (after `--url fake://`) and `stdin` on its
/// standard input (written from a thread, so a child that exits without
/// reading it does not block the test).
fn run(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_oslo-messaging"))
        .args(["--url", "fake://"])
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let writer = stdin.map(|bytes| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        // A child that refuses the input closes the pipe: not an error here.
        thread::spawn(move || drop(pipe.write_all(&bytes)))
    });
    let output = child.wait_with_output().expect("the binary runs");
    if let Some(writer) = writer {
        writer.join().expect("the writer thread does not panic");
    }
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        text(&output.stderr)
    );
}

/// Exit 64 with one line on stderr, which is returned.
fn assert_usage_error(output: &Output) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("oslo-messaging: "), "{stderr}");
    stderr
}

#[test]
fn cast_takes_a_one_mib_object_from_a_file() {
    let file = TempFile::new("cast.json", big_object(MIB).to_string().as_bytes());
    let output = run(&["--topic", "json-input", "cast", "info", &file.at()], None);
    assert_ok(&output);
}

#[test]
fn cast_takes_a_one_mib_object_from_standard_input() {
    let payload = big_object(MIB).to_string().into_bytes();
    let output = run(
        &["--topic", "json-input", "cast", "info", "-"],
        Some(payload),
    );
    assert_ok(&output);
}

#[test]
fn notify_takes_a_one_mib_payload_from_a_file_and_from_standard_input() {
    let payload = json!(["x".repeat(MIB), 1]).to_string().into_bytes();
    let file = TempFile::new("notify.json", &payload);
    let base = ["notify", "--publisher-id", "p", "--event-type", "e"];
    let from_file = run(&[&base[..], &[file.at().as_str()]].concat(), None);
    assert_ok(&from_file);
    let from_stdin = run(&[&base[..], &["-"]].concat(), Some(payload));
    assert_ok(&from_stdin);
}

#[test]
fn context_takes_a_file_or_standard_input() {
    let file = TempFile::new("context.json", br#"{"user": "admin", "roles": ["a"]}"#);
    let from_file = run(
        &[
            "--topic",
            "json-input",
            "--context",
            &file.at(),
            "cast",
            "m",
        ],
        None,
    );
    assert_ok(&from_file);
    // After the subcommand too (--context is global), with the arguments
    // from a file.
    let from_stdin = run(
        &[
            "--topic",
            "json-input",
            "cast",
            "m",
            &file.at(),
            "--context",
            "-",
        ],
        Some(br#"{"user": "admin"}"#.to_vec()),
    );
    assert_ok(&from_stdin);
}

#[test]
fn a_missing_file_is_a_usage_error_naming_the_path_and_the_os_error() {
    let missing = TempFile::missing("no-such-file.json");
    for args in [
        vec!["--topic", "json-input", "cast", "m", &missing.at()],
        vec![
            "--topic",
            "json-input",
            "--context",
            &missing.at(),
            "cast",
            "m",
        ],
        vec![
            "notify",
            "--publisher-id",
            "p",
            "--event-type",
            "e",
            &missing.at(),
        ],
    ] {
        let stderr = assert_usage_error(&run(&args, None));
        assert!(stderr.contains(missing.path()), "{args:?}: {stderr}");
        assert!(stderr.contains("No such file"), "{args:?}: {stderr}");
    }
}

#[test]
fn standard_input_serves_one_value_only() {
    let output = run(
        &["--topic", "json-input", "--context", "-", "cast", "m", "-"],
        Some(b"{}".to_vec()),
    );
    let stderr = assert_usage_error(&output);
    assert!(
        stderr.contains("only one") && stderr.contains("standard input"),
        "{stderr}"
    );
}

#[test]
fn malformed_json_in_a_file_is_a_usage_error_naming_the_file() {
    let bad = TempFile::new("bad.json", b"{\"a\": 1,,}");
    let stderr = assert_usage_error(&run(
        &["--topic", "json-input", "cast", "m", &bad.at()],
        None,
    ));
    assert!(
        stderr.contains(bad.path()) && stderr.contains("not valid JSON"),
        "{stderr}"
    );
    // Valid JSON that is not an object, where an object is needed.
    let array = TempFile::new("array.json", b"[1, 2]");
    let stderr = assert_usage_error(&run(
        &["--topic", "json-input", "call", "m", &array.at()],
        None,
    ));
    assert!(
        stderr.contains(array.path()) && stderr.contains("expected a JSON object"),
        "{stderr}"
    );
    // Standard input that is not JSON says where it came from.
    let stderr = assert_usage_error(&run(
        &["--topic", "json-input", "cast", "m", "-"],
        Some(b"not json".to_vec()),
    ));
    assert!(
        stderr.contains("standard input") && stderr.contains("not valid JSON"),
        "{stderr}"
    );
}

#[test]
fn help_of_every_json_argument_mentions_files_and_standard_input() {
    for command in [
        &["call", "--help"][..],
        &["cast", "--help"],
        &["notify", "--help"],
    ] {
        let output = run(command, None);
        assert_ok(&output);
        let help = text(&output.stdout);
        for needle in ["JSON", "@FILE", "standard input", "--context"] {
            assert!(
                help.contains(needle),
                "{command:?} lacks {needle:?}: {help}"
            );
        }
        let context = help
            .lines()
            .skip_while(|l| !l.contains("--context"))
            .take(3)
            .collect::<String>();
        assert!(context.contains("@FILE"), "{command:?}: {context}");
    }
}

/// In-process over `fake://` (the fake broker is process-global): the demo
/// server's `echo` returns the 1 MiB value read from a file unchanged.
#[tokio::test]
async fn call_echoes_a_one_mib_value_read_from_a_file_unchanged() {
    let topic = "json-input-echo";
    let value = big_object(MIB);
    let file = TempFile::new(
        "echo.json",
        json!({ "value": value }).to_string().as_bytes(),
    );
    let served = Running::serve("fake://", topic, &[]).await;
    let call = cli(&[
        "--url",
        "fake://",
        "--topic",
        topic,
        "--timeout",
        "30",
        "call",
        "echo",
        &file.at(),
    ])
    .await;
    assert_eq!(call.status, Status::Ok, "{}", call.stderr);
    let echoed: Value = serde_json::from_str(call.stdout.trim_end()).expect("JSON on stdout");
    // (assert! rather than assert_eq!: no MiB-long failure messages)
    assert!(echoed == value, "echo returned another value");
    assert_eq!(served.stop().await, Status::Ok);
}
