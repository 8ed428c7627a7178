//! What of the wire is AMQP's: the message properties kombu sets, and
//! bodies decompressed by their `compression` header before the oslo
//! codec (`oslo_messaging_core::wire`, re-exported here) opens them.

use std::time::Duration;

use lapin::types::ShortString;
use lapin::BasicProperties;
pub(crate) use oslo_messaging_core::wire::*;
use oslo_messaging_core::Result;

/// AMQP properties of every message: JSON, UTF-8, persistent; `expiration`
/// in milliseconds for calls.
pub(crate) fn properties(expiration: Option<Duration>) -> BasicProperties {
    let p = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_content_encoding(ShortString::from("utf-8"))
        .with_delivery_mode(2);
    match expiration {
        Some(d) => p.with_expiration(ShortString::from(d.as_millis().to_string())),
        None => p,
    }
}

/// A delivery's body unpacked, decompressed first when its `compression`
/// header says so (see `crate::compression`).
///
/// # Errors
/// As `unpack`, and `compression::decompressed`'s.
pub(crate) fn unpack_delivery(
    headers: Option<&lapin::types::FieldTable>,
    data: &[u8],
) -> Result<Unpacked> {
    unpack(&crate::compression::decompressed(headers, data)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_match_kombu() {
        let p = properties(Some(Duration::from_secs(30)));
        assert_eq!(
            p.content_type().as_ref().map(|s| s.as_str()),
            Some("application/json")
        );
        assert_eq!(
            p.content_encoding().as_ref().map(|s| s.as_str()),
            Some("utf-8")
        );
        assert_eq!(*p.delivery_mode(), Some(2));
        assert_eq!(p.expiration().as_ref().map(|s| s.as_str()), Some("30000"));
        assert!(properties(None).expiration().is_none());
    }
}
