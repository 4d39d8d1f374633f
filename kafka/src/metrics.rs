//! The Kafka metrics of the split roles (names in docs/metrics.md).
//!
//! In: counts from the producer and the consumer. Out: `metrics` facade
//! calls, rendered by the binary's Prometheus exporter.

/// Spans the collector had acknowledged by the brokers.
pub const SPANS_PRODUCED: &str = "spoor_kafka_spans_produced_total";
/// Spans the collector could not hand to Kafka, by `reason` (`queue_full`, `failed`).
pub const SPANS_NOT_PRODUCED: &str = "spoor_kafka_spans_not_produced_total";
/// Records a store node read, by `outcome` (`stored`, `invalid`).
pub const RECORDS_CONSUMED: &str = "spoor_kafka_records_consumed_total";
/// Records a store node is behind the end of its partitions.
pub const CONSUMER_LAG: &str = "spoor_kafka_consumer_lag_records";
/// Partitions assigned to a store node now.
pub const PARTITIONS_ASSIGNED: &str = "spoor_kafka_partitions_assigned";

pub(crate) fn produced(spans: usize) {
    metrics::counter!(SPANS_PRODUCED).increment(spans as u64);
}

pub(crate) fn produce_refused(spans: usize) {
    metrics::counter!(SPANS_NOT_PRODUCED, "reason" => "queue_full").increment(spans as u64);
}

pub(crate) fn produce_failed(spans: usize) {
    metrics::counter!(SPANS_NOT_PRODUCED, "reason" => "failed").increment(spans as u64);
}

pub(crate) fn consumed(stored: usize, invalid: usize) {
    metrics::counter!(RECORDS_CONSUMED, "outcome" => "stored").increment(stored as u64);
    metrics::counter!(RECORDS_CONSUMED, "outcome" => "invalid").increment(invalid as u64);
}

pub(crate) fn lag(records: u64) {
    metrics::gauge!(CONSUMER_LAG).set(records as f64);
}

pub(crate) fn assigned(partitions: usize) {
    metrics::gauge!(PARTITIONS_ASSIGNED).set(partitions as f64);
}
