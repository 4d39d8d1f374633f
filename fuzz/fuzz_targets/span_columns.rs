//! Fuzz target: the columnar span records of the storage engine.
//!
//! In: arbitrary bytes: the first byte says where to cut the rest in two;
//! the first part is encoded as one
//! trace's only span (then decoded, and must come back as the same message
//! whenever prost can read it), the second is decoded as a damaged record
//! against that block's dictionary. Out: nothing; a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use spoor_proto::model::Span;
use spoor_proto::span_columns::{decode_spans, BlockEncoder};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, rest)) = data.split_first() else {
        return;
    };
    let (span, record) = rest.split_at(usize::from(cut).min(rest.len()));
    let mut enc = BlockEncoder::new();
    enc.add_trace([span]);
    let block = enc.finish();
    let back = decode_spans(&block.dictionary, &block.records[0]).expect("own record");
    assert_eq!(back.len(), 1);
    if let Ok(want) = Span::decode(span) {
        let got = Span::decode(back[0].as_slice()).expect("decoded span reads back");
        assert_eq!(got.encode_to_vec(), want.encode_to_vec());
    }
    let _ = decode_spans(&block.dictionary, record);
});
