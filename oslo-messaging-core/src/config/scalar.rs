//! One option value of any scalar type, and its conversions; the engine of
//! [`lenient`](super::lenient).

use std::fmt;

use serde::de::{self, Deserializer, Error as _, SeqAccess, Unexpected, Visitor};
use serde::Deserialize;

/// One scalar value, whatever its source type.
pub(super) enum Scalar {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
}

impl Scalar {
    pub(super) fn into_string(self) -> Option<String> {
        Some(match self {
            Scalar::Null => return None,
            Scalar::Bool(b) => b.to_string(),
            Scalar::I64(n) => n.to_string(),
            Scalar::U64(n) => n.to_string(),
            Scalar::F64(n) => n.to_string(),
            Scalar::Str(s) => s,
        })
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a single value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_char<E>(self, v: char) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Str(v))
    }
    fn visit_none<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_unit<E>(self) -> Result<Scalar, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        let mut last = None;
        while let Some(v) = seq.next_element::<Scalar>()? {
            last = Some(v);
        }
        last.ok_or_else(|| A::Error::custom("expected a single value, found an empty list"))
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

pub(super) fn bool_from<E: de::Error>(v: Scalar) -> Result<bool, E> {
    const EXP: &str = "a boolean (true/false, yes/no, on/off, 1/0)";
    match v {
        Scalar::Bool(b) => Ok(b),
        Scalar::I64(1) | Scalar::U64(1) => Ok(true),
        Scalar::I64(0) | Scalar::U64(0) => Ok(false),
        Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
            "false" | "f" | "no" | "n" | "off" | "0" => Ok(false),
            _ => Err(E::invalid_value(Unexpected::Str(&s), &EXP)),
        },
        other => Err(unexpected(other, EXP)),
    }
}

pub(super) fn unexpected<E: de::Error>(v: Scalar, exp: &str) -> E {
    match v {
        Scalar::Null => E::invalid_type(Unexpected::Unit, &exp),
        Scalar::Bool(b) => E::invalid_type(Unexpected::Bool(b), &exp),
        Scalar::I64(n) => E::invalid_value(Unexpected::Signed(n), &exp),
        Scalar::U64(n) => E::invalid_value(Unexpected::Unsigned(n), &exp),
        Scalar::F64(n) => E::invalid_value(Unexpected::Float(n), &exp),
        Scalar::Str(s) => E::invalid_value(Unexpected::Str(&s), &exp),
    }
}

/// Parses an integer of type `T` from a number or a decimal string.
pub(super) fn int_from<T, E>(v: Scalar, exp: &str) -> Result<T, E>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr,
    E: de::Error,
{
    let parsed = match &v {
        Scalar::I64(n) => T::try_from(*n).ok(),
        Scalar::U64(n) => T::try_from(*n).ok(),
        Scalar::F64(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => T::try_from(*n as i64).ok(),
        Scalar::Str(s) => s.trim().parse::<T>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| unexpected(v, exp))
}

pub(super) fn f64_from<E: de::Error>(v: Scalar) -> Result<f64, E> {
    match v {
        Scalar::I64(n) => Ok(n as f64),
        Scalar::U64(n) => Ok(n as f64),
        Scalar::F64(n) => Ok(n),
        Scalar::Str(ref s) => s.trim().parse().map_err(|_| unexpected(v, "a number")),
        other => Err(unexpected(other, "a number")),
    }
}

/// True when an optional value is absent: null, or an empty string.
pub(super) fn is_blank(v: &Scalar) -> bool {
    match v {
        Scalar::Null => true,
        Scalar::Str(s) => s.trim().is_empty(),
        _ => false,
    }
}
