//! Every decoder of untrusted input, fed arbitrary and mutated bytes: it
//! must return a value or an error, never panic. These property tests run
//! in CI; the cargo-fuzz targets in `fuzz/` run the same decoders longer.
//!
//! In: random byte strings and single-byte mutations of valid payloads of
//! each format. Out: nothing but the absence of panics, and, for OTLP
//! protobuf, that the spans' bytes the store keeps agree with what prost
//! decoded.

use proptest::prelude::*;
use prost::Message;
use spoor_proto::request_spans::RequestSpans;
use spoor_proto::thrift::Protocol;
use spoor_proto::{jaeger_proto, jaeger_thrift, model, otlp_json, zipkin_v1, zipkin_v2};

/// Runs every decoder on `bytes`.
fn decode_everything(bytes: &[u8]) {
    let _ = jaeger_thrift::decode_http_body(bytes);
    let _ = jaeger_thrift::decode_agent_datagram(bytes, Protocol::Compact);
    let _ = jaeger_thrift::decode_agent_datagram(bytes, Protocol::Binary);
    let _ = jaeger_proto::decode_post_spans(bytes);
    let _ = zipkin_v1::decode_json(bytes);
    let _ = zipkin_v1::decode_thrift(bytes);
    let _ = zipkin_v2::decode_json(bytes, false);
    let _ = zipkin_v2::decode_json(bytes, true);
    let _ = zipkin_v2::decode_proto(bytes);
    let _ = otlp_json::decode_traces(bytes);
    otlp_spans_agree(bytes);
}

/// The OTLP protobuf path: when prost decodes a body and `RequestSpans`
/// finds its spans too, they agree: the same resources, scopes and span
/// counts, and each span's bytes decode to the span prost decoded.
fn otlp_spans_agree(bytes: &[u8]) {
    let body = bytes::Bytes::copy_from_slice(bytes);
    let found = RequestSpans::find(&body);
    let (Ok(data), Ok(found)) = (model::TracesData::decode(body.clone()), found) else {
        return;
    };
    assert!(found.shape_matches(&data), "shapes differ");
    for (r, rs) in data.resource_spans.iter().enumerate() {
        for (s, ss) in rs.scope_spans.iter().enumerate() {
            let spans = found.scope(r, s).expect("a scope for every decoded one");
            for (raw, span) in spans.iter().zip(&ss.spans) {
                let again = model::Span::decode(raw.clone()).expect("the span's bytes decode");
                assert_eq!(&again, span);
            }
        }
    }
}

/// Valid payloads of each format, to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fuzz/seeds") {
        let path = entry.expect("seed").path();
        if path.is_file() {
            seeds.push(std::fs::read(&path).expect("seed bytes"));
        }
    }
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_valid_payloads_never_panic(
        seed in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let seeds = seeds();
        let mut bytes = seed.get(&seeds).clone();
        for (at, value) in edits {
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
        }
        decode_everything(&bytes);
        let end = cut.index(bytes.len() + 1);
        decode_everything(&bytes[..end]);
    }
}

#[test]
fn the_otlp_seed_is_found_span_by_span() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/otlp.pb");
    let seed = std::fs::read(path).expect("the OTLP seed");
    let body = bytes::Bytes::from(seed);
    let data = model::TracesData::decode(body.clone()).expect("the seed decodes");
    assert!(data.span_count() > 0);
    let found = RequestSpans::find(&body).expect("its spans are found");
    assert!(found.shape_matches(&data));
    otlp_spans_agree(&body);
}

/// Writes one Zipkin v1 Thrift span (zipkinCore.thrift field ids): a
/// 128-bit trace id, a parent, `cs`/`cr` on one endpoint, an `sa` and a
/// string binary annotation.
fn zipkin_v1_thrift_span(w: &mut spoor_proto::thrift::Writer) {
    use spoor_proto::thrift::TType;
    let endpoint = |w: &mut spoor_proto::thrift::Writer, service: &str| {
        w.struct_begin();
        w.field(1, TType::I32);
        w.i32(0x0a00_0001);
        w.field(2, TType::I16);
        w.i16(8080);
        w.field(3, TType::Binary);
        w.binary(service.as_bytes());
        w.struct_end();
    };
    w.struct_begin();
    w.field(1, TType::I64);
    w.i64(0x5b5b);
    w.field(3, TType::Binary);
    w.binary(b"get");
    w.field(4, TType::I64);
    w.i64(2);
    w.field(5, TType::I64);
    w.i64(1);
    w.field(6, TType::List);
    w.list_begin(TType::Struct, 2);
    for (timestamp, value) in [
        (1_717_000_000_000_000i64, "cs"),
        (1_717_000_000_000_010, "cr"),
    ] {
        w.struct_begin();
        w.field(1, TType::I64);
        w.i64(timestamp);
        w.field(2, TType::Binary);
        w.binary(value.as_bytes());
        w.field(3, TType::Struct);
        endpoint(w, "svc");
        w.struct_end();
    }
    w.field(8, TType::List);
    w.list_begin(TType::Struct, 2);
    for (key, value, kind) in [("sa", &[1u8][..], 0), ("http.path", b"/cart", 6)] {
        w.struct_begin();
        w.field(1, TType::Binary);
        w.binary(key.as_bytes());
        w.field(2, TType::Binary);
        w.binary(value);
        w.field(3, TType::I32);
        w.i32(kind);
        w.field(4, TType::Struct);
        endpoint(w, if key == "sa" { "db" } else { "svc" });
        w.struct_end();
    }
    w.field(12, TType::I64);
    w.i64(0x5b);
    w.struct_end();
}

/// The binary seeds, built from code so they stay valid as formats evolve;
/// `seed_corpus_is_committed` writes them to `fuzz/seeds/`.
fn binary_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use bytes::Bytes;
    use spoor_proto::jaeger::api_v2 as jaeger;
    let trace = Bytes::from_static(&[0x5b; 16]);
    let kv = |key: &str, v_type: jaeger::ValueType| jaeger::KeyValue {
        key: key.into(),
        v_type: v_type as i32,
        v_str: "v".into(),
        v_bool: true,
        v_int64: 42,
        v_float64: 0.5,
        v_binary: Bytes::from_static(b"\x01\x02"),
    };
    let span = |id: u8, parent: Option<u8>| jaeger::Span {
        trace_id: trace.clone(),
        span_id: Bytes::copy_from_slice(&[id; 8]),
        operation_name: format!("op{id}"),
        references: parent
            .map(|p| jaeger::SpanRef {
                trace_id: trace.clone(),
                span_id: Bytes::copy_from_slice(&[p; 8]),
                ref_type: 0,
            })
            .into_iter()
            .collect(),
        flags: 1,
        start_time: Some(prost_types::Timestamp {
            seconds: 1_717_000_000,
            nanos: 1000,
        }),
        duration: Some(prost_types::Duration {
            seconds: 0,
            nanos: 5000,
        }),
        tags: vec![
            kv("span.kind", jaeger::ValueType::String),
            kv("b", jaeger::ValueType::Bool),
            kv("i", jaeger::ValueType::Int64),
            kv("d", jaeger::ValueType::Float64),
            kv("x", jaeger::ValueType::Binary),
        ],
        logs: vec![jaeger::Log {
            timestamp: Some(prost_types::Timestamp {
                seconds: 1_717_000_000,
                nanos: 2000,
            }),
            fields: vec![kv("event", jaeger::ValueType::String)],
        }],
        ..Default::default()
    };
    let batch = jaeger::Batch {
        spans: vec![span(1, None), span(2, Some(1))],
        process: Some(jaeger::Process {
            service_name: "svc".into(),
            tags: vec![kv("hostname", jaeger::ValueType::String)],
        }),
    };
    let zipkin = spoor_proto::zipkin::ListOfSpans {
        spans: vec![spoor_proto::zipkin::Span {
            trace_id: trace.clone(),
            id: Bytes::from_static(&[1; 8]),
            kind: 2,
            name: "get".into(),
            timestamp: 1_717_000_000_000_000,
            duration: 10,
            local_endpoint: Some(spoor_proto::zipkin::Endpoint {
                service_name: "svc".into(),
                ipv4: Bytes::from_static(&[10, 0, 0, 1]),
                ..Default::default()
            }),
            tags: [("k".to_string(), "v".to_string())].into_iter().collect(),
            ..Default::default()
        }],
    };
    let otlp_json_seed = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden/otlp_json/camel_case.input.json"),
    )
    .expect("golden OTLP/JSON input");
    let otlp = otlp_json::decode_traces(&otlp_json_seed).expect("golden input decodes");
    let zipkin_v1_list = {
        let mut w = spoor_proto::thrift::Writer::new(Protocol::Binary);
        w.list_begin(spoor_proto::thrift::TType::Struct, 1);
        zipkin_v1_thrift_span(&mut w);
        w.into_bytes()
    };
    let agent_zipkin = |protocol: Protocol| {
        use spoor_proto::thrift::TType;
        let mut w = spoor_proto::thrift::Writer::new(protocol);
        w.message_begin(
            jaeger_thrift::EMIT_ZIPKIN_BATCH,
            spoor_proto::thrift::message_type::ONEWAY,
            1,
        );
        w.struct_begin();
        w.field(1, TType::List);
        w.list_begin(TType::Struct, 1);
        zipkin_v1_thrift_span(&mut w);
        w.struct_end();
        w.into_bytes()
    };
    vec![
        (
            "jaeger_thrift_batch.bin",
            jaeger_thrift::encode_batch(&batch, Protocol::Binary),
        ),
        (
            "agent_compact.bin",
            jaeger_thrift::encode_emit_batch(&batch, Protocol::Compact, 1),
        ),
        (
            "agent_binary.bin",
            jaeger_thrift::encode_emit_batch(&batch, Protocol::Binary, 1),
        ),
        (
            "jaeger_post_spans.bin",
            jaeger::PostSpansRequest { batch: Some(batch) }.encode_to_vec(),
        ),
        ("zipkin_v2.pb", zipkin.encode_to_vec()),
        ("otlp.pb", otlp.encode_to_vec()),
        ("otlp.json", otlp_json_seed),
        ("zipkin_v1_thrift.bin", zipkin_v1_list),
        ("agent_zipkin_compact.bin", agent_zipkin(Protocol::Compact)),
        ("agent_zipkin_binary.bin", agent_zipkin(Protocol::Binary)),
    ]
}

#[test]
fn zipkin_v1_thrift_seeds_are_valid() {
    let seeds: std::collections::HashMap<_, _> = binary_seeds().into_iter().collect();
    let list = zipkin_v1::decode_thrift(&seeds["zipkin_v1_thrift.bin"]).expect("v1 Thrift list");
    assert_eq!(list.span_count(), 1);
    for (name, protocol) in [
        ("agent_zipkin_compact.bin", Protocol::Compact),
        ("agent_zipkin_binary.bin", Protocol::Binary),
    ] {
        let data = jaeger_thrift::decode_agent_datagram(&seeds[name], protocol).expect(name);
        assert_eq!(data.span_count(), 1, "{name}");
    }
}

#[test]
fn seed_corpus_is_committed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    for (name, bytes) in binary_seeds() {
        let path = dir.join(name);
        if update || !path.exists() {
            std::fs::create_dir_all(&dir).expect("fuzz/seeds");
            std::fs::write(&path, &bytes).expect("writing a seed");
            continue;
        }
        assert_eq!(
            std::fs::read(&path).expect("reading a seed"),
            bytes,
            "fuzz/seeds/{name} is stale (UPDATE_GOLDEN=1 rewrites it)"
        );
    }
}
