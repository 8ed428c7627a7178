//! [`Transport`]: a driver chosen by URL, with its configuration.

use std::fmt;
use std::sync::Arc;

use crate::config::{Config, DefaultGroup};
use crate::driver::Driver;
use crate::error::Result;
use crate::registry;
use crate::telemetry::{Observer, Telemetry};
use crate::transport_url::TransportUrl;

/// The URL used when neither the caller nor the configuration names one.
pub const DEFAULT_TRANSPORT_URL: &str = "rabbit://";

/// A connection to a messaging backend, shared by clients, servers,
/// notifiers and listeners. Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    driver: Arc<dyn Driver>,
    url: TransportUrl,
    config: Config,
    defaults: DefaultGroup,
    telemetry: Telemetry,
    observer: Option<Arc<Observer>>,
}

impl Inner {
    fn new(
        driver: Arc<dyn Driver>,
        url: TransportUrl,
        config: &Config,
        telemetry: Telemetry,
    ) -> Result<Self> {
        let observer = telemetry.observer(driver.name());
        Ok(Self {
            driver,
            url,
            config: config.clone(),
            defaults: config.default_group()?,
            telemetry,
            observer,
        })
    }
}

impl Transport {
    /// A transport for `url` with every option at its default.
    ///
    /// # Errors
    /// A malformed URL, an unknown scheme, or the driver's own errors.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::new(&Config::defaults(), Some(url))
    }

    /// A transport for `url`, or `[DEFAULT] transport_url`, or `rabbit://`.
    ///
    /// # Errors
    /// A malformed URL, an unknown scheme, a bad option, or the driver's own errors.
    pub fn new(config: &Config, url: Option<&str>) -> Result<Self> {
        let defaults = config.default_group()?;
        let url = url
            .map(str::to_owned)
            .or_else(|| defaults.transport_url.clone())
            .unwrap_or_else(|| DEFAULT_TRANSPORT_URL.to_owned());
        Self::build(config, &url)
    }

    /// The notification transport: `url`, or
    /// `[oslo_messaging_notifications] transport_url`, or the RPC one.
    ///
    /// # Errors
    /// As [`Transport::new`].
    pub fn for_notifications(config: &Config, url: Option<&str>) -> Result<Self> {
        let defaults = config.default_group()?;
        let url = match url {
            Some(u) => u.to_owned(),
            None => config
                .notifications_group()?
                .transport_url
                .or_else(|| defaults.transport_url.clone())
                .unwrap_or_else(|| DEFAULT_TRANSPORT_URL.to_owned()),
        };
        Self::build(config, &url)
    }

    fn build(config: &Config, url: &str) -> Result<Self> {
        let url = TransportUrl::parse(url)?;
        let telemetry = Telemetry::from_config(config)?;
        let driver = registry::load_driver(&url, config)?;
        Ok(Self {
            inner: Arc::new(Inner::new(driver, url, config, telemetry)?),
        })
    }

    /// A transport around an already built driver (for tests and embedding).
    ///
    /// # Errors
    /// A bad `[DEFAULT]`, `[oslo_messaging_tracing]` or
    /// `[oslo_messaging_metrics]` option in `config`.
    pub fn with_driver(
        driver: Arc<dyn Driver>,
        url: TransportUrl,
        config: &Config,
    ) -> Result<Self> {
        let telemetry = Telemetry::from_config(config)?;
        Ok(Self {
            inner: Arc::new(Inner::new(driver, url, config, telemetry)?),
        })
    }

    /// The same transport (same driver and connections) recording what
    /// `telemetry` asks for instead of what the configuration did: clients,
    /// servers, notifiers and listeners made from the returned transport
    /// trace and count with it.
    ///
    /// ```
    /// # fn demo(transport: oslo_messaging_core::Transport) {
    /// use oslo_messaging_core::telemetry::Telemetry;
    /// let provider = opentelemetry::trace::noop::NoopTracerProvider::new();
    /// let traced = transport.with_telemetry(Telemetry::default().with_tracer_provider(&provider));
    /// assert!(traced.telemetry().is_tracing());
    /// # }
    /// ```
    pub fn with_telemetry(&self, telemetry: Telemetry) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                driver: inner.driver.clone(),
                url: inner.url.clone(),
                config: inner.config.clone(),
                defaults: inner.defaults.clone(),
                observer: telemetry.observer(inner.driver.name()),
                telemetry,
            }),
        }
    }

    /// What the transport records (traces, metrics).
    pub fn telemetry(&self) -> &Telemetry {
        &self.inner.telemetry
    }

    /// What records, when anything is on.
    pub(crate) fn observer(&self) -> Option<&Arc<Observer>> {
        self.inner.observer.as_ref()
    }

    /// Opens the driver's connections now instead of on first use.
    ///
    /// # Errors
    /// The connection failure, after `retry` retries (`None`: until it succeeds).
    pub async fn connect(&self, retry: crate::driver::Retry) -> Result<()> {
        self.inner.driver.connect(retry).await
    }

    /// A snapshot of the driver's connections (state, host, reconnects,
    /// last error), for readiness probes and status pages.
    pub fn health(&self) -> crate::health::Health {
        self.inner.driver.health()
    }

    /// The driver behind this transport.
    pub fn driver(&self) -> &Arc<dyn Driver> {
        &self.inner.driver
    }

    /// The parsed URL (its Display hides the password).
    pub fn url(&self) -> &TransportUrl {
        &self.inner.url
    }

    /// The configuration the transport was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The `[DEFAULT]` options.
    pub fn defaults(&self) -> &DefaultGroup {
        &self.inner.defaults
    }

    /// Release the driver's connections.
    pub async fn cleanup(&self) {
        self.inner.driver.cleanup().await;
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("driver", &self.inner.driver.name())
            .field("url", &self.inner.url)
            .finish()
    }
}
