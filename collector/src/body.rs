//! HTTP request bodies, bounded: reading and decompressing.
//!
//! In: an axum request body and its headers. Out: the body bytes, never more
//! than the receiver's limit, before and after decompression; or an
//! [`IngestError`] (413 over the limit, 415 for an unknown encoding, 400 for
//! a corrupt one).
//!
//! Decompression streams through a reader capped at `limit + 1` output
//! bytes, so a gzip bomb costs at most `limit` bytes of memory before it is
//! refused.

use std::io::Read;

use axum::body::Body;
use bytes::Bytes;
use flate2::read::{MultiGzDecoder, ZlibDecoder};
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::IngestError;

/// A `Content-Encoding` the receivers decompress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContentEncoding {
    Identity,
    Gzip,
    /// `deflate` and `zlib`: zlib-wrapped deflate, as HTTP defines `deflate`.
    Zlib,
}

impl ContentEncoding {
    /// The encoding named by the headers; an unknown one is returned as an
    /// error holding its name.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<ContentEncoding, String> {
        let Some(value) = headers.get(CONTENT_ENCODING) else {
            return Ok(ContentEncoding::Identity);
        };
        let name = value
            .to_str()
            .map_err(|_| String::from_utf8_lossy(value.as_bytes()).into_owned())?;
        match name.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(ContentEncoding::Identity),
            "gzip" | "x-gzip" => Ok(ContentEncoding::Gzip),
            "deflate" | "zlib" => Ok(ContentEncoding::Zlib),
            _ => Err(name.to_string()),
        }
    }
}

/// The media type of `Content-Type` (lower-cased, parameters dropped), or ""
/// when the header is absent.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Reads the whole body as sent, refusing more than `limit` bytes (early
/// when `Content-Length` already says so).
pub(crate) async fn read_limited(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
) -> Result<Bytes, IngestError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(IngestError::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(IngestError::TooLarge { limit })
        }
        Err(error) => Err(IngestError::Malformed(format!(
            "cannot read the request body: {error}"
        ))),
    }
}

/// Decompresses `raw`, refusing output longer than `limit` bytes.
pub(crate) fn decompress(
    encoding: ContentEncoding,
    raw: Bytes,
    limit: usize,
) -> Result<Bytes, IngestError> {
    match encoding {
        ContentEncoding::Identity => Ok(raw),
        ContentEncoding::Gzip => {
            inflate_capped(MultiGzDecoder::new(&raw[..]), raw.len(), limit, "gunzip")
        }
        ContentEncoding::Zlib => {
            inflate_capped(ZlibDecoder::new(&raw[..]), raw.len(), limit, "inflate")
        }
    }
}

fn inflate_capped(
    decoder: impl Read,
    raw_len: usize,
    limit: usize,
    verb: &str,
) -> Result<Bytes, IngestError> {
    // Typical ratios are 4-10x; start there and let the Vec grow up to the cap.
    let mut out = Vec::with_capacity(raw_len.saturating_mul(4).min(limit));
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| {
            IngestError::Malformed(format!("cannot {verb} the request body: {error}"))
        })?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use http::HeaderValue;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap().into()
    }

    fn headers(name: http::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn content_encoding_names_are_case_insensitive_and_unknown_ones_are_named() {
        assert_eq!(
            ContentEncoding::from_headers(&HeaderMap::new()),
            Ok(ContentEncoding::Identity)
        );
        assert_eq!(
            ContentEncoding::from_headers(&headers(CONTENT_ENCODING, "GZIP")),
            Ok(ContentEncoding::Gzip)
        );
        assert_eq!(
            ContentEncoding::from_headers(&headers(CONTENT_ENCODING, "deflate")),
            Ok(ContentEncoding::Zlib)
        );
        assert_eq!(
            ContentEncoding::from_headers(&headers(CONTENT_ENCODING, "br")),
            Err("br".to_string())
        );
    }

    #[test]
    fn media_type_drops_parameters_and_case() {
        assert_eq!(
            media_type(&headers(CONTENT_TYPE, "Application/JSON; charset=utf-8")),
            "application/json"
        );
        assert_eq!(media_type(&HeaderMap::new()), "");
    }

    #[test]
    fn gzip_and_zlib_round_trip_within_the_limit() {
        let data = b"hello spans".repeat(100);
        assert_eq!(
            decompress(ContentEncoding::Gzip, gzip(&data), data.len()).unwrap(),
            data
        );
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(&data).unwrap();
        let zlib = Bytes::from(encoder.finish().unwrap());
        assert_eq!(
            decompress(ContentEncoding::Zlib, zlib, data.len()).unwrap(),
            data
        );
    }

    #[test]
    fn gzip_bomb_is_refused_at_the_limit() {
        // 64 MiB of zeros compress to about 64 KiB.
        let bomb = gzip(&vec![0u8; 64 << 20]);
        assert!(bomb.len() < 1 << 20);
        let error = decompress(ContentEncoding::Gzip, bomb, 1 << 20).unwrap_err();
        assert!(
            matches!(error, IngestError::TooLarge { limit } if limit == 1 << 20),
            "{error:?}"
        );
    }

    #[test]
    fn corrupt_gzip_is_malformed_and_says_so() {
        let error = decompress(
            ContentEncoding::Gzip,
            Bytes::from_static(b"[{\"not\":\"gzip\"}]"),
            1024,
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot gunzip the request body"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn body_over_the_limit_is_too_large_with_or_without_content_length() {
        let body = Body::from(vec![b'x'; 2048]);
        let error = read_limited(body, &HeaderMap::new(), 1024)
            .await
            .unwrap_err();
        assert!(matches!(error, IngestError::TooLarge { limit: 1024 }));
        let declared = headers(CONTENT_LENGTH, "4096");
        let error = read_limited(Body::from("small"), &declared, 1024)
            .await
            .unwrap_err();
        assert!(matches!(error, IngestError::TooLarge { limit: 1024 }));
        let ok = read_limited(Body::from(vec![b'x'; 1024]), &HeaderMap::new(), 1024)
            .await
            .unwrap();
        assert_eq!(ok.len(), 1024);
    }
}
