//! Fuzz target: OTLP `ExportTraceServiceRequest` protobuf, decoded straight
//! into the canonical model and validated as every receiver does; its
//! spans' bytes found as the store takes them, which must agree with what
//! prost decoded.
//!
//! In: arbitrary bytes. Out: a batch or an error; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use spoor_proto::model::{Span, TracesData};
use spoor_proto::request_spans::RequestSpans;

fuzz_target!(|data: &[u8]| {
    let body = prost::bytes::Bytes::copy_from_slice(data);
    let found = RequestSpans::find(&body);
    if let Ok(mut batch) = TracesData::decode(body.clone()) {
        if let Ok(found) = found {
            assert!(found.shape_matches(&batch));
            for (r, rs) in batch.resource_spans.iter().enumerate() {
                for (s, ss) in rs.scope_spans.iter().enumerate() {
                    let spans = found.scope(r, s).expect("a scope for every decoded one");
                    for (raw, span) in spans.iter().zip(&ss.spans) {
                        assert_eq!(&Span::decode(raw.clone()).unwrap(), span);
                    }
                }
            }
        }
        let _ = spoor_proto::validate::drop_invalid_spans(&mut batch);
    }
});
