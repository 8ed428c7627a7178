//! Example application code, as an OpenStack-style service writes it:
//!
//! * [`compute`]: the compute RPC interface, written once as traits, in
//!   two major versions served side by side (as services keep both during
//!   an upgrade), and the manager that implements them;
//! * [`InstanceService`]: a caller that uses the generated typed client
//!   over any [`RpcSend`], so it runs against a real [`RpcClient`] in
//!   production and against `MockRpcSend` in its unit tests
//!   (`tests/mocked_service.rs`); the unit tests at the end of this file
//!   serve mockall's `MockComputeV2` (the trait's mock) instead of the
//!   manager.
//!
//! [`RpcClient`]: oslo_messaging_core::RpcClient
#![deny(missing_docs)]

use oslo_messaging_core::{Context, Result, RpcSend};

/// The `main` of the example binaries: logs to stderr (`RUST_LOG`,
/// default `warn`), runs `run` with a transport on the URL given as the
/// first argument (`fake://` when there is none), and exits with status 1,
/// saying why, when it fails.
pub async fn main_with_url_arg<F, Fut>(name: &str, run: F) -> std::process::ExitCode
where
    F: FnOnce(oslo_messaging_core::Transport) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fake://".to_owned());
    let outcome = match oslo_messaging_core::Transport::from_url(&url) {
        Ok(t) => {
            println!("transport: {} ({})", t.url(), t.driver().name());
            run(t).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name} failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub mod compute {
    //! The compute service's RPC interface, versions 1.4 and 2.0, and
    //! [`ComputeManager`], which implements both.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use oslo_messaging_core::{rpc_interface, Context, Endpoint, EndpointError};

    /// Version 1.x of the interface: what services not yet upgraded call.
    #[rpc_interface(namespace = "compute", version = "1.4")]
    #[cfg_attr(test, mockall::automock)]
    pub trait ComputeV1 {
        /// The host the instance should run on.
        async fn select_host(
            &self,
            ctx: &Context,
            instance: String,
        ) -> Result<String, EndpointError>;
        /// Boots the instance on `host` (a cast).
        #[rpc(cast)]
        async fn boot(
            &self,
            ctx: &Context,
            instance: String,
            host: String,
        ) -> Result<(), EndpointError>;
        /// A console URL (since 1.4); `kind` defaults to `novnc`.
        #[rpc(version = "1.4", expected = ["InstanceNotFound"])]
        async fn get_console(
            &self,
            ctx: &Context,
            instance: String,
            kind: Option<String>,
        ) -> Result<String, EndpointError>;
    }

    /// Version 2.x: `select_host` needs the flavor.
    #[rpc_interface(namespace = "compute", version = "2.0")]
    #[cfg_attr(test, mockall::automock)]
    pub trait ComputeV2 {
        /// The host for an instance of `flavor`.
        async fn select_host(
            &self,
            ctx: &Context,
            instance: String,
            flavor: String,
        ) -> Result<String, EndpointError>;
        /// Boots the instance on `host` (a cast).
        #[rpc(cast)]
        async fn boot(
            &self,
            ctx: &Context,
            instance: String,
            host: String,
        ) -> Result<(), EndpointError>;
    }

    /// The compute manager: one state, served as 1.4 and 2.0 at once.
    /// Cheap to clone (each endpoint holds a clone).
    #[derive(Clone, Default)]
    pub struct ComputeManager {
        booted: Arc<Mutex<Vec<(String, String)>>>,
        picks: Arc<AtomicU64>,
    }

    impl ComputeManager {
        /// Both versions' endpoints, for `RpcServer::builder(..).endpoint(..)`.
        pub fn endpoints(&self) -> [Endpoint; 2] {
            [
                ComputeV1Endpoint::new(self.clone()).into(),
                ComputeV2Endpoint::new(self.clone()).into(),
            ]
        }

        /// `(instance, host)` of every boot so far.
        pub fn booted(&self) -> Vec<(String, String)> {
            self.booted.lock().map(|b| b.clone()).unwrap_or_default()
        }

        fn pick(&self, flavor: &str) -> String {
            let n = self.picks.fetch_add(1, Ordering::Relaxed);
            format!("{flavor}-host-{n}")
        }

        fn boot_on(&self, instance: String, host: String) {
            if let Ok(mut booted) = self.booted.lock() {
                booted.push((instance, host));
            }
        }
    }

    impl ComputeV1 for ComputeManager {
        async fn select_host(&self, _: &Context, _: String) -> Result<String, EndpointError> {
            Ok(self.pick("m1.small"))
        }

        async fn boot(
            &self,
            _: &Context,
            instance: String,
            host: String,
        ) -> Result<(), EndpointError> {
            self.boot_on(instance, host);
            Ok(())
        }

        async fn get_console(
            &self,
            _: &Context,
            instance: String,
            kind: Option<String>,
        ) -> Result<String, EndpointError> {
            if !self.booted().iter().any(|(i, _)| *i == instance) {
                return Err(EndpointError::new(
                    "InstanceNotFound",
                    format!("Instance {instance} could not be found."),
                )
                .with_module("nova.exception"));
            }
            let kind = kind.as_deref().unwrap_or("novnc");
            Ok(format!("https://console.example/{kind}/{instance}"))
        }
    }

    impl ComputeV2 for ComputeManager {
        async fn select_host(
            &self,
            _: &Context,
            _: String,
            flavor: String,
        ) -> Result<String, EndpointError> {
            Ok(self.pick(&flavor))
        }

        async fn boot(
            &self,
            _: &Context,
            instance: String,
            host: String,
        ) -> Result<(), EndpointError> {
            self.boot_on(instance, host);
            Ok(())
        }
    }
}

/// Boots instances by asking the compute service over RPC, with the
/// generated 2.x client.
pub struct InstanceService<R: RpcSend + 'static> {
    compute: compute::ComputeV2Client<R>,
}

impl<R: RpcSend + 'static> InstanceService<R> {
    /// A service that reaches compute through `sender` (an `RpcClient` for
    /// the `compute` topic, in production).
    pub fn new(sender: R) -> Self {
        Self {
            compute: compute::ComputeV2Client::new(sender),
        }
    }

    /// Asks compute for a host for an instance of `flavor`, then tells it
    /// (without waiting) to boot there. Returns the chosen host.
    ///
    /// # Errors
    /// Whatever the RPC layer returns.
    pub async fn boot(&self, ctx: &Context, name: &str, flavor: &str) -> Result<String> {
        let host = self
            .compute
            .select_host(ctx, name.to_owned(), flavor.to_owned())
            .await?;
        self.compute
            .boot(ctx, name.to_owned(), host.clone())
            .await?;
        Ok(host)
    }
}

#[cfg(test)]
mod tests {
    //! The service against mockall's mock of the compute interface, served
    //! over the in-memory `fake://` transport: what the service sends is
    //! checked where it arrives, as typed arguments.

    use super::compute::{ComputeV2Endpoint, MockComputeV2};
    use super::InstanceService;
    use mockall::predicate::{always, eq};
    use oslo_messaging_core::{Context, MessagingError, RpcClient, RpcServer, Target, Transport};
    use oslo_messaging_driver_fake as _;

    async fn served(compute: MockComputeV2, vhost: &str) -> (Transport, RpcServer) {
        let transport = Transport::from_url(&format!("fake:///{vhost}")).expect("fake transport");
        let server = RpcServer::builder(&transport, Target::server("compute", "c1"))
            .endpoint(ComputeV2Endpoint::new(compute))
            .build()
            .expect("server");
        server.start().await.expect("start");
        (transport, server)
    }

    #[tokio::test]
    async fn boot_selects_a_host_for_the_flavor_then_boots_there() {
        let mut compute = MockComputeV2::new();
        compute
            .expect_select_host()
            .with(always(), eq("vm1".to_owned()), eq("m1.tiny".to_owned()))
            .times(1)
            .returning(|_, _, _| Box::pin(async { Ok("host-7".to_owned()) }));
        let (booted_tx, mut booted) = tokio::sync::mpsc::unbounded_channel();
        compute
            .expect_boot()
            .with(always(), eq("vm1".to_owned()), eq("host-7".to_owned()))
            .times(1)
            .returning(move |_, _, _| {
                let _ = booted_tx.send(());
                Box::pin(async { Ok(()) })
            });
        let (transport, server) = served(compute, "boot").await;
        let service = InstanceService::new(RpcClient::new(&transport, Target::topic("compute")));
        let host = service
            .boot(&Context::new(), "vm1", "m1.tiny")
            .await
            .expect("boots");
        assert_eq!(host, "host-7");
        let reached = tokio::time::timeout(std::time::Duration::from_secs(10), booted.recv()).await;
        assert_eq!(reached, Ok(Some(())), "the boot cast reached compute");
        server.stop().await.expect("stop");
        server.wait().await.expect("wait");
    }

    /// The manager serves 1.4 and 2.0 side by side: each client gets the
    /// version it asks for, and 1.4's `get_console` raises the expected
    /// `InstanceNotFound` until the instance is booted.
    #[tokio::test]
    async fn the_manager_serves_both_versions_side_by_side() {
        use super::compute::{ComputeManager, ComputeV1Client, ComputeV2Client};
        let transport = Transport::from_url("fake:///two-versions").expect("fake transport");
        let manager = ComputeManager::default();
        let mut builder = RpcServer::builder(&transport, Target::server("compute", "c1"));
        for endpoint in manager.endpoints() {
            builder = builder.endpoint(endpoint);
        }
        let server = builder.build().expect("server");
        server.start().await.expect("start");
        let rpc = RpcClient::new(&transport, Target::topic("compute"));
        let (v1, v2) = (ComputeV1Client::new(rpc.clone()), ComputeV2Client::new(rpc));
        let ctx = Context::new();
        let old = v1.select_host(&ctx, "vm1".into()).await.expect("1.0");
        let new = v2
            .select_host(&ctx, "vm2".into(), "m1.large".into())
            .await
            .expect("2.0");
        assert_eq!(
            (old.as_str(), new.as_str()),
            ("m1.small-host-0", "m1.large-host-1")
        );
        let e = v1
            .get_console(&ctx, "vm1".into(), None)
            .await
            .expect_err("not booted");
        assert!(
            matches!(&e, MessagingError::Remote(f) if f.class == "InstanceNotFound" && f.module == "nova.exception"),
            "{e}"
        );
        v2.boot(&ctx, "vm1".into(), old.clone())
            .await
            .expect("cast");
        // Requests run concurrently: ask until the cast has been handled.
        let url = loop {
            match v1.get_console(&ctx, "vm1".into(), None).await {
                Ok(url) => break url,
                Err(MessagingError::Remote(f)) if f.class == "InstanceNotFound" => {
                    tokio::task::yield_now().await
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(url, "https://console.example/novnc/vm1");
        assert_eq!(manager.booted(), [("vm1".to_owned(), old)]);
        server.stop().await.expect("stop");
        server.wait().await.expect("wait");
    }

    #[tokio::test]
    async fn a_failing_compute_is_a_remote_error_and_nothing_boots() {
        let mut compute = MockComputeV2::new();
        compute.expect_select_host().times(1).returning(|_, _, _| {
            Box::pin(async {
                Err(oslo_messaging_core::EndpointError::new(
                    "NoValidHost",
                    "No valid host was found.",
                ))
            })
        });
        compute.expect_boot().never();
        let (transport, server) = served(compute, "fail").await;
        let service = InstanceService::new(RpcClient::new(&transport, Target::topic("compute")));
        let e = service
            .boot(&Context::new(), "vm1", "m1.tiny")
            .await
            .expect_err("no host");
        assert!(
            matches!(&e, MessagingError::Remote(f) if f.class == "NoValidHost"),
            "{e}"
        );
        server.stop().await.expect("stop");
        server.wait().await.expect("wait");
    }
}
