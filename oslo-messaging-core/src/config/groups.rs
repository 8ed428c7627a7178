//! The option groups that the messaging core itself reads.

use serde::{Deserialize, Serialize};

use super::{lenient, OptionGroup};

/// Options of the `[DEFAULT]` group that oslo.messaging registers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DefaultGroup {
    /// The messaging transport URL; `None` when not configured.
    /// It may hold credentials: do not log it.
    #[serde(deserialize_with = "lenient::opt_string")]
    pub transport_url: Option<String>,
    /// The exchange that topics are scoped to by default (`"openstack"`).
    #[serde(deserialize_with = "lenient::string")]
    pub control_exchange: String,
    /// Seconds to wait for a response from a call (60).
    #[serde(deserialize_with = "lenient::u64")]
    pub rpc_response_timeout: u64,
    /// Size of the executor's thread pool (64).
    #[serde(deserialize_with = "lenient::usize")]
    pub executor_thread_pool_size: usize,
    /// Whether RPC servers answer the built-in ping endpoint (false).
    #[serde(deserialize_with = "lenient::bool")]
    pub rpc_ping_enabled: bool,
}

impl Default for DefaultGroup {
    fn default() -> Self {
        Self {
            transport_url: None,
            control_exchange: "openstack".to_owned(),
            rpc_response_timeout: 60,
            executor_thread_pool_size: 64,
            rpc_ping_enabled: false,
        }
    }
}

impl OptionGroup for DefaultGroup {
    const NAME: &'static str = "DEFAULT";
}

/// Options of the `[oslo_messaging_notifications]` group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotificationsGroup {
    /// Notification drivers to send with, e.g. `messagingv2`, `log`, `noop`
    /// (empty: notifications are not sent).
    #[serde(deserialize_with = "lenient::string_list")]
    pub driver: Vec<String>,
    /// A transport URL for notifications only. [`Config::notifications_group`]
    /// fills it from `[DEFAULT] transport_url` when unset. It may hold
    /// credentials: do not log it.
    ///
    /// [`Config::notifications_group`]: super::Config::notifications_group
    #[serde(deserialize_with = "lenient::opt_string")]
    pub transport_url: Option<String>,
    /// Topics to send notifications to (`["notifications"]`).
    #[serde(deserialize_with = "lenient::string_list")]
    pub topics: Vec<String>,
    /// How many times to retry sending a notification; -1 means forever.
    #[serde(deserialize_with = "lenient::i64")]
    pub retry: i64,
}

impl Default for NotificationsGroup {
    fn default() -> Self {
        Self {
            driver: Vec::new(),
            transport_url: None,
            topics: vec!["notifications".to_owned()],
            retry: -1,
        }
    }
}

impl OptionGroup for NotificationsGroup {
    const NAME: &'static str = "oslo_messaging_notifications";
}
