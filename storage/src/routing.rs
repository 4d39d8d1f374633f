//! Which log partition a trace belongs to, when Spoor runs split over a
//! partitioned log (Kafka): collectors send every span of a trace to this
//! partition, and query nodes ask only the stores that held it.
//!
//! In: a trace id and the topic's partition count. Out: the partition.
//! The function is part of the on-the-wire contract between Spoor's roles:
//! xxh3-64 of the trace id's 16 big-endian bytes (the record key), modulo the
//! partition count.

use spoor_proto::ids::TraceId;
use xxhash_rust::xxh3::xxh3_64;

/// The partition of `trace` in a topic of `partitions` partitions (at least
/// one is assumed; zero is treated as one).
pub fn log_partition(trace: TraceId, partitions: u32) -> u32 {
    let hash = xxh3_64(&trace.0.to_be_bytes());
    (hash % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_is_used_and_the_answer_is_stable() {
        let mut seen = [0u32; 8];
        for i in 0..8_000u128 {
            let id = TraceId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835));
            let p = log_partition(id, 8);
            assert_eq!(p, log_partition(id, 8));
            seen[p as usize] += 1;
        }
        for count in seen {
            assert!((800..1200).contains(&count), "uneven spread: {seen:?}");
        }
        // The contract is fixed: a known id maps to a known partition.
        let id = TraceId(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        assert_eq!(log_partition(id, 1), 0);
        assert_eq!(log_partition(id, 0), 0);
    }
}
