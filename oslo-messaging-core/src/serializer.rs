//! Serializers: hooks that turn application values into what travels on the
//! wire and back (oslo.messaging's `Serializer`). The default passes values
//! through unchanged.

use serde_json::Value;

use crate::error::Result;
use crate::message::Context;

/// Converts entities (arguments, results, payloads) and contexts on the way
/// out and in. Every method defaults to the identity.
pub trait Serializer: Send + Sync + 'static {
    /// An outgoing argument, result or payload.
    ///
    /// # Errors
    /// When the value cannot be represented on the wire.
    fn serialize_entity(&self, _context: &Context, entity: Value) -> Result<Value> {
        Ok(entity)
    }
    /// An incoming argument, result or payload.
    ///
    /// # Errors
    /// When the value is not what the application expects.
    fn deserialize_entity(&self, _context: &Context, entity: Value) -> Result<Value> {
        Ok(entity)
    }
    /// An outgoing request context.
    fn serialize_context(&self, context: Context) -> Context {
        context
    }
    /// An incoming request context.
    fn deserialize_context(&self, context: Context) -> Context {
        context
    }
}

/// The identity serializer.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOpSerializer;

impl Serializer for NoOpSerializer {}
