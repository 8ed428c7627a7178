//! # oslo-messaging-driver-rabbit
//!
//! The RabbitMQ driver (schemes `rabbit` and `kombu`), wire-compatible with
//! Python oslo.messaging.
#![deny(missing_docs)]
