//! The content codings of HTTP bodies, both ways: gzip, br and zstd, at the levels the
//! servers compress answers with (tower-http's defaults: gzip 6, brotli 4, zstd 3), so a
//! client compressing a request pays what the server pays for an answer.
//!
//! Requests with `Content-Encoding` are decoded by [`decode_requests`] before any handler
//! sees them; the body limit applies to the decoded bytes (a small compressed body cannot
//! expand past it).

use std::io::{self, Read, Write};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// A content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Br,
    Zstd,
}

/// Why a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("decoded, the body is over the {0} byte limit")]
    TooLarge(usize),
    #[error("the body is not valid {0}: {1}")]
    Invalid(&'static str, io::Error),
}

/// Brotli's quality and window as tower-http compresses with them.
const BROTLI_QUALITY: u32 = 4;
const BROTLI_WINDOW: u32 = 22;
const ZSTD_LEVEL: i32 = 3;

impl Coding {
    pub const ALL: [Coding; 3] = [Coding::Gzip, Coding::Br, Coding::Zstd];

    /// Its name in `Content-Encoding` and `Accept-Encoding`.
    pub fn name(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// The coding a header value names (case-insensitive), if it is one of these.
    pub fn parse(value: &[u8]) -> Option<Coding> {
        Coding::ALL.into_iter().find(|c| c.name().as_bytes().eq_ignore_ascii_case(value.trim_ascii()))
    }

    /// `plain`, compressed.
    pub fn encode(self, plain: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plain.len() / 2 + 64);
        // Writing into a Vec cannot fail.
        match self {
            Coding::Gzip => {
                let mut w = flate2::write::GzEncoder::new(out, flate2::Compression::new(6));
                let _ = w.write_all(plain);
                out = w.finish().unwrap_or_default();
            }
            Coding::Br => {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, BROTLI_WINDOW);
                let _ = w.write_all(plain);
                drop(w);
            }
            Coding::Zstd => out = zstd::bulk::compress(plain, ZSTD_LEVEL).unwrap_or_default(),
        }
        out
    }

    /// `body`, decompressed, unless it would exceed `limit` bytes.
    pub fn decode(self, body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
        let reader: Box<dyn Read + '_> = match self {
            Coding::Gzip => Box::new(flate2::read::GzDecoder::new(body)),
            Coding::Br => Box::new(brotli::Decompressor::new(body, 4096)),
            Coding::Zstd => Box::new(zstd::Decoder::new(body).map_err(|e| DecodeError::Invalid("zstd", e))?),
        };
        let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
        reader
            .take((limit as u64).saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| DecodeError::Invalid(self.name(), e))?;
        if out.len() > limit {
            return Err(DecodeError::TooLarge(limit));
        }
        Ok(out)
    }
}

/// Middleware: decodes a request body sent with `Content-Encoding` (gzip, br, zstd) under
/// the body limit `limit`; any other coding is `415 unsupported_encoding`, a body that does
/// not decode `400 malformed_body`, one over the limit `413 too_large`, in the one error body.
pub async fn decode_requests(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let Some(value) = request.headers().get(header::CONTENT_ENCODING).cloned() else {
        return next.run(request).await;
    };
    if value.as_bytes().trim_ascii().eq_ignore_ascii_case(b"identity") {
        return next.run(request).await;
    }
    let Some(coding) = Coding::parse(value.as_bytes()) else {
        let named = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let message = format!("Content-Encoding {named:?} is not supported: use gzip, br or zstd");
        return crate::http::error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            message,
        );
    };
    let (mut parts, body) = request.into_parts();
    let too_large = || {
        let message = format!("request body over the {limit} byte limit");
        crate::http::error_response(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    };
    let Ok(compressed) = axum::body::to_bytes(body, limit).await else { return too_large() };
    let decoded = match coding.decode(&compressed, limit) {
        Ok(decoded) => decoded,
        Err(DecodeError::TooLarge(_)) => return too_large(),
        Err(e) => {
            return crate::http::error_response(StatusCode::BAD_REQUEST, "malformed_body", e.to_string());
        }
    };
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(header::CONTENT_LENGTH, decoded.len().into());
    next.run(Request::from_parts(parts, axum::body::Body::from(decoded))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_coding_round_trips_and_refuses_to_expand_past_the_limit() {
        let plain = br#"{"items":[{"sku":"SKU-1","quantity":1}]}"#.repeat(200);
        for c in Coding::ALL {
            let packed = c.encode(&plain);
            assert!(packed.len() * 5 < plain.len(), "{c:?}: {} bytes", packed.len());
            assert_eq!(c.decode(&packed, plain.len()).unwrap(), plain, "{c:?}");
            assert!(matches!(c.decode(&packed, plain.len() - 1), Err(DecodeError::TooLarge(_))), "{c:?}");
            assert!(
                matches!(c.decode(b"not compressed at all", 1000), Err(DecodeError::Invalid(..))),
                "{c:?}"
            );
            assert_eq!(Coding::parse(c.name().to_uppercase().as_bytes()), Some(c));
        }
        assert_eq!(Coding::parse(b"deflate"), None);
    }
}
