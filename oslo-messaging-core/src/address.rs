//! The names oslo.messaging gives a target's queues, exchanges and routing
//! keys, for every driver: one place for each rule (Python oslo.messaging
//! 18.3.1, `_drivers/amqpdriver.py` and `_drivers/impl_rabbit.py`:
//! `declare_topic_consumer`, `declare_fanout_consumer`; the notifier's
//! `<topic>.<priority>`).
//!
//! | what | name |
//! |---|---|
//! | a server's own queue, and its routing key | `<topic>.<server>` |
//! | the topic's fanout exchange | `<topic>_fanout` |
//! | a server's fanout queue | `<topic>_fanout_<unique>` |
//! | the topic's shared fanout stream (`rabbit_stream_fanout`) | `<topic>_fanout` |
//! | a notification queue, and its routing key | `<topic>.<priority>` (e.g. `notifications.info`) |

use crate::message::Priority;
use crate::target::Target;

/// `<topic>.<server>`: a server's queue and the routing key of requests to it.
pub fn server_queue(topic: &str, server: &str) -> String {
    format!("{topic}.{server}")
}

/// `<topic>_fanout`: the exchange a fanout cast goes to.
pub fn fanout_exchange(topic: &str) -> String {
    format!("{topic}_fanout")
}

/// `<topic>_fanout`: with `rabbit_stream_fanout`, the stream the topic's
/// servers share (named as the exchange it is bound to).
pub fn fanout_stream(topic: &str) -> String {
    fanout_exchange(topic)
}

/// `<topic>_fanout_<unique>`: a server's own queue on the fanout exchange.
pub fn fanout_queue(topic: &str, unique: &str) -> String {
    format!("{topic}_fanout_{unique}")
}

/// `<topic>.<priority>`: a notification's routing key and its default queue.
pub fn notification_topic(topic: &str, priority: Priority) -> String {
    format!("{topic}.{priority}")
}

/// The routing key of a request that is not fanout: `<topic>.<server>`
/// when `target` names a server, else `<topic>`.
pub fn request_routing_key(topic: &str, target: &Target) -> String {
    match target.server.as_deref() {
        Some(server) => server_queue(topic, server),
        None => topic.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_python_oslo_messaging_names() {
        assert_eq!(server_queue("compute", "host1"), "compute.host1");
        assert_eq!(fanout_exchange("compute"), "compute_fanout");
        assert_eq!(fanout_queue("compute", "ab12"), "compute_fanout_ab12");
        assert_eq!(
            notification_topic("notifications", Priority::Warn),
            "notifications.warn"
        );
        assert_eq!(
            request_routing_key("compute", &Target::server("compute", "host1")),
            "compute.host1"
        );
        assert_eq!(
            request_routing_key("compute", &Target::topic("compute")),
            "compute"
        );
    }
}
