//! Shared pieces of the fault tests: private RabbitMQ nodes and a TCP proxy.
#![allow(dead_code)]

pub mod node;
pub mod proxy;
