//! The columnar span encoding of the storage engine's blocks.
//!
//! In: the encoded `Span` messages of the traces of one block (as they
//! arrived, usually with the trace id already stripped). Out: a block
//! dictionary (the strings that repeat in the block: span names, attribute
//! keys, low-cardinality values, event names, status messages) and one
//! record per trace whose spans are split into four sections, so that what
//! repeats sits together and what is random sits apart:
//!
//! - **structure**: per span a shape (which optional fields are present),
//!   dictionary references for names and keys, value type tags, the parent
//!   as an index into the trace's own spans, counts;
//! - **ids**: the span id of every span, in order (read first, so a parent
//!   can be named by index whether it comes before or after its child);
//! - **times**: start times as deltas from the trace's earliest start,
//!   durations, event times relative to their span;
//! - **values**: what does not repeat: strings used once in the block,
//!   integers (zig-zag varints), doubles (as scaled decimals when that is
//!   exact, else raw), lowercase hex strings as bytes, parent ids that are
//!   not in the trace, links and anything irregular as raw protobuf.
//!
//! And back: [`decode_spans`] turns a record and its block's dictionary into
//! encoded `Span` messages. For spans written by prost from the canonical
//! model the round trip is byte-exact; any other well-formed span comes back
//! equal as a message (fields in canonical order). A span this encoding
//! cannot take apart (a known field with the wrong wire type, a repeated
//! singular message, unknown fields inside attributes, events or status) is
//! kept whole as raw bytes, so no input is ever lost.
//!
//! The record does not depend on RocksDB or on the block layout around it;
//! the field numbers of `Span`, `Event`, `KeyValue`, `AnyValue` and `Status`
//! stay in this crate ([`fields`]).

mod decode;
mod encode;
mod fields;
mod parse;
#[cfg(test)]
mod tests;

pub use decode::decode_spans;
pub use encode::{BlockEncoder, EncodedBlockColumns};

/// Why a columnar record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnsError {
    /// The record is damaged or does not match its dictionary.
    #[error("malformed columnar span record: {0}")]
    Malformed(&'static str),
}

/// Record format version (the first byte of every record).
const RECORD_VERSION: u8 = 1;

/// `10^d` for the decimal doubles (exact in f64).
const DECIMAL_SCALES: [f64; 5] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0];

/// Span shape bits (the `shape` varint of a structured span).
mod shape {
    pub const TRACE_ID: u64 = 1;
    pub const TRACE_STATE: u64 = 1 << 1;
    pub const PARENT: u64 = 1 << 2;
    pub const FLAGS: u64 = 1 << 3;
    pub const KIND: u64 = 1 << 4;
    pub const DROPPED_ATTRIBUTES: u64 = 1 << 5;
    pub const EVENTS: u64 = 1 << 6;
    pub const DROPPED_EVENTS: u64 = 1 << 7;
    pub const LINKS: u64 = 1 << 8;
    pub const DROPPED_LINKS: u64 = 1 << 9;
    pub const STATUS: u64 = 1 << 10;
    pub const EXTRA: u64 = 1 << 11;
    pub const START: u64 = 1 << 12;
    pub const END: u64 = 1 << 13;
    pub const NAME: u64 = 1 << 14;
}

/// Span kinds in the structure section.
mod span_tag {
    /// Kept whole: length and bytes in the values section.
    pub const RAW: u8 = 0;
    /// Taken apart into the sections.
    pub const STRUCTURED: u8 = 1;
}

/// Attribute value type tags.
mod value_tag {
    /// The whole `KeyValue` message, raw, in the values section.
    pub const RAW_KEY_VALUE: u8 = 0;
    /// A string: a string reference.
    pub const STRING: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const TRUE: u8 = 3;
    /// An int64: zig-zag varint in the values section.
    pub const INT: u8 = 4;
    /// A double: 8 bytes little-endian in the values section.
    pub const DOUBLE: u8 = 5;
    /// A double that is exactly `m / 10^d` for d in 0..=4: tag
    /// `DECIMAL + d`, zig-zag varint `m` in the values section.
    pub const DECIMAL: u8 = 6;
    /// The last decimal tag (`DECIMAL + DECIMAL_SCALES.len() - 1`).
    pub const DECIMAL_LAST: u8 = 10;
    /// No `value` field at all.
    pub const NO_VALUE: u8 = 11;
    /// A lowercase hexadecimal string of even length used once in the
    /// block: byte count and the bytes in the values section.
    pub const HEX: u8 = 12;
    /// Any other `AnyValue` (array, key-value list, bytes, empty): its
    /// encoded message, raw, in the values section.
    pub const RAW_ANY_VALUE: u8 = 13;
}
