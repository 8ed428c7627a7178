//! oslo.messaging's queue manager (`use_queue_manager`; `QManager` in
//! `oslo_messaging/_drivers/amqpdriver.py`): stable names for reply and
//! fanout queues, `<hostname>:<processname>:<N>`, so that a restarted
//! service finds its queues again instead of leaving new ones behind.
//!
//! `N` is a counter kept in `/dev/shm/<hostname>_<processname>_qmanager` as
//! `<pgid>:<N>:<starttime>`, shared by every process of one service on the
//! host, taken under a file lock and re-read on every name:
//!
//! * the same service generation (the process group, and the start time of
//!   its leader, field 22 of `/proc/<pgid>/stat`, so a recycled pid is not
//!   mistaken for it) takes the next number: two workers of one parent get
//!   `:1` and `:2`;
//! * a new generation (the service restarted) starts again at 1, so the
//!   names are the ones the previous run used.
//!
//! Two differences from Python, both where Python gives two live processes
//! one name (the replies of one go to the other: LP 2110957):
//!
//! * a process whose identity differs from the recorded one while the
//!   recorded generation still runs (a second supervisor, a `podman exec`
//!   next to the service) takes the next number instead of restarting at 1;
//! * a process group of 0 (`podman exec` under crun) or whose leader is not
//!   visible in `/proc` (another pid namespace) is identified by the process
//!   itself, or by the group with a start time of 0, instead of crashing.
//!
//! A state file that is not `<pgid>:<N>:<starttime>` is an error naming it,
//! not a silent restart at 1 (which could hand out a name in use).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use oslo_messaging_core::{MessagingError, Result};

use crate::options::GROUP;

/// Hands out `<hostname>:<processname>:<N>` names.
#[derive(Debug, Clone)]
pub(crate) struct QueueManager {
    hostname: String,
    processname: String,
    state: PathBuf,
}

/// One service generation: a process group (or a process) and the start
/// time of its leader, in clock ticks since boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Generation {
    pub id: i32,
    pub start: u64,
}

impl QueueManager {
    /// The manager of `hostname` and `processname`, with its state in
    /// `/dev/shm`, as Python keeps it.
    pub fn new(hostname: &str, processname: &str) -> Self {
        Self::in_dir(Path::new("/dev/shm"), hostname, processname)
    }

    /// The same, with its state file in `dir` (tests).
    pub fn in_dir(dir: &Path, hostname: &str, processname: &str) -> Self {
        Self {
            hostname: hostname.to_owned(),
            processname: processname.to_owned(),
            state: dir.join(format!("{hostname}_{processname}_qmanager")),
        }
    }

    /// The next name: `<hostname>:<processname>:<N>`.
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] (`use_queue_manager`) when the
    /// state file cannot be opened, locked, read or written, or holds
    /// something else than `<pgid>:<N>:<starttime>`; the text names the
    /// file.
    pub fn next_name(&self) -> Result<String> {
        let n = self.take(current(), still_running)?;
        Ok(format!("{}:{}:{n}", self.hostname, self.processname))
    }

    /// Takes the next number for `ours`, under the state file's lock.
    fn take(&self, ours: Generation, running: impl Fn(Generation) -> bool) -> Result<u64> {
        let fail = |what: &str, e: &dyn std::fmt::Display| MessagingError::InvalidOption {
            group: GROUP.into(),
            option: "use_queue_manager".into(),
            reason: format!("{what} {}: {e}", self.state.display()),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.state)
            .map_err(|e| fail("cannot open the queue manager's state file", &e))?;
        // Released when `file` is closed, whatever happens below.
        file.lock()
            .map_err(|e| fail("cannot lock the queue manager's state file", &e))?;
        let mut text = String::new();
        file.read_to_string(&mut text)
            .map_err(|e| fail("cannot read the queue manager's state file", &e))?;
        let recorded = parse(&text).map_err(|e| fail("corrupt queue manager state in", &e))?;
        let (generation, n) = next(recorded, ours, running);
        write(&mut file, generation, n)
            .map_err(|e| fail("cannot write the queue manager's state file", &e))?;
        Ok(n)
    }
}

fn write(file: &mut File, g: Generation, n: u64) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    write!(file, "{}:{n}:{}", g.id, g.start)?;
    file.flush()
}

/// `<pgid>:<N>:<starttime>`; `None` for an empty (new) file.
fn parse(text: &str) -> std::result::Result<Option<(Generation, u64)>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || format!("{text:?} is not <pgid>:<N>:<starttime>");
    let mut parts = text.split(':');
    let (Some(id), Some(n), Some(start), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let id = id.parse().map_err(|_| bad())?;
    let n = n.parse().map_err(|_| bad())?;
    let start = start.parse().map_err(|_| bad())?;
    Ok(Some((Generation { id, start }, n)))
}

/// The rule: the same generation takes the next number; another one
/// restarts at 1, unless the recorded generation still runs.
fn next(
    recorded: Option<(Generation, u64)>,
    ours: Generation,
    running: impl Fn(Generation) -> bool,
) -> (Generation, u64) {
    match recorded {
        None => (ours, 1),
        Some((g, n)) if g == ours => (g, n.saturating_add(1)),
        Some((g, n)) if running(g) => (g, n.saturating_add(1)),
        Some(_) => (ours, 1),
    }
}

/// This process's generation: its process group (itself when the group is
/// 0) and the group leader's start time (0 when it cannot be read).
fn current() -> Generation {
    let pgid = rustix::process::getpgrp().as_raw_nonzero().get();
    let id = if pgid > 0 {
        pgid
    } else {
        rustix::process::getpid().as_raw_nonzero().get()
    };
    Generation {
        id,
        start: start_time(id).unwrap_or(0),
    }
}

/// Whether generation `g` still runs: its leader is there with the same
/// start time. One recorded without a start time cannot be checked, and
/// counts as running (taking the next number is always safe).
fn still_running(g: Generation) -> bool {
    g.start == 0 || start_time(g.id) == Some(g.start)
}

/// Field 22 of `/proc/<pid>/stat`, the start time in clock ticks since
/// boot. Fields are counted after the command name, which is in
/// parentheses and may hold spaces.
fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name; field 22 is the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Generation = Generation { id: 100, start: 5 };
    const B: Generation = Generation { id: 200, start: 9 };

    #[test]
    fn one_generation_counts_up_a_new_one_starts_again() {
        let gone = |_| false;
        assert_eq!(next(None, A, gone), (A, 1));
        assert_eq!(next(Some((A, 1)), A, gone), (A, 2));
        assert_eq!(next(Some((A, 7)), B, gone), (B, 1), "A is gone: restart");
    }

    #[test]
    fn a_running_generation_is_never_restarted_under_it() {
        assert_eq!(next(Some((A, 3)), B, |g| g == A), (A, 4));
    }

    #[test]
    fn state_file_is_shared_locked_and_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let qm = QueueManager::in_dir(dir.path(), "host1", "nova-compute");
        let gone = |_| false;
        assert_eq!(qm.take(A, gone).expect("first"), 1);
        assert_eq!(qm.take(A, gone).expect("second"), 2);
        let state = dir.path().join("host1_nova-compute_qmanager");
        assert_eq!(std::fs::read_to_string(&state).expect("state"), "100:2:5");
        assert_eq!(qm.take(B, gone).expect("restart"), 1);
        assert_eq!(std::fs::read_to_string(&state).expect("state"), "200:1:9");
        // Another manager (another process) reads the same file.
        let other = QueueManager::in_dir(dir.path(), "host1", "nova-compute");
        assert_eq!(other.take(B, gone).expect("shared"), 2);

        std::fs::write(&state, "garbage").expect("corrupt it");
        let e = qm.take(A, gone).expect_err("corrupt state");
        let text = e.to_string();
        assert!(
            text.contains("use_queue_manager")
                && text.contains("host1_nova-compute_qmanager")
                && text.contains("not <pgid>:<N>:<starttime>"),
            "{text}"
        );

        let missing = QueueManager::in_dir(&dir.path().join("no/such/dir"), "h", "p");
        let e = missing.take(A, gone).expect_err("unwritable");
        assert!(e.to_string().contains("cannot open"), "{e}");
    }

    #[test]
    fn this_process_has_a_generation_with_a_start_time() {
        let g = current();
        assert!(g.id > 0);
        match start_time(g.id) {
            Some(start) => {
                assert_eq!(g.start, start);
                assert!(still_running(g));
                assert!(!still_running(Generation {
                    start: start + 1,
                    ..g
                }));
            }
            // The group's leader has exited (a shell that started us in
            // the background): no start time, which counts as running.
            None => assert_eq!((g.start, still_running(g)), (0, true)),
        }
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert!(start_time(me).is_some_and(|t| t > 0), "our own start time");
        let name = QueueManager::in_dir(tempfile::tempdir().expect("dir").path(), "h", "p");
        // The directory is gone by now: an error, not a panic.
        assert!(name.next_name().is_err());
    }
}
