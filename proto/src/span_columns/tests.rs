//! Round trips of the columnar span encoding: byte-exact for prost's own
//! encoding, equal as messages for any other, whole for irregular spans;
//! damaged records are errors.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::model::{
    kv, string_kv, AnyValue, ArrayValue, Event, KeyValue, KeyValueList, Link, Span, Status, Value,
};

fn id(n: u64) -> Bytes {
    Bytes::copy_from_slice(&n.to_be_bytes())
}

fn full_span() -> Span {
    Span {
        trace_id: Bytes::new(),
        span_id: id(2),
        trace_state: "vendor=1".into(),
        parent_span_id: id(1),
        flags: 0x301,
        name: "GET /cart".into(),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_123_456_789,
        end_time_unix_nano: 1_700_000_000_223_456_789,
        attributes: vec![
            string_kv("http.method", "GET"),
            kv("http.status_code", Value::IntValue(200)),
            kv("negative", Value::IntValue(-7)),
            kv("cache.hit", Value::BoolValue(true)),
            kv("miss", Value::BoolValue(false)),
            kv("app.cart.total", Value::DoubleValue(123.45)),
            kv("ratio", Value::DoubleValue(std::f64::consts::PI)),
            kv("nan", Value::DoubleValue(f64::NAN)),
            kv("minus.zero", Value::DoubleValue(-0.0)),
            kv("huge", Value::DoubleValue(1e300)),
            string_kv("request.id", "0123456789abcdef0123456789abcdef"),
            string_kv("upper.hex", "0123456789ABCDEF0123456789ABCDEF"),
            string_kv("empty", ""),
            kv("blob", Value::BytesValue(Bytes::from_static(&[0, 1, 2]))),
            kv(
                "list",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::IntValue(1)),
                    }],
                }),
            ),
            kv(
                "map",
                Value::KvlistValue(KeyValueList {
                    values: vec![string_kv("a", "b")],
                }),
            ),
            KeyValue {
                key: "no.value".into(),
                value: None,
            },
            KeyValue {
                key: "empty.value".into(),
                value: Some(AnyValue { value: None }),
            },
        ],
        dropped_attributes_count: 3,
        events: vec![
            Event {
                time_unix_nano: 1_700_000_000_173_456_789,
                name: "exception".into(),
                attributes: vec![string_kv("exception.message", "boom")],
                dropped_attributes_count: 1,
            },
            Event {
                time_unix_nano: 0,
                name: String::new(),
                attributes: vec![],
                dropped_attributes_count: 0,
            },
        ],
        dropped_events_count: 4,
        links: vec![Link {
            trace_id: id(9),
            span_id: id(10),
            ..Default::default()
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: "upstream request timeout".into(),
            code: 2,
        }),
        debug: true,
        shared: true,
        jaeger_flags: 3,
    }
}

fn child(n: u64, parent: u64) -> Span {
    Span {
        span_id: id(n),
        parent_span_id: if parent == 0 {
            Bytes::new()
        } else {
            id(parent)
        },
        name: format!("op-{}", n % 3),
        kind: 3,
        start_time_unix_nano: 1_700_000_000_000_000_000 + n * 1000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + n * 1000 + 500,
        attributes: vec![string_kv("region", "eu-west-1")],
        ..Default::default()
    }
}

fn round_trip(traces: &[Vec<Vec<u8>>]) -> EncodedBlockColumns {
    let mut enc = BlockEncoder::new();
    for t in traces {
        enc.add_trace(t.iter().map(Vec::as_slice));
    }
    let block = enc.finish();
    assert_eq!(block.records.len(), traces.len());
    for (t, record) in traces.iter().zip(&block.records) {
        let back = decode_spans(&block.dictionary, record).unwrap();
        assert_eq!(&back, t);
    }
    block
}

#[test]
fn every_field_of_a_prost_span_comes_back_byte_exact() {
    let spans = vec![full_span().encode_to_vec(), Span::default().encode_to_vec()];
    round_trip(&[spans.clone(), spans]);
}

#[test]
fn parents_are_found_before_and_after_their_children() {
    // Children first, as SDKs export them (a span is sent when it ends).
    let trace: Vec<Vec<u8>> = [child(3, 2), child(2, 1), child(1, 0), child(4, 99)]
        .iter()
        .map(Message::encode_to_vec)
        .collect();
    let block = round_trip(&[trace]);
    // The parent 99 is not in the trace; 1 and 2 are named by index.
    let record = &block.records[0];
    assert!(record.windows(8).filter(|w| *w == &id(99)[..]).count() == 1);
    assert!(record.windows(8).filter(|w| *w == &id(1)[..]).count() == 1);
}

#[test]
fn repeated_strings_go_to_the_dictionary_and_single_ones_stay_inline() {
    let mut a = child(1, 0);
    a.attributes.push(string_kv("user.id", "user-1"));
    let mut b = child(2, 1);
    b.attributes.push(string_kv("user.id", "user-2"));
    let block = round_trip(&[vec![a.encode_to_vec()], vec![b.encode_to_vec()]]);
    let dict: Vec<&[u8]> = block.dictionary.iter().map(Vec::as_slice).collect();
    assert!(dict.contains(&&b"region"[..]));
    assert!(dict.contains(&&b"eu-west-1"[..]));
    assert!(dict.contains(&&b"user.id"[..]));
    assert!(!dict.contains(&&b"user-1"[..]));
}

#[test]
fn reordered_fields_come_back_as_the_same_message() {
    let span = child(5, 4);
    let mut bytes = Vec::new();
    // name before span_id, end before start: valid protobuf, not prost's order.
    prost::encoding::string::encode(5, &span.name, &mut bytes);
    prost::encoding::fixed64::encode(8, &span.end_time_unix_nano, &mut bytes);
    prost::encoding::bytes::encode(2, &span.span_id, &mut bytes);
    prost::encoding::fixed64::encode(7, &span.start_time_unix_nano, &mut bytes);
    let mut enc = BlockEncoder::new();
    enc.add_trace([bytes.as_slice()]);
    let block = enc.finish();
    let back = decode_spans(&block.dictionary, &block.records[0]).unwrap();
    let want = Span {
        span_id: span.span_id.clone(),
        name: span.name.clone(),
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        ..Default::default()
    };
    assert_eq!(Span::decode(back[0].as_slice()).unwrap(), want);
}

#[test]
fn irregular_spans_are_kept_whole() {
    let base = child(1, 0).encode_to_vec();
    // A second status (messages merge), a nested unknown field in status,
    // a name with the wrong wire type, and an unknown field in an attribute.
    let mut two_status = base.clone();
    prost::encoding::message::encode(15, &Status::default(), &mut two_status);
    prost::encoding::message::encode(15, &Status::default(), &mut two_status);
    let mut odd_status = base.clone();
    odd_status.extend_from_slice(&[0x7a, 0x02, 0x08, 0x01]); // field 15 {field 1: 1}
    let mut bad_name = base.clone();
    bad_name.extend_from_slice(&[0x28, 0x01]); // field 5 as a varint
    let mut odd_attr = base.clone();
    odd_attr.extend_from_slice(&[0x4a, 0x04, 0x0a, 0x00, 0x18, 0x01]); // KeyValue {1: "", 3: 1}
    let spans = vec![two_status, odd_status, bad_name, odd_attr];
    round_trip(&[spans]);
}

#[test]
fn damaged_records_are_errors() {
    let trace: Vec<Vec<u8>> = vec![full_span().encode_to_vec(), child(7, 2).encode_to_vec()];
    // Twice, so that the block has a dictionary.
    let block = round_trip(&[trace.clone(), trace]);
    assert!(!block.dictionary.is_empty());
    let record = &block.records[0];
    for cut in 0..record.len() {
        assert!(
            decode_spans(&block.dictionary, &record[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut longer = record.clone();
    longer.push(0);
    assert!(decode_spans(&block.dictionary, &longer).is_err());
    let empty: &[Vec<u8>] = &[];
    assert!(decode_spans(empty, record).is_err());
}

/// Where the written bytes of a fixed block are kept.
const GOLDEN_BLOCK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/span_columns/block.hex");

/// The dictionary and records of a block, one hex line each.
fn hex_lines(block: &EncodedBlockColumns) -> String {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mut out = String::new();
    for s in &block.dictionary {
        out.push_str(&format!("dictionary {}\n", hex(s)));
    }
    for r in &block.records {
        out.push_str(&format!("record {}\n", hex(r)));
    }
    out
}

#[test]
fn a_fixed_block_is_written_as_the_stored_blocks_were() {
    // Blocks on disk are read back by this crate's decoder: what the
    // encoder writes must not drift, and a change to it must be seen.
    // Every kind of span: full, plain children (parents before and after),
    // a span with events, one irregular (kept whole), an empty one.
    let mut with_events = child(6, 1);
    with_events.events = full_span().events;
    with_events.attributes.push(string_kv("user.id", "user-6"));
    let mut irregular = child(8, 1).encode_to_vec();
    irregular.extend_from_slice(&[0x28, 0x01]); // field 5 as a varint
    let traces: Vec<Vec<Vec<u8>>> = vec![
        vec![full_span().encode_to_vec(), child(3, 2).encode_to_vec()],
        vec![
            child(2, 1).encode_to_vec(),
            child(1, 0).encode_to_vec(),
            with_events.encode_to_vec(),
            irregular,
        ],
        vec![full_span().encode_to_vec(), Span::default().encode_to_vec()],
    ];
    let written = hex_lines(&round_trip(&traces));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(std::path::Path::new(GOLDEN_BLOCK).parent().unwrap()).unwrap();
        std::fs::write(GOLDEN_BLOCK, &written).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN_BLOCK)
        .expect("the golden block (UPDATE_GOLDEN=1 writes it; review it before committing)");
    assert_eq!(written, golden);
}

fn value_strategy() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        "[a-z]{0,6}".prop_map(|s| Some(Value::StringValue(s))),
        "[0-9a-f]{16,34}".prop_map(|s| Some(Value::StringValue(s))),
        any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
        any::<f64>().prop_map(|d| Some(Value::DoubleValue(d))),
        (any::<i32>(), 0u32..5)
            .prop_map(|(m, d)| Some(Value::DoubleValue(f64::from(m) / 10f64.powi(d as i32)))),
        proptest::collection::vec(any::<u8>(), 0..5)
            .prop_map(|b| Some(Value::BytesValue(b.into()))),
    ]
}

fn attrs_strategy() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(
        ("[a-c]{0,2}", value_strategy(), any::<bool>()).prop_map(|(key, value, wrap)| KeyValue {
            key,
            value: if wrap || value.is_some() {
                Some(AnyValue { value })
            } else {
                None
            },
        }),
        0..4,
    )
}

fn span_strategy() -> impl Strategy<Value = Span> {
    (
        (0u64..6, 0u64..8, "[a-d]{0,3}", 0i32..6, any::<u32>()),
        (any::<u64>(), any::<u64>(), attrs_strategy()),
        proptest::collection::vec((any::<u64>(), "[a-b]{0,2}", attrs_strategy()), 0..3),
        (
            proptest::option::of(("[a-z]{0,3}", 0i32..3)),
            any::<bool>(),
            0u32..3,
        ),
    )
        .prop_map(|(ids, times, events, rest)| {
            let (span, parent, name, kind, flags) = ids;
            let (start, end, attributes) = times;
            let (status, debug, dropped) = rest;
            Span {
                span_id: if span == 0 { Bytes::new() } else { id(span) },
                parent_span_id: if parent == 0 {
                    Bytes::new()
                } else {
                    id(parent)
                },
                name,
                kind,
                flags,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count: dropped,
                events: events
                    .into_iter()
                    .map(|(time_unix_nano, name, attributes)| Event {
                        time_unix_nano,
                        name,
                        attributes,
                        dropped_attributes_count: dropped,
                    })
                    .collect(),
                status: status.map(|(message, code)| Status { message, code }),
                debug,
                ..Default::default()
            }
        })
}

proptest! {
    #[test]
    fn any_prost_span_round_trips_byte_exact(
        traces in proptest::collection::vec(proptest::collection::vec(span_strategy(), 0..6), 1..4)
    ) {
        let traces: Vec<Vec<Vec<u8>>> = traces
            .iter()
            .map(|t| t.iter().map(Message::encode_to_vec).collect())
            .collect();
        let mut enc = BlockEncoder::new();
        for t in &traces {
            enc.add_trace(t.iter().map(Vec::as_slice));
        }
        let block = enc.finish();
        for (t, record) in traces.iter().zip(&block.records) {
            prop_assert_eq!(&decode_spans(&block.dictionary, record).unwrap(), t);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(span in proptest::collection::vec(any::<u8>(), 0..64),
                                   record in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut enc = BlockEncoder::new();
        enc.add_trace([span.as_slice()]);
        let block = enc.finish();
        // Whatever the encoder made of the bytes comes back as the same message.
        let back = decode_spans(&block.dictionary, &block.records[0]).unwrap();
        prop_assert_eq!(back.len(), 1);
        let canonical = |b: &[u8]| Span::decode(b).map(|s| s.encode_to_vec()).ok();
        if let Some(want) = canonical(&span) {
            prop_assert_eq!(canonical(&back[0]), Some(want));
        }
        let _ = decode_spans(&block.dictionary, &record);
    }
}
