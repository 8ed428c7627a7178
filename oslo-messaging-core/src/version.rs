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
        let mut parts = s.split('.');
        let mut next = |required: bool| -> Result<u32, MessagingError> {
            match parts.next() {
                Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    p.parse().map_err(|_| bad())
                }
                None if !required => Ok(0),
                _ => Err(bad()),
            }
        };
        let major = next(true)?;
        let minor = next(true)?;
        let revision = next(false)?;
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            major,
            minor,
            revision,
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
        for bad in ["1", "1.", "a.b", "1.2.3.4", "", "-1.0", "1.x"] {
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
