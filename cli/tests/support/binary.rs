//! The real `oslo-messaging` binary in a child process: run to its end,
//! or running (serve, listen, a command to interrupt) with its stderr and
//! stdout lines on channels, read by threads so its pipes never fill up.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::RABBIT_URL as URL;

/// A guard against hanging forever when something is broken; never a
/// synchronization delay (every wait is for an event).
pub const GUARD: Duration = Duration::from_secs(60);

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oslo-messaging"))
}

/// A name unique to this test run.
pub fn unique(name: &str) -> String {
    format!("cli-bin-{}-{name}", std::process::id())
}

/// Runs the CLI to its end on the main broker.
pub fn cli(args: &[&str]) -> Output {
    cli_on(URL, args)
}

/// Runs the CLI to its end on transport `url`.
pub fn cli_on(url: &str, args: &[&str]) -> Output {
    let output = bin()
        .arg("--url")
        .arg(url)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("guest:guest"),
        "password in output: {stderr}"
    );
    output
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `listen --count 1 --priority info` on `topic`, on the main broker, ready.
pub fn listen_for_one_info(topic: &str) -> Running {
    Running::start(
        &[
            "--topic",
            topic,
            "listen",
            "--count",
            "1",
            "--priority",
            "info",
        ],
        "listening ",
    )
}

/// A CLI process that runs while the test goes on.
pub struct Running {
    pub pid: u32,
    pub stderr: mpsc::Receiver<String>,
    pub stdout: mpsc::Receiver<String>,
    exit: mpsc::Receiver<ExitStatus>,
    done: bool,
}

fn forward(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Running {
    /// Starts the CLI on RabbitMQ and waits for its stderr line starting with `ready`.
    pub fn start(args: &[&str], ready: &str) -> Running {
        Running::start_on(URL, args, ready)
    }

    /// As [`start`](Self::start), on transport `url`.
    pub fn start_on(url: &str, args: &[&str], ready: &str) -> Running {
        let running = Running::spawn(url, args, &[]);
        let line = running.wait_for_stderr(|l| l.starts_with(ready));
        assert!(!line.contains("guest:guest"), "password shown: {line}");
        running
    }

    /// Starts the CLI on transport `url` with extra environment variables
    /// (e.g. `RUST_LOG`), without waiting for anything.
    pub fn spawn(url: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let bin = env!("CARGO_BIN_EXE_oslo-messaging");
        let args: Vec<&str> = ["--url", url].iter().chain(args).copied().collect();
        Running::spawn_program(bin, &args, env)
    }

    /// Starts `program` (the binary, or a launcher such as `setsid` given
    /// the binary as its first argument) without waiting for anything.
    pub fn spawn_program(program: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut child: Child = Command::new(program)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = forward(child.stderr.take().expect("piped stderr"));
        let stdout = forward(child.stdout.take().expect("piped stdout"));
        let pid = child.id();
        let (exit_tx, exit) = mpsc::channel();
        thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        Running {
            pid,
            stderr,
            stdout,
            exit,
            done: false,
        }
    }

    /// Waits for the first stderr line that `wanted` accepts and returns it.
    pub fn wait_for_stderr(&self, wanted: impl Fn(&str) -> bool) -> String {
        let mut seen = Vec::new();
        loop {
            match self.stderr.recv_timeout(GUARD) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "process {} did not print the line awaited; stderr so far: {seen:#?}; exit: {:?}",
                    self.pid,
                    self.exit.try_recv()
                ),
            }
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {}", self.pid);
    }

    /// Waits for the process to end by itself.
    pub fn wait(&mut self) -> ExitStatus {
        let status = self
            .exit
            .recv_timeout(GUARD)
            .unwrap_or_else(|_| panic!("process {} did not exit", self.pid));
        self.done = true;
        status
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("-TERM");
        self.wait()
    }

    /// The rest of stderr, up to its end: call after the process exited.
    pub fn rest_of_stderr(&self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.stderr.recv_timeout(GUARD) {
                Ok(line) => lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => return lines,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("stderr did not end: {lines:#?}"),
            }
        }
    }
}

/// A process still running when its test ends (the test failed) gets
/// SIGTERM first, so that it deletes what it declared (a server's fanout
/// queue has a random name no guard knows), and SIGKILL if it does not end.
impl Drop for Running {
    fn drop(&mut self) {
        if self.done || self.exit.try_recv().is_ok() {
            return;
        }
        let kill = |signal: &str| {
            let _ = Command::new("kill")
                .args([signal, &self.pid.to_string()])
                .status();
        };
        kill("-TERM");
        if self.exit.recv_timeout(GUARD).is_err() {
            kill("-KILL");
        }
    }
}
