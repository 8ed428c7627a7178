//! The demo endpoint `serve` runs: `echo`, `add`, `fail`, `sleep` and `block`.

use std::time::Duration;

use num_bigint::BigInt;
use oslo_messaging_core::rpc::{Endpoint, EndpointError};
use oslo_messaging_core::Result;
use serde::Deserialize;
use serde_json::{Number, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EchoArgs {
    value: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddArgs {
    a: Number,
    b: Number,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FailArgs {
    message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepArgs {
    seconds: f64,
}

/// The longest `sleep` (and `block`) accepted, in seconds.
pub const MAX_SLEEP_SECONDS: f64 = 3600.0;

/// `seconds` as a duration, or a `ValueError` outside `0..=MAX_SLEEP_SECONDS`.
fn seconds(seconds: f64) -> std::result::Result<Duration, EndpointError> {
    if !(0.0..=MAX_SLEEP_SECONDS).contains(&seconds) {
        return Err(EndpointError::new(
            "ValueError",
            format!("seconds must be between 0 and {MAX_SLEEP_SECONDS}, got {seconds}"),
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The state of the demo endpoint: it has none; the type names it.
struct DemoEndpoint;

/// The demo endpoint, with `namespace` and `version` (default: none, `1.0`).
///
/// * `echo(value)` returns `value`;
/// * `add(a, b)` returns `a + b` as Python does: two integers add exactly,
///   whatever their size (`2**64 + 1` is `18446744073709551617`); with a
///   float the sum is a float (a non-finite one raises `OverflowError`);
/// * `fail(message)` raises `builtins.ValueError(message)`;
/// * `sleep(seconds)` waits (without blocking the runtime), then returns null;
/// * `block(seconds)` blocks the thread that runs it with
///   `std::thread::sleep`, then returns null.
///
/// `block` is registered as an ordinary async method, not as a blocking
/// one, on purpose: it really stalls the runtime worker it runs on (with
/// `serve --runtime current-thread`, the whole application runtime). That
/// is the point of it: it shows that a driver whose heartbeats and
/// connection supervision run on the driver's own threads (RabbitMQ) keeps
/// its connections alive while the application's runtime is blocked.
/// Never do this in a real endpoint.
///
/// Its name (the `endpoint` label of the server metrics) is `DemoEndpoint`.
///
/// # Errors
/// A malformed `version`.
pub fn endpoint(namespace: Option<&str>, version: Option<&str>) -> Result<Endpoint> {
    let mut builder = Endpoint::builder(DemoEndpoint);
    if let Some(namespace) = namespace {
        builder = builder.namespace(namespace);
    }
    if let Some(version) = version {
        builder = builder.version(version);
    }
    builder
        .method("echo", |_, _, args: EchoArgs| async move {
            Ok::<_, EndpointError>(args.value)
        })
        .method(
            "add",
            |_, _, args: AddArgs| async move { add(&args.a, &args.b) },
        )
        .method("fail", |_, _, args: FailArgs| async move {
            Err::<(), _>(EndpointError::new("ValueError", args.message))
        })
        .method("sleep", |_, _, args: SleepArgs| async move {
            tokio::time::sleep(seconds(args.seconds)?).await;
            Ok::<_, EndpointError>(())
        })
        // Blocks the runtime's thread on purpose: see the doc comment above.
        .method("block", |_, _, args: SleepArgs| async move {
            std::thread::sleep(seconds(args.seconds)?);
            Ok::<_, EndpointError>(())
        })
        .build()
}

fn add(a: &Number, b: &Number) -> std::result::Result<Value, EndpointError> {
    if let (Some(a), Some(b)) = (integer(a), integer(b)) {
        let sum = (a + b).to_string();
        return sum
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|e| EndpointError::new("OverflowError", format!("cannot encode {sum}: {e}")));
    }
    let (a, b) = (
        a.as_f64().unwrap_or(f64::NAN),
        b.as_f64().unwrap_or(f64::NAN),
    );
    Number::from_f64(a + b)
        .map(Value::Number)
        .ok_or_else(|| EndpointError::new("OverflowError", "the sum is not a finite number"))
}

/// `n` as an integer of any size, when it was written as one (no fraction
/// or exponent, as Python's `json` writes an `int`).
fn integer(n: &Number) -> Option<BigInt> {
    let text = n.to_string();
    if text.contains(['.', 'e', 'E']) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(v: Value) -> Number {
        match v {
            Value::Number(n) => n,
            other => panic!("not a number: {other}"),
        }
    }

    #[test]
    fn add_is_exact_for_integers_of_any_size_as_in_python() {
        let big = |text: &str| text.parse::<Number>().expect("number");
        assert_eq!(add(&n(json!(2)), &n(json!(40))).ok(), Some(json!(42)));
        assert_eq!(add(&n(json!(0.5)), &n(json!(1))).ok(), Some(json!(1.5)));
        let sum = add(&big("9223372036854775808"), &n(json!(1))).expect("2**63 + 1");
        assert_eq!(sum.to_string(), "9223372036854775809");
        let sum =
            add(&big("-340282366920938463463374607431768211456"), &big("1")).expect("-2**128 + 1");
        assert_eq!(sum.to_string(), "-340282366920938463463374607431768211455");
        let e = add(&big("1e308"), &big("1e308")).expect_err("not finite");
        assert_eq!(e.failure().class, "OverflowError");
    }

    #[test]
    fn endpoint_has_the_demo_methods() {
        let e = endpoint(Some("demo"), Some("1.2")).expect("valid");
        for m in ["echo", "add", "fail", "sleep", "block"] {
            assert!(e.has_method(m), "{m}");
        }
        assert!(endpoint(None, Some("x")).is_err());
    }

    #[test]
    fn seconds_are_checked() {
        assert_eq!(seconds(0.25).ok(), Some(Duration::from_millis(250)));
        assert!(seconds(MAX_SLEEP_SECONDS).is_ok());
        for bad in [-1.0, f64::NAN, f64::INFINITY, MAX_SLEEP_SECONDS + 1.0] {
            let e = seconds(bad).expect_err("rejected");
            assert_eq!(e.failure().class, "ValueError", "{bad}");
        }
    }
}
