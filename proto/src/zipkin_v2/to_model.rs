//! [`ZSpan`]s → the canonical model (spec §5.1).
//!
//! In: normalised Zipkin spans. Out: a [`model::TracesData`] grouped by local service and scope.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::Value as Json;

use super::*;
use crate::ids::{SpanId, TraceId};
use crate::model::{self, kv, span, string_kv, SpanKind, StatusCode, Value};

/// Groups spans into one ResourceSpans per local service name and one
/// ScopeSpans per scope, in order of first appearance.
pub(super) fn into_model(spans: Vec<ZSpan>) -> model::TracesData {
    let mut resource_spans: Vec<model::ResourceSpans> = Vec::new();
    let mut by_service: HashMap<Option<String>, usize> = HashMap::new();
    for z in spans {
        let (service, scope, span) = to_model_span(z);
        let r = *by_service.entry(service).or_insert_with_key(|service| {
            let attributes = service
                .iter()
                .map(|name| string_kv(model::SERVICE_NAME, name.clone()))
                .collect();
            resource_spans.push(model::ResourceSpans {
                resource: Some(model::Resource {
                    attributes,
                    dropped_attributes_count: 0,
                }),
                ..Default::default()
            });
            resource_spans.len() - 1
        });
        let scopes = &mut resource_spans[r].scope_spans;
        let key = |s: &Option<model::InstrumentationScope>| {
            s.as_ref()
                .map(|s| (s.name.clone(), s.version.clone()))
                .unwrap_or_default()
        };
        let wanted = key(&scope);
        let s = match scopes.iter().position(|ss| key(&ss.scope) == wanted) {
            Some(s) => s,
            None => {
                scopes.push(model::ScopeSpans {
                    scope,
                    ..Default::default()
                });
                scopes.len() - 1
            }
        };
        scopes[s].spans.push(span);
    }
    model::TracesData { resource_spans }
}

/// Translates one span (spec §5.1). Returns its local service name, its
/// scope, and the model span.
fn to_model_span(
    z: ZSpan,
) -> (
    Option<String>,
    Option<model::InstrumentationScope>,
    model::Span,
) {
    let mut tags = z.tags;
    let mut kind = match z.kind {
        None => SpanKind::Unspecified,
        Some(Kind::Client) => SpanKind::Client,
        Some(Kind::Server) => SpanKind::Server,
        Some(Kind::Producer) => SpanKind::Producer,
        Some(Kind::Consumer) => SpanKind::Consumer,
        Some(Kind::Internal) => SpanKind::Internal,
    };
    if z.kind.is_none() {
        let from_tag = tags
            .get(SPAN_KIND_TAG)
            .and_then(|v| model::span_kind_from_name(&v.to_ascii_lowercase()));
        if let Some(k) = from_tag.filter(|&k| k != SpanKind::Unspecified) {
            kind = k;
            tags.remove(SPAN_KIND_TAG);
        }
    }
    let trace_state = tags.remove(TRACESTATE_TAG).unwrap_or_default();
    let scope_name = take_first(&mut tags, &SCOPE_NAME_TAGS);
    let scope_version = take_first(&mut tags, &SCOPE_VERSION_TAGS);
    let scope =
        (scope_name.is_some() || scope_version.is_some()).then(|| model::InstrumentationScope {
            name: scope_name.unwrap_or_default(),
            version: scope_version.unwrap_or_default(),
            ..Default::default()
        });
    let status = take_status(&mut tags);
    let dropped_attributes_count = take_count(&mut tags, DROPPED_ATTRIBUTES_TAG);
    let dropped_events_count = take_count(&mut tags, DROPPED_EVENTS_TAG);
    let dropped_links_count = take_count(&mut tags, DROPPED_LINKS_TAG);
    let links = take_links(&mut tags);

    let mut attributes = Vec::with_capacity(tags.len() + 6);
    let service = z.local.as_ref().and_then(|e| e.service_name.clone());
    if let Some(local) = &z.local {
        endpoint_attributes(
            local,
            [LOCAL_ADDRESS, LOCAL_PORT, LOCAL_IPV6],
            &mut attributes,
        );
    }
    if let Some(remote) = &z.remote {
        if let Some(name) = &remote.service_name {
            attributes.push(string_kv(PEER_SERVICE, name.clone()));
            attributes.push(string_kv(SERVICE_PEER_NAME, name.clone()));
        }
        endpoint_attributes(
            remote,
            [PEER_ADDRESS, PEER_PORT, PEER_IPV6],
            &mut attributes,
        );
    }
    let taken: Vec<String> = attributes.iter().map(|a| a.key.clone()).collect();
    attributes.extend(
        tags.into_iter()
            .filter(|(k, _)| !taken.contains(k))
            .map(|(k, v)| string_kv(k, v)),
    );

    let start = z.timestamp.map_or(0, |t| t.saturating_mul(1000));
    let end = z
        .duration
        .map_or(start, |d| start.saturating_add(d.saturating_mul(1000)));
    if z.timestamp.is_none() {
        attributes.push(kv(ABSENT_START, Value::BoolValue(true)));
    }
    let events = z
        .annotations
        .into_iter()
        .map(|(ts, value)| event_from_annotation(ts, value))
        .collect();
    let span = model::Span {
        trace_id: Bytes::copy_from_slice(&TraceId(z.trace_id).to_bytes()),
        span_id: Bytes::copy_from_slice(&SpanId(z.id).to_bytes()),
        trace_state,
        parent_span_id: z
            .parent_id
            .map(|p| Bytes::copy_from_slice(&SpanId(p).to_bytes()))
            .unwrap_or_default(),
        flags: 0,
        name: z.name.unwrap_or_default(),
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status,
        debug: z.debug,
        shared: z.shared,
        jaeger_flags: 0,
    };
    (service, scope, span)
}

/// Address, port and (when both families are present) the IPv6 address.
fn endpoint_attributes(
    e: &Endpoint,
    [address, port, ipv6]: [&str; 3],
    out: &mut Vec<model::KeyValue>,
) {
    match (e.ipv4, e.ipv6) {
        (Some(v4), v6) => {
            out.push(string_kv(address, v4.to_string()));
            if let Some(v6) = v6 {
                out.push(string_kv(ipv6, v6.to_string()));
            }
        }
        (None, Some(v6)) => out.push(string_kv(address, v6.to_string())),
        (None, None) => {}
    }
    if let Some(p) = e.port {
        out.push(kv(port, Value::IntValue(i64::from(p))));
    }
}

/// Removes all of `keys` and returns the value of the first present one.
fn take_first(tags: &mut BTreeMap<String, String>, keys: &[&str]) -> Option<String> {
    keys.iter().fold(None, |found, key| {
        let value = tags.remove(*key);
        found.or(value)
    })
}

/// `otel.status_code` (any case, with or without `STATUS_CODE_`) with
/// `otel.status_description`, then the `error` tag, which always means ERROR
/// and is removed only when its value is `"true"`.
fn take_status(tags: &mut BTreeMap<String, String>) -> Option<model::Status> {
    let mut status = model::Status::default();
    if let Some(code) = tags.get(STATUS_CODE_TAG).and_then(|v| parse_status_code(v)) {
        status.code = code as i32;
        tags.remove(STATUS_CODE_TAG);
        status.message = tags.remove(STATUS_DESCRIPTION_TAG).unwrap_or_default();
    }
    if let Some(value) = tags.get(ERROR_TAG) {
        status.code = StatusCode::Error as i32;
        if value == "true" {
            tags.remove(ERROR_TAG);
        } else if status.message.is_empty() && !value.is_empty() && value != "false" {
            // The OpenTelemetry spec's exporters put the description here.
            status.message = value.clone();
        }
    }
    (status != model::Status::default()).then_some(status)
}

fn parse_status_code(text: &str) -> Option<StatusCode> {
    let upper = text.trim().to_ascii_uppercase();
    match upper.strip_prefix("STATUS_CODE_").unwrap_or(&upper) {
        "UNSET" => Some(StatusCode::Unset),
        "OK" => Some(StatusCode::Ok),
        "ERROR" => Some(StatusCode::Error),
        _ => None,
    }
}

fn take_count(tags: &mut BTreeMap<String, String>, key: &str) -> u32 {
    match tags.get(key).and_then(|v| v.parse::<u32>().ok()) {
        Some(n) => {
            tags.remove(key);
            n
        }
        None => 0,
    }
}

/// `otlp.link.<i>` tags (`traceId|spanId|tracestate|{json attrs}|dropped`)
/// that parse become links, in index order; others stay tags.
fn take_links(tags: &mut BTreeMap<String, String>) -> Vec<span::Link> {
    let mut links: Vec<(u32, String, span::Link)> = tags
        .range::<str, _>((
            std::ops::Bound::Included(LINK_TAG_PREFIX),
            std::ops::Bound::Unbounded,
        ))
        .take_while(|(k, _)| k.starts_with(LINK_TAG_PREFIX))
        .filter_map(|(k, v)| {
            let index = k[LINK_TAG_PREFIX.len()..].parse::<u32>().ok()?;
            Some((index, k.clone(), parse_link(v)?))
        })
        .collect();
    links.sort_by_key(|(i, _, _)| *i);
    links
        .into_iter()
        .map(|(_, key, link)| {
            tags.remove(&key);
            link
        })
        .collect()
}

fn parse_link(text: &str) -> Option<span::Link> {
    let (trace_id, rest) = text.split_once('|')?;
    let (span_id, rest) = rest.split_once('|')?;
    let (rest, dropped) = rest.rsplit_once('|')?;
    let (trace_state, json) = rest.split_once("|{")?;
    let trace_id = TraceId::parse_hex(trace_id).ok()?;
    let span_id = SpanId::parse_hex(span_id).ok()?;
    Some(span::Link {
        trace_id: Bytes::copy_from_slice(&trace_id.to_bytes()),
        span_id: Bytes::copy_from_slice(&span_id.to_bytes()),
        trace_state: trace_state.to_owned(),
        attributes: attributes_from_json(&format!("{{{json}"))?,
        dropped_attributes_count: dropped.parse().ok()?,
        flags: 0,
    })
}

/// An annotation value `name|{json attrs}|dropped` (the collector's form) or
/// `{"name": {json attrs}}` (the OpenTelemetry Python and JS Zipkin
/// exporters' form) unpacks into an event with attributes; any other value is
/// the event name.
fn event_from_annotation(timestamp: u64, value: String) -> span::Event {
    let time_unix_nano = timestamp.saturating_mul(1000);
    if let Some((name, attributes)) = sdk_packed_event(&value) {
        return span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count: 0,
        };
    }
    let unpacked = value.split_once('|').and_then(|(name, rest)| {
        let (json, dropped) = rest.rsplit_once('|')?;
        Some((
            name,
            attributes_from_json(json)?,
            dropped.parse::<u32>().ok()?,
        ))
    });
    match unpacked {
        Some((name, attributes, dropped_attributes_count)) => span::Event {
            time_unix_nano,
            name: name.to_owned(),
            attributes,
            dropped_attributes_count,
        },
        None => span::Event {
            time_unix_nano,
            name: value,
            ..Default::default()
        },
    }
}

/// `{"name": {attrs}}`: one key whose value is an object.
fn sdk_packed_event(value: &str) -> Option<(String, Vec<model::KeyValue>)> {
    if !value.starts_with('{') {
        return None;
    }
    let Ok(Json::Object(map)) = serde_json::from_str::<Json>(value) else {
        return None;
    };
    let mut entries = map.into_iter();
    let (name, attributes) = entries.next()?;
    if entries.next().is_some() || !attributes.is_object() {
        return None;
    }
    Some((name, attributes_from_json(&attributes.to_string())?))
}

/// A JSON object as attributes: strings, booleans, integers and doubles keep
/// their type; arrays and objects become their JSON text; `null` is skipped.
fn attributes_from_json(text: &str) -> Option<Vec<model::KeyValue>> {
    let Ok(Json::Object(map)) = serde_json::from_str::<Json>(text) else {
        return None;
    };
    Some(
        map.into_iter()
            .filter_map(|(key, value)| {
                let value = match value {
                    Json::Null => return None,
                    Json::String(s) => Value::StringValue(s),
                    Json::Bool(b) => Value::BoolValue(b),
                    Json::Number(n) => match n.as_i64() {
                        Some(i) => Value::IntValue(i),
                        None => Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
                    },
                    other => Value::StringValue(other.to_string()),
                };
                Some(kv(key, value))
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zipkin_v2::test_support::*;
    use serde_json::json;

    #[test]
    fn kinds_map_to_otlp_kinds() {
        for (kind, want) in [
            ("CLIENT", SpanKind::Client),
            ("SERVER", SpanKind::Server),
            ("PRODUCER", SpanKind::Producer),
            ("CONSUMER", SpanKind::Consumer),
        ] {
            assert_eq!(one(with(base(), json!({ "kind": kind }))).span_kind(), want);
        }
        assert_eq!(one(base()).span_kind(), SpanKind::Unspecified);
    }

    #[test]
    fn span_kind_tag_gives_the_kind_when_kind_is_absent() {
        let span = one(with(base(), json!({"tags": {"span.kind": "internal"}})));
        assert_eq!(span.span_kind(), SpanKind::Internal);
        assert!(attr(&span, "span.kind").is_none());
        let span = one(with(
            base(),
            json!({"kind": "SERVER", "tags": {"span.kind": "internal"}}),
        ));
        assert_eq!(span.span_kind(), SpanKind::Server);
        assert_eq!(attr(&span, "span.kind"), Some(&text("internal")));
    }

    #[test]
    fn timestamps_and_durations_are_microseconds() {
        let span = one(with(base(), json!({"duration": 8412})));
        assert_eq!(span.start_time_unix_nano, 1_717_000_000_123_456_000);
        assert_eq!(span.end_time_unix_nano, 1_717_000_000_131_868_000);
        let span = one(base());
        assert_eq!(span.end_time_unix_nano, span.start_time_unix_nano);
    }

    #[test]
    fn absent_timestamp_starts_at_the_epoch_and_is_marked() {
        let span = one(json!({"traceId": "1", "id": "2", "duration": 10, "timestamp": 0}));
        assert_eq!(
            (span.start_time_unix_nano, span.end_time_unix_nano),
            (0, 10_000)
        );
        assert_eq!(attr(&span, ABSENT_START), Some(&Value::BoolValue(true)));
        let span = one(with(base(), json!({"duration": -5})));
        assert_eq!(span.duration_nanos(), 0);
        assert!(attr(&span, ABSENT_START).is_none());
    }

    #[test]
    fn spans_are_grouped_by_local_service_name() {
        let data = decode(json!([
            with(base(), json!({"localEndpoint": {"serviceName": "a"}})),
            with(base(), json!({"localEndpoint": {"serviceName": "b"}})),
            with(base(), json!({"localEndpoint": {"serviceName": "a"}})),
            base(),
        ]))
        .unwrap();
        let names: Vec<_> = data
            .resource_spans
            .iter()
            .map(|rs| (rs.service_name(), rs.span_count()))
            .collect();
        assert_eq!(names, vec![("a", 2), ("b", 1), ("", 1)]);
    }

    #[test]
    fn local_endpoint_address_and_port_become_network_local_attributes() {
        let span = one(with(
            base(),
            json!({"localEndpoint": {"serviceName": "frontend", "ipv4": "10.1.2.3", "port": 8080}}),
        ));
        assert_eq!(attr(&span, LOCAL_ADDRESS), Some(&text("10.1.2.3")));
        assert_eq!(attr(&span, LOCAL_PORT), Some(&Value::IntValue(8080)));
    }

    #[test]
    fn remote_endpoint_becomes_peer_attributes_under_both_service_keys() {
        let span = one(with(
            base(),
            json!({"remoteEndpoint": {"serviceName": "checkout", "ipv6": "2001:db8::1", "port": 5050}}),
        ));
        assert_eq!(attr(&span, PEER_SERVICE), Some(&text("checkout")));
        assert_eq!(attr(&span, SERVICE_PEER_NAME), Some(&text("checkout")));
        assert_eq!(attr(&span, PEER_ADDRESS), Some(&text("2001:db8::1")));
        assert_eq!(attr(&span, PEER_PORT), Some(&Value::IntValue(5050)));
    }

    #[test]
    fn both_address_families_are_kept() {
        let span = one(with(
            base(),
            json!({"localEndpoint": {"ipv4": "10.0.0.1", "ipv6": "2001:db8::2"}}),
        ));
        assert_eq!(attr(&span, LOCAL_ADDRESS), Some(&text("10.0.0.1")));
        assert_eq!(attr(&span, LOCAL_IPV6), Some(&text("2001:db8::2")));
    }

    #[test]
    fn tags_become_string_attributes_sorted_by_key() {
        let span = one(with(
            base(),
            json!({"tags": {"b": "2", "a": "1", "empty": ""}}),
        ));
        let keys: Vec<_> = span.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "b", "empty"]);
        assert_eq!(attr(&span, "empty"), Some(&text("")));
    }

    #[test]
    fn error_tag_true_sets_error_status_and_is_removed() {
        let span = one(with(base(), json!({"tags": {"error": "true"}})));
        assert_eq!(span.status_code(), StatusCode::Error);
        assert!(attr(&span, "error").is_none());
    }

    #[test]
    fn error_tag_with_a_message_sets_error_status_and_is_kept() {
        for value in ["upstream reset", "false", ""] {
            let span = one(with(base(), json!({"tags": {"error": value}})));
            assert_eq!(span.status_code(), StatusCode::Error, "{value}");
            assert_eq!(attr(&span, "error"), Some(&text(value)));
        }
    }

    #[test]
    fn otel_status_code_is_read_in_any_spelling_with_its_description() {
        for (value, want) in [
            ("STATUS_CODE_ERROR", StatusCode::Error),
            ("Error", StatusCode::Error),
            ("ok", StatusCode::Ok),
            ("STATUS_CODE_OK", StatusCode::Ok),
        ] {
            let span = one(with(
                base(),
                json!({"tags": {"otel.status_code": value, "otel.status_description": "why"}}),
            ));
            assert_eq!(span.status_code(), want, "{value}");
            assert_eq!(span.status.as_ref().unwrap().message, "why");
            assert!(span
                .attributes
                .iter()
                .all(|a| !a.key.starts_with("otel.status")));
        }
        let span = one(with(base(), json!({"tags": {"otel.status_code": "UNSET"}})));
        assert!(span.status.is_none() && span.attributes.is_empty());
        let span = one(with(
            base(),
            json!({"tags": {"otel.status_code": "weird", "otel.status_description": "d"}}),
        ));
        assert!(span.status.is_none());
        assert_eq!(span.attributes.len(), 2);
    }

    #[test]
    fn tracestate_and_scope_tags_move_into_their_fields() {
        let data = decode(json!([with(
            base(),
            json!({"tags": {"w3c.tracestate": "k=v", "otel.library.name": "lib",
            "otel.library.version": "1.0", "x": "y"}})
        )]))
        .unwrap();
        let ss = &data.resource_spans[0].scope_spans[0];
        let scope = ss.scope.as_ref().unwrap();
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("lib", "1.0")
        );
        assert_eq!(ss.spans[0].trace_state, "k=v");
        assert_eq!(ss.spans[0].attributes, vec![string_kv("x", "y")]);
        let data = decode(json!([with(
            base(),
            json!({"tags": {"otel.scope.name": "new", "otel.library.name": "old"}})
        )]))
        .unwrap();
        assert_eq!(
            data.resource_spans[0].scope_spans[0]
                .scope
                .as_ref()
                .unwrap()
                .name,
            "new"
        );
    }

    #[test]
    fn annotations_become_events_sorted_and_deduplicated() {
        let span = one(with(
            base(),
            json!({"annotations": [{"timestamp": 3, "value": "b"}, {"timestamp": 1, "value": "z", "endpoint": {}},
                {"timestamp": 3, "value": "a"}, {"timestamp": 3, "value": "b"}]}),
        ));
        let events: Vec<_> = span
            .events
            .iter()
            .map(|e| (e.time_unix_nano, e.name.as_str()))
            .collect();
        assert_eq!(events, vec![(1000, "z"), (3000, "a"), (3000, "b")]);
    }

    #[test]
    fn packed_annotation_values_unpack_into_event_attributes() {
        let span = one(with(
            base(),
            json!({"annotations": [{"timestamp": 5, "value": "retry|{\"attempt\":2,\"why\":\"reset\"}|1"},
            {"timestamp": 6, "value": "a|b|c"}]}),
        ));
        assert_eq!(span.events[0].name, "retry");
        assert_eq!(
            span.events[0].attributes,
            vec![kv("attempt", Value::IntValue(2)), string_kv("why", "reset")]
        );
        assert_eq!(span.events[0].dropped_attributes_count, 1);
        assert_eq!(span.events[1].name, "a|b|c");
    }

    #[test]
    fn sdk_packed_annotation_values_unpack_into_event_attributes() {
        let span = one(with(
            base(),
            json!({"annotations": [{"timestamp": 5, "value": "{\"cache miss\": {\"key\": \"cart:1\", \"n\": 2}}"},
            {"timestamp": 6, "value": "{\"a\": 1, \"b\": {}}"}]}),
        ));
        assert_eq!(span.events[0].name, "cache miss");
        assert_eq!(
            span.events[0].attributes,
            vec![string_kv("key", "cart:1"), kv("n", Value::IntValue(2))]
        );
        assert_eq!(span.events[1].name, "{\"a\": 1, \"b\": {}}");
    }

    #[test]
    fn otlp_link_tags_become_links() {
        let tag = "0af7651916cd43dd8448eb211c80319c|b7ad6b7169203331|k=v|{\"a\":\"b\"}|0";
        let span = one(with(
            base(),
            json!({"tags": {"otlp.link.0": tag, "otlp.link.x": "junk"}}),
        ));
        assert_eq!(span.links.len(), 1);
        assert_eq!(hex::encode(&span.links[0].span_id), "b7ad6b7169203331");
        assert_eq!(span.links[0].trace_state, "k=v");
        assert_eq!(attr(&span, "otlp.link.x"), Some(&text("junk")));
    }

    #[test]
    fn debug_and_shared_are_kept_in_the_model() {
        let span = one(with(
            base(),
            json!({"kind": "SERVER", "debug": true, "shared": true}),
        ));
        assert!(span.debug && span.shared);
    }

    #[test]
    fn client_and_server_halves_with_the_same_id_stay_two_spans() {
        let client = with(
            base(),
            json!({"kind": "CLIENT", "localEndpoint": {"serviceName": "a"}}),
        );
        let server = with(
            base(),
            json!({"kind": "SERVER", "shared": true, "localEndpoint": {"serviceName": "b"}}),
        );
        let data = decode(json!([client.clone(), server, client])).unwrap();
        let all = spans(&data);
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|s| s.span_id == all[0].span_id));
    }
}
