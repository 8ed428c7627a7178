//! What the dispatcher logs for requests it could not serve
//! (`oslo_messaging/rpc/server.py`, `_process_incoming`).

use std::sync::{Arc, Mutex};

use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::Level;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::Layer;

use super::*;
use crate::serializer::NoOpSerializer;

/// One logged event: its level and `field=value` text (message included).
#[derive(Debug, Clone)]
struct Logged {
    level: Level,
    text: String,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Logged>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push_str(&format!("{}={} ", field.name(), value));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.0.lock().expect("lock").push(Logged {
            level: *event.metadata().level(),
            text: fields.0,
        });
    }
}

impl Capture {
    /// Runs `dispatch` of `message` with this capture as the subscriber and
    /// returns the failure class (if any) and what was logged at `level`.
    async fn dispatch(
        &self,
        d: &Dispatcher,
        message: RpcMessage,
        level: Level,
    ) -> (Option<String>, Vec<String>) {
        let subscriber = tracing_subscriber::registry().with(self.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let outcome = d.dispatch(Map::new(), message).await;
        let logged = std::mem::take(&mut *self.0.lock().expect("lock"));
        (
            outcome.err().map(|f| f.class.clone()),
            logged
                .into_iter()
                .filter(|l| l.level == level)
                .map(|l| l.text)
                .collect(),
        )
    }
}

fn request(
    method: &str,
    namespace: Option<&str>,
    version: Option<&str>,
    args: Value,
) -> RpcMessage {
    RpcMessage {
        method: method.into(),
        args: args.as_object().cloned().unwrap_or_default(),
        namespace: namespace.map(Into::into),
        version: version.map(Into::into),
    }
}

fn dispatcher() -> Dispatcher {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        n: i64,
    }
    let endpoint = Endpoint::builder(())
        .namespace("calc")
        .version("1.2")
        .expected_errors(["KeyError"])
        .method("half", |_, _, a: Args| async move {
            if a.n % 2 == 1 {
                return Err(EndpointError::new("ValueError", "odd"));
            }
            if a.n < 0 {
                return Err(EndpointError::new("KeyError", "negative"));
            }
            Ok(a.n / 2)
        })
        .build()
        .expect("endpoint");
    Dispatcher::new(
        vec![endpoint],
        AccessPolicy::Default,
        Arc::new(NoOpSerializer),
        false,
    )
}

#[tokio::test]
async fn every_request_that_cannot_be_dispatched_is_logged_as_an_error() {
    let d = dispatcher();
    let log = Capture::default();
    let cases = [
        (
            request("no_such_method", Some("calc"), Some("1.0"), json!({})),
            classes::NO_SUCH_METHOD,
        ),
        (
            request("half", Some("calc"), Some("2.0"), json!({"n": 2})),
            classes::UNSUPPORTED_VERSION,
        ),
        (
            request("half", Some("other"), None, json!({"n": 2})),
            classes::UNSUPPORTED_VERSION,
        ),
        (
            request("half", Some("calc"), Some("x"), json!({"n": 2})),
            classes::UNSUPPORTED_VERSION,
        ),
        (
            request("_private", Some("calc"), None, json!({})),
            classes::NO_SUCH_METHOD,
        ),
        (
            request("half", Some("calc"), None, json!({"n": "two"})),
            classes::TYPE_ERROR,
        ),
        (
            request("half", Some("calc"), None, json!({"n": 3})),
            "ValueError",
        ),
    ];
    for (message, class) in cases {
        let method = message.method.clone();
        let namespace = message.namespace.clone().unwrap_or_default();
        let (failed, errors) = log.dispatch(&d, message, Level::ERROR).await;
        assert_eq!(failed.as_deref(), Some(class), "{method}");
        assert_eq!(errors.len(), 1, "one error logged for {method}: {errors:?}");
        let line = &errors[0];
        assert!(line.contains("Exception during message handling"), "{line}");
        assert!(line.contains(&format!("method={method} ")), "{line}");
        assert!(line.contains(&format!("namespace={namespace} ")), "{line}");
        assert!(line.contains(&format!("class={class} ")), "{line}");
    }
}

#[tokio::test]
async fn expected_exceptions_and_ignore_errors_methods_are_logged_at_debug_as_in_python() {
    let d = dispatcher();
    let log = Capture::default();
    let (failed, errors) = log
        .dispatch(
            &d,
            request("half", Some("calc"), None, json!({"n": -2})),
            Level::ERROR,
        )
        .await;
    assert_eq!(
        (failed.as_deref(), errors.len()),
        (Some("KeyError"), 0),
        "{errors:?}"
    );
    let (_, debug) = log
        .dispatch(
            &d,
            request("half", Some("calc"), None, json!({"n": -2})),
            Level::DEBUG,
        )
        .await;
    assert!(
        debug
            .iter()
            .any(|l| l.contains("Expected exception during message handling")),
        "{debug:?}"
    );

    let (failed, errors) = log
        .dispatch(
            &d,
            request("sync_ignore_errors", Some("calc"), None, json!({})),
            Level::ERROR,
        )
        .await;
    assert_eq!(
        (failed.as_deref(), errors.len()),
        (Some(classes::NO_SUCH_METHOD), 0),
        "{errors:?}"
    );
    let (_, debug) = log
        .dispatch(
            &d,
            request("sync_ignore_errors", Some("calc"), None, json!({})),
            Level::DEBUG,
        )
        .await;
    assert!(
        debug
            .iter()
            .any(|l| l.contains("Method sync_ignore_errors not found")),
        "{debug:?}"
    );

    let (failed, errors) = log
        .dispatch(
            &d,
            request("half", Some("calc"), Some("1.1"), json!({"n": 4})),
            Level::ERROR,
        )
        .await;
    assert_eq!(
        (failed, errors.len()),
        (None, 0),
        "a served request logs no error"
    );
}

/// An interface's `#[rpc(expected = [...])]`: those classes of that
/// method are logged at debug level, others still as errors.
#[tokio::test]
async fn a_methods_expected_errors_of_an_interface_are_logged_at_debug() {
    use crate::{rpc_interface, Context};

    #[rpc_interface(namespace = "calc", version = "1.0")]
    trait Lookup {
        #[rpc(expected = ["NotFound"])]
        async fn get(&self, ctx: &Context, key: String) -> Result<i64, EndpointError>;
        async fn put(&self, ctx: &Context, key: String) -> Result<(), EndpointError>;
    }
    struct Store;
    impl Lookup for Store {
        async fn get(&self, _: &Context, key: String) -> Result<i64, EndpointError> {
            Err(EndpointError::new("NotFound", key))
        }
        async fn put(&self, _: &Context, key: String) -> Result<(), EndpointError> {
            Err(EndpointError::new("NotFound", key))
        }
    }
    let d = Dispatcher::new(
        vec![LookupEndpoint::new(Store).into()],
        AccessPolicy::Default,
        Arc::new(NoOpSerializer),
        false,
    );
    let log = Capture::default();
    let get = || request("get", Some("calc"), None, json!({"key": "k"}));
    let (failed, errors) = log.dispatch(&d, get(), Level::ERROR).await;
    assert_eq!(
        (failed.as_deref(), errors.len()),
        (Some("NotFound"), 0),
        "{errors:?}"
    );
    let (_, debug) = log.dispatch(&d, get(), Level::DEBUG).await;
    assert!(
        debug
            .iter()
            .any(|l| l.contains("Expected exception during message handling")),
        "{debug:?}"
    );
    let put = request("put", Some("calc"), None, json!({"key": "k"}));
    let (failed, errors) = log.dispatch(&d, put, Level::ERROR).await;
    assert_eq!(
        (failed.as_deref(), errors.len()),
        (Some("NotFound"), 1),
        "{errors:?}"
    );
}
