//! Entry points for the fuzz targets in `fuzz/` (and their regression
//! tests): the decoders of the core, fed arbitrary input. Not part of the
//! API's promises; hidden from the documentation.

use serde_json::{Map, Value};

use crate::serializer::NoOpSerializer;

/// Reads `data` as a received notification's message (a JSON object with
/// `priority`, `event_type`, `publisher_id`, `payload`, ...) as a
/// notification listener does, and a failure JSON string as a reply's
/// `failure` is read. Returns whether the notification was accepted. Must
/// never panic, hang or allocate without bound, whatever `data` is.
pub fn decode_notification_and_failure(data: &[u8]) -> bool {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::failure::RemoteFailure::from_json_str(text);
    }
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(data) else {
        return false;
    };
    crate::notify::notification::parse_message(Map::new(), message, &NoOpSerializer).is_ok()
}

/// Parses `data` as a transport URL, as the `transport_url` target does,
/// and prints what parsed (Debug, which must hide the password).
pub fn transport_url(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(url) = crate::TransportUrl::parse(text) {
            let _ = format!("{url:?}");
        }
    }
}

/// Parses `data` as an oslo.config INI file, as the `ini` target does.
pub fn ini(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::ini::IniFile::parse_str(text, "fuzz.conf");
    }
}
