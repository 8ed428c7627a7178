//! lapin's errors as the framework's: a refusal by the broker, with the
//! options that avoid it when there are some, or a connection error.

use oslo_messaging_core::{DriverError, MessagingError};

use crate::DRIVER;

/// Maps a lapin error from `operation` (which names its object, e.g.
/// `declare exchange "nova"`) into the framework's error: the broker's
/// refusal of the operation (a channel exception) is
/// [`MessagingError::BrokerRefused`], anything else a connection error.
/// Publishing a message has its own mapping (`publisher::delivery_error`):
/// a refused message is a delivery failure.
pub(crate) fn error(operation: &str, e: &lapin::Error) -> MessagingError {
    let text = e.to_string();
    let reason = match refusal_remedy(&text) {
        Some(avoid) => format!("{text}; {avoid}"),
        None if e.is_amqp_soft_error() => text,
        None => {
            return MessagingError::Connection(
                DriverError::new(DRIVER, format!("{operation}: {text}")).with_source(e.clone()),
            )
        }
    };
    MessagingError::BrokerRefused {
        operation: operation.to_owned(),
        reason,
    }
}

/// The options that avoid a refusal the broker makes for a deprecated
/// feature its configuration no longer permits (RabbitMQ 4), whatever the
/// AMQP error's level (4.0 closes the connection with 541).
fn refusal_remedy(text: &str) -> Option<&'static str> {
    if text.contains("transient_nonexcl_queues") {
        return Some(
            "RabbitMQ refuses queues that are neither durable nor exclusive \
             (the default from 4.3): set [oslo_messaging_rabbit] rabbit_quorum_queue = true \
             and rabbit_transient_quorum_queue = true",
        );
    }
    if text.contains("global_qos") {
        return Some("RabbitMQ refuses global QoS (the default from 4.3)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_deprecated_features_name_the_options_that_avoid_them() {
        let text = "protocol error: AMQP hard error: INTERNAL-ERROR: INTERNAL_ERROR - Feature \
                    `transient_nonexcl_queues` is deprecated.";
        let remedy = refusal_remedy(text).expect("a remedy");
        assert!(remedy.contains("rabbit_quorum_queue = true"), "{remedy}");
        assert!(
            remedy.contains("rabbit_transient_quorum_queue = true"),
            "{remedy}"
        );
        assert_eq!(refusal_remedy("NOT_FOUND - no queue 'x'"), None);
    }
}
