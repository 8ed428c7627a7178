//! Figment providers for TOML files, the environment and programmatic overrides.

use std::path::Path;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Metadata, Profile, Provider};

use crate::error::{MessagingError, Result};

/// Option values already read, grouped by lowercased group name.
#[derive(Clone)]
pub(crate) struct DictSource {
    meta: Metadata,
    data: Dict,
}

impl DictSource {
    /// A source named `name`, holding `data` (group name -> options).
    pub(crate) fn new(meta: Metadata, data: Dict) -> Self {
        Self { meta, data }
    }

    /// Reads a TOML file: `[GROUP]` tables of options. Group names are
    /// lowercased; options outside any table belong to `DEFAULT`.
    pub(crate) fn toml_file(path: &Path) -> Result<Self> {
        let fail =
            |what: String| MessagingError::Config(format!("TOML file {}: {what}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let parsed = Toml::string(&text)
            .data()
            .map_err(|e| fail(format!("cannot parse: {}", describe_toml_error(&e.kind))))?;
        let mut data = Groups::default();
        for (key, value) in parsed.into_values().flatten() {
            match value {
                Value::Dict(_, opts) => {
                    data.entry(&key).extend(opts);
                }
                other => {
                    data.entry("default").insert(key, other);
                }
            }
        }
        let meta = Metadata::named("TOML file").source(path);
        Ok(Self::new(meta, data.into_dict()))
    }

    /// Reads oslo.config's environment variables `OS_<GROUP>__<OPTION>`
    /// (any case) from `vars`; other variables are skipped.
    pub(crate) fn env<I, K, V>(vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut data = Groups::default();
        for (key, value) in vars {
            let key = key.as_ref().to_ascii_lowercase();
            let Some((group, option)) = key.strip_prefix("os_").and_then(|k| k.split_once("__"))
            else {
                continue;
            };
            if group.is_empty() || option.is_empty() {
                continue;
            }
            data.entry(group)
                .insert(option.to_owned(), Value::from(value.into()));
        }
        Self::new(Metadata::named("environment"), data.into_dict())
    }

    /// Programmatic overrides: (group, option, value).
    pub(crate) fn overrides(sets: &[(String, String, String)]) -> Self {
        let mut data = Groups::default();
        for (group, option, value) in sets {
            data.entry(group)
                .insert(option.clone(), Value::from(value.clone()));
        }
        Self::new(Metadata::named("programmatic override"), data.into_dict())
    }
}

/// The TOML parser's message without its quote of the source line, which may
/// hold a password: "TOML parse error at line 1, column 9; invalid table header".
fn describe_toml_error(kind: &figment::error::Kind) -> String {
    kind.to_string()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.contains('|'))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Options collected per lowercased group name, before they become a [`Dict`].
#[derive(Default)]
struct Groups(std::collections::BTreeMap<String, Dict>);

impl Groups {
    /// The options of `group` (lowercased), created when missing.
    fn entry(&mut self, group: &str) -> &mut Dict {
        self.0.entry(group.to_ascii_lowercase()).or_default()
    }

    fn into_dict(self) -> Dict {
        self.0
            .into_iter()
            .map(|(g, opts)| (g, Value::from(opts)))
            .collect()
    }
}

impl Provider for DictSource {
    fn metadata(&self) -> Metadata {
        self.meta.clone()
    }

    fn data(&self) -> figment::Result<Map<Profile, Dict>> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}
