//! The oslo message format, as Python oslo.messaging writes and reads it
//! (`oslo_messaging/_drivers/common.py`: `serialize_msg`,
//! `deserialize_msg`; `amqpdriver.py`): the 2.0 envelope
//! `{"oslo.version": "2.0", "oslo.message": "<JSON text>"}` and the 1.0
//! bare object, the context as `_context_*` keys, request, reply,
//! keep-alive and notification bodies, and de-duplication by
//! `_unique_id`. Drivers share it; what is particular to a broker (AMQP
//! properties, compression headers) stays in the driver.
//!
//! Pure functions of values; nothing here touches a connection.

use std::time::Duration;

use std::collections::VecDeque;

use crate::error::{MessagingError, Result};
use crate::failure::RemoteFailure;
use crate::message::{Context, NotificationFormat, ReplyResult, RpcMessage};
use serde::ser::SerializeMap;
use serde::Serialize;
use serde_json::{Map, Value};

const VERSION_KEY: &str = "oslo.version";
const MESSAGE_KEY: &str = "oslo.message";
const ENVELOPE_VERSION: &str = "2.0";
const CONTEXT_PREFIX: &str = "_context_";
const UNIQUE_ID: &str = "_unique_id";
const MSG_ID: &str = "_msg_id";
const REPLY_Q: &str = "_reply_q";
const TIMEOUT: &str = "_timeout";
const NESTED_CONTEXT: &str = "_context";

/// A new message, reply-queue or fanout-queue id: uuid4 as 32 hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What a caller adds to a request it waits on.
pub struct CallInfo<'a> {
    /// `_msg_id`: what the replies name.
    pub msg_id: &'a str,
    /// `_reply_q`: the queue the replies go to.
    pub reply_q: &'a str,
    /// `_timeout`: the call-monitor timeout, seconds on the wire.
    pub call_monitor_timeout: Option<Duration>,
}

/// The body of an RPC request, in the 2.0 envelope.
pub fn request_body(
    context: &Context,
    message: &RpcMessage,
    call: Option<&CallInfo<'_>>,
) -> Vec<u8> {
    let request = Request {
        method: &message.method,
        args: &message.args,
        namespace: message.namespace.as_deref(),
        version: message.version.as_deref(),
        msg_id: call.map(|c| c.msg_id),
        reply_q: call.map(|c| c.reply_q),
        timeout: call.map(|c| c.call_monitor_timeout.map_or(Value::Null, seconds)),
        unique_id: new_id(),
        context: Prefixed(context),
    };
    envelope(&request)
}

/// A request's object, serialized from borrowed parts (one pass, no copy
/// of the arguments or the context).
#[derive(Serialize)]
struct Request<'a> {
    method: &'a str,
    args: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(rename = "_msg_id", skip_serializing_if = "Option::is_none")]
    msg_id: Option<&'a str>,
    #[serde(rename = "_reply_q", skip_serializing_if = "Option::is_none")]
    reply_q: Option<&'a str>,
    /// `null` in a call without a call-monitor timeout; absent in a cast.
    #[serde(rename = "_timeout", skip_serializing_if = "Option::is_none")]
    timeout: Option<Value>,
    #[serde(rename = "_unique_id")]
    unique_id: String,
    #[serde(flatten)]
    context: Prefixed<'a>,
}

/// A context as `_context_*` keys.
struct Prefixed<'a>(&'a Context);

impl Serialize for Prefixed<'_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(&format_args!("{CONTEXT_PREFIX}{k}"), v)?;
        }
        map.end()
    }
}

/// The body of the final reply to call `msg_id`.
pub fn reply_body(msg_id: &str, reply: &ReplyResult) -> Vec<u8> {
    match reply {
        Ok(v) => reply_message(msg_id, v, None, true),
        Err(f) => reply_message(msg_id, &Value::Null, Some(&f.to_json_string()), true),
    }
}

/// A call-monitor keep-alive for call `msg_id`.
pub fn keepalive_body(msg_id: &str) -> Vec<u8> {
    reply_message(msg_id, &Value::Null, None, false)
}

fn reply_message(msg_id: &str, result: &Value, failure: Option<&str>, ending: bool) -> Vec<u8> {
    /// A reply's object, serialized from borrowed parts.
    #[derive(Serialize)]
    struct Reply<'a> {
        result: &'a Value,
        /// `null`, or the failure's JSON text.
        failure: Option<&'a str>,
        ending: bool,
        #[serde(rename = "_msg_id")]
        msg_id: &'a str,
        #[serde(rename = "_unique_id")]
        unique_id: String,
    }
    envelope(&Reply {
        result,
        failure,
        ending,
        msg_id,
        unique_id: new_id(),
    })
}

/// The body of a notification: the object core built, plus `_unique_id`
/// and the context; enveloped for the `messagingv2` driver only.
pub fn notification_body(
    context: &Context,
    mut message: Map<String, Value>,
    format: NotificationFormat,
) -> Vec<u8> {
    message.insert(UNIQUE_ID.into(), Value::from(new_id()));
    pack_context(&mut message, context);
    match format {
        NotificationFormat::V2 => envelope(&message),
        NotificationFormat::V1 => to_json_bytes(&message),
    }
}

fn seconds(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        Value::from(d.as_secs())
    } else {
        Value::from(d.as_secs_f64())
    }
}

fn pack_context(msg: &mut Map<String, Value>, context: &Context) {
    for (k, v) in context {
        msg.insert(format!("{CONTEXT_PREFIX}{k}"), v.clone());
    }
}

/// The 2.0 envelope around `inner`: its JSON text as a string.
fn envelope(inner: &impl Serialize) -> Vec<u8> {
    #[derive(Serialize)]
    struct Envelope<'a> {
        #[serde(rename = "oslo.message")]
        message: &'a str,
        #[serde(rename = "oslo.version")]
        version: &'static str,
    }
    let message = to_json(inner);
    to_json_bytes(&Envelope {
        message: &message,
        version: ENVELOPE_VERSION,
    })
}

/// JSON text of a value made of strings, numbers and JSON values, which
/// cannot fail to serialize.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn to_json_bytes(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

fn malformed(what: impl std::fmt::Display) -> MessagingError {
    MessagingError::MalformedMessage(what.to_string())
}

/// A received message, opened: the envelope (if any) removed and the
/// transport keys taken out of the object.
#[derive(Debug, Default, PartialEq)]
pub struct Unpacked {
    /// The `_context_*` keys, without the prefix.
    pub context: Context,
    /// `_unique_id`.
    pub unique_id: Option<String>,
    /// `_msg_id` (requests that want replies, and replies).
    pub msg_id: Option<String>,
    /// `_reply_q`.
    pub reply_q: Option<String>,
    /// `_timeout` (seconds on the wire); `None` when absent, null, not
    /// positive or too large for a `Duration`.
    pub call_monitor_timeout: Option<Duration>,
    /// Everything else.
    pub body: Map<String, Value>,
}

/// Opens a body: a JSON object, unwrapped from the 2.0 envelope when it
/// has both envelope keys (otherwise it is the 1.0 format, the object itself).
///
/// # Errors
/// [`MessagingError::MalformedMessage`] saying what is wrong.
pub fn unpack(data: &[u8]) -> Result<Unpacked> {
    let inner = open(data)?;
    let mut u = Unpacked::default();
    for (k, v) in inner {
        if let Some(key) = k.strip_prefix(CONTEXT_PREFIX) {
            u.context.insert(key.to_owned(), v);
            continue;
        }
        match k.as_str() {
            UNIQUE_ID => u.unique_id = opt_string(UNIQUE_ID, v)?,
            MSG_ID => u.msg_id = opt_string(MSG_ID, v)?,
            REPLY_Q => u.reply_q = opt_string(REPLY_Q, v)?,
            TIMEOUT => {
                u.call_monitor_timeout = match v {
                    Value::Null => None,
                    // Too large for a Duration (1e300) is as good as none.
                    Value::Number(n) => n
                        .as_f64()
                        .filter(|s| *s > 0.0)
                        .and_then(|s| Duration::try_from_secs_f64(s).ok()),
                    other => return Err(malformed(format!("_timeout is {other}, not a number"))),
                }
            }
            _ => {
                u.body.insert(k, v);
            }
        }
    }
    Ok(u)
}

/// The object a body carries: unwrapped from the 2.0 envelope when it has
/// both envelope keys, else the body itself (1.0).
fn open(data: &[u8]) -> Result<Map<String, Value>> {
    let outer: Value =
        serde_json::from_slice(data).map_err(|e| malformed(format!("body is not JSON: {e}")))?;
    let Value::Object(mut outer) = outer else {
        return Err(malformed("body is not a JSON object"));
    };
    if outer.contains_key(VERSION_KEY) && outer.contains_key(MESSAGE_KEY) {
        let version = outer.get(VERSION_KEY).and_then(Value::as_str).unwrap_or("");
        if version.split('.').next() != Some("2") {
            return Err(malformed(format!(
                "unsupported envelope version {:?}",
                outer[VERSION_KEY]
            )));
        }
        let Some(Value::String(text)) = outer.remove(MESSAGE_KEY) else {
            return Err(malformed("\"oslo.message\" is not a string"));
        };
        match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(malformed("\"oslo.message\" is not a JSON object")),
            Err(e) => Err(malformed(format!("\"oslo.message\" is not JSON: {e}"))),
        }
    } else {
        Ok(outer)
    }
}

/// The body of a notification as Python's Kafka driver writes it
/// (`impl_kafka.py` `pack_message`): the context nested under `_context`
/// (not flattened into `_context_*` keys), no `_unique_id`, always in the
/// 2.0 envelope whatever the notifier's driver (`messaging` or
/// `messagingv2`).
pub fn notification_body_nested_context(
    context: &Context,
    mut message: Map<String, Value>,
) -> Vec<u8> {
    message.insert(NESTED_CONTEXT.into(), Value::Object(context.clone()));
    envelope(&message)
}

/// Opens a body written by [`notification_body_nested_context`] (Python's
/// `impl_kafka.py` `unpack_message`): the envelope, if any, removed and the
/// `_context` object taken out.
///
/// # Errors
/// [`MessagingError::MalformedMessage`] when the body is not a JSON object,
/// has no `_context` (Python's listener fails on such a record too) or
/// its `_context` is not an object.
pub fn unpack_nested_context(data: &[u8]) -> Result<(Context, Map<String, Value>)> {
    let mut message = open(data)?;
    match message.remove(NESTED_CONTEXT) {
        Some(Value::Object(context)) => Ok((context, message)),
        Some(other) => Err(malformed(format!("_context is {other}, not an object"))),
        None => Err(malformed("notification has no _context")),
    }
}

fn opt_string(key: &str, v: Value) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(malformed(format!("{key} is {other}, not a string"))),
    }
}

/// The RPC request in an unpacked body.
///
/// # Errors
/// [`MessagingError::MalformedMessage`] when `method` is missing or not a
/// string, `args` is not an object, or `namespace`/`version` are not strings.
pub fn request(body: &mut Map<String, Value>) -> Result<RpcMessage> {
    let method = match body.remove("method") {
        Some(Value::String(m)) if !m.is_empty() => m,
        Some(other) => return Err(malformed(format!("\"method\" is {other}, not a name"))),
        None => return Err(malformed("request has no \"method\"")),
    };
    let args = match body.remove("args") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a,
        Some(other) => return Err(malformed(format!("\"args\" is {other}, not an object"))),
    };
    let namespace = opt_string("namespace", body.remove("namespace").unwrap_or(Value::Null))?;
    let version = opt_string("version", body.remove("version").unwrap_or(Value::Null))?;
    Ok(RpcMessage {
        method,
        args,
        namespace,
        version,
    })
}

/// One reply message for a call.
#[derive(Debug, PartialEq)]
pub enum ReplyPart {
    /// A result (possibly followed by a separate `ending` message from old servers).
    Result {
        /// The result.
        value: Value,
        /// Whether this is the last message of the reply.
        ending: bool,
    },
    /// The remote failure.
    Failure(Box<RemoteFailure>),
    /// `{"result": null, "ending": true}`: the end, with no (further) result.
    End,
    /// `{"result": null, "ending": false}`: a call-monitor keep-alive.
    KeepAlive,
}

/// Reads an unpacked reply body.
///
/// # Errors
/// [`MessagingError::MalformedMessage`] when `failure` is neither null nor a
/// failure JSON string.
pub fn reply(body: &Map<String, Value>) -> Result<ReplyPart> {
    match body.get("failure") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            return RemoteFailure::from_json_str(s).map(|f| ReplyPart::Failure(Box::new(f)))
        }
        Some(other) => return Err(malformed(format!("reply failure is {other}, not a string"))),
    }
    let ending = body.get("ending").and_then(Value::as_bool).unwrap_or(false);
    Ok(match body.get("result") {
        Some(v) if !v.is_null() => ReplyPart::Result {
            value: v.clone(),
            ending,
        },
        _ if ending => ReplyPart::End,
        _ => ReplyPart::KeepAlive,
    })
}

/// How many recent `_unique_id`s a receiver remembers. Python's
/// `_MsgIdCache` (`_drivers/amqp.py`) keeps 16 (`DUP_MSG_CHECK_SIZE`); a
/// wider window costs nothing and catches a duplicate that arrives later.
pub const RECENT_IDS: usize = 64;

/// The `_unique_id`s a receiver saw last: the one place a message sent
/// twice (a publisher retrying after a lost confirm) is recognised.
#[derive(Debug, Default)]
pub struct RecentIds {
    ids: VecDeque<String>,
}

impl RecentIds {
    /// Whether `unique_id` was seen among the last [`RECENT_IDS`]; records
    /// it when not. A message without one is never a duplicate.
    pub fn seen_before(&mut self, unique_id: Option<&str>) -> bool {
        let Some(id) = unique_id else {
            return false;
        };
        if self.ids.iter().any(|seen| seen == id) {
            return true;
        }
        if self.ids.len() == RECENT_IDS {
            self.ids.pop_front();
        }
        self.ids.push_back(id.to_owned());
        false
    }
}

#[cfg(test)]
mod tests;
