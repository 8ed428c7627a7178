//! What the in-process CLI tests share: running a command to its end, or
//! in a task (serve, listen, bench servers) with its output as lines.

#![allow(dead_code)] // each test binary uses part of it

use std::io::Write;

use oslo_messaging_cli::{run, Status};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

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
            let shutdown = async {
                let _ = stopped.await;
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
