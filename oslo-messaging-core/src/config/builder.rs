//! [`ConfigBuilder`]: collects configuration sources in precedence order.

use std::fmt;
use std::path::PathBuf;

use figment::Figment;

use super::ini::IniFile;
use super::source::DictSource;
use super::Config;
use crate::error::Result;

/// Collects the sources of a [`Config`].
///
/// Whatever the order of the calls, precedence from lowest to highest is:
/// option defaults, INI files (later files win), TOML files (later files
/// win), the environment, then [`set`](Self::set) overrides.
///
/// ```
/// use oslo_messaging_core::config::Config;
///
/// let config = Config::builder()
///     .set("DEFAULT", "rpc_response_timeout", "5")
///     .build()?;
/// assert_eq!(config.default_group()?.rpc_response_timeout, 5);
/// # Ok::<(), oslo_messaging_core::error::MessagingError>(())
/// ```
#[derive(Default, Clone)]
#[must_use = "a builder does nothing until build() is called"]
pub struct ConfigBuilder {
    ini_files: Vec<PathBuf>,
    toml_files: Vec<PathBuf>,
    env: Vec<(String, String)>,
    sets: Vec<(String, String, String)>,
}

/// Shows the files, environment variable names and overridden options, but
/// no values: they may hold credentials.
impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        let sets: Vec<String> = self
            .sets
            .iter()
            .map(|(g, o, _)| format!("[{g}] {o}"))
            .collect();
        f.debug_struct("ConfigBuilder")
            .field("ini_files", &self.ini_files)
            .field("toml_files", &self.toml_files)
            .field("env", &env)
            .field("set", &sets)
            .finish()
    }
}

impl ConfigBuilder {
    /// A builder with no sources.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an oslo.config INI file (such as `nova.conf`); read by
    /// [`build`](Self::build). See [`ini`](super::ini) for the syntax.
    pub fn ini_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ini_files.push(path.into());
        self
    }

    /// Adds a TOML file of `[GROUP]` tables; read by [`build`](Self::build).
    /// Options outside any table belong to `DEFAULT`.
    pub fn toml_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.toml_files.push(path.into());
        self
    }

    /// Reads the process environment now: variables named
    /// `OS_<GROUP>__<OPTION>` (any case), as oslo.config's environment source,
    /// e.g. `OS_DEFAULT__TRANSPORT_URL` or
    /// `OS_OSLO_MESSAGING_RABBIT__HEARTBEAT_RATE`. Other variables are skipped.
    pub fn env(self) -> Self {
        let vars: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        self.env_vars(vars)
    }

    /// As [`env`](Self::env), but reads the given variables instead of the
    /// process environment (for tests and embedding). Later calls win over
    /// earlier ones for the same option.
    pub fn env_vars<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets `option` of `group` (group matched in any case), above every
    /// other source. Later calls win for the same option.
    pub fn set(
        mut self,
        group: impl Into<String>,
        option: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.sets.push((group.into(), option.into(), value.into()));
        self
    }

    /// Reads every file and builds the configuration.
    ///
    /// # Errors
    ///
    /// [`MessagingError::Config`](crate::error::MessagingError::Config) naming
    /// the path when a file is missing, unreadable, or badly formed (for INI
    /// files, with the line number). Option values are checked later, by
    /// [`Config::group`].
    pub fn build(self) -> Result<Config> {
        let mut figment = Figment::new();
        let mut sources = Vec::new();
        for path in &self.ini_files {
            figment = figment.merge(IniFile::load(path)?);
            sources.push(format!("INI file {}", path.display()));
        }
        for path in &self.toml_files {
            figment = figment.merge(DictSource::toml_file(path)?);
            sources.push(format!("TOML file {}", path.display()));
        }
        if !self.env.is_empty() {
            figment = figment.merge(DictSource::env(self.env));
            sources.push("environment".to_owned());
        }
        if !self.sets.is_empty() {
            figment = figment.merge(DictSource::overrides(&self.sets));
            sources.push("overrides".to_owned());
        }
        tracing::debug!(?sources, "configuration sources loaded");
        Ok(Config { figment, sources })
    }
}
