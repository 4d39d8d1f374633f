//! Records kept on disk besides the spans themselves: the write-ahead record,
//! the stored trace fragment, and the search summaries of a block.
//!
//! In: prepared traces and their span summaries. Out: prost-encoded records,
//! and the per-span search facts ([`SpanSummary`]) that search prunes with.

use prost::Message;

/// One write-ahead record: the traces of one accepted batch.
#[derive(Clone, PartialEq, Message)]
pub struct WalRecord {
    #[prost(message, repeated, tag = "1")]
    pub traces: Vec<WalTrace>,
}

/// One trace's part of a write-ahead record.
#[derive(Clone, PartialEq, Message)]
pub struct WalTrace {
    #[prost(bytes = "bytes", tag = "1")]
    pub trace_id: bytes::Bytes,
    /// Encoded `TracesData` holding only this trace's spans.
    #[prost(bytes = "bytes", tag = "2")]
    pub fragment: bytes::Bytes,
}

/// A stored piece of a trace: the spans flushed together, and the write-ahead
/// sequence numbers they came from (so a replay never stores them twice).
#[derive(Clone, PartialEq, Message)]
pub struct StoredTrace {
    #[prost(fixed64, repeated, tag = "1")]
    pub wal_seqs: Vec<u64>,
    /// Encoded `TracesData` (concatenated fragments).
    #[prost(bytes = "bytes", tag = "2")]
    pub spans: bytes::Bytes,
}

/// Search facts of one span, computed once at ingest.
#[derive(Clone, PartialEq, Message)]
pub struct SpanSummary {
    #[prost(string, tag = "1")]
    pub service: String,
    #[prost(string, tag = "2")]
    pub operation: String,
    #[prost(int32, tag = "3")]
    pub kind: i32,
    #[prost(fixed64, tag = "4")]
    pub start_ns: u64,
    #[prost(fixed64, tag = "5")]
    pub duration_ns: u64,
    #[prost(bool, tag = "6")]
    pub error: bool,
}

/// Per (service, operation) facts of one trace within a block.
#[derive(Clone, PartialEq, Message)]
pub struct OpEntry {
    #[prost(uint32, tag = "1")]
    pub service: u32,
    #[prost(uint32, tag = "2")]
    pub operation: u32,
    #[prost(fixed64, tag = "3")]
    pub min_start_ns: u64,
    #[prost(fixed64, tag = "4")]
    pub max_start_ns: u64,
    #[prost(fixed64, tag = "5")]
    pub min_duration_ns: u64,
    #[prost(fixed64, tag = "6")]
    pub max_duration_ns: u64,
}

/// One trace of a block.
#[derive(Clone, PartialEq, Message)]
pub struct TraceEntry {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(message, repeated, tag = "2")]
    pub ops: Vec<OpEntry>,
}

/// The trace list of a block, with its string table.
#[derive(Clone, PartialEq, Message)]
pub struct BlockTraces {
    #[prost(string, repeated, tag = "1")]
    pub strings: Vec<String>,
    #[prost(message, repeated, tag = "2")]
    pub traces: Vec<TraceEntry>,
}

/// What search needs to decide whether to open a block; kept in memory.
#[derive(Clone, PartialEq, Message)]
pub struct BlockMeta {
    #[prost(uint64, tag = "1")]
    pub block: u64,
    #[prost(fixed64, tag = "2")]
    pub min_start_ns: u64,
    #[prost(fixed64, tag = "3")]
    pub max_start_ns: u64,
    #[prost(uint32, tag = "4")]
    pub trace_count: u32,
    /// Hashes of service names and of (service, operation) pairs, sorted.
    #[prost(fixed64, repeated, tag = "5")]
    pub names: Vec<u64>,
    /// Bloom filter over tag tokens (see `matcher::token`).
    #[prost(fixed64, repeated, tag = "6")]
    pub bloom: Vec<u64>,
    #[prost(uint32, tag = "7")]
    pub bloom_hashes: u32,
}
