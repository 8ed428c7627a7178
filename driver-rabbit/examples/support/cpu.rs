//! What `cpu_per_call` and `raw_call_cpu` share: their arguments, and CPU
//! time of this process and of the broker read from /proc.

use std::time::{Duration, Instant};

/// `N C [MODE]` from the command line: messages, concurrency, mode.
pub struct Args {
    pub messages: usize,
    pub concurrency: usize,
    pub mode: String,
}

impl Args {
    pub fn parse() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let number = |i: usize, default: usize| {
            args.get(i).map_or(default, |s| {
                s.parse()
                    .unwrap_or_else(|_| panic!("argument {i} is not a number: {s:?}"))
            })
        };
        let (messages, concurrency) = (number(1, 20_000), number(2, 16).max(1));
        Self {
            messages,
            concurrency,
            mode: args.get(3).cloned().unwrap_or_default(),
        }
    }

    /// Messages each of the concurrent senders sends.
    pub fn per_sender(&self, messages: usize) -> usize {
        messages / self.concurrency
    }
}

/// CPU time (user + system) of a process, in clock ticks.
fn ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// The broker's process id (`beam.smp`).
fn broker_pid() -> String {
    let out = std::process::Command::new("pgrep")
        .arg("beam.smp")
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .expect("a running beam.smp (RabbitMQ)")
        .to_owned()
}

/// CPU time and wall time over a measured run.
pub struct Meter {
    me: String,
    broker: String,
    start: (u64, u64, Instant),
}

impl Meter {
    pub fn start() -> Self {
        let (me, broker) = (std::process::id().to_string(), broker_pid());
        let start = (ticks(&me), ticks(&broker), Instant::now());
        Self { me, broker, start }
    }

    /// Prints messages/s, CPU µs per message (ours and the broker's) and
    /// this process's RSS.
    pub fn report(&self, label: &str, messages: usize) {
        let elapsed: Duration = self.start.2.elapsed();
        let ours = ticks(&self.me) - self.start.0;
        let broker = ticks(&self.broker) - self.start.1;
        // Clock ticks are 10 ms (USER_HZ 100).
        let per_message = |t: u64| t as f64 * 10_000.0 / messages as f64;
        println!(
            "{label}: {:.0}/s  ours {:.1} us/msg  broker {:.1} us/msg  {}",
            messages as f64 / elapsed.as_secs_f64(),
            per_message(ours),
            per_message(broker),
            rss()
        );
    }
}

fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .map_or("?".to_owned(), |l| l[name.len() + 1..].trim().to_owned())
    };
    format!("RSS {} (peak {})", field("VmRSS"), field("VmHWM"))
}
