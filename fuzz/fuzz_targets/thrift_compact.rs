//! Fuzz target: compact-protocol Thrift, as on the agent port 6831.
//!
//! In: arbitrary bytes as one UDP datagram (`Agent.emitBatch` /
//! `emitZipkinBatch`) and as a compact `Batch` struct. Out: a decoded batch
//! or an error; a panic, hang or unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_proto::jaeger_thrift;
use spoor_proto::thrift::Protocol;

fuzz_target!(|data: &[u8]| {
    let _ = jaeger_thrift::decode_agent_datagram(data, Protocol::Compact);
    let _ = jaeger_thrift::decode_batch(data, Protocol::Compact);
});
