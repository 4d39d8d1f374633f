//! One durable step of a store node: the records read since the last step,
//! decoded into one batch, and the offsets that may be stored once that
//! batch is durable.
//!
//! In: consumed records (partition, offset, encoding header, value). Out: a
//! [`ConsumedBatch`]: the spans of every valid record merged into one
//! `TracesData`, the count of invalid records (skipped: a record that can
//! never decode must not stop its partition), and per partition the last
//! offset the batch covers. The rule the consumer follows: offsets are
//! stored (and so committed) only after the batch is durable, so a node
//! that dies loses nothing: whoever takes the partition over reads again
//! from the last committed offset.

use std::collections::BTreeMap;

use spoor_proto::model::TracesData;

use crate::record::{decode_value, RecordError};

/// A record as read from the topic.
#[derive(Debug, Clone)]
pub struct ConsumedRecord {
    /// Its partition.
    pub partition: u32,
    /// Its offset.
    pub offset: i64,
    /// Its timestamp (milliseconds since the epoch; the producer's
    /// creation time), 0 when it has none.
    pub timestamp_ms: i64,
    /// Its key (Spoor's collectors: the 16 trace-id bytes).
    pub key: Option<Vec<u8>>,
    /// Its `spoor-enc` header, if any.
    pub encoding: Option<String>,
    /// Its value (empty when it had none).
    pub value: Vec<u8>,
}

/// The records of one step, decoded.
#[derive(Debug, Default)]
pub struct ConsumedBatch {
    /// Every valid record's spans.
    pub data: TracesData,
    /// Records that decoded.
    pub valid: usize,
    /// Records that did not, with the first reason.
    pub invalid: usize,
    /// Why the first invalid record was refused.
    pub first_error: Option<(u32, i64, RecordError)>,
    /// Per partition, the last offset the batch covers.
    pub last_offsets: BTreeMap<u32, i64>,
}

/// Decodes `records` into one batch.
pub fn decode_batch(records: &[ConsumedRecord]) -> ConsumedBatch {
    let mut batch = ConsumedBatch::default();
    for record in records {
        let last = batch
            .last_offsets
            .entry(record.partition)
            .or_insert(record.offset);
        *last = (*last).max(record.offset);
        match decode_value(record.encoding.as_deref(), &record.value) {
            Ok(data) => {
                batch.valid += 1;
                batch.data.resource_spans.extend(data.resource_spans);
            }
            Err(error) => {
                batch.invalid += 1;
                batch
                    .first_error
                    .get_or_insert((record.partition, record.offset, error));
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests;
