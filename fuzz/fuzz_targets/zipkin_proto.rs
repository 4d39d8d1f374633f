//! Fuzz target: Zipkin v2 proto3 `ListOfSpans`.
//!
//! In: arbitrary bytes. Out: a decoded batch or an error; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spoor_proto::zipkin_v2::decode_proto(data);
});
