//! Metrics read as an operator reads them, for tests: a Prometheus recorder
//! installed as the process's global recorder (once per test binary), and
//! the value of one series of its text.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::telemetry::metrics as names;

/// The process's Prometheus recorder, installed on first use with
/// oslo.metrics' buckets for every histogram and the metrics described.
///
/// # Panics
/// When another global recorder was installed first.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(names::RPC_PROCESSING_SECONDS_BUCKETS)
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only global recorder of this binary");
        names::describe();
        handle
    })
}

/// The value of the series `name` (as Prometheus writes it: dots become
/// underscores) whose labels include every `labels` pair; a pair with an
/// empty value means that label is absent. 0 when there is none.
///
/// # Panics
/// When several series match (the labels given do not pick one).
pub fn value(name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = recorder().render();
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, v)) = line.rsplit_once(' ') else {
            continue;
        };
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        if metric != name {
            continue;
        }
        if labels.iter().all(|(k, v)| match v.is_empty() {
            true => !rest.contains(&format!("{k}=\"")),
            false => rest.contains(&format!("{k}=\"{v}\"")),
        }) {
            found.push(v.parse::<f64>().expect("a number"));
        }
    }
    assert!(
        found.len() <= 1,
        "{name} {labels:?} matches several series:\n{text}"
    );
    found.first().copied().unwrap_or(0.0)
}
