//! Fuzz target: Zipkin v1 JSON and Thrift span lists (converted to v2).
//!
//! In: arbitrary bytes. Out: a decoded batch or an error; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spoor_proto::zipkin_v1::decode_json(data);
    let _ = spoor_proto::zipkin_v1::decode_thrift(data);
});
