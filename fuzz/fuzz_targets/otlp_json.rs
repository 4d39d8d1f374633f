//! Fuzz target: OTLP/JSON request bodies (the lenient decoder).
//!
//! In: arbitrary bytes. Out: a decoded batch or an error; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spoor_proto::otlp_json::decode_traces(data);
});
