//! librdkafka's errors as the framework's: each keeps the `KafkaError` as
//! its source, says what failed, and is temporary unless librdkafka's
//! code says trying again cannot help (authentication, authorization, a
//! record too large, a bad topic name).

use oslo_messaging_core::{DriverError, MessagingError};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::DRIVER;

/// A connection-level failure of `what` (e.g. `"create a consumer"`).
pub(crate) fn connection(what: &str, e: KafkaError) -> MessagingError {
    MessagingError::Connection(driver_error(what, e))
}

/// A record that was not delivered, `what` naming it.
pub(crate) fn delivery(what: &str, e: KafkaError) -> MessagingError {
    MessagingError::MessageDeliveryFailure(driver_error(what, e))
}

fn driver_error(what: &str, e: KafkaError) -> DriverError {
    let permanent = e.rdkafka_error_code().is_some_and(is_permanent);
    let error = DriverError::new(DRIVER, format!("cannot {what}: {e}"));
    let error = if permanent { error.permanent() } else { error };
    error.with_source(e)
}

fn is_permanent(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        Authentication
            | SaslAuthenticationFailed
            | TopicAuthorizationFailed
            | GroupAuthorizationFailed
            | ClusterAuthorizationFailed
            | MessageSizeTooLarge
            | InvalidMessageSize
            | InvalidTopic
            | UnknownTopic
            | InvalidConfig
            | UnsupportedSASLMechanism
            | IllegalSASLState
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn errors_keep_their_cause_and_say_if_retrying_helps() {
        let lost = connection(
            "poll",
            KafkaError::MessageConsumption(RDKafkaErrorCode::AllBrokersDown),
        );
        assert!(lost.is_temporary(), "{lost}");
        assert_eq!(lost.driver_error().map(|d| d.driver()), Some("kafka"));
        let source = lost
            .driver_error()
            .and_then(|d| d.source())
            .expect("a source");
        assert!(source.downcast_ref::<KafkaError>().is_some());
        assert!(lost.to_string().contains("cannot poll"), "{lost}");

        let refused = delivery(
            "produce to topic \"t\"",
            KafkaError::MessageProduction(RDKafkaErrorCode::TopicAuthorizationFailed),
        );
        assert!(!refused.is_temporary(), "{refused}");
        assert!(matches!(refused, MessagingError::MessageDeliveryFailure(_)));
    }
}
