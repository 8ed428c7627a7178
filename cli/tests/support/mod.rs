//! What the in-process CLI tests share: running a command to its end, or
//! in a task (serve, listen, bench servers) with its output as lines.

#![allow(dead_code)] // each test binary uses part of it

pub mod binary;

use std::io::Write;

use oslo_messaging_cli::{run, Signal, Status};
use oslo_messaging_core::config::Config;
use oslo_messaging_core::TransportUrl;
use oslo_messaging_driver_rabbit::admin;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The RabbitMQ the tests use (they fail, not skip, without it).
pub const RABBIT_URL: &str = "rabbit://guest:guest@127.0.0.1:5672/";

/// Sends each complete line written to it on a channel.
pub struct Lines {
    buf: Vec<u8>,
    tx: mpsc::UnboundedSender<String>,
}

impl Lines {
    pub fn new() -> (Self, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Self {
                buf: Vec::new(),
                tx,
            },
            rx,
        )
    }
}

impl Write for Lines {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let _ = self
                .tx
                .send(String::from_utf8_lossy(&line).trim_end().to_owned());
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The result of a command that ran to its end.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub stdout: String,
    pub stderr: String,
}

pub async fn cli(args: &[&str]) -> Outcome {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("oslo-messaging").chain(args.iter().copied());
    let status = run(argv, &mut out, &mut err, std::future::pending()).await;
    Outcome {
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// A command running in a task (serve, listen) with its output as lines.
pub struct Running {
    pub ready: String,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<Status>,
    pub stdout: mpsc::UnboundedReceiver<String>,
    pub stderr: mpsc::UnboundedReceiver<String>,
}

impl Running {
    /// Starts the command and waits for its stderr line starting with `ready`.
    pub async fn start(args: &[&str], ready: &str) -> Running {
        let argv: Vec<String> = std::iter::once("oslo-messaging")
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect();
        let (stop, stopped) = oneshot::channel::<()>();
        let (mut out, stdout) = Lines::new();
        let (mut err, mut stderr) = Lines::new();
        let task = tokio::spawn(async move {
            // The in-process stand-in for SIGTERM.
            let shutdown = async {
                let _ = stopped.await;
                Signal::Terminate
            };
            run(argv, &mut out, &mut err, shutdown).await
        });
        let ready_line = loop {
            match stderr.recv().await {
                Some(line) if line.starts_with(ready) => break line,
                Some(line) => assert!(
                    !line.starts_with("oslo-messaging:"),
                    "{args:?} failed to start: {line}"
                ),
                None => panic!("{args:?} ended before printing {ready:?}"),
            }
        };
        Running {
            ready: ready_line,
            stop: Some(stop),
            task,
            stdout,
            stderr,
        }
    }

    pub async fn serve(url: &str, topic: &str, extra: &[&str]) -> Running {
        let mut args = vec!["--url", url, "serve", "--topic", topic, "--server", "s1"];
        args.extend_from_slice(extra);
        Running::start(&args, "serving ").await
    }

    /// Waits for the command to end by itself and returns its status.
    pub async fn finished(self) -> Status {
        self.task.await.expect("the command task does not panic")
    }

    /// Asks the command to stop (SIGINT/SIGTERM in the binary) and returns its status.
    pub async fn stop(mut self) -> Status {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.expect("the command task does not panic")
    }
}

/// Deletes the named queues when dropped (declare it first in a test, so it
/// runs last, after the processes are gone).
pub struct DeleteQueues(pub Vec<String>);

impl Drop for DeleteQueues {
    fn drop(&mut self) {
        if let Err(e) = delete_queues(&self.0) {
            eprintln!("warning: could not delete queues {:?}: {e}", self.0);
        }
    }
}

/// Deletes the queues from a thread of its own, so that it works inside a
/// test's runtime too.
fn delete_queues(names: &[String]) -> Result<(), String> {
    let names = names.to_vec();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let url = TransportUrl::parse(RABBIT_URL).map_err(|e| e.to_string())?;
        runtime
            .block_on(admin::delete(&url, &Config::defaults(), &names, &[]))
            .map_err(|e| e.to_string())
    })
    .join()
    .map_err(|_| "the deleting thread panicked".to_owned())?
}
