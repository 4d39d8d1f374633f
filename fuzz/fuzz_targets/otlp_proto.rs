//! Fuzz target: OTLP `ExportTraceServiceRequest` protobuf, decoded straight
//! into the canonical model and validated as every receiver does.
//!
//! In: arbitrary bytes. Out: a batch or an error; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut batch) = spoor_proto::model::TracesData::decode(data) {
        let _ = spoor_proto::validate::drop_invalid_spans(&mut batch);
    }
});
