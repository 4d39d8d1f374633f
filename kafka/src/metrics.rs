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

/// Bytes of undecided traces a tail-sampling store node holds.
pub const OPEN_TRACE_BYTES: &str = "spoor_kafka_open_trace_bytes";
/// Traces decided before their time because a partition's open bytes
/// reached `kafka.consumer.open_bytes_per_partition`.
pub const TRACES_CLOSED_EARLY: &str = "spoor_kafka_traces_closed_early_total";
/// Decisions forgotten before their time because a partition remembered
/// its share of `sampling.tail.decision_cache_size`.
pub const DECISIONS_FORGOTTEN_EARLY: &str = "spoor_kafka_decisions_forgotten_early_total";
/// Progress records a store node could not publish.
pub const PROGRESS_FAILURES: &str = "spoor_kafka_progress_failures_total";

pub(crate) fn tail_stage(open_bytes: usize, closed_early: u64, forgotten_early: u64) {
    metrics::gauge!(OPEN_TRACE_BYTES).set(open_bytes as f64);
    metrics::counter!(TRACES_CLOSED_EARLY).absolute(closed_early);
    metrics::counter!(DECISIONS_FORGOTTEN_EARLY).absolute(forgotten_early);
}

pub(crate) fn progress_failed() {
    metrics::counter!(PROGRESS_FAILURES).increment(1);
}
