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
    /// Seconds the run took.
    pub seconds: f64,
    /// `messages / seconds`.
    pub messages_per_second: f64,
    /// Payload bytes per second.
    pub bytes_per_second: f64,
    /// Latency in milliseconds (clients only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
    /// This process's peak resident memory, in kB (Linux: `VmHWM`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_kb: Option<u64>,
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
        let mut report = Self::received(workload, latency_us.len(), elapsed, payload_bytes);
        report.errors = errors;
        report.first_error = first_error;
        report.latency_ms = latency;
        report
    }

    /// A server's report: `messages` received in `elapsed`.
    pub fn received(
        workload: &str,
        messages: u64,
        elapsed: Duration,
        payload_bytes: usize,
    ) -> Self {
        let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let rate = messages as f64 / seconds;
        Self {
            workload: workload.to_owned(),
            messages,
            errors: 0,
            first_error: None,
            seconds,
            messages_per_second: rate,
            bytes_per_second: rate * payload_bytes as f64,
            latency_ms: None,
            peak_rss_kb: peak_rss_kb(),
        }
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
            writeln!(
                out,
                "{}: {} messages in {:.2} s: {:.0} msg/s, {:.0} bytes/s, {} errors",
                self.workload,
                self.messages,
                self.seconds,
                self.messages_per_second,
                self.bytes_per_second,
                self.errors
            )?;
            if let Some(kb) = self.peak_rss_kb {
                writeln!(out, "peak RSS: {kb} kB")?;
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
        assert!((r.messages_per_second - 500.0).abs() < 1e-9);
        assert!((r.bytes_per_second - 50_000.0).abs() < 1e-9);
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
}
