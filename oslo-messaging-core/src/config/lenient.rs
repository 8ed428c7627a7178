//! Lenient deserializers for option values, as oslo.config's types read them.
//!
//! Values from INI files, the environment and URL queries are strings, while
//! TOML files have typed values; these helpers accept both. Put one on every
//! typed field of an option group:
//!
//! ```
//! use oslo_messaging_core::config::lenient;
//!
//! #[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
//! #[serde(default)]
//! struct Group {
//!     #[serde(deserialize_with = "lenient::u64")]
//!     heartbeat_timeout_threshold: u64,
//!     #[serde(deserialize_with = "lenient::bool")]
//!     ssl: bool,
//!     #[serde(deserialize_with = "lenient::string_list")]
//!     hosts: Vec<String>,
//! }
//!
//! let g: Group = serde_json::from_str(
//!     r#"{"heartbeat_timeout_threshold": "60", "ssl": "yes", "hosts": "a, b"}"#,
//! ).unwrap();
//! assert_eq!(g.heartbeat_timeout_threshold, 60);
//! assert!(g.ssl);
//! assert_eq!(g.hosts, ["a", "b"]);
//! ```
//!
//! When a scalar option is given several values (a key repeated in an INI
//! section, or in a URL query), the last one wins, as in oslo.config.

use std::fmt;

use serde::de::{Deserializer, Error as _, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;

use super::scalar::{bool_from, f64_from, int_from, is_blank, Scalar};

/// Deserializes a `bool` from a boolean, `0`/`1`, or (any case)
/// `true`/`false`, `t`/`f`, `yes`/`no`, `y`/`n`, `on`/`off`, `1`/`0`.
///
/// # Errors
///
/// Any other value.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    bool_from(Scalar::deserialize(d)?)
}

/// Deserializes a `u64` from a number or a decimal string such as `"60"`.
///
/// # Errors
///
/// Text that is not an integer, or a negative or too large number.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    int_from(Scalar::deserialize(d)?, "a non-negative integer")
}

/// Deserializes an `i64` from a number or a decimal string such as `"-1"`.
///
/// # Errors
///
/// Text that is not an integer, or a number out of range.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    int_from(Scalar::deserialize(d)?, "an integer")
}

/// Deserializes a `usize` from a number or a decimal string such as `"64"`.
///
/// # Errors
///
/// Text that is not an integer, or a negative or too large number.
pub fn usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    int_from(Scalar::deserialize(d)?, "a non-negative integer")
}

/// Deserializes an `f64` from a number or a string such as `"0.5"`.
///
/// # Errors
///
/// Text that is not a number.
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    f64_from(Scalar::deserialize(d)?)
}

/// Deserializes a `String`; numbers and booleans are turned into their text
/// (`8080` gives `"8080"`). An empty value stays `""`.
///
/// # Errors
///
/// A null value, a map, or an empty list.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Scalar::deserialize(d)?
        .into_string()
        .ok_or_else(|| D::Error::invalid_type(Unexpected::Unit, &"a string"))
}

/// Deserializes an `Option<String>`: null gives `None`, anything else is read
/// as [`string`](fn@string) does. An empty value gives `Some("")`, as a `StrOpt` in
/// oslo.config.
///
/// # Errors
///
/// A map, or an empty list.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Scalar::deserialize(d)?.into_string())
}

macro_rules! opt_variant {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $conv:expr) => {
        $(#[$doc])*
        ///
        /// # Errors
        ///
        /// A value that the non-optional helper rejects.
        pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$ty>, D::Error> {
            let v = Scalar::deserialize(d)?;
            if is_blank(&v) {
                Ok(None)
            } else {
                $conv(v).map(Some)
            }
        }
    };
}

opt_variant!(
    /// As [`bool`](fn@bool), for `Option<bool>`; null or an empty value gives `None`.
    opt_bool, bool, bool_from
);
opt_variant!(
    /// As [`u64`](fn@u64), for `Option<u64>`; null or an empty value gives `None`.
    opt_u64, u64, |v| int_from(v, "a non-negative integer")
);
opt_variant!(
    /// As [`i64`](fn@i64), for `Option<i64>`; null or an empty value gives `None`.
    opt_i64, i64, |v| int_from(v, "an integer")
);
opt_variant!(
    /// As [`usize`](fn@usize), for `Option<usize>`; null or an empty value gives `None`.
    opt_usize, usize, |v| int_from(v, "a non-negative integer")
);
opt_variant!(
    /// As [`f64`](fn@f64), for `Option<f64>`; null or an empty value gives `None`.
    opt_f64, f64, f64_from
);

struct ListVisitor;

impl<'de> Visitor<'de> for ListVisitor {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list or a comma-separated string")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Scalar>()? {
            out.extend(v.into_string());
        }
        Ok(out)
    }
    fn visit_str<E>(self, v: &str) -> Result<Vec<String>, E> {
        Ok(v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }
    fn visit_bool<E>(self, v: bool) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }
    fn visit_i64<E>(self, v: i64) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }
    fn visit_u64<E>(self, v: u64) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }
    fn visit_f64<E>(self, v: f64) -> Result<Vec<String>, E> {
        Ok(vec![v.to_string()])
    }
    fn visit_none<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Vec<String>, D::Error> {
        d.deserialize_any(self)
    }
}

/// Deserializes a `Vec<String>` (oslo.config `ListOpt` / `MultiStrOpt`) from
/// a list (a TOML array, or a key repeated in an INI section), whose items are
/// kept as they are, or from a comma-separated string: `"a,b, c"` gives
/// `["a", "b", "c"]`, empty items are dropped and `""` gives an empty list.
///
/// # Errors
///
/// A map, or a list holding maps.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    d.deserialize_any(ListVisitor)
}
