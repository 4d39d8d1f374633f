//! OTLP/JSON ⇄ the canonical model.
//!
//! In: the body of an OTLP/HTTP request with `Content-Type: application/json`
//! (an `ExportTraceServiceRequest`, which has the same shape as `TracesData`).
//! Out: [`model::TracesData`]. The reverse direction renders a model batch as
//! OTLP/JSON, and [`encode_export_response`] renders the response body.
//!
//! Decoding is as lenient as the OpenTelemetry collector: lowerCamelCase and
//! snake_case field names (and the legacy `instrumentationLibrarySpans`), hex
//! ids in any case (empty = absent), enums as integers or names, integers as
//! numbers or decimal strings, doubles as numbers or `"NaN"`/`"Infinity"`/
//! `"-Infinity"`, `null` as absent, unknown fields ignored. Ids of the wrong
//! length are kept as decoded; [`crate::validate`] rejects those spans later.
//!
//! The decoder walks the JSON with serde visitors straight into the model (no
//! intermediate tree). It keeps the path of the value being read, so errors
//! say where they are: `resourceSpans[0].scopeSpans[1].spans[3].traceId: …`.
//!
//! Spoor's additions to the model (`debug`, `shared`, `jaegerFlags`) are
//! written and read as extra span fields; OTLP senders never set them and
//! other OTLP readers ignore them.
//!
//! Layout: `read` holds the reading framework and the scalar readers,
//! `messages` the field names of each message, `encode` the reverse direction.

use crate::model;

mod encode;
mod messages;
mod read;
#[cfg(test)]
mod tests;

pub use encode::{encode_export_response, encode_traces};
use read::{Path, Read};

/// Why an OTLP/JSON body could not be decoded. The `path` names the value,
/// e.g. `resourceSpans[0].scopeSpans[1].spans[3].traceId`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OtlpJsonError {
    /// A value has the wrong type or content.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// The body is not well-formed JSON.
    #[error("malformed JSON at {path}: {message}")]
    Syntax { path: String, message: String },
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (or `TracesData`) body.
/// An empty body (or only whitespace) is an empty batch.
pub fn decode_traces(body: &[u8]) -> Result<model::TracesData, OtlpJsonError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(model::TracesData::default());
    }
    let mut path = Path::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = Option::<model::TracesData>::read(&mut de, &mut path)
        .and_then(|data| de.end().map(|()| data));
    match result {
        Ok(data) => Ok(data.unwrap_or_default()),
        Err(e) => {
            let path = path.to_string();
            let message = e.to_string();
            Err(match e.classify() {
                serde_json::error::Category::Data => OtlpJsonError::Invalid { path, message },
                _ => OtlpJsonError::Syntax { path, message },
            })
        }
    }
}
