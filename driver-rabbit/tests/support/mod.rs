//! Shared pieces of the fault tests.
#![allow(dead_code)]

pub mod proxy;
