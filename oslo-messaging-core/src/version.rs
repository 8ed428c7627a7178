//! RPC API versions (`X.Y` or `X.Y.Z`) and oslo.messaging's compatibility rule.

use std::fmt;
use std::str::FromStr;

use crate::error::MessagingError;

/// An RPC API version such as `1.3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version: a change of it breaks compatibility.
    pub major: u32,
    /// Minor version: additions compatible with earlier minors.
    pub minor: u32,
    /// Revision (third part; 0 when absent).
    pub revision: u32,
}

impl Version {
    /// Version `1.0`, what a request without a version asks for.
    pub const DEFAULT: Version = Version::new(1, 0);

    /// `major.minor`.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self {
            major,
            minor,
            revision: 0,
        }
    }

    /// Whether an implementation at `self` can serve a request for `requested`:
    /// same major, and requested minor (then revision) not above ours.
    pub fn can_serve(self, requested: Version) -> bool {
        self.major == requested.major
            && (requested.minor, requested.revision) <= (self.minor, self.revision)
    }
}

impl FromStr for Version {
    type Err = MessagingError;

    /// # Errors
    /// [`MessagingError::InvalidTarget`] when the text is not `X.Y` or `X.Y.Z`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || MessagingError::InvalidTarget(format!("version {s:?} is not of the form X.Y"));
        // One pass over the bytes: every request's version is parsed on
        // the way out and on the way in.
        let mut parts = [0u32; 3];
        let mut count = 0;
        let mut digits = 0;
        for b in s.bytes() {
            match b {
                b'0'..=b'9' => {
                    let part = parts.get_mut(count).ok_or_else(bad)?;
                    *part = part
                        .checked_mul(10)
                        .and_then(|p| p.checked_add(u32::from(b - b'0')))
                        .ok_or_else(bad)?;
                    digits += 1;
                }
                b'.' if digits > 0 => {
                    count += 1;
                    digits = 0;
                }
                _ => return Err(bad()),
            }
        }
        // Two or three parts, the last one not empty.
        if digits == 0 || !(1..=2).contains(&count) {
            return Err(bad());
        }
        Ok(Self {
            major: parts[0],
            minor: parts[1],
            revision: parts[2],
        })
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.revision == 0 {
            write!(f, "{}.{}", self.major, self.minor)
        } else {
            write!(f, "{}.{}.{}", self.major, self.minor, self.revision)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().expect("valid version")
    }

    #[test]
    fn parses_and_displays() {
        assert_eq!(v("1.3"), Version::new(1, 3));
        assert_eq!(v("2.10.4").revision, 4);
        assert_eq!(v("1.3").to_string(), "1.3");
        assert_eq!(v("0.0"), Version::new(0, 0));
        assert_eq!(v("4294967295.1").major, u32::MAX);
        for bad in [
            "1",
            "1.",
            "a.b",
            "1.2.3.4",
            "",
            "-1.0",
            "1.x",
            ".1",
            "1..2",
            "1.2.",
            "+1.0",
            " 1.0",
            "4294967296.0",
            "1.0\0",
        ] {
            let e = bad.parse::<Version>().expect_err(bad);
            assert!(e.to_string().contains("not of the form X.Y"), "{e}");
        }
    }

    #[test]
    fn compatibility_rule() {
        assert!(v("1.3").can_serve(v("1.0")));
        assert!(v("1.3").can_serve(v("1.3")));
        assert!(!v("1.3").can_serve(v("1.4")));
        assert!(!v("2.0").can_serve(v("1.0")));
        assert!(!v("1.3").can_serve(v("1.3.1")));
        assert!(v("1.3.2").can_serve(v("1.3.1")));
    }
}
