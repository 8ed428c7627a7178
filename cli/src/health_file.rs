//! The health file: how a long-running `serve` or `listen` shows its
//! health to a liveness probe that runs `oslo-messaging health --file PATH`
//! (a Kubernetes `exec` probe, a systemd watchdog script, Nagios).
//!
//! The process writes its transport's health snapshot to the file every
//! `--health-interval` seconds and removes the file when it stops. The
//! probe fails when the file is missing, older than `--max-age` seconds
//! (the process is gone or its runtime is stuck: the file is written by a
//! task of that runtime, so a wedged runtime stops writing it), or lists a
//! connection or consumer that is not well (`Health::problems`, the one
//! rule): a server whose queue was deleted and cannot be declared again
//! fails the probe though its connections are up.
//!
//! The file is one JSON object, replaced atomically (written beside it,
//! then renamed):
//!
//! ```json
//! {"written_at": 1764540000.25, "pid": 4242, "healthy": false,
//!  "problems": ["consumer compute.host1 is failed: ..."],
//!  "connections": [{"purpose": "consume", "state": "connected", "host": "h:5672",
//!                   "reconnects": 0, "last_error": null, "blocked": false}],
//!  "consumers": [{"queue": "compute.host1", "state": "failed", "last_error": "...",
//!                 "deliveries": 12, "recoveries": 1}]}
//! ```
//!
//! `written_at` is in Unix seconds; `healthy` and `problems` are what the
//! writer saw, and the probe works them out again from `connections` and
//! `consumers`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::args::HealthFileArgs;

use oslo_messaging_core::health::{ConnectionHealth, ConsumerHealth, Health};
use oslo_messaging_core::Transport;
use serde::{Deserialize, Serialize};

/// The contents of a health file (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthFile {
    /// When it was written, in Unix seconds.
    pub written_at: f64,
    /// The writing process.
    pub pid: u32,
    /// `Health::is_healthy` when written.
    pub healthy: bool,
    /// `Health::problems` when written.
    pub problems: Vec<String>,
    /// The transport's connections.
    pub connections: Vec<ConnectionHealth>,
    /// The queues its servers and listeners consume.
    pub consumers: Vec<ConsumerHealth>,
}

impl HealthFile {
    /// A file's contents for `health`, written at `written_at` (Unix seconds).
    pub fn new(health: Health, written_at: f64) -> Self {
        let problems = health.problems();
        HealthFile {
            written_at,
            pid: std::process::id(),
            healthy: problems.is_empty(),
            problems,
            connections: health.connections,
            consumers: health.consumers,
        }
    }

    /// The health snapshot it holds.
    pub fn health(&self) -> Health {
        Health {
            connections: self.connections.clone(),
            consumers: self.consumers.clone(),
        }
    }
}

/// Now, in Unix seconds.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes `contents` to `path` atomically: to `<path>.tmp`, then renamed.
///
/// # Errors
/// The file cannot be written or renamed (the message names the path).
pub fn write(path: &Path, contents: &HealthFile) -> Result<(), String> {
    let text = serde_json::to_string(contents)
        .map_err(|e| format!("cannot encode the health snapshot: {e}"))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text + "\n")
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("cannot write the health file {}: {e}", path.display()))
}

/// Runs `work`, meanwhile writing `transport`'s health to `args`'
/// `health_file` (when given) at once and every `health_interval`; once
/// `work` is done, removes the file. A failed write is logged as a
/// warning and tried again at the next interval (the probe sees the file's
/// age).
pub async fn writing_while<T>(
    transport: &Transport,
    args: &HealthFileArgs,
    work: impl Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let Some(path) = &args.health_file else {
        return work.await;
    };
    let outcome = loop {
        if let Err(e) = write(path, &HealthFile::new(transport.health(), unix_now())) {
            tracing::warn!("{e}");
        }
        tokio::select! {
            outcome = &mut work => break outcome,
            () = tokio::time::sleep(args.health_interval) => {}
        }
    };
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove the health file {}: {e}", path.display());
        }
    }
    outcome
}

/// Checks the text of the health file at `path`, read at `now` (Unix
/// seconds): the probe's rule.
///
/// # Errors
/// One line saying why the probe fails: the text is not a health file, it
/// was written more than `max_age` ago (the process is gone or stuck), or
/// the health it holds has problems (`Health::problems`, joined by `; `).
/// The parsed file comes with every error but the first, for printing.
pub fn check(
    path: &Path,
    text: &str,
    now: f64,
    max_age: Duration,
) -> Result<HealthFile, (String, Option<HealthFile>)> {
    let file: HealthFile = serde_json::from_str(text).map_err(|e| {
        (
            format!("{} is not a health file: {e}", path.display()),
            None,
        )
    })?;
    let age = now - file.written_at;
    if age > max_age.as_secs_f64() {
        return Err((
            format!(
                "{} was last written {age:.1} s ago, more than --max-age {} s: \
                 the process (pid {}) is gone or stuck",
                path.display(),
                max_age.as_secs_f64(),
                file.pid
            ),
            Some(file),
        ));
    }
    let problems = file.health().problems();
    if !problems.is_empty() {
        return Err((format!("unhealthy: {}", problems.join("; ")), Some(file)));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oslo_messaging_core::health::ConsumerState;

    fn consumer(state: ConsumerState) -> ConsumerHealth {
        ConsumerHealth {
            queue: "compute.host1".into(),
            state,
            last_error: Some("inequivalent arg 'type'".into()),
            deliveries: 3,
            recoveries: 1,
        }
    }

    fn text(health: Health, written_at: f64) -> String {
        serde_json::to_string(&HealthFile::new(health, written_at)).expect("JSON")
    }

    const PATH: &str = "/run/health.json";
    const MAX_AGE: Duration = Duration::from_secs(30);

    #[test]
    fn a_fresh_file_of_a_consuming_server_passes() {
        let health = Health {
            connections: vec![],
            consumers: vec![consumer(ConsumerState::Consuming)],
        };
        let file = check(
            Path::new(PATH),
            &text(health.clone(), 1000.0),
            1029.5,
            MAX_AGE,
        )
        .expect("healthy");
        assert_eq!(file.health(), health);
        assert!(file.healthy);
        assert_eq!(file.pid, std::process::id());
    }

    #[test]
    fn a_consumer_that_is_not_consuming_fails_the_probe_naming_its_queue() {
        let health = Health {
            connections: vec![],
            consumers: vec![consumer(ConsumerState::Failed)],
        };
        let (why, file) =
            check(Path::new(PATH), &text(health, 1000.0), 1001.0, MAX_AGE).expect_err("unhealthy");
        assert_eq!(
            why,
            "unhealthy: consumer compute.host1 is failed: inequivalent arg 'type'"
        );
        assert!(file.is_some_and(|f| !f.healthy));
    }

    #[test]
    fn a_file_older_than_max_age_fails_the_probe() {
        let health = Health {
            connections: vec![],
            consumers: vec![consumer(ConsumerState::Consuming)],
        };
        let (why, _) =
            check(Path::new(PATH), &text(health, 1000.0), 1030.5, MAX_AGE).expect_err("stale");
        assert!(
            why.starts_with(
                "/run/health.json was last written 30.5 s ago, more than --max-age 30 s"
            ),
            "{why}"
        );
    }

    #[test]
    fn the_probe_works_out_health_again_instead_of_trusting_the_writer() {
        let mut file = HealthFile::new(
            Health {
                connections: vec![],
                consumers: vec![consumer(ConsumerState::Recovering)],
            },
            1000.0,
        );
        file.healthy = true;
        file.problems.clear();
        let text = serde_json::to_string(&file).expect("JSON");
        let (why, _) = check(Path::new(PATH), &text, 1000.0, MAX_AGE).expect_err("still unhealthy");
        assert!(
            why.contains("consumer compute.host1 is recovering"),
            "{why}"
        );
    }

    #[test]
    fn what_is_not_a_health_file_is_named() {
        for bad in ["", "{}", "not json", r#"{"written_at": "yesterday"}"#] {
            let (why, file) = check(Path::new(PATH), bad, 1000.0, MAX_AGE).expect_err(bad);
            assert!(
                why.starts_with("/run/health.json is not a health file: "),
                "{why}"
            );
            assert!(file.is_none());
        }
    }

    #[test]
    fn written_files_are_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("health.json");
        let first = HealthFile::new(Health::default(), 1.0);
        write(&path, &first).expect("written");
        let second = HealthFile::new(
            Health {
                connections: vec![],
                consumers: vec![consumer(ConsumerState::Consuming)],
            },
            2.0,
        );
        write(&path, &second).expect("replaced");
        let read = std::fs::read_to_string(&path).expect("read");
        let file = check(&path, &read, 2.0, MAX_AGE).expect("healthy");
        assert_eq!(file, second);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["health.json"], "no temporary file is left");
    }
}
