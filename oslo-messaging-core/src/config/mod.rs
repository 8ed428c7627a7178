//! Option groups as oslo.config has them, loaded with figment.
//!
//! A [`Config`] is built from INI files (oslo.config's format, so an existing
//! `nova.conf` loads as it is), TOML files, the environment and programmatic
//! overrides; each [`OptionGroup`] is then read from it with its defaults
//! below every source. Options that no group asks for are ignored.
//!
//! ```
//! use oslo_messaging_core::config::Config;
//! use oslo_messaging_core::transport_url::TransportUrl;
//!
//! let config = Config::builder()
//!     .env_vars([("OS_DEFAULT__CONTROL_EXCHANGE", "nova")])
//!     .build()?;
//! let default = config.default_group()?;
//! assert_eq!(default.control_exchange, "nova");
//! assert_eq!(default.rpc_response_timeout, 60);
//!
//! // A driver group takes the URL's query options above every source.
//! let url = TransportUrl::parse("fake://host/?rpc_response_timeout=5")?;
//! let default: oslo_messaging_core::config::DefaultGroup = config.driver_group(&url)?;
//! assert_eq!(default.rpc_response_timeout, 5);
//! # Ok::<(), oslo_messaging_core::error::MessagingError>(())
//! ```

mod builder;
mod groups;
pub mod ini;
pub mod lenient;
mod scalar;
mod source;

use std::fmt;

use figment::error::Kind;
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::{Figment, Metadata};

pub use builder::ConfigBuilder;
pub use groups::{DefaultGroup, NotificationsGroup};

use crate::error::{MessagingError, Result};
use crate::transport_url::TransportUrl;
use source::DictSource;

/// A named group of options (one section of an oslo.config file).
///
/// Implementors are plain structs with `#[serde(default)]`, a `Default` that
/// holds the option defaults, and a [`lenient`] helper on every typed field.
pub trait OptionGroup:
    serde::de::DeserializeOwned + serde::Serialize + Default + Clone + Send + Sync + 'static
{
    /// Section name as written in config files, e.g. "DEFAULT", "oslo_messaging_rabbit".
    const NAME: &'static str;
}

/// Loaded configuration sources; read typed groups from it with
/// [`group`](Self::group).
#[derive(Clone)]
pub struct Config {
    figment: Figment,
    sources: Vec<String>,
}

/// Lists the sources only: values may hold credentials.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// A builder to add sources to.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder::new()
    }

    /// A configuration with no sources: every group reads as its defaults.
    pub fn defaults() -> Config {
        Config {
            figment: Figment::new(),
            sources: Vec::new(),
        }
    }

    /// Sets `option` of `group` (group matched in any case) above every
    /// source, as oslo.config's `ConfigOpts.set_override`: for a program or
    /// test that takes a configuration and must pin one option.
    ///
    /// ```
    /// use oslo_messaging_core::config::Config;
    ///
    /// let mut config = Config::builder()
    ///     .set("DEFAULT", "control_exchange", "nova")
    ///     .build()?;
    /// config.set_override("DEFAULT", "control_exchange", "cinder");
    /// assert_eq!(config.default_group()?.control_exchange, "cinder");
    /// # Ok::<(), oslo_messaging_core::error::MessagingError>(())
    /// ```
    pub fn set_override(
        &mut self,
        group: impl Into<String>,
        option: impl Into<String>,
        value: impl Into<String>,
    ) {
        let set = [(group.into(), option.into(), value.into())];
        self.figment = std::mem::take(&mut self.figment).merge(DictSource::overrides(&set));
        self.sources.push("programmatic override".to_owned());
    }

    /// Reads group `G`: its defaults, overridden by the sources. The group
    /// name is matched in any case; options not in `G` are ignored.
    ///
    /// # Errors
    ///
    /// [`MessagingError::InvalidOption`] naming the group and option when a
    /// value has the wrong type (the value is not shown for options that may
    /// hold secrets, such as `transport_url`); [`MessagingError::Config`]
    /// when the group cannot be read at all.
    pub fn group<G: OptionGroup>(&self) -> Result<G> {
        self.extract(None)
    }

    /// Reads group `G` as [`group`](Self::group) does, then applies the
    /// query options of `url` above every other source
    /// (`rabbit://h/?heartbeat_rate=3`). A key given several times gives a
    /// list, which list options take whole and other options take the last
    /// value of.
    ///
    /// # Errors
    ///
    /// [`MessagingError::InvalidOption`] with reason `"unknown option"` when a
    /// query key is not an option of `G` (the option names are those of
    /// `G::default()` serialized), or naming the option when a value has the
    /// wrong type; [`MessagingError::Config`] when `G` does not serialize to
    /// a map.
    pub fn driver_group<G: OptionGroup>(&self, url: &TransportUrl) -> Result<G> {
        let known = match serde_json::to_value(G::default()) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => {
                return Err(MessagingError::Config(format!(
                    "option group [{}] does not serialize to a map of options",
                    G::NAME
                )))
            }
        };
        let mut opts = Dict::new();
        for (key, _) in &url.query {
            if !known.contains_key(key) {
                return Err(MessagingError::invalid_option(
                    G::NAME,
                    key,
                    "unknown option",
                ));
            }
            if opts.contains_key(key) {
                continue;
            }
            let mut values: Vec<String> = url.query_values(key).map(str::to_owned).collect();
            let value = if values.len() == 1 {
                Value::from(values.remove(0))
            } else {
                Value::from(values)
            };
            opts.insert(key.clone(), value);
        }
        let query = DictSource::new(Metadata::named("transport URL query"), opts);
        self.extract(Some(query))
    }

    /// Reads the `[DEFAULT]` group; the same as `group::<DefaultGroup>()`.
    ///
    /// # Errors
    ///
    /// As [`group`](Self::group).
    pub fn default_group(&self) -> Result<DefaultGroup> {
        self.group()
    }

    /// Reads `[oslo_messaging_notifications]`; an unset `transport_url` is
    /// taken from `[DEFAULT]`.
    ///
    /// # Errors
    ///
    /// As [`group`](Self::group), for either group.
    pub fn notifications_group(&self) -> Result<NotificationsGroup> {
        let mut group: NotificationsGroup = self.group()?;
        if group.transport_url.is_none() {
            group.transport_url = self.default_group()?.transport_url;
        }
        Ok(group)
    }

    /// Defaults of `G`, then the sources' options for `G`, then `top`.
    fn extract<G: OptionGroup>(&self, top: Option<DictSource>) -> Result<G> {
        let key = G::NAME.to_ascii_lowercase();
        let mut figment =
            Figment::from(Serialized::defaults(G::default())).merge(self.figment.focus(&key));
        if let Some(top) = top {
            figment = figment.merge(top);
        }
        figment.extract().map_err(|e| convert_error(G::NAME, e))
    }
}

/// True for options whose values must never appear in messages.
fn is_secret(option: &str) -> bool {
    let option = option.to_ascii_lowercase();
    option.ends_with("url")
        || [
            "password",
            "passwd",
            "secret",
            "token",
            "connection",
            "credential",
            "key",
        ]
        .iter()
        .any(|word| option.contains(word))
}

/// Turns a figment error for group `group` into a messaging error.
fn convert_error(group: &str, error: figment::Error) -> MessagingError {
    let Some(first) = error.into_iter().next() else {
        return MessagingError::Config(format!("cannot read option group [{group}]"));
    };
    let Some(option) = first.path.first().cloned() else {
        return MessagingError::Config(format!(
            "cannot read option group [{group}]: {}",
            first.kind
        ));
    };
    let reason = if is_secret(&option) {
        match &first.kind {
            Kind::InvalidType(_, expected) => format!("invalid type: expected {expected}"),
            Kind::InvalidValue(_, expected) => format!("invalid value: expected {expected}"),
            Kind::InvalidLength(_, expected) => format!("invalid length: expected {expected}"),
            _ => "invalid value (not shown: the option may hold a secret)".to_owned(),
        }
    } else {
        first.kind.to_string()
    };
    let origin = first
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(figment::Source::File(path)) => format!(" (from {} {})", m.name, path.display()),
            _ => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    MessagingError::invalid_option(group, option, format!("{reason}{origin}"))
}
