//! Tests of the OTLP/JSON decoder and encoder: one test per leniency rule,
//! and a property test that decoding an encoding gives the batch back.

use super::*;
use crate::model::{
    kv, span, string_kv, AnyValue, KeyValue, ResourceSpans, ScopeSpans, Span, Status, TracesData,
    Value,
};
use bytes::Bytes;
use serde_json::{json, Value as Json};

fn decode(v: Json) -> Result<TracesData, OtlpJsonError> {
    decode_traces(v.to_string().as_bytes())
}

fn one_span(span: Json) -> Json {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
}

fn first_span(data: &TracesData) -> &Span {
    &data.resource_spans[0].scope_spans[0].spans[0]
}

fn error_of(v: Json) -> String {
    decode(v).unwrap_err().to_string()
}

#[test]
fn camel_case_and_snake_case_field_names_decode_alike() {
    let camel = json!({"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "a"}}]},
        "scopeSpans": [{"scope": {"name": "lib"}, "spans": [{"traceId": "0102030405060708090a0b0c0d0e0f10",
        "spanId": "0102030405060708", "startTimeUnixNano": "5", "endTimeUnixNano": 7, "droppedAttributesCount": 2}]}]}]});
    let snake = json!({"resource_spans": [{"resource": {"attributes": [{"key": "service.name", "value": {"string_value": "a"}}]},
        "scope_spans": [{"scope": {"name": "lib"}, "spans": [{"trace_id": "0102030405060708090a0b0c0d0e0f10",
        "span_id": "0102030405060708", "start_time_unix_nano": 5, "end_time_unix_nano": "7", "dropped_attributes_count": "2"}]}]}]});
    let a = decode(camel).unwrap();
    assert_eq!(a, decode(snake).unwrap());
    assert_eq!(a.resource_spans[0].service_name(), "a");
    let span = first_span(&a);
    assert_eq!(
        (
            span.start_time_unix_nano,
            span.end_time_unix_nano,
            span.dropped_attributes_count
        ),
        (5, 7, 2)
    );
}

#[test]
fn legacy_instrumentation_library_spans_become_scope_spans() {
    let body = json!({"resourceSpans": [{"instrumentationLibrarySpans": [{"instrumentationLibrary": {"name": "old", "version": "0.1"},
        "spans": [{"name": "s"}]}]}]});
    let data = decode(body).unwrap();
    let ss = &data.resource_spans[0].scope_spans[0];
    assert_eq!(ss.scope.as_ref().unwrap().name, "old");
    assert_eq!(ss.spans[0].name, "s");
}

#[test]
fn ids_are_hex_in_any_case_and_empty_means_absent() {
    let data = decode(one_span(json!({"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "eee19b7ec3c1b174", "parentSpanId": ""})))
        .unwrap();
    let span = first_span(&data);
    assert_eq!(
        hex::encode(&span.trace_id),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(span.span_id.len(), 8);
    assert!(span.parent_span_id.is_empty());
}

#[test]
fn ids_of_the_wrong_length_decode_to_that_many_bytes() {
    let data = decode(one_span(
        json!({"traceId": "0102", "spanId": "0a0b0c0d0e0f0102030405"}),
    ))
    .unwrap();
    assert_eq!(first_span(&data).trace_id.as_ref(), &[1, 2]);
    assert_eq!(first_span(&data).span_id.len(), 11);
}

#[test]
fn non_hex_id_is_an_error_naming_its_path() {
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": []}, {"spans": [{}, {}, {}, {"traceId": "zz"}]}]}]});
    let err = decode(body).unwrap_err();
    match &err {
        OtlpJsonError::Invalid { path, message } => {
            assert_eq!(path, "resourceSpans[0].scopeSpans[1].spans[3].traceId");
            assert!(message.starts_with("not hex"), "{message}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err
        .to_string()
        .starts_with("resourceSpans[0].scopeSpans[1].spans[3].traceId: not hex"));
}

#[test]
fn odd_length_hex_is_an_error() {
    assert!(error_of(one_span(json!({"spanId": "abc"}))).contains("odd number of digits"));
}

#[test]
fn snake_case_path_names_the_spelling_used() {
    let err = error_of(json!({"resource_spans": [{"scope_spans": [{"spans": [{"span_id": 5}]}]}]}));
    assert!(
        err.starts_with("resource_spans[0].scope_spans[0].spans[0].span_id: invalid type"),
        "{err}"
    );
}

#[test]
fn enums_decode_from_integers_names_and_numeric_strings() {
    for (kind, want) in [
        (json!(2), 2),
        (json!("SPAN_KIND_SERVER"), 2),
        (json!("span_kind_client"), 3),
        (json!("4"), 4),
    ] {
        let data = decode(one_span(
            json!({"kind": kind, "status": {"code": "STATUS_CODE_ERROR"}}),
        ))
        .unwrap();
        assert_eq!(first_span(&data).kind, want);
        assert_eq!(first_span(&data).status_code(), model::StatusCode::Error);
    }
    let err = error_of(one_span(json!({"kind": "SPAN_KIND_SIDEWAYS"})));
    assert!(
        err.contains("kind: unknown span kind \"SPAN_KIND_SIDEWAYS\""),
        "{err}"
    );
    let err = error_of(one_span(json!({"status": {"code": "NOPE"}})));
    assert!(err.contains("status.code: unknown status code"), "{err}");
}

#[test]
fn int64_values_decode_from_numbers_and_decimal_strings() {
    let data = decode(one_span(json!({"startTimeUnixNano": "1717000000123456789", "endTimeUnixNano": 1717000000131868000u64,
        "attributes": [{"key": "a", "value": {"intValue": "-9223372036854775808"}}, {"key": "b", "value": {"intValue": 42}},
                       {"key": "c", "value": {"intValue": "1e3"}}]})))
    .unwrap();
    let span = first_span(&data);
    assert_eq!(span.start_time_unix_nano, 1_717_000_000_123_456_789);
    assert_eq!(span.end_time_unix_nano, 1_717_000_000_131_868_000);
    let ints: Vec<_> = span
        .attributes
        .iter()
        .map(|kv| kv.value.clone().unwrap().value.unwrap())
        .collect();
    assert_eq!(
        ints,
        vec![
            Value::IntValue(i64::MIN),
            Value::IntValue(42),
            Value::IntValue(1000)
        ]
    );
}

#[test]
fn out_of_range_and_fractional_integers_are_errors() {
    assert!(error_of(one_span(json!({"startTimeUnixNano": "-1"}))).contains("out of range"));
    assert!(error_of(one_span(json!({"startTimeUnixNano": 1.5})))
        .contains("is not an unsigned 64-bit integer"));
    assert!(
        error_of(one_span(json!({"droppedEventsCount": "4294967296"}))).contains("out of range")
    );
    assert!(error_of(one_span(json!({"flags": "x"})))
        .contains("\"x\" is not an unsigned 32-bit integer"));
}

#[test]
fn seventeen_digit_doubles_decode_exactly() {
    // Needs serde_json's `float_roundtrip`; the default parser is off by one ulp here.
    let want = 425_722.059_082_031_25_f64;
    let body = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"d","value":{{"doubleValue":{want:?}}}}}]}}]}}]}}]}}"#
    );
    let data = decode_traces(body.as_bytes()).unwrap();
    let got = &first_span(&data).attributes[0];
    assert_eq!(
        got.value.as_ref().unwrap().value,
        Some(Value::DoubleValue(want))
    );
}

#[test]
fn double_values_accept_numbers_and_non_finite_names() {
    let attrs = json!([{"key": "a", "value": {"doubleValue": 1.5}}, {"key": "b", "value": {"doubleValue": "NaN"}},
        {"key": "c", "value": {"doubleValue": "Infinity"}}, {"key": "d", "value": {"doubleValue": "-Infinity"}},
        {"key": "e", "value": {"doubleValue": 3}}]);
    let data = decode(one_span(json!({ "attributes": attrs }))).unwrap();
    let d: Vec<f64> = first_span(&data)
        .attributes
        .iter()
        .map(|kv| match kv.value.as_ref().unwrap().value {
            Some(Value::DoubleValue(d)) => d,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(d[0], 1.5);
    assert!(d[1].is_nan());
    assert_eq!((d[2], d[3], d[4]), (f64::INFINITY, f64::NEG_INFINITY, 3.0));
}

#[test]
fn bytes_values_are_base64_with_or_without_padding() {
    let attrs = json!([{"key": "a", "value": {"bytesValue": "3q2+7w=="}}, {"key": "b", "value": {"bytesValue": "3q2-7w"}}]);
    let data = decode(one_span(json!({ "attributes": attrs }))).unwrap();
    for kv in &first_span(&data).attributes {
        assert_eq!(
            kv.value.as_ref().unwrap().value,
            Some(Value::BytesValue(Bytes::from_static(&[
                0xde, 0xad, 0xbe, 0xef
            ])))
        );
    }
    assert!(error_of(one_span(
        json!({"attributes": [{"key": "a", "value": {"bytesValue": "!!"}}]})
    ))
    .contains("not base64"));
}

#[test]
fn nested_arrays_and_kvlists_decode() {
    let attrs = json!([{"key": "k", "value": {"kvlistValue": {"values": [
        {"key": "arr", "value": {"arrayValue": {"values": [{"stringValue": "x"}, {"boolValue": true}, {}]}}}]}}}]);
    let data = decode(one_span(json!({ "attributes": attrs }))).unwrap();
    let want = kv(
        "k",
        Value::KvlistValue(model::KeyValueList {
            values: vec![kv(
                "arr",
                Value::ArrayValue(model::ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::StringValue("x".into())),
                        },
                        AnyValue {
                            value: Some(Value::BoolValue(true)),
                        },
                        AnyValue { value: None },
                    ],
                }),
            )],
        }),
    );
    assert_eq!(first_span(&data).attributes, vec![want]);
}

#[test]
fn unknown_fields_and_nulls_are_ignored() {
    let body = json!({"resourceSpans": [{"resource": null, "entityRefs": [1, 2], "scopeSpans": [{"scope": null,
        "spans": [{"name": "n", "whatever": {"deep": [1, {"x": null}]}, "status": null, "links": null, "traceState": null}]}]}],
        "extra": true});
    let data = decode(body).unwrap();
    let ss = &data.resource_spans[0].scope_spans[0];
    assert!(data.resource_spans[0].resource.is_none() && ss.scope.is_none());
    assert_eq!(ss.spans[0].name, "n");
    assert!(ss.spans[0].status.is_none());
}

#[test]
fn empty_body_and_empty_object_are_empty_batches() {
    assert_eq!(decode_traces(b"").unwrap(), TracesData::default());
    assert_eq!(decode_traces(b" \n").unwrap(), TracesData::default());
    assert_eq!(decode_traces(b"{}").unwrap(), TracesData::default());
    assert_eq!(
        decode_traces(b"\xEF\xBB\xBF{\"resourceSpans\":[]}").unwrap(),
        TracesData::default()
    );
}

#[test]
fn malformed_json_is_a_syntax_error_with_its_path() {
    let err = decode_traces(br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x",]}]}]}"#)
        .unwrap_err();
    match err {
        OtlpJsonError::Syntax { path, .. } => {
            assert_eq!(path, "resourceSpans[0].scopeSpans[0].spans[0]")
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        matches!(decode_traces(b"[1]").unwrap_err(), OtlpJsonError::Invalid { path, .. } if path == "body")
    );
    assert!(matches!(
        decode_traces(b"{} x").unwrap_err(),
        OtlpJsonError::Syntax { .. }
    ));
}

#[test]
fn encoding_follows_the_otlp_json_spelling() {
    let span = Span {
        trace_id: Bytes::from(vec![0xab; 16]),
        span_id: Bytes::from(vec![0x01; 8]),
        name: "GET".into(),
        kind: 2,
        start_time_unix_nano: 1_717_000_000_123_456_789,
        end_time_unix_nano: 0,
        attributes: vec![
            kv("n", Value::IntValue(-3)),
            kv("d", Value::DoubleValue(f64::NAN)),
            string_kv("s", ""),
        ],
        status: Some(Status {
            code: 2,
            message: String::new(),
        }),
        ..Default::default()
    };
    let data = TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let want = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "abababababababababababababababab", "spanId": "0101010101010101", "name": "GET", "kind": 2,
        "startTimeUnixNano": "1717000000123456789",
        "attributes": [{"key": "n", "value": {"intValue": "-3"}}, {"key": "d", "value": {"doubleValue": "NaN"}},
                       {"key": "s", "value": {"stringValue": ""}}],
        "status": {"code": 2}}]}]}]});
    assert_eq!(encode_traces(&data), want);
}

#[test]
fn spoor_extensions_round_trip() {
    let span = Span {
        debug: true,
        shared: true,
        jaeger_flags: 3,
        ..Default::default()
    };
    let data = TracesData {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let json = encode_traces(&data);
    assert_eq!(
        json["resourceSpans"][0]["scopeSpans"][0]["spans"][0],
        json!({"debug": true, "shared": true, "jaegerFlags": 3})
    );
    assert_eq!(decode(json).unwrap(), data);
}

#[test]
fn export_response_is_empty_or_partial_success() {
    assert_eq!(encode_export_response(0, ""), json!({}));
    assert_eq!(
        encode_export_response(2, "2 spans had an all-zero span_id"),
        json!({"partialSuccess": {"rejectedSpans": "2", "errorMessage": "2 spans had an all-zero span_id"}})
    );
    assert_eq!(
        encode_export_response(0, "warning"),
        json!({"partialSuccess": {"errorMessage": "warning"}})
    );
}

mod round_trip {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
    }

    /// Doubles whose decimal form parses back exactly, plus infinities.
    fn double() -> impl Strategy<Value = f64> {
        prop_oneof![
            (any::<i32>(), 0u32..12).prop_map(|(m, e)| f64::from(m) / f64::from(1u32 << e)),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
        ]
    }

    fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            Just(None),
            any::<String>().prop_map(|s| Some(Value::StringValue(s))),
            any::<bool>().prop_map(|b| Some(Value::BoolValue(b))),
            any::<i64>().prop_map(|i| Some(Value::IntValue(i))),
            double().prop_map(|d| Some(Value::DoubleValue(d))),
            bytes(12).prop_map(|b| Some(Value::BytesValue(b))),
        ]
        .prop_map(|value| AnyValue { value });
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                    value: Some(Value::ArrayValue(model::ArrayValue { values }))
                }),
                vec((any::<String>(), proptest::option::of(inner)), 0..4).prop_map(|kvs| {
                    AnyValue {
                        value: Some(Value::KvlistValue(model::KeyValueList {
                            values: kvs
                                .into_iter()
                                .map(|(key, value)| KeyValue { key, value })
                                .collect(),
                        })),
                    }
                }),
            ]
        })
    }

    fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
        vec((any::<String>(), proptest::option::of(any_value())), 0..4).prop_map(|kvs| {
            kvs.into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect()
        })
    }

    fn event() -> impl Strategy<Value = span::Event> {
        (any::<u64>(), any::<String>(), attributes(), any::<u32>()).prop_map(
            |(time_unix_nano, name, attributes, dropped_attributes_count)| span::Event {
                time_unix_nano,
                name,
                attributes,
                dropped_attributes_count,
            },
        )
    }

    fn link() -> impl Strategy<Value = span::Link> {
        (
            bytes(16),
            bytes(8),
            any::<String>(),
            attributes(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(
                |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
                    span::Link {
                        trace_id,
                        span_id,
                        trace_state,
                        attributes,
                        dropped_attributes_count,
                        flags,
                    }
                },
            )
    }

    fn status() -> impl Strategy<Value = Option<Status>> {
        proptest::option::of(
            (any::<String>(), 0i32..3).prop_map(|(message, code)| Status { message, code }),
        )
    }

    fn span() -> impl Strategy<Value = Span> {
        let ids = (
            bytes(16),
            bytes(8),
            bytes(8),
            any::<String>(),
            any::<u32>(),
            any::<String>(),
            0i32..6,
        );
        let times = (
            any::<u64>(),
            any::<u64>(),
            attributes(),
            any::<u32>(),
            vec(event(), 0..3),
            any::<u32>(),
        );
        let rest = (
            vec(link(), 0..2),
            any::<u32>(),
            status(),
            any::<bool>(),
            any::<bool>(),
            any::<u32>(),
        );
        (ids, times, rest).prop_map(|(ids, times, rest)| Span {
            trace_id: ids.0,
            span_id: ids.1,
            parent_span_id: ids.2,
            trace_state: ids.3,
            flags: ids.4,
            name: ids.5,
            kind: ids.6,
            start_time_unix_nano: times.0,
            end_time_unix_nano: times.1,
            attributes: times.2,
            dropped_attributes_count: times.3,
            events: times.4,
            dropped_events_count: times.5,
            links: rest.0,
            dropped_links_count: rest.1,
            status: rest.2,
            debug: rest.3,
            shared: rest.4,
            jaeger_flags: rest.5,
        })
    }

    fn scope() -> impl Strategy<Value = Option<model::InstrumentationScope>> {
        proptest::option::of(
            (any::<String>(), any::<String>(), attributes(), any::<u32>()).prop_map(
                |(name, version, attributes, dropped_attributes_count)| {
                    model::InstrumentationScope {
                        name,
                        version,
                        attributes,
                        dropped_attributes_count,
                    }
                },
            ),
        )
    }

    fn traces() -> impl Strategy<Value = TracesData> {
        let scope_spans =
            (scope(), vec(span(), 0..3), any::<String>()).prop_map(|(scope, spans, schema_url)| {
                ScopeSpans {
                    scope,
                    spans,
                    schema_url,
                }
            });
        let resource = proptest::option::of((attributes(), any::<u32>()).prop_map(
            |(attributes, dropped_attributes_count)| model::Resource {
                attributes,
                dropped_attributes_count,
            },
        ));
        let resource_spans = (resource, vec(scope_spans, 0..3), any::<String>()).prop_map(
            |(resource, scope_spans, schema_url)| ResourceSpans {
                resource,
                scope_spans,
                schema_url,
            },
        );
        vec(resource_spans, 0..3).prop_map(|resource_spans| TracesData { resource_spans })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn decode_of_encode_is_identity(data in traces()) {
            let body = serde_json::to_vec(&encode_traces(&data)).unwrap();
            prop_assert_eq!(decode_traces(&body).unwrap(), data);
        }
    }
}
