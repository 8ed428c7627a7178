//! Message compression as kombu does it (`kombu_compression`; kombu's
//! `compression.py`, which oslo.messaging's `_publish` passes it to): the
//! serialized body is compressed and the codec's content type goes in the
//! `compression` header; content type and encoding stay `application/json`
//! and `utf-8`. Every receiver decompresses by that header, whatever its own
//! option says, so a Rust service reads what a Python one with compression
//! on sends.
//!
//! | `kombu_compression` | header | body |
//! |---|---|---|
//! | `gzip` (or `zlib`) | `application/x-gzip` | zlib format (RFC 1950; `zlib.compress`), despite the name: not gzip |
//! | `bz2` (or `bzip2`) | `application/x-bz2` | bzip2 (`bz2.compress`) |

use std::borrow::Cow;
use std::io::{Read, Write};

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::BasicProperties;
use oslo_messaging_core::{MessagingError, Result};

use crate::options::GROUP;

/// The AMQP header that names a body's compression.
pub(crate) const HEADER: &str = "compression";

/// The most a compressed body may grow to, in bytes (256 MiB): a bigger
/// one is refused as malformed rather than filling memory.
pub(crate) const MAX_DECOMPRESSED: u64 = 256 * 1024 * 1024;

/// A codec of `kombu_compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Codec {
    /// `gzip`: zlib format, header `application/x-gzip`.
    Zlib,
    /// `bz2`: header `application/x-bz2`.
    Bzip2,
}

impl Codec {
    /// The codec `kombu_compression` names (kombu's names and aliases);
    /// `None` for no compression (unset or empty).
    ///
    /// # Errors
    /// [`MessagingError::InvalidOption`] for a name kombu does not know or
    /// that needs a library Python services may lack (brotli, lzma, zstd).
    pub fn from_option(name: Option<&str>) -> Result<Option<Codec>> {
        match name.map(str::trim).unwrap_or("") {
            "" => Ok(None),
            "gzip" | "zlib" | "application/x-gzip" => Ok(Some(Codec::Zlib)),
            "bz2" | "bzip2" | "bzip" | "application/x-bz2" => Ok(Some(Codec::Bzip2)),
            other => Err(MessagingError::InvalidOption {
                group: GROUP.into(),
                option: "kombu_compression".into(),
                reason: format!("{other:?} is not one of gzip, bz2"),
            }),
        }
    }

    /// The content type kombu puts in the `compression` header.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Zlib => "application/x-gzip",
            Codec::Bzip2 => "application/x-bz2",
        }
    }

    /// `body` compressed, and `properties` with the `compression` header.
    pub fn compress(self, body: &[u8], properties: BasicProperties) -> (Vec<u8>, BasicProperties) {
        let compressed = match self {
            Codec::Zlib => {
                let mut e =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                // Writing to a Vec cannot fail.
                let _ = e.write_all(body);
                e.finish().unwrap_or_default()
            }
            Codec::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
                let _ = e.write_all(body);
                e.finish().unwrap_or_default()
            }
        };
        let mut headers = properties.headers().clone().unwrap_or_default();
        headers.insert(
            ShortString::from(HEADER),
            AMQPValue::LongString(LongString::from(self.content_type())),
        );
        (compressed, properties.with_headers(headers))
    }
}

/// A delivery's body as sent: decompressed when its `compression` header
/// says so, borrowed as it is otherwise.
///
/// # Errors
/// [`MessagingError::MalformedMessage`] naming the header for a codec
/// kombu's `gzip` or `bz2` did not write, for a body that does not
/// decompress, or for one that would grow past [`MAX_DECOMPRESSED`].
pub(crate) fn decompressed<'a>(
    headers: Option<&FieldTable>,
    body: &'a [u8],
) -> Result<Cow<'a, [u8]>> {
    let Some(value) = headers.and_then(|h| h.inner().get(HEADER)) else {
        return Ok(Cow::Borrowed(body));
    };
    let name = match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.to_string(),
        other => format!("{other:?}"),
    };
    let codec = match name.as_str() {
        "application/x-gzip" => Codec::Zlib,
        "application/x-bz2" => Codec::Bzip2,
        _ => {
            return Err(MessagingError::MalformedMessage(format!(
                "unknown compression header {HEADER:?} = {name:?} (known: application/x-gzip, application/x-bz2)"
            )))
        }
    };
    let reader: Box<dyn Read + '_> = match codec {
        Codec::Zlib => Box::new(flate2::read::ZlibDecoder::new(body)),
        Codec::Bzip2 => Box::new(bzip2::read::BzDecoder::new(body)),
    };
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            MessagingError::MalformedMessage(format!(
                "the body does not decompress as {name:?} (header {HEADER:?}): {e}"
            ))
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(MessagingError::MalformedMessage(format!(
            "the body decompresses ({name:?}) to more than {MAX_DECOMPRESSED} bytes"
        )));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_of(p: &BasicProperties) -> Option<&FieldTable> {
        p.headers().as_ref()
    }

    #[test]
    fn each_codec_round_trips_with_kombus_header() {
        let body = br#"{"oslo.version": "2.0", "oslo.message": "{}"}"#.repeat(50);
        for (codec, header) in [
            (Codec::Zlib, "application/x-gzip"),
            (Codec::Bzip2, "application/x-bz2"),
        ] {
            let (packed, props) = codec.compress(&body, BasicProperties::default());
            assert!(packed.len() < body.len(), "{codec:?} compresses");
            let h = headers_of(&props).expect("headers");
            assert_eq!(
                h.inner().get(HEADER),
                Some(&AMQPValue::LongString(header.into()))
            );
            assert_eq!(
                decompressed(Some(h), &packed)
                    .expect("decompresses")
                    .as_ref(),
                &body[..]
            );
        }
    }

    #[test]
    fn gzip_means_the_zlib_format_as_pythons_zlib_compress_writes_it() {
        // zlib.compress(b'{"a": 1}') in Python 3.11.
        let python = [
            0x78, 0x9c, 0xab, 0x56, 0x4a, 0x54, 0xb2, 0x52, 0x30, 0xac, 0x05, 0x00, 0x09, 0xe5,
            0x02, 0x29,
        ];
        let mut h = FieldTable::default();
        h.insert(
            HEADER.into(),
            AMQPValue::LongString("application/x-gzip".into()),
        );
        assert_eq!(
            decompressed(Some(&h), &python).expect("zlib").as_ref(),
            br#"{"a": 1}"#
        );
        let (ours, _) = Codec::Zlib.compress(br#"{"a": 1}"#, BasicProperties::default());
        assert_eq!(&ours[..2], &[0x78, 0x9c], "a zlib header, not gzip's 1f 8b");
    }

    #[test]
    fn unknown_or_broken_compression_is_a_malformed_message_naming_the_header() {
        let mut h = FieldTable::default();
        h.insert(
            HEADER.into(),
            AMQPValue::LongString("application/x-brotli".into()),
        );
        let e = decompressed(Some(&h), b"xx").expect_err("unknown codec");
        assert!(matches!(e, MessagingError::MalformedMessage(_)));
        assert!(e.to_string().contains("application/x-brotli"), "{e}");
        h.insert(
            HEADER.into(),
            AMQPValue::LongString("application/x-gzip".into()),
        );
        let e = decompressed(Some(&h), b"not zlib").expect_err("broken body");
        assert!(e.to_string().contains("does not decompress"), "{e}");
        assert_eq!(
            decompressed(None, b"plain").expect("plain").as_ref(),
            b"plain"
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        let zeros = vec![0u8; (MAX_DECOMPRESSED + 1) as usize];
        let (bomb, props) = Codec::Zlib.compress(&zeros, BasicProperties::default());
        assert!(bomb.len() < 1024 * 1024);
        let e = decompressed(headers_of(&props), &bomb).expect_err("too big");
        assert!(e.to_string().contains("more than"), "{e}");
    }

    #[test]
    fn option_names_are_kombus() {
        assert_eq!(Codec::from_option(None).expect("unset"), None);
        assert_eq!(Codec::from_option(Some("")).expect("empty"), None);
        assert_eq!(
            Codec::from_option(Some("gzip")).expect("gzip"),
            Some(Codec::Zlib)
        );
        assert_eq!(
            Codec::from_option(Some("bz2")).expect("bz2"),
            Some(Codec::Bzip2)
        );
        let e = Codec::from_option(Some("lz4")).expect_err("unknown");
        assert!(e.to_string().contains("kombu_compression"), "{e}");
    }
}
