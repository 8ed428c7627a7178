//! Driver registry: driver crates register a factory for their URL schemes
//! with [`inventory`], and [`Transport`](crate::Transport) picks one by scheme.
//!
//! # Keeping a driver in the binary
//!
//! Registration runs from a static the driver crate defines. If a binary
//! never names the driver crate, the linker leaves the crate out and its
//! scheme is unknown at run time. Name it once, anywhere in the binary:
//!
//! ```ignore
//! use oslo_messaging_driver_fake as _;
//! ```

use std::sync::Arc;

use crate::config::Config;
use crate::driver::Driver;
use crate::error::{MessagingError, Result};
use crate::transport_url::TransportUrl;

/// Builds a driver for a parsed URL and the loaded configuration.
///
/// A factory must not block or connect: drivers connect lazily or in the
/// background so that building a transport is cheap.
pub type DriverFactory = fn(&TransportUrl, &Config) -> Result<Arc<dyn Driver>>;

/// One driver's entry in the registry.
pub struct DriverRegistration {
    /// URL schemes served, e.g. `&["rabbit", "kombu"]`.
    pub schemes: &'static [&'static str],
    /// Builds the driver.
    pub factory: DriverFactory,
}

inventory::collect!(DriverRegistration);

/// Register a driver factory for some schemes. Use once in a driver crate:
///
/// ```ignore
/// oslo_messaging_core::register_driver!(&["fake"], make_fake_driver);
/// ```
#[macro_export]
macro_rules! register_driver {
    ($schemes:expr, $factory:expr) => {
        $crate::__inventory::submit! {
            $crate::registry::DriverRegistration { schemes: $schemes, factory: $factory }
        }
    };
}

/// Every registered scheme, sorted.
pub fn registered_schemes() -> Vec<String> {
    let mut schemes: Vec<String> = inventory::iter::<DriverRegistration>
        .into_iter()
        .flat_map(|r| r.schemes.iter().map(|s| (*s).to_owned()))
        .collect();
    schemes.sort();
    schemes.dedup();
    schemes
}

/// Build the driver for `url`'s scheme (`a+b` uses `a`).
///
/// # Errors
/// [`MessagingError::DriverLoadFailure`] listing the registered schemes when
/// none matches; whatever the factory returns.
pub fn load_driver(url: &TransportUrl, config: &Config) -> Result<Arc<dyn Driver>> {
    let scheme = url.driver_name();
    inventory::iter::<DriverRegistration>
        .into_iter()
        .find(|r| r.schemes.contains(&scheme))
        .map(|r| (r.factory)(url, config))
        .unwrap_or_else(|| {
            Err(MessagingError::DriverLoadFailure {
                scheme: scheme.to_owned(),
                registered: registered_schemes(),
            })
        })
}
