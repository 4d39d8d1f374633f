//! Fuzz target: Jaeger api_v2 `PostSpansRequest` protobuf and its
//! translation to the canonical model.
//!
//! In: arbitrary bytes. Out: a decoded batch or an error; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = spoor_proto::jaeger_proto::decode_post_spans(data);
});
