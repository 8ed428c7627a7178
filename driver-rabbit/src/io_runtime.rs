//! The runtime the driver's connections, heartbeats and consumers run on:
//! OS threads of its own, so that the application's runtime, however busy
//! or blocked, cannot stall them (see DESIGN.md, "why heartbeats get their
//! own thread").

use oslo_messaging_core::{MessagingError, Result};

/// The runtime the driver's connections and consumers run on: OS threads
/// of its own, named `oslo-rabbit-io`.
pub(crate) struct IoRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl IoRuntime {
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("oslo-rabbit-io")
            .enable_all()
            .build()
            .map_err(|e| {
                MessagingError::connection(
                    crate::DRIVER,
                    format!("cannot start the I/O runtime: {e}"),
                )
            })?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    pub fn handle(&self) -> tokio::runtime::Handle {
        match &self.runtime {
            Some(rt) => rt.handle().clone(),
            None => unreachable!("the runtime is only taken in drop"),
        }
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        // The driver may be dropped inside the application's runtime, where
        // blocking on the runtime's shutdown is not allowed.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}
