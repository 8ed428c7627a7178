//! What a benchmark prints: messages/s, bytes/s, latency percentiles and
//! errors, as text or (`--json`) one JSON object.

use std::io::Write;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The outcome of a sending run (a client) or a receiving run (a server).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What ran, e.g. `rpc-client call x16`.
    pub workload: String,
    /// Messages sent (clients: answered or confirmed) or received (servers).
    pub messages: u64,
    /// Sends that failed.
    pub errors: u64,
    /// The first failure, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
    /// Seconds the run took (servers: from the first message received to
    /// the last); `None` (JSON `null`) for a server that received nothing.
    pub seconds: Option<f64>,
    /// `messages / seconds`; `None` when that is no rate (no time passed:
    /// a server that received fewer than two messages).
    pub messages_per_second: Option<f64>,
    /// Payload bytes per second; `None` as for `messages_per_second`.
    pub bytes_per_second: Option<f64>,
    /// Latency in milliseconds (clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
    /// This process's peak resident memory, in kB (Linux: `VmHWM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
    /// CPU time (user and system, every thread) this process spent per
    /// message during the run, in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_message: Option<f64>,
    /// Context switches (voluntary and involuntary, every thread) of this
    /// process per message during the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_switches_per_message: Option<f64>,
    /// What to check when the run went wrong (e.g. calls that timed out:
    /// where they were sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

impl Report {
    /// A client's report from its latency histogram (microseconds).
    pub fn new(
        workload: &str,
        latency_us: &Histogram<u64>,
        errors: u64,
        first_error: Option<String>,
        elapsed: Duration,
        payload_bytes: usize,
    ) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = (!latency_us.is_empty()).then(|| Latency {
            p50: ms(latency_us.value_at_quantile(0.50)),
            p90: ms(latency_us.value_at_quantile(0.90)),
            p99: ms(latency_us.value_at_quantile(0.99)),
            max: ms(latency_us.max()),
        });
        let mut report = Self::received(workload, latency_us.len(), Some(elapsed), payload_bytes);
        report.errors = errors;
        report.first_error = first_error;
        report.latency_ms = latency;
        report
    }

    /// A server's report: `messages` received in `elapsed` (`None`: no
    /// time was measured, as when nothing was received). No time, or none
    /// passing, gives no rate rather than a division by zero.
    pub fn received(
        workload: &str,
        messages: u64,
        elapsed: Option<Duration>,
        payload_bytes: usize,
    ) -> Self {
        let seconds = elapsed.map(|e| e.as_secs_f64());
        let rate = seconds.filter(|s| *s > 0.0).map(|s| messages as f64 / s);
        Self {
            workload: workload.to_owned(),
            messages,
            errors: 0,
            first_error: None,
            seconds,
            messages_per_second: rate,
            bytes_per_second: rate.map(|r| r * payload_bytes as f64),
            latency_ms: None,
            peak_rss_kb: peak_rss_kb(),
            cpu_us_per_message: None,
            context_switches_per_message: None,
            hint: None,
        }
    }

    /// Sets the CPU time and context switches per message from what this
    /// process used since `since` (nothing when no message counted).
    #[must_use]
    pub fn with_usage_since(mut self, since: Option<Usage>) -> Self {
        if let (Some(since), Some(now), true) = (since, Usage::now(), self.messages > 0) {
            let n = self.messages as f64;
            let cpu = now.cpu.saturating_sub(since.cpu);
            self.cpu_us_per_message = Some(cpu.as_secs_f64() * 1e6 / n);
            let switches = now.context_switches.saturating_sub(since.context_switches);
            self.context_switches_per_message = Some(switches as f64 / n);
        }
        self
    }

    /// Writes the report: one JSON object, or a few lines of text.
    ///
    /// # Errors
    /// The output is closed.
    pub fn write(&self, out: &mut (dyn Write + Send), json: bool) -> std::io::Result<()> {
        if json {
            let line = serde_json::to_string(self).map_err(std::io::Error::other)?;
            writeln!(out, "{line}")?;
        } else {
            let (workload, messages, errors) = (&self.workload, self.messages, self.errors);
            match (
                self.seconds,
                self.messages_per_second,
                self.bytes_per_second,
            ) {
                (Some(seconds), Some(rate), Some(bytes)) => writeln!(
                    out,
                    "{workload}: {messages} messages in {seconds:.2} s: {rate:.0} msg/s, \
                     {bytes:.0} bytes/s, {errors} errors"
                )?,
                (Some(seconds), _, _) => writeln!(
                    out,
                    "{workload}: {messages} messages in {seconds:.2} s: too few for a rate, \
                     {errors} errors"
                )?,
                (None, _, _) => writeln!(out, "{workload}: {messages} messages, {errors} errors")?,
            }
            if let Some(kb) = self.peak_rss_kb {
                writeln!(out, "peak RSS: {kb} kB")?;
            }
            if let (Some(cpu), Some(switches)) =
                (self.cpu_us_per_message, self.context_switches_per_message)
            {
                writeln!(
                    out,
                    "per message: {cpu:.1} µs CPU, {switches:.2} context switches"
                )?;
            }
            if let Some(l) = &self.latency_ms {
                writeln!(
                    out,
                    "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
                    l.p50, l.p90, l.p99, l.max
                )?;
            }
            if let Some(e) = &self.first_error {
                writeln!(out, "first error: {e}")?;
            }
        }
        out.flush()
    }
}

/// What this process has used so far: `getrusage(RUSAGE_SELF)`, which
/// counts every thread, also those that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// User and system CPU time.
    pub cpu: Duration,
    /// Voluntary and involuntary context switches.
    pub context_switches: u64,
}

impl Usage {
    /// This process's usage now; `None` where `getrusage` fails.
    pub fn now() -> Option<Self> {
        use nix::sys::resource::{getrusage, UsageWho};
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        let time = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(u64::try_from(t.tv_sec()).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec()).unwrap_or(0))
        };
        let switches = usage.voluntary_context_switches() + usage.involuntary_context_switches();
        Some(Self {
            cpu: time(usage.user_time()) + time(usage.system_time()),
            context_switches: u64::try_from(switches).unwrap_or(0),
        })
    }
}

/// `VmHWM` from /proc/self/status, where there is one.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_histogram_in_milliseconds() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("bounds");
        for us in 1..=1000 {
            h.record(us).expect("in bounds");
        }
        let r = Report::new("t", &h, 2, Some("boom".into()), Duration::from_secs(2), 100);
        assert_eq!(r.messages, 1000);
        assert_eq!(r.errors, 2);
        assert_eq!(r.seconds, Some(2.0));
        assert!((r.messages_per_second.expect("a rate") - 500.0).abs() < 1e-9);
        assert!((r.bytes_per_second.expect("a rate") - 50_000.0).abs() < 1e-9);
        let l = r.latency_ms.expect("latency");
        assert!((l.p50 - 0.5).abs() < 0.002, "{l:?}");
        assert!((l.p99 - 0.99).abs() < 0.002, "{l:?}");
        assert!((l.max - 1.0).abs() < 0.002, "{l:?}");
        let mut text = Vec::new();
        r.write(&mut text, false).expect("write");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(
            text.contains("1000 messages") && text.contains("first error: boom"),
            "{text}"
        );
    }

    #[test]
    fn usage_per_message_is_what_the_process_used_since() {
        let before = Usage::now().expect("getrusage works here");
        // Burn CPU until getrusage counts it (it counts in ticks).
        let mut spin = 0u64;
        while Usage::now().expect("usage").cpu <= before.cpu {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let r = Report::received("t", 4, Some(Duration::from_secs(1)), 0)
            .with_usage_since(Some(before));
        let spent_us = (Usage::now().expect("usage").cpu - before.cpu).as_secs_f64() * 1e6;
        let cpu = r.cpu_us_per_message.expect("cpu per message");
        assert!(
            cpu > 0.0 && cpu * 4.0 <= spent_us,
            "{cpu} x 4 vs {spent_us}"
        );
        assert!(r.context_switches_per_message.is_some(), "{r:?}");
        let json = serde_json::to_value(&r).expect("serializes");
        assert!(json["cpu_us_per_message"].as_f64().is_some(), "{json}");
        let mut text = Vec::new();
        r.write(&mut text, false).expect("write");
        let text = String::from_utf8(text).expect("utf-8");
        assert!(
            text.contains("per message:") && text.contains("µs CPU"),
            "{text}"
        );
        // No message, nothing per message.
        let idle = Report::received("t", 0, None, 0).with_usage_since(Some(before));
        assert_eq!(
            (idle.cpu_us_per_message, idle.context_switches_per_message),
            (None, None)
        );
    }

    #[test]
    fn no_time_or_no_time_passing_gives_no_rate() {
        let idle = Report::received("server", 0, None, 100);
        assert_eq!(
            (
                idle.seconds,
                idle.messages_per_second,
                idle.bytes_per_second
            ),
            (None, None, None)
        );
        let json = serde_json::to_value(&idle).expect("serializes");
        assert!(
            json["seconds"].is_null() && json["messages_per_second"].is_null(),
            "{json}"
        );
        let one = Report::received("server", 1, Some(Duration::ZERO), 100);
        assert_eq!(one.seconds, Some(0.0));
        assert_eq!(one.messages_per_second, None);
        for (report, says) in [
            (idle, "server: 0 messages, 0 errors"),
            (one, "too few for a rate"),
        ] {
            let mut text = Vec::new();
            report.write(&mut text, false).expect("write");
            let text = String::from_utf8(text).expect("utf-8");
            assert!(text.contains(says), "{text}");
        }
    }
}
