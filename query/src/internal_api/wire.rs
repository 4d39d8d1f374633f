//! What crosses the wire between a query node and a store node's internal
//! API: the request bodies, the partition report, and the framing of
//! traces.
//!
//! In/out: traces as protobuf (`TracesData`; lists of found traces as
//! length-delimited [`FoundFrame`]s), everything small as JSON.

use bytes::{Buf, Bytes};
use prost::Message;
use serde::{Deserialize, Serialize};
use spoor_proto::ids::TraceId;
use spoor_proto::model::TracesData;
use spoor_storage::{FoundTrace, SearchCursor, SeriesFilter, TraceQuery};

/// Media type of protobuf bodies.
pub const PROTOBUF: &str = "application/x-protobuf";

/// What a store node holds and how far behind it is, per log partition
/// (`GET /internal/v1/partitions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionReport {
    /// The node's name.
    pub node: String,
    /// Partitions of the topic.
    pub partition_count: u32,
    /// Partitions the node consumes now.
    pub assigned: Vec<u32>,
    /// Every partition the node has ever stored data for.
    pub held: Vec<u32>,
    /// Assigned partitions whose consumer is behind the log's end.
    pub lagging: Vec<PartitionLag>,
}

/// How far a store node's consumer is behind on one partition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionLag {
    /// The partition.
    pub partition: u32,
    /// Records in the log not yet stored.
    pub records_behind: u64,
}

/// A search cursor on the wire (the trace id as 32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireCursor {
    /// Start of the trace's latest matching span, ns.
    pub latest_match_ns: u64,
    /// The trace id, 32 hex digits.
    pub trace_id: String,
}

impl From<SearchCursor> for WireCursor {
    fn from(c: SearchCursor) -> Self {
        WireCursor {
            latest_match_ns: c.latest_match_ns,
            trace_id: c.trace_id.to_hex32(),
        }
    }
}

impl WireCursor {
    /// The cursor, or what is wrong with its trace id.
    pub fn cursor(&self) -> Result<SearchCursor, String> {
        let trace_id = TraceId::parse_hex(&self.trace_id)
            .map_err(|e| format!("after.trace_id {:?}: {e}", self.trace_id))?;
        Ok(SearchCursor {
            latest_match_ns: self.latest_match_ns,
            trace_id,
        })
    }
}

/// `POST /internal/v1/find-page`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageRequest {
    /// The search.
    pub query: TraceQuery,
    /// Continue after this trace; `None` for the first page.
    #[serde(default)]
    pub after: Option<WireCursor>,
}

/// `POST /internal/v1/aggregate-buckets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketsRequest {
    /// First bucket start, ms.
    pub start_ms: u64,
    /// Last bucket start, ms.
    pub end_ms: u64,
    /// Which series to keep.
    pub filter: SeriesFilter,
}

/// One found trace of a search answer, a length-delimited protobuf frame.
#[derive(Clone, PartialEq, Message)]
pub struct FoundFrame {
    /// Start of the trace's latest matching span, ns.
    #[prost(uint64, tag = "1")]
    pub latest_match_ns: u64,
    /// The trace id, 16 big-endian bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub trace_id: Vec<u8>,
    /// All its spans.
    #[prost(message, optional, tag = "3")]
    pub data: Option<TracesData>,
}

/// Encodes found traces as consecutive length-delimited frames.
pub fn encode_found(found: &[FoundTrace]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in found {
        let frame = FoundFrame {
            latest_match_ns: f.cursor.latest_match_ns,
            trace_id: f.cursor.trace_id.to_bytes().to_vec(),
            data: Some(f.data.clone()),
        };
        frame
            .encode_length_delimited(&mut out)
            .expect("a Vec grows as needed");
    }
    out
}

/// Decodes the frames of [`encode_found`].
pub fn decode_found(mut body: Bytes) -> Result<Vec<FoundTrace>, String> {
    let mut found = Vec::new();
    while body.has_remaining() {
        let frame = FoundFrame::decode_length_delimited(&mut body)
            .map_err(|e| format!("bad found-trace frame: {e}"))?;
        let trace_id = TraceId::from_bytes(&frame.trace_id)
            .map_err(|e| format!("bad trace id in a found-trace frame: {e}"))?;
        found.push(FoundTrace {
            cursor: SearchCursor {
                latest_match_ns: frame.latest_match_ns,
                trace_id,
            },
            data: frame.data.unwrap_or_default(),
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_traces_survive_the_frames() {
        let found: Vec<FoundTrace> = (1..=3u64)
            .map(|i| FoundTrace {
                cursor: SearchCursor {
                    latest_match_ns: i * 10,
                    trace_id: TraceId(u128::from(i) << 70 | 5),
                },
                data: TracesData::default(),
            })
            .collect();
        let back = decode_found(Bytes::from(encode_found(&found))).unwrap();
        assert_eq!(back.len(), 3);
        for (a, b) in found.iter().zip(&back) {
            assert_eq!(a.cursor, b.cursor);
        }
        assert!(decode_found(Bytes::from_static(&[0x05, 0x01])).is_err());
    }

    #[test]
    fn a_report_is_strict_json() {
        let report = PartitionReport {
            node: "store-1".into(),
            partition_count: 6,
            assigned: vec![0, 3],
            held: vec![0, 1, 3],
            lagging: vec![PartitionLag {
                partition: 3,
                records_behind: 12,
            }],
        };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            serde_json::from_str::<PartitionReport>(&text).unwrap(),
            report
        );
        assert!(serde_json::from_str::<PartitionReport>(r#"{"node":"x","typo":1}"#).is_err());
    }
}
