//! The driver-neutral conformance suite (feature `conformance`).
//!
//! Every case is a `pub async fn(&Harness)` in [`rpc`], [`interface`] or
//! [`notify`]; a
//! driver crate runs them all with one line in a test file:
//!
//! ```ignore
//! oslo_messaging_core::conformance_suite!(my_harness());
//! ```
//!
//! where `my_harness()` returns a [`Harness`] that builds transports on the
//! driver under test. Cases run by capability: those of a capability the
//! driver does not claim ([`Driver::capabilities`]) are replaced by a check
//! that the driver refuses it with `Unsupported` ([`unclaimed`]).
//!
//! [`Driver::capabilities`]: crate::driver::Driver::capabilities Cases isolate themselves with [`Harness::unique`]
//! names, so they can share one broker and run in parallel.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::transport::Transport;

pub mod interface;
pub mod notify;
pub mod prometheus;
pub mod rpc;
mod support;
pub mod telemetry;
pub mod unclaimed;

pub use support::*;

type MakeTransport =
    dyn Fn(Config) -> Pin<Box<dyn Future<Output = Transport> + Send>> + Send + Sync;
type Teardown = dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

/// What a case needs from the driver under test.
#[derive(Clone)]
pub struct Harness {
    make: Arc<MakeTransport>,
    teardown: Option<Arc<Teardown>>,
    prefix: String,
    /// Upper bound for waiting on something that must happen (a reply, a
    /// delivery). Cases never sleep to let things happen; this only turns a
    /// hang into a failure.
    pub patience: Duration,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

impl Harness {
    /// A harness whose transports come from `make`, given the options to build them with.
    pub fn new<F, Fut>(make: F) -> Self
    where
        F: Fn(Config) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Transport> + Send + 'static,
    {
        Self {
            make: Arc::new(move |config| Box::pin(make(config))),
            teardown: None,
            prefix: format!("conf{}", std::process::id()),
            patience: Duration::from_secs(20),
        }
    }

    /// Runs `teardown` after each case, passed or failed: a driver on a real
    /// broker deletes the queues and exchanges the case declared.
    pub fn with_teardown<F, Fut>(mut self, teardown: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.teardown = Some(Arc::new(move || Box::pin(teardown())));
        self
    }

    /// Runs one case, then the teardown (even when the case panics), then
    /// lets the case's panic continue.
    pub async fn run(&self, case: impl Future<Output = ()>) {
        let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(case)).await;
        if let Some(teardown) = &self.teardown {
            teardown().await;
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    }

    /// A transport on the driver under test. Each call may return a new
    /// one; all of them reach the same broker.
    pub async fn transport(&self) -> Transport {
        (self.make)(Config::defaults()).await
    }

    /// A transport on the driver under test, built with `config`.
    pub async fn transport_with(&self, config: &Config) -> Transport {
        (self.make)(config.clone()).await
    }

    /// A transport on the driver under test with `rpc_ping_enabled`, so
    /// that its servers answer `oslo_rpc_server_ping`.
    pub async fn transport_with_ping(&self) -> Transport {
        let config = Config::builder()
            .set("DEFAULT", "rpc_ping_enabled", "true")
            .build()
            .expect("config");
        self.transport_with(&config).await
    }

    /// What the driver under test claims ([`Driver::capabilities`] of a
    /// transport built with default options).
    ///
    /// [`Driver::capabilities`]: crate::driver::Driver::capabilities
    pub async fn capabilities(&self) -> crate::driver::Capabilities {
        self.transport().await.driver().capabilities()
    }

    /// Runs `case` when the driver claims `capability`; otherwise checks
    /// that the driver refuses it ([`unclaimed::refuses`]).
    pub async fn run_if_claimed(
        &self,
        capability: crate::driver::Capability,
        case: impl Future<Output = ()>,
    ) {
        if self.capabilities().await.supports(capability) {
            self.run(case).await;
        } else {
            self.run(unclaimed::refuses(self, capability)).await;
        }
    }

    /// A name no other case uses (for topics, exchanges, pools, servers).
    pub fn unique(&self, what: &str) -> String {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        format!("{}_{what}_{n}", self.prefix)
    }
}

/// Expands to one `#[tokio::test]` per conformance case, each calling the
/// case with the harness `$harness` builds. Each case is tagged with the
/// [`Capability`](crate::driver::Capability) it needs: a driver that does
/// not claim it is checked to refuse it instead
/// ([`Harness::run_if_claimed`]).
#[macro_export]
macro_rules! conformance_suite {
    ($harness:expr) => {
        $crate::__conformance_cases!(
            $harness;
            Rpc: rpc::call_returns_result,
            Rpc: rpc::cast_is_delivered,
            Rpc: rpc::handled_requests_are_not_redelivered,
            Rpc: rpc::context_travels_with_request,
            Rpc: rpc::json_values_keep_exact_integers_and_key_order,
            Rpc: rpc::topic_queue_is_shared_round_robin,
            Rpc: rpc::server_queue_reaches_one_server,
            Rpc: rpc::fanout_cast_reaches_every_server,
            Rpc: rpc::call_to_nobody_times_out,
            Rpc: rpc::remote_error_carries_class_module_message,
            Rpc: rpc::dispatch_by_namespace_and_version,
            Rpc: rpc::no_such_method_and_unsupported_version,
            Rpc: rpc::access_policy_refuses_private_methods,
            Rpc: rpc::wrong_arguments_are_type_errors,
            Rpc: rpc::panic_becomes_remote_error_and_server_keeps_serving,
            Rpc: rpc::version_cap_is_enforced,
            Rpc: rpc::ping_endpoint_answers_when_enabled,
            Rpc: rpc::call_monitor_keeps_long_call_alive,
            Rpc: rpc::server_lifecycle_misuse_is_an_error,
            Rpc: rpc::stop_takes_no_new_requests_and_wait_drains,
            Rpc: rpc::blocking_method_runs_on_threading_executor,
            Rpc: rpc::inline_executor_keeps_order,
            Rpc: rpc::exchange_isolates_targets,
            Rpc: rpc::at_least_once_reports_unroutable_requests,
            Rpc: interface::interface_client_calls_trait_server,
            Rpc: interface::interface_binds_keyword_arguments_as_python,
            Rpc: interface::interface_methods_ask_for_their_own_version,
            Rpc: interface::interface_major_versions_side_by_side,
            Notifications: notify::notify_every_priority_arrives_with_fields,
            Notifications: notify::notify_v1_and_v2_formats_arrive,
            Notifications: notify::notify_payload_keeps_exact_integers_and_key_order,
            Notifications: notify::notify_multiple_topics_and_prepare,
            Notifications: notify::notify_filters_select_by_each_field,
            Requeue: notify::notify_requeue_honoured_when_allowed,
            Notifications: notify::notify_requeue_ignored_when_not_allowed,
            Notifications: notify::notify_pools_each_get_every_message,
            Notifications: notify::notify_listeners_in_one_pool_share_messages,
            Notifications: notify::notify_batch_size_reached_gives_one_batch,
            Notifications: notify::notify_batch_timeout_flushes_partial_batch,
            Notifications: notify::notify_listener_lifecycle_errors,
            Notifications: notify::notify_disabled_notifier_sends_nothing,
            Notifications: notify::notify_test_driver_records,
            Notifications: notify::notify_routing_driver_routes_per_rules,
            Notifications: notify::notify_malformed_notification_is_dropped,
            RetainsNotificationsBeforeListeners: notify::notify_sent_before_any_listener_is_kept,
            Rpc: telemetry::traces_follow_a_call_to_the_server,
            Notifications: telemetry::notify_carries_trace_context,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($harness:expr; $($capability:ident : $module:ident :: $case:ident),* $(,)?) => {
        $(
            $crate::__paste_case!($harness, $capability, $module, $case);
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __paste_case {
    ($harness:expr, $capability:ident, $module:ident, $case:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            let harness = $harness;
            harness
                .run_if_claimed(
                    $crate::driver::Capability::$capability,
                    $crate::conformance::$module::$case(&harness),
                )
                .await;
        }
    };
}
