//! Kafka topic names, as Python oslo.messaging 18.3.1's `impl_kafka.py`
//! makes them (`target_to_topic`: the non-empty parts joined by `.`).
//!
//! The virtual host is treated differently on each side, and this driver
//! does the same so that it meets Python services where they meet each
//! other: a notifier sends to `<topic>.<priority>.<vhost>`
//! (`send_notification` passes `vhost=self.virtual_host`), a listener
//! subscribes to `<topic>.<priority>` (`listen_for_notifications` passes
//! none). With a virtual host in the URL, listeners therefore never see
//! what notifiers send: leave the path of `kafka://` URLs empty. The
//! exchange of a target is not used.
//!
//! Python counts on the broker creating a topic when it is first used
//! (`auto.create.topics.enable`). Brokers where that is off (and tansu,
//! which has no such setting) need the topics made: the driver
//! creates the missing ones with the broker's default replication factor
//! and `num_partitions` partitions (the broker's default unless set), before a listener subscribes and before the first
//! notification to a topic.

use std::collections::HashSet;
use std::sync::Mutex;

use oslo_messaging_core::address::notification_topic;
use oslo_messaging_core::{Priority, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

/// The topic a notification to `target_topic` (already
/// `<topic>.<priority>`) is produced to.
pub fn send_topic(target_topic: &str, virtual_host: Option<&str>) -> String {
    concat(&[target_topic, virtual_host.unwrap_or("")])
}

/// The topic a listener for `topic` and `priority` subscribes to.
pub fn listen_topic(topic: &str, priority: Priority) -> String {
    notification_topic(topic, priority)
}

fn concat(items: &[&str]) -> String {
    items
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(".")
}

/// Creates topics that do not exist yet, remembering those it knows exist.
pub(crate) struct Topics {
    config: ClientConfig,
    partitions: i32,
    known: Mutex<HashSet<String>>,
}

impl Topics {
    /// Creates topics through the brokers `config` names, with `partitions`
    /// partitions (-1: the broker's default).
    pub(crate) fn new(config: ClientConfig, partitions: i32) -> Self {
        Self {
            config,
            partitions,
            known: Mutex::new(HashSet::new()),
        }
    }

    /// An admin client for one round of creation: topics are created on
    /// first use only, so none is kept.
    fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        self.config
            .create()
            .map_err(|e| crate::kafka_error::connection("create an admin client", e))
    }

    /// Makes sure each of `names` exists (creating it with the broker's
    /// defaults when it does not).
    ///
    /// A topic the broker refuses to create (no `CREATE` permission, an
    /// old broker) is logged and taken as existing, as Python takes it.
    ///
    /// # Errors
    /// [`MessagingError::Connection`](oslo_messaging_core::MessagingError::Connection)
    /// when the broker cannot be asked.
    pub(crate) async fn ensure(&self, names: &[String]) -> Result<()> {
        let missing: Vec<&String> = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            names.iter().filter(|n| !known.contains(*n)).collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let admin = self.admin()?;
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|n| NewTopic::new(n, self.partitions, TopicReplication::Fixed(-1)))
            .collect();
        let results = admin
            .create_topics(&new, &AdminOptions::new())
            .await
            .map_err(|e| crate::kafka_error::connection("create topics", e))?;
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        for r in results {
            match r {
                Ok(name) | Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    known.insert(name);
                }
                // Not allowed to create (no CREATE permission), or a broker
                // older than 2.4 that wants explicit settings: carry on as
                // Python does, counting on the topic existing or on the
                // broker's auto-creation.
                Err((name, code)) => {
                    tracing::warn!(driver = crate::DRIVER, topic = %name, %code,
                        "could not create the topic; carrying on as if it exists");
                    known.insert(name);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_pythons() {
        assert_eq!(send_topic("notifications.info", None), "notifications.info");
        assert_eq!(
            send_topic("notifications.info", Some("")),
            "notifications.info"
        );
        assert_eq!(
            send_topic("notifications.info", Some("v1")),
            "notifications.info.v1"
        );
        assert_eq!(
            listen_topic("notifications", Priority::Info),
            "notifications.info"
        );
        assert_eq!(
            listen_topic("metering", Priority::Sample),
            "metering.sample"
        );
    }
}
