//! The `routing` notifier driver: YAML rules choose, per event type and
//! priority, which other drivers get a notification (oslo.messaging's
//! `_impl_routing`).
//!
//! The file maps group names to driver names to rules:
//!
//! ```yaml
//! group_1:
//!   messagingv2:
//!     accepted_events:
//!       - compute.instance.*
//!   log:
//!     accepted_priorities:
//!       - error
//!       - critical
//! group_2:
//!   log:
//!     accepted_events: [network.*]
//!     accepted_priorities: [info]
//! ```
//!
//! A driver accepts a notification when every rule it has matches:
//! `accepted_events` when one shell pattern (`*`, `?`, `[seq]`, `[!seq]`,
//! case-sensitive, whole string) matches the event type, `accepted_priorities`
//! when one pattern matches the lower-case priority (patterns are lowered).
//! A driver with no rules accepts everything; other keys are ignored. Each
//! accepted driver is called once even when several groups accept it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::{by_name, NotifierDriver};
use crate::driver::Retry;
use crate::error::{MessagingError, Result};
use crate::message::{Context, Priority};
use crate::notify::fnmatch::glob;
use crate::transport::Transport;

#[derive(Debug, Default, Deserialize)]
struct RawRules {
    accepted_events: Option<Vec<String>>,
    accepted_priorities: Option<Vec<String>>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_yaml_ng::Value>,
}

type RawFile = Option<BTreeMap<String, Option<BTreeMap<String, Option<RawRules>>>>>;

#[derive(Debug)]
struct Route {
    driver: String,
    events: Option<Vec<Regex>>,
    priorities: Option<Vec<Regex>>,
}

impl Route {
    fn accepts(&self, event_type: &str, priority: &str) -> bool {
        let any = |patterns: &Option<Vec<Regex>>, s: &str| {
            patterns
                .as_ref()
                .is_none_or(|p| p.iter().any(|r| r.is_match(s)))
        };
        any(&self.events, event_type) && any(&self.priorities, priority)
    }
}

/// Routes each notification to the drivers its rules accept (see the module docs).
pub struct RoutingDriver {
    routes: Vec<Route>,
    drivers: BTreeMap<String, Arc<dyn NotifierDriver>>,
}

impl std::fmt::Debug for RoutingDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoutingDriver")
            .field("drivers", &self.drivers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl RoutingDriver {
    /// Load the rules in the YAML file at `path`; the drivers they name send
    /// through `transport`.
    ///
    /// # Errors
    /// [`MessagingError::RoutingRules`] naming the file and the problem: it
    /// cannot be read, is not valid YAML of the expected shape, names an
    /// unknown driver (or `routing`), or has an invalid pattern.
    pub fn from_file(path: &Path, transport: &Transport) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            MessagingError::RoutingRules(format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_yaml(&text, transport).map_err(|e| match e {
            MessagingError::RoutingRules(m) => {
                MessagingError::RoutingRules(format!("{}: {m}", path.display()))
            }
            other => other,
        })
    }

    /// Load the rules from YAML text.
    ///
    /// # Errors
    /// As [`from_file`](Self::from_file), without the file name.
    pub fn from_yaml(yaml: &str, transport: &Transport) -> Result<Self> {
        let raw: RawFile = serde_yaml_ng::from_str(yaml).map_err(|e| {
            MessagingError::RoutingRules(format!(
                "expected a mapping of groups to drivers to rules \
                 (accepted_events, accepted_priorities: lists of patterns): {e}"
            ))
        })?;
        let mut routes = Vec::new();
        let mut drivers = BTreeMap::new();
        for (group, group_drivers) in raw.unwrap_or_default() {
            for (driver, rules) in group_drivers.unwrap_or_default() {
                let rules = rules.unwrap_or_default();
                for key in rules.other.keys() {
                    tracing::warn!(group = %group, driver = %driver, "ignoring unknown routing rule {key:?}");
                }
                if !drivers.contains_key(&driver) {
                    if driver == "routing" {
                        return Err(MessagingError::RoutingRules(format!(
                            "group {group:?}: the routing driver cannot route to itself"
                        )));
                    }
                    let d = by_name(&driver, transport, None).map_err(|e| {
                        MessagingError::RoutingRules(format!(
                            "group {group:?}, driver {driver:?}: {e}"
                        ))
                    })?;
                    drivers.insert(driver.clone(), d);
                }
                let compile = |patterns: Option<Vec<String>>,
                               lower: bool|
                 -> Result<Option<Vec<Regex>>> {
                    patterns
                        .map(|ps| {
                            ps.iter()
                                .map(|p| {
                                    glob(if lower { p.to_lowercase() } else { p.clone() }.as_str())
                                })
                                .collect()
                        })
                        .transpose()
                        .map_err(|e: regex::Error| {
                            MessagingError::RoutingRules(format!(
                                "group {group:?}, driver {driver:?}: invalid pattern: {e}"
                            ))
                        })
                };
                routes.push(Route {
                    events: compile(rules.accepted_events, false)?,
                    priorities: compile(rules.accepted_priorities, true)?,
                    driver,
                });
            }
        }
        Ok(Self { routes, drivers })
    }

    /// The names of the drivers that get a notification of `event_type` at
    /// `priority`, sorted.
    pub fn accepted_drivers(&self, event_type: &str, priority: Priority) -> Vec<String> {
        let accepted: BTreeSet<&str> = self
            .routes
            .iter()
            .filter(|r| r.accepts(event_type, priority.as_str()))
            .map(|r| r.driver.as_str())
            .collect();
        accepted.into_iter().map(str::to_owned).collect()
    }
}

#[async_trait]
impl NotifierDriver for RoutingDriver {
    /// Calls every accepted driver; a failure is logged and the first one returned.
    async fn notify(
        &self,
        context: &Context,
        message: &Map<String, Value>,
        priority: Priority,
        topics: &[String],
        retry: Retry,
    ) -> Result<()> {
        let event_type = message
            .get("event_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut first = None;
        for name in self.accepted_drivers(event_type, priority) {
            tracing::info!("Routing '{event_type}' notification to '{name}' driver");
            let Some(driver) = self.drivers.get(&name) else {
                continue;
            };
            if let Err(e) = driver
                .notify(context, message, priority, topics, retry)
                .await
            {
                tracing::error!(driver = %name, "routed notification failed: {e}");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport() -> Transport {
        use crate::notify::test_support::{transport_on, NullDriver};
        transport_on(NullDriver)
    }

    #[test]
    fn rules_select_drivers() {
        let yaml = "group_1:\n  messagingv2:\n    accepted_events: ['compute.*']\n  log:\n    accepted_priorities: [ERROR, critical]\n\
                    group_2:\n  log:\n    accepted_events: ['network.*']\n    accepted_priorities: [info]\n  noop:\n";
        let r = RoutingDriver::from_yaml(yaml, &transport()).expect("valid rules");
        assert_eq!(
            r.accepted_drivers("compute.start", Priority::Info),
            ["messagingv2", "noop"]
        );
        assert_eq!(
            r.accepted_drivers("compute.start", Priority::Error),
            ["log", "messagingv2", "noop"]
        );
        assert_eq!(
            r.accepted_drivers("network.up", Priority::Info),
            ["log", "noop"]
        );
        assert_eq!(r.accepted_drivers("network.up", Priority::Debug), ["noop"]);
        let empty = RoutingDriver::from_yaml("", &transport()).expect("empty file routes nothing");
        assert!(empty.accepted_drivers("e", Priority::Info).is_empty());
    }

    #[test]
    fn bad_rules_are_named() {
        let t = transport();
        let err = |y: &str| {
            RoutingDriver::from_yaml(y, &t)
                .expect_err("invalid")
                .to_string()
        };
        assert!(err("g:\n  kafka: {}\n").contains("unknown notification driver \"kafka\""));
        assert!(err("g:\n  routing: {}\n").contains("cannot route to itself"));
        assert!(err("g: [1, 2]\n").contains("expected a mapping of groups"));
        assert!(err("g:\n  log:\n    accepted_events: compute\n")
            .contains("invalid notification routing rules"));
        assert!(
            err("g: {log: {accepted_events: [a\n").contains("invalid notification routing rules")
        );
        let e = RoutingDriver::from_file(Path::new("/nonexistent/routing.yaml"), &t)
            .expect_err("missing file");
        assert!(
            matches!(&e, MessagingError::RoutingRules(m) if m.contains("/nonexistent/routing.yaml")),
            "{e}"
        );
    }
}
