//! Tag matching and tag tokens: the one definition of which (key, value)
//! pairs a span can be found by.
//!
//! In: a span with its resource and scope. Out: whether a search tag matches
//! it ([`span_matches`]), and the hashed tokens ([`span_tokens`]) that block
//! bloom filters are built from. Both walk the same pairs, so a bloom filter
//! never rules out a span the matcher would accept.
//!
//! Searchable pairs: span attributes, resource attributes (also as
//! `resource.<key>`), event attributes and event names (as `event`), scope
//! attributes, link attributes, and the tags Jaeger shows for OTLP data:
//! `span.kind`, `error` (status ERROR), `otel.status_code`,
//! `otel.status_description`, `otel.scope.name`, `otel.scope.version`,
//! `w3c.tracestate`.

use spoor_proto::model::{
    search_string, span_kind_name, InstrumentationScope, KeyValue, Resource, Span, SpanKind,
    StatusCode, Value,
};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::query::TraceQuery;

/// Hash of a searchable (key, value) pair.
pub fn token(key: &str, value: &str) -> u64 {
    // The hash of `key 0 value`; short pairs are hashed in one call from a
    // stack buffer (the same value as the streaming hash, far cheaper).
    const SHORT: usize = 128;
    let len = key.len() + 1 + value.len();
    if len <= SHORT {
        let mut buf = [0u8; SHORT];
        buf[..key.len()].copy_from_slice(key.as_bytes());
        buf[key.len() + 1..len].copy_from_slice(value.as_bytes());
        return xxh3_64(&buf[..len]);
    }
    let mut h = Xxh3::new();
    h.update(key.as_bytes());
    h.update(&[0]);
    h.update(value.as_bytes());
    h.digest()
}

/// Whether a search tag can be used to prune by bloom filter. `error=false`
/// is a negative condition and cannot.
pub fn tag_is_prunable(key: &str, value: &str) -> bool {
    !(key == "error" && value != "true")
}

/// Calls `f` with every searchable (key, value) pair of the resource.
pub fn for_each_resource_pair(resource: &Resource, f: &mut dyn FnMut(&str, &str)) {
    for kv in &resource.attributes {
        let v = value_text(kv);
        f(&kv.key, &v);
        f(&format!("resource.{}", kv.key), &v);
    }
}

/// Calls `f` with every searchable pair of the scope.
pub fn for_each_scope_pair(scope: &InstrumentationScope, f: &mut dyn FnMut(&str, &str)) {
    if !scope.name.is_empty() {
        f("otel.scope.name", &scope.name);
        f("scope.name", &scope.name);
    }
    if !scope.version.is_empty() {
        f("otel.scope.version", &scope.version);
        f("scope.version", &scope.version);
    }
    for kv in &scope.attributes {
        f(&kv.key, &value_text(kv));
    }
}

/// Calls `f` with every searchable pair that belongs to the span itself.
pub fn for_each_span_pair(span: &Span, f: &mut dyn FnMut(&str, &str)) {
    for kv in &span.attributes {
        f(&kv.key, &value_text(kv));
    }
    let kind = span.span_kind();
    if kind != SpanKind::Unspecified {
        f("span.kind", span_kind_name(kind));
    }
    match span.status_code() {
        StatusCode::Error => {
            f("error", "true");
            f("otel.status_code", "ERROR");
        }
        StatusCode::Ok => f("otel.status_code", "OK"),
        StatusCode::Unset => {}
    }
    if let Some(status) = &span.status {
        if !status.message.is_empty() {
            f("otel.status_description", &status.message);
        }
    }
    if !span.trace_state.is_empty() {
        f("w3c.tracestate", &span.trace_state);
    }
    for event in &span.events {
        if !event.name.is_empty() {
            f("event", &event.name);
        }
        for kv in &event.attributes {
            f(&kv.key, &value_text(kv));
        }
    }
    for link in &span.links {
        for kv in &link.attributes {
            f(&kv.key, &value_text(kv));
        }
    }
}

/// The text of an attribute value, as [`search_string`] renders it: a
/// string value borrowed, a bool or a short number rendered on the stack
/// (tokens are made for every attribute of every span: no allocation),
/// anything else rendered by [`search_string`].
fn value_text(kv: &KeyValue) -> ValueText<'_> {
    let rendered = |args: std::fmt::Arguments<'_>| match ShortText::render(args) {
        Some(text) => ValueText::Short(text),
        None => ValueText::Owned(search_string(kv.value.as_ref().expect("a value"))),
    };
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => ValueText::Borrowed(s),
        Some(Value::BoolValue(b)) => ValueText::Borrowed(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => rendered(format_args!("{i}")),
        // NaN and the infinities have names of their own in `format_float`.
        Some(Value::DoubleValue(d)) if d.is_finite() => rendered(format_args!("{d}")),
        Some(_) => ValueText::Owned(search_string(kv.value.as_ref().expect("a value"))),
        None => ValueText::Borrowed(""),
    }
}

/// An attribute value's text ([`value_text`]).
enum ValueText<'a> {
    Borrowed(&'a str),
    Short(ShortText),
    Owned(String),
}

impl std::ops::Deref for ValueText<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            ValueText::Borrowed(s) => s,
            ValueText::Short(text) => text.as_str(),
            ValueText::Owned(s) => s,
        }
    }
}

/// Text of up to [`ShortText::CAPACITY`] bytes, held on the stack.
struct ShortText {
    bytes: [u8; ShortText::CAPACITY],
    len: usize,
}

impl ShortText {
    /// Longer than any integer and than most doubles' shortest form.
    const CAPACITY: usize = 32;

    /// The formatted text, if it fits.
    fn render(args: std::fmt::Arguments<'_>) -> Option<ShortText> {
        let mut text = ShortText {
            bytes: [0; ShortText::CAPACITY],
            len: 0,
        };
        std::fmt::Write::write_fmt(&mut text, args).ok()?;
        Some(text)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("only whole strs are written")
    }
}

impl std::fmt::Write for ShortText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Tokens of the span's own pairs (resource and scope tokens are computed
/// once per group by the caller).
pub fn span_tokens(span: &Span, out: &mut Vec<u64>) {
    for_each_span_pair(span, &mut |k, v| out.push(token(k, v)));
}

/// Whether `span` (with its resource and scope) satisfies every predicate of
/// the query: service, operation, start range, duration range and all tags.
pub fn span_matches(
    resource: &Resource,
    scope: &InstrumentationScope,
    span: &Span,
    query: &TraceQuery,
) -> bool {
    if let Some(service) = &query.service {
        if resource.service_name() != service {
            return false;
        }
    }
    if let Some(op) = &query.operation {
        if &span.name != op {
            return false;
        }
    }
    let start = span.start_time_unix_nano;
    if query.start_min_ns.is_some_and(|min| start < min)
        || query.start_max_ns.is_some_and(|max| start > max)
    {
        return false;
    }
    let duration = span.duration_nanos();
    if query.duration_min_ns.is_some_and(|min| duration < min)
        || query.duration_max_ns.is_some_and(|max| duration > max)
    {
        return false;
    }
    query
        .tags
        .iter()
        .all(|(k, v)| tag_matches(resource, scope, span, k, v))
}

fn tag_matches(
    resource: &Resource,
    scope: &InstrumentationScope,
    span: &Span,
    key: &str,
    value: &str,
) -> bool {
    if key == "error" && value == "false" {
        // Negative: the span is not an error span.
        return !tag_matches(resource, scope, span, "error", "true");
    }
    let found = std::cell::Cell::new(false);
    let mut check = |k: &str, v: &str| {
        if !found.get() && k == key && v == value {
            found.set(true);
        }
    };
    for_each_span_pair(span, &mut check);
    if !found.get() {
        for_each_scope_pair(scope, &mut check);
    }
    if !found.get() {
        for_each_resource_pair(resource, &mut check);
    }
    found.get()
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoor_proto::model::{kv, string_kv, Event, Status, Value};

    #[test]
    fn tokens_are_the_streaming_hash_of_key_nul_value_at_every_length() {
        // Tokens are stored in bloom filters on disk: the one-shot path for
        // short pairs must give the very value of the streaming hash.
        for key_len in [0, 1, 7, 63, 64, 127, 128, 200] {
            for value_len in [0, 1, 16, 62, 63, 64, 65, 127, 300] {
                let key = "k".repeat(key_len);
                let value = "v".repeat(value_len);
                let mut h = Xxh3::new();
                h.update(key.as_bytes());
                h.update(&[0]);
                h.update(value.as_bytes());
                assert_eq!(token(&key, &value), h.digest(), "{key_len} {value_len}");
            }
        }
    }

    #[test]
    fn value_texts_are_what_search_string_renders() {
        use spoor_proto::model::{AnyValue, ArrayValue};
        let values = [
            Value::IntValue(0),
            Value::IntValue(-42),
            Value::IntValue(i64::MIN),
            Value::IntValue(i64::MAX),
            Value::BoolValue(true),
            Value::BoolValue(false),
            Value::DoubleValue(0.5),
            Value::DoubleValue(-0.0),
            Value::DoubleValue(3.0),
            Value::DoubleValue(1.0 / 3.0),
            Value::DoubleValue(f64::MIN_POSITIVE),
            // Longer than the stack text: rendered by search_string.
            Value::DoubleValue(1e300),
            Value::DoubleValue(f64::NAN),
            Value::DoubleValue(f64::NEG_INFINITY),
            Value::StringValue("GET".into()),
            Value::BytesValue(vec![0xab, 0x01].into()),
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Value::IntValue(7)),
                }],
            }),
        ];
        for value in values {
            let value = AnyValue { value: Some(value) };
            let kv = KeyValue {
                key: "k".into(),
                value: Some(value.clone()),
            };
            assert_eq!(&*value_text(&kv), search_string(&value), "{value:?}");
        }
        let none = KeyValue {
            key: "k".into(),
            value: None,
        };
        assert_eq!(&*value_text(&none), "");
    }

    fn fixture() -> (Resource, InstrumentationScope, Span) {
        let resource = Resource {
            attributes: vec![
                string_kv("service.name", "svc"),
                string_kv("host.name", "h1"),
            ],
            dropped_attributes_count: 0,
        };
        let scope = InstrumentationScope {
            name: "lib".into(),
            version: "1.0".into(),
            ..Default::default()
        };
        let span = Span {
            name: "op".into(),
            kind: SpanKind::Server as i32,
            start_time_unix_nano: 1_000,
            end_time_unix_nano: 5_000,
            attributes: vec![
                kv("http.status_code", Value::IntValue(500)),
                kv("ok", Value::BoolValue(true)),
            ],
            events: vec![Event {
                name: "retry".into(),
                attributes: vec![string_kv("attempt", "2")],
                ..Default::default()
            }],
            status: Some(Status {
                code: StatusCode::Error as i32,
                message: "boom".into(),
            }),
            ..Default::default()
        };
        (resource, scope, span)
    }

    fn q(tags: &[(&str, &str)]) -> TraceQuery {
        TraceQuery {
            service: Some("svc".into()),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            limit: 10,
            ..Default::default()
        }
    }

    #[test]
    fn tags_match_across_span_resource_event_and_scope_on_one_span() {
        let (r, s, sp) = fixture();
        assert!(span_matches(
            &r,
            &s,
            &sp,
            &q(&[
                ("http.status_code", "500"),
                ("host.name", "h1"),
                ("attempt", "2")
            ])
        ));
        assert!(span_matches(
            &r,
            &s,
            &sp,
            &q(&[
                ("otel.scope.name", "lib"),
                ("span.kind", "server"),
                ("ok", "true")
            ])
        ));
        assert!(!span_matches(
            &r,
            &s,
            &sp,
            &q(&[("http.status_code", "200")])
        ));
    }

    #[test]
    fn error_tag_follows_status() {
        let (r, s, mut sp) = fixture();
        assert!(span_matches(&r, &s, &sp, &q(&[("error", "true")])));
        assert!(!span_matches(&r, &s, &sp, &q(&[("error", "false")])));
        sp.status = None;
        assert!(span_matches(&r, &s, &sp, &q(&[("error", "false")])));
    }

    #[test]
    fn duration_and_time_bounds_are_inclusive() {
        let (r, s, sp) = fixture();
        let mut query = q(&[]);
        query.duration_min_ns = Some(4_000);
        query.duration_max_ns = Some(4_000);
        query.start_min_ns = Some(1_000);
        query.start_max_ns = Some(1_000);
        assert!(span_matches(&r, &s, &sp, &query));
        query.duration_min_ns = Some(4_001);
        assert!(!span_matches(&r, &s, &sp, &query));
    }

    #[test]
    fn every_matchable_pair_has_a_token() {
        let (r, s, sp) = fixture();
        let mut tokens = Vec::new();
        span_tokens(&sp, &mut tokens);
        for_each_scope_pair(&s, &mut |k, v| tokens.push(token(k, v)));
        for_each_resource_pair(&r, &mut |k, v| tokens.push(token(k, v)));
        for (k, v) in [
            ("http.status_code", "500"),
            ("host.name", "h1"),
            ("attempt", "2"),
            ("error", "true"),
            ("event", "retry"),
        ] {
            assert!(tokens.contains(&token(k, v)), "{k}={v}");
        }
    }
}
