//! oslo.versionedobjects primitives: the objects nova, cinder and neutron
//! pass in RPC arguments and results, as typed Rust values.
//!
//! A Python service with a `VersionedObjectSerializer` sends an object as
//! its primitive (`VersionedObject.obj_to_primitive()`, oslo.versionedobjects
//! `base.py`), a JSON object whose keys carry the project's serial
//! namespace, `nova_object` for nova:
//!
//! ```json
//! {"nova_object.name": "Flavor", "nova_object.namespace": "nova",
//!  "nova_object.version": "1.2",
//!  "nova_object.data": {"flavorid": "m1.tiny", "memory_mb": 512},
//!  "nova_object.changes": ["memory_mb"]}
//! ```
//!
//! [`Object<T>`] is that primitive with typed data `T`: a struct whose
//! fields are the object's (nested objects as `Object<U>`, lists of objects
//! as `Vec<Object<U>>`, datetimes with [`datetime`]) and which says who it
//! is by implementing [`VersionedObject`]. Reading one checks what
//! `obj_from_primitive` checks: the name, the project namespace, and a
//! version this type can read (same major, minor not above its own, as
//! `oslo_utils.versionutils.is_compatible`).
//!
//! ```
//! use oslo_messaging_core::versioned_object::{Object, VersionedObject};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, PartialEq, Serialize, Deserialize)]
//! struct Flavor {
//!     flavorid: String,
//!     memory_mb: i64,
//! }
//!
//! impl VersionedObject for Flavor {
//!     const SERIAL_NAMESPACE: &'static str = "nova_object";
//!     const PROJECT_NAMESPACE: &'static str = "nova";
//!     const NAME: &'static str = "Flavor";
//!     const VERSION: &'static str = "1.2";
//! }
//!
//! let primitive = serde_json::json!({
//!     "nova_object.name": "Flavor", "nova_object.namespace": "nova",
//!     "nova_object.version": "1.1",
//!     "nova_object.data": {"flavorid": "m1.tiny", "memory_mb": 512},
//!     "nova_object.changes": ["memory_mb"],
//! });
//! let flavor: Object<Flavor> = serde_json::from_value(primitive).expect("a Flavor 1.1");
//! assert_eq!(flavor.memory_mb, 512);
//! assert_eq!((flavor.version.as_str(), flavor.changes.as_slice()), ("1.1", &["memory_mb".to_owned()][..]));
//! ```

use std::ops::{Deref, DerefMut};

use serde::de::{DeserializeOwned, Error as _};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::version::Version;

/// What a Rust type says to be read and written as an oslo.versionedobjects
/// object: the class attributes of its Python counterpart.
pub trait VersionedObject: Serialize + DeserializeOwned {
    /// The prefix of the primitive's keys: the Python base class's
    /// `OBJ_SERIAL_NAMESPACE` (`nova_object` in nova, `cinder_object`,
    /// `neutron_object`; oslo.versionedobjects' default is
    /// `versioned_object`).
    const SERIAL_NAMESPACE: &'static str = "versioned_object";
    /// `OBJ_PROJECT_NAMESPACE` (`nova`; the default is `versionedobjects`).
    const PROJECT_NAMESPACE: &'static str = "versionedobjects";
    /// The object's name, `obj_name()`: the Python class name, e.g. `Instance`.
    const NAME: &'static str;
    /// The version this type implements, `X.Y` (`VERSION`).
    const VERSION: &'static str;
}

/// An object as it travels: its data, the version it is (or was sent) at,
/// and the fields that changed. Dereferences to the data.
#[derive(Debug, Clone, PartialEq)]
pub struct Object<T> {
    /// The object's fields.
    pub data: T,
    /// The version of the primitive, `X.Y`: as received, or
    /// `T::VERSION` for a new object.
    pub version: String,
    /// `<namespace>.changes`: the fields changed since the object was
    /// loaded, in order; written only when not empty, as Python does.
    pub changes: Vec<String>,
}

impl<T: VersionedObject> Object<T> {
    /// `data` at `T::VERSION`, with no changes.
    pub fn new(data: T) -> Self {
        Self {
            data,
            version: T::VERSION.to_owned(),
            changes: Vec::new(),
        }
    }

    /// The same object with `changes` as its changed fields.
    pub fn with_changes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, changes: I) -> Self {
        self.changes = changes.into_iter().map(Into::into).collect();
        self
    }

    /// The data.
    pub fn into_inner(self) -> T {
        self.data
    }
}

impl<T> Deref for Object<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> DerefMut for Object<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.data
    }
}

/// `<serial namespace>.<field>`, as `_obj_primitive_key` builds it.
fn key<T: VersionedObject>(field: &str) -> String {
    format!("{}.{field}", T::SERIAL_NAMESPACE)
}

impl<T: VersionedObject> Serialize for Object<T> {
    /// Writes the primitive, keys in `obj_to_primitive`'s order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = if self.changes.is_empty() { 4 } else { 5 };
        let mut map = serializer.serialize_map(Some(fields))?;
        map.serialize_entry(&key::<T>("name"), T::NAME)?;
        map.serialize_entry(&key::<T>("namespace"), T::PROJECT_NAMESPACE)?;
        map.serialize_entry(&key::<T>("version"), &self.version)?;
        map.serialize_entry(&key::<T>("data"), &self.data)?;
        if !self.changes.is_empty() {
            map.serialize_entry(&key::<T>("changes"), &self.changes)?;
        }
        map.end()
    }
}

impl<'de, T: VersionedObject> Deserialize<'de> for Object<T> {
    /// Reads a primitive; refuses one of another name, project namespace
    /// or incompatible version, with an error that says which.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut primitive = Map::<String, Value>::deserialize(deserializer)?;
        let what = format!("{} {}", T::SERIAL_NAMESPACE, T::NAME);
        let mut take = |field: &str| primitive.remove(&key::<T>(field));
        let text = |field: &str, v: Option<Value>| match v {
            Some(Value::String(s)) => Ok(s),
            Some(other) => Err(D::Error::custom(format!(
                "not a {what} primitive: {}.{field} is {other}, not a string",
                T::SERIAL_NAMESPACE
            ))),
            None => Err(D::Error::custom(format!(
                "not a {what} primitive: it has no {}.{field} key",
                T::SERIAL_NAMESPACE
            ))),
        };
        let name = text("name", take("name"))?;
        if name != T::NAME {
            return Err(D::Error::custom(format!(
                "expected a {what}, got a {name} (UnsupportedObjectError)"
            )));
        }
        let namespace = text("namespace", take("namespace"))?;
        if namespace != T::PROJECT_NAMESPACE {
            return Err(D::Error::custom(format!(
                "{what} of project namespace {namespace:?} is not {:?} (UnsupportedObjectError)",
                T::PROJECT_NAMESPACE
            )));
        }
        let version = text("version", take("version"))?;
        let ours: Version = T::VERSION.parse().map_err(D::Error::custom)?;
        let theirs: Version = version.parse().map_err(|_| {
            D::Error::custom(format!("{what} version {version:?} is not of the form X.Y"))
        })?;
        if !ours.can_serve(theirs) {
            return Err(D::Error::custom(format!(
                "{what} version {version} is incompatible with {} (IncompatibleObjectVersion): \
                 same major version and a minor not above it are readable",
                T::VERSION
            )));
        }
        let data = take("data").ok_or_else(|| {
            D::Error::custom(format!(
                "not a {what} primitive: it has no {}.data key",
                T::SERIAL_NAMESPACE
            ))
        })?;
        let data = serde_json::from_value(data)
            .map_err(|e| D::Error::custom(format!("{what} {version}: {e}")))?;
        let changes = match take("changes") {
            None | Some(Value::Null) => Vec::new(),
            Some(c) => serde_json::from_value(c).map_err(|e| {
                D::Error::custom(format!("{what}: changes is not a list of names: {e}"))
            })?,
        };
        Ok(Object {
            data,
            version,
            changes,
        })
    }
}

/// `DateTimeField` values: written as oslo.versionedobjects writes them
/// (`_utils.isotime`: `2026-11-30T12:34:56Z`, whole seconds, UTC), read in
/// the ISO 8601 forms `timeutils.parse_isotime` reads (`Z` or an offset,
/// with or without fractions; without a zone, UTC, as `DateTime.coerce`
/// assumes). Use with `#[serde(with = "datetime")]`, and
/// `#[serde(with = "datetime::option")]` for a nullable field.
pub mod datetime {
    use chrono::{DateTime, NaiveDateTime, Utc};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// The form oslo.versionedobjects writes.
    const FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

    /// Writes `at` as `2026-11-30T12:34:56Z`.
    ///
    /// # Errors
    /// The serializer's.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&at.format(FORMAT))
    }

    /// Reads an ISO 8601 date and time.
    ///
    /// # Errors
    /// Text that is not one, with the text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text)
            .ok_or_else(|| D::Error::custom(format!("{text:?} is not an ISO 8601 date and time")))
    }

    /// `text` as a UTC date and time, if it is ISO 8601.
    pub fn parse(text: &str) -> Option<DateTime<Utc>> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(at.with_timezone(&Utc));
        }
        // Without a zone, or with a space instead of `T`: UTC.
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .map(|naive| naive.and_utc())
    }

    /// The same, for a nullable field (`null` is `None`).
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes `null` or the date and time.
        ///
        /// # Errors
        /// The serializer's.
        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Reads `null` or an ISO 8601 date and time.
        ///
        /// # Errors
        /// As [`super::deserialize`].
        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrapped(#[serde(with = "super")] DateTime<Utc>);
            Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(at)| at))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Tag {
        tag: String,
    }

    impl VersionedObject for Tag {
        const SERIAL_NAMESPACE: &'static str = "nova_object";
        const PROJECT_NAMESPACE: &'static str = "nova";
        const NAME: &'static str = "Tag";
        const VERSION: &'static str = "1.1";
    }

    fn tag(version: &str) -> Value {
        json!({"nova_object.name": "Tag", "nova_object.namespace": "nova",
               "nova_object.version": version, "nova_object.data": {"tag": "web"}})
    }

    #[test]
    fn a_primitive_is_written_as_python_writes_it() {
        let t = Object::new(Tag { tag: "web".into() });
        assert_eq!(
            serde_json::to_string(&t).expect("json"),
            r#"{"nova_object.name":"Tag","nova_object.namespace":"nova","nova_object.version":"1.1","nova_object.data":{"tag":"web"}}"#
        );
        let changed = serde_json::to_value(t.with_changes(["tag"])).expect("json");
        assert_eq!(changed["nova_object.changes"], json!(["tag"]));
    }

    #[test]
    fn versions_are_read_by_the_compatibility_rule() {
        for readable in ["1.0", "1.1"] {
            let t: Object<Tag> = serde_json::from_value(tag(readable)).expect(readable);
            assert_eq!((t.version.as_str(), t.tag.as_str()), (readable, "web"));
        }
        for (unreadable, why) in [
            ("1.2", "Tag version 1.2 is incompatible with 1.1"),
            ("2.0", "Tag version 2.0 is incompatible with 1.1"),
            ("one", "is not of the form X.Y"),
        ] {
            let e = serde_json::from_value::<Object<Tag>>(tag(unreadable)).expect_err(unreadable);
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    #[test]
    fn another_object_or_namespace_or_no_primitive_is_refused_saying_which() {
        let mut other = tag("1.1");
        other["nova_object.name"] = json!("Flavor");
        let e = serde_json::from_value::<Object<Tag>>(other).expect_err("a Flavor");
        assert!(
            e.to_string()
                .contains("expected a nova_object Tag, got a Flavor"),
            "{e}"
        );
        let mut other = tag("1.1");
        other["nova_object.namespace"] = json!("cinder");
        let e = serde_json::from_value::<Object<Tag>>(other).expect_err("cinder");
        assert!(
            e.to_string().contains("project namespace \"cinder\""),
            "{e}"
        );
        let e = serde_json::from_value::<Object<Tag>>(json!({"tag": "web"})).expect_err("plain");
        assert!(
            e.to_string().contains("it has no nova_object.name key"),
            "{e}"
        );
        let mut bad = tag("1.1");
        bad["nova_object.data"] = json!({"tag": 7});
        let e = serde_json::from_value::<Object<Tag>>(bad).expect_err("bad data");
        assert!(
            e.to_string().contains("nova_object Tag 1.1: invalid type"),
            "{e}"
        );
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Times {
        #[serde(with = "datetime")]
        at: chrono::DateTime<Utc>,
        #[serde(with = "datetime::option")]
        gone: Option<chrono::DateTime<Utc>>,
    }

    #[test]
    fn datetimes_are_written_as_oslo_writes_them_and_read_in_iso_8601_forms() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 30, 12, 34, 56)
            .single()
            .expect("a time");
        let t = Times { at, gone: None };
        assert_eq!(
            serde_json::to_string(&t).expect("json"),
            r#"{"at":"2026-11-30T12:34:56Z","gone":null}"#
        );
        for text in [
            "2026-11-30T12:34:56Z",
            "2026-11-30T12:34:56+00:00",
            "2026-11-30T13:34:56+01:00",
            "2026-11-30T12:34:56",
            "2026-11-30 12:34:56",
            "2026-11-30T12:34:56.000000Z",
        ] {
            let read: Times =
                serde_json::from_value(json!({"at": text, "gone": text})).expect(text);
            assert_eq!((read.at, read.gone), (at, Some(at)), "{text}");
        }
        let e = serde_json::from_value::<Times>(json!({"at": "yesterday", "gone": null}))
            .expect_err("not a time");
        assert!(
            e.to_string().contains("\"yesterday\" is not an ISO 8601"),
            "{e}"
        );
    }
}
