//! Query-time trace adjusters (spec §11), applied unless the client asks for
//! `raw=true`.
//!
//! In: the Jaeger-model [`Span`]s of one trace, straight from conversion.
//! Out: the same spans, repaired for display, plus trace-level warnings:
//!
//! 1. tags, process tags and log fields sorted (`event` first in a log);
//! 2. exact duplicates (identical content) removed;
//! 3. Zipkin-style shared span ids split: a server span that shares its id
//!    with a client span gets the smallest unused id, becomes the client
//!    span's child, and takes over the children of the shared id;
//! 4. clock skew: computed per Jaeger's algorithm, applied only within
//!    `max_clock_skew_adjust` (0 = disabled, which still leaves Jaeger's
//!    "not applying calculated delta" warnings on the spans);
//! 5. `ip`/`peer.ipv4` tags stored as packed IPv4 integers rendered dotted;
//! 6. SDK attributes (`telemetry.sdk.*`, `telemetry.distro.*`) found on a
//!    span moved to its process tags;
//! 7. references whose trace id is zero dropped (with a warning), and the
//!    parent reference moved to the front.
//!
//! Jaeger runs the id split before sorting and de-duplication; here
//! de-duplication comes first, so that retried copies of a shared server span
//! collapse instead of each getting a new id. Otherwise the order is Jaeger's.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;

use spoor_proto::ids::SpanId;

use crate::duration::format_go_duration;
use crate::jaeger_json::{RefType, Reference, Span, Tag, TagValue};

/// Knobs of the adjusters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdjustOptions {
    /// Largest clock-skew correction applied, in ns; 0 disables correction.
    pub max_clock_skew_adjust_ns: u64,
}

/// Runs every adjuster in order; returns warnings about the whole trace.
pub fn adjust_trace(spans: &mut Vec<Span>, options: AdjustOptions) -> Vec<String> {
    let mut trace_warnings = Vec::new();
    sort_tags_and_log_fields(spans);
    remove_exact_duplicates(spans);
    split_shared_client_server_ids(spans, &mut trace_warnings);
    correct_clock_skew(spans, options.max_clock_skew_adjust_ns);
    normalize_ip_tags(spans);
    move_sdk_attributes_to_process(spans);
    fix_references(spans);
    trace_warnings
}

fn sort_tags(tags: &mut [Tag]) {
    tags.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.value.total_cmp(&b.value)));
}

/// Adjuster 1: tags by key; log fields with `event` first, the rest by key.
pub fn sort_tags_and_log_fields(spans: &mut [Span]) {
    for span in spans {
        sort_tags(&mut span.tags);
        sort_tags(&mut span.process.tags);
        for log in &mut span.logs {
            match log.fields.iter().position(|f| f.key == "event") {
                Some(index) => {
                    let event = log.fields.remove(index);
                    log.fields.insert(0, event);
                    sort_tags(&mut log.fields[1..]);
                }
                None => sort_tags(&mut log.fields),
            }
        }
    }
}

/// Adjuster 2: keeps the first of every group of content-identical spans
/// (process included). Spans that merely share an id are all kept.
pub fn remove_exact_duplicates(spans: &mut Vec<Span>) {
    let mut kept: Vec<Span> = Vec::with_capacity(spans.len());
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    for span in spans.drain(..) {
        let mut hasher = DefaultHasher::new();
        span.hash(&mut hasher);
        let bucket = by_hash.entry(hasher.finish()).or_default();
        if bucket.iter().any(|&i| kept[i] == span) {
            continue;
        }
        bucket.push(kept.len());
        kept.push(span);
    }
    *spans = kept;
}

/// Points a span's parent reference at `new_parent`, adding a `CHILD_OF`
/// reference in front when the span had no parent.
fn replace_parent(span: &mut Span, new_parent: SpanId) {
    let trace_id = span.trace_id;
    if let Some(old) = span.parent_span_id() {
        if let Some(reference) = span
            .references
            .iter_mut()
            .find(|r| r.span_id == old && r.trace_id == trace_id)
        {
            reference.span_id = new_parent;
            return;
        }
    }
    if !new_parent.is_zero() {
        let parent = Reference {
            ref_type: RefType::ChildOf,
            trace_id,
            span_id: new_parent,
        };
        span.references.insert(0, parent);
    }
}

/// Adjuster 3: Zipkin shared client/server span ids.
pub fn split_shared_client_server_ids(spans: &mut [Span], trace_warnings: &mut Vec<String>) {
    let client_ids: HashSet<SpanId> = spans
        .iter()
        .filter(|s| s.tag_str("span.kind") == Some("client"))
        .map(|s| s.span_id)
        .collect();
    if client_ids.is_empty() {
        return;
    }
    let used: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
    let mut last_assigned = 0u64;
    let mut renamed: HashMap<SpanId, SpanId> = HashMap::new();
    for span in spans.iter_mut() {
        if span.tag_str("span.kind") != Some("server") || !client_ids.contains(&span.span_id) {
            continue;
        }
        let Some(new_id) = (last_assigned + 1..u64::MAX)
            .map(SpanId)
            .find(|id| !used.contains(id))
        else {
            trace_warnings.push("cannot assign unique span ID, too many spans in the trace".into());
            break;
        };
        last_assigned = new_id.0;
        let shared = span.span_id;
        replace_parent(span, shared);
        span.span_id = new_id;
        renamed.insert(shared, new_id);
    }
    for span in spans.iter_mut() {
        let new_parent = span.parent_span_id().and_then(|p| renamed.get(&p).copied());
        if let Some(new_parent) = new_parent {
            if span.span_id != new_parent {
                replace_parent(span, new_parent);
            }
        }
    }
}

/// Packed IPv4 (the low 32 bits of an int64 tag) as dotted text.
fn packed_ipv4(value: i64) -> String {
    Ipv4Addr::from(value as u32).to_string()
}

/// The host a span ran on, for clock-skew purposes: its process `ip` tag.
fn host_key(span: &Span) -> String {
    match span
        .process
        .tags
        .iter()
        .find(|t| t.key == "ip")
        .map(|t| &t.value)
    {
        Some(TagValue::String(ip)) => ip.clone(),
        Some(TagValue::Int64(packed)) => packed_ipv4(*packed),
        _ => String::new(),
    }
}

/// Delta (ns) that would move `child` into `parent`: centred when it fits,
/// aligned to the parent's start when the child is longer.
fn calculate_skew(child: &Span, parent: &Span) -> i64 {
    let parent_start = i128::from(parent.start_time_ns);
    let parent_duration = i128::from(parent.duration_ns);
    let child_start = i128::from(child.start_time_ns);
    let child_duration = i128::from(child.duration_ns);
    let delta = if parent_duration < child_duration {
        if child_start < parent_start {
            parent_start - child_start
        } else {
            0
        }
    } else if child_start >= parent_start
        && child_start + child_duration <= parent_start + parent_duration
    {
        0
    } else {
        let latency = (parent_duration - child_duration) / 2;
        parent_start + latency - child_start
    };
    delta.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn shift(nanos: u64, delta: i64) -> u64 {
    (i128::from(nanos) + i128::from(delta)).clamp(0, i128::from(u64::MAX)) as u64
}

fn apply_skew(span: &mut Span, delta: i64, max_delta_ns: u64) {
    if delta == 0 {
        return;
    }
    if delta.unsigned_abs() > max_delta_ns {
        let delta_text = format_go_duration(delta);
        span.warnings.push(if max_delta_ns == 0 {
            format!("clock skew adjustment disabled; not applying calculated delta of {delta_text}")
        } else {
            let max_text = format_go_duration(i64::try_from(max_delta_ns).unwrap_or(i64::MAX));
            format!(
                "max clock skew adjustment delta of {max_text} exceeded; not applying calculated delta of {delta_text}"
            )
        });
        return;
    }
    span.start_time_ns = shift(span.start_time_ns, delta);
    for log in &mut span.logs {
        log.timestamp_ns = shift(log.timestamp_ns, delta);
    }
    span.warnings.push(format!(
        "This span's timestamps were adjusted by {}",
        format_go_duration(delta)
    ));
}

/// Adjuster 4: clock skew. Walks the span tree from each root; a child on a
/// different host (or with no known host) that does not fit in its parent
/// gets a correction, which its same-host descendants inherit.
pub fn correct_clock_skew(spans: &mut [Span], max_delta_ns: u64) {
    let mut node_of: HashMap<SpanId, usize> = HashMap::with_capacity(spans.len());
    let mut is_node = vec![false; spans.len()];
    for (i, span) in spans.iter_mut().enumerate() {
        match node_of.entry(span.span_id) {
            Entry::Occupied(_) => span
                .warnings
                .push("duplicate span IDs; skipping clock skew adjustment".to_string()),
            Entry::Vacant(slot) => {
                slot.insert(i);
                is_node[i] = true;
            }
        }
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for i in (0..spans.len()).filter(|i| is_node[*i]) {
        match spans[i].parent_span_id().filter(|p| !p.is_zero()) {
            None => roots.push(i),
            Some(parent) => match node_of.get(&parent) {
                Some(&p) => children[p].push(i),
                None => {
                    spans[i].warnings.push(format!(
                        "parent span ID={} is not in the trace; skipping clock skew adjustment",
                        parent.to_hex()
                    ));
                    roots.push(i);
                }
            },
        }
    }
    let hosts: Vec<String> = spans.iter().map(host_key).collect();
    // (span, parent, span whose host the inherited skew belongs to, skew)
    let mut stack: Vec<(usize, Option<usize>, usize, i64)> = Vec::new();
    for root in roots {
        stack.push((root, None, root, 0));
        while let Some((node, parent, mut skew_host, mut delta)) = stack.pop() {
            if let Some(parent) = parent {
                if hosts[node] != hosts[skew_host] || hosts[node].is_empty() {
                    skew_host = node;
                    delta = calculate_skew(&spans[node], &spans[parent]);
                }
            }
            apply_skew(&mut spans[node], delta, max_delta_ns);
            stack.extend(
                children[node]
                    .iter()
                    .map(|&child| (child, Some(node), skew_host, delta)),
            );
        }
    }
}

/// Adjuster 5: `ip` and `peer.ipv4` int64 tags (span and process) as dotted IPv4.
pub fn normalize_ip_tags(spans: &mut [Span]) {
    for span in spans {
        for tag in span.tags.iter_mut().chain(span.process.tags.iter_mut()) {
            if tag.key == "ip" || tag.key == "peer.ipv4" {
                if let TagValue::Int64(packed) = tag.value {
                    tag.value = TagValue::String(packed_ipv4(packed));
                }
            }
        }
    }
}

/// The span attributes that describe the SDK and belong on the process.
const SDK_ATTRIBUTES: [&str; 5] = [
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "telemetry.distro.name",
    "telemetry.distro.version",
];

/// Adjuster 6: SDK attributes move from the span to its process (kept once
/// when the process already has the key), the process tags re-sorted.
pub fn move_sdk_attributes_to_process(spans: &mut [Span]) {
    for span in spans {
        if !span
            .tags
            .iter()
            .any(|t| SDK_ATTRIBUTES.contains(&t.key.as_str()))
        {
            continue;
        }
        let (sdk, rest): (Vec<Tag>, Vec<Tag>) = std::mem::take(&mut span.tags)
            .into_iter()
            .partition(|t| SDK_ATTRIBUTES.contains(&t.key.as_str()));
        span.tags = rest;
        for tag in sdk {
            if !span.process.tags.iter().any(|t| t.key == tag.key) {
                span.process.tags.push(tag);
            }
        }
        sort_tags(&mut span.process.tags);
    }
}

/// Adjuster 7: drops references with a zero trace id (with a warning) and
/// moves the first same-trace `CHILD_OF` (else the first same-trace
/// reference) to the front.
pub fn fix_references(spans: &mut [Span]) {
    for span in spans {
        if span.references.iter().any(|r| r.trace_id.is_zero()) {
            let mut warnings = Vec::new();
            span.references.retain(|r| {
                if r.trace_id.is_zero() {
                    warnings.push(format!(
                        "Invalid span reference removed {{TraceID:{} SpanID:{} RefType:{}}}",
                        r.trace_id.to_jaeger_hex(),
                        r.span_id.to_hex(),
                        r.ref_type.as_str()
                    ));
                    false
                } else {
                    true
                }
            });
            span.warnings.extend(warnings);
        }
        let trace_id = span.trace_id;
        let same_trace = |r: &Reference| r.trace_id == trace_id;
        let parent_index = span
            .references
            .iter()
            .position(|r| same_trace(r) && r.ref_type == RefType::ChildOf)
            .or_else(|| span.references.iter().position(same_trace));
        if let Some(index) = parent_index.filter(|i| *i > 0) {
            let parent = span.references.remove(index);
            span.references.insert(0, parent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jaeger_json::{Log, Process};
    use spoor_proto::ids::TraceId;

    const TRACE: TraceId = TraceId(0xabc);
    const MS: u64 = 1_000_000;

    fn span(id: u64, parent: u64) -> Span {
        Span {
            trace_id: TRACE,
            span_id: SpanId(id),
            flags: 1,
            operation_name: format!("op-{id}"),
            references: if parent == 0 {
                Vec::new()
            } else {
                vec![Reference {
                    ref_type: RefType::ChildOf,
                    trace_id: TRACE,
                    span_id: SpanId(parent),
                }]
            },
            start_time_ns: 1_000 * MS,
            duration_ns: 100 * MS,
            tags: Vec::new(),
            logs: Vec::new(),
            process_id: String::new(),
            process: Process {
                service_name: "svc".into(),
                tags: Vec::new(),
            },
            warnings: Vec::new(),
        }
    }

    fn with_kind(mut s: Span, kind: &str) -> Span {
        s.tags.push(Tag::string("span.kind", kind));
        s
    }

    fn timed(mut s: Span, start_ms: u64, duration_ms: u64) -> Span {
        s.start_time_ns = start_ms * MS;
        s.duration_ns = duration_ms * MS;
        s
    }

    fn on_host(mut s: Span, ip: &str) -> Span {
        s.process.tags.push(Tag::string("ip", ip));
        s
    }

    fn parent_of(s: &Span) -> Option<u64> {
        s.parent_span_id().map(|p| p.0)
    }

    fn keys(tags: &[Tag]) -> Vec<&str> {
        tags.iter().map(|t| t.key.as_str()).collect()
    }

    #[test]
    fn tags_are_sorted_by_key_and_log_fields_put_event_first() {
        let mut s = span(1, 0);
        s.tags = vec![
            Tag::string("z", "1"),
            Tag::string("a", "2"),
            Tag::string("m", "3"),
        ];
        s.process.tags = vec![Tag::string("ip", "1"), Tag::string("hostname", "h")];
        s.logs = vec![Log {
            timestamp_ns: 1,
            fields: vec![
                Tag::string("zeta", "1"),
                Tag::string("event", "e"),
                Tag::string("alpha", "2"),
            ],
        }];
        let mut spans = vec![s];
        sort_tags_and_log_fields(&mut spans);
        assert_eq!(keys(&spans[0].tags), ["a", "m", "z"]);
        assert_eq!(keys(&spans[0].process.tags), ["hostname", "ip"]);
        assert_eq!(keys(&spans[0].logs[0].fields), ["event", "alpha", "zeta"]);
    }

    #[test]
    fn tags_with_equal_keys_are_ordered_by_type_then_value() {
        let mut s = span(1, 0);
        s.tags = vec![
            Tag {
                key: "k".into(),
                value: TagValue::Int64(2),
            },
            Tag {
                key: "k".into(),
                value: TagValue::Int64(1),
            },
            Tag::string("k", "x"),
        ];
        let mut spans = vec![s];
        sort_tags_and_log_fields(&mut spans);
        let values: Vec<_> = spans[0].tags.iter().map(|t| t.value.clone()).collect();
        assert_eq!(
            values,
            [
                TagValue::String("x".into()),
                TagValue::Int64(1),
                TagValue::Int64(2)
            ]
        );
    }

    #[test]
    fn exact_duplicate_spans_are_collapsed() {
        let mut spans = vec![span(1, 0), span(2, 1), span(1, 0), span(2, 1)];
        remove_exact_duplicates(&mut spans);
        assert_eq!(
            spans.iter().map(|s| s.span_id.0).collect::<Vec<_>>(),
            [1, 2]
        );
    }

    #[test]
    fn spans_that_share_an_id_but_differ_are_all_kept() {
        let mut spans = vec![
            span(1, 0),
            timed(span(1, 0), 5, 1),
            with_kind(span(1, 0), "server"),
        ];
        remove_exact_duplicates(&mut spans);
        assert_eq!(spans.len(), 3);
        let mut other_process = span(1, 0);
        other_process.process.service_name = "other".into();
        let mut spans = vec![span(1, 0), other_process];
        remove_exact_duplicates(&mut spans);
        assert_eq!(spans.len(), 2);
    }

    #[test]
    fn float_tags_compare_by_content_for_duplicate_removal() {
        let mut s = span(1, 0);
        s.tags = vec![Tag {
            key: "f".into(),
            value: TagValue::Float64(f64::NAN),
        }];
        let mut spans = vec![s.clone(), s];
        remove_exact_duplicates(&mut spans);
        assert_eq!(spans.len(), 1);
    }

    #[test]
    fn server_span_sharing_an_id_with_a_client_span_gets_a_new_id_under_the_client() {
        // root 0x10 → client 0x20 → (shared) server 0x20 → child 0x30
        let mut spans = vec![
            span(0x10, 0),
            with_kind(span(0x20, 0x10), "client"),
            with_kind(span(0x20, 0x10), "server"),
            span(0x30, 0x20),
        ];
        let mut warnings = Vec::new();
        split_shared_client_server_ids(&mut spans, &mut warnings);
        assert!(warnings.is_empty());
        assert_eq!(spans[1].span_id, SpanId(0x20));
        assert_eq!(parent_of(&spans[1]), Some(0x10));
        assert_eq!(spans[2].span_id, SpanId(1));
        assert_eq!(parent_of(&spans[2]), Some(0x20));
        assert_eq!(parent_of(&spans[3]), Some(1));
        assert_eq!(spans[2].references.len(), 1);
    }

    #[test]
    fn new_span_ids_skip_ids_already_in_the_trace() {
        let mut spans = vec![
            span(1, 0),
            with_kind(span(0x20, 1), "client"),
            with_kind(span(0x20, 1), "server"),
            span(2, 0),
        ];
        split_shared_client_server_ids(&mut spans, &mut Vec::new());
        assert_eq!(spans[2].span_id, SpanId(3));
    }

    #[test]
    fn a_root_server_span_sharing_an_id_gets_the_client_as_parent() {
        let mut spans = vec![
            with_kind(span(0x20, 0), "client"),
            with_kind(span(0x20, 0), "server"),
        ];
        split_shared_client_server_ids(&mut spans, &mut Vec::new());
        assert_eq!(spans[1].span_id, SpanId(1));
        assert_eq!(parent_of(&spans[1]), Some(0x20));
    }

    #[test]
    fn server_spans_with_unique_ids_are_untouched() {
        let original = vec![
            with_kind(span(0x20, 0), "client"),
            with_kind(span(0x21, 0x20), "server"),
        ];
        let mut spans = original.clone();
        split_shared_client_server_ids(&mut spans, &mut Vec::new());
        assert_eq!(spans, original);
    }

    #[test]
    fn clock_skew_disabled_still_warns_with_the_calculated_delta() {
        // Parent 1000..1100 ms; child 900..950 ms on another host: centre it.
        let mut spans = vec![timed(span(1, 0), 1000, 100), timed(span(2, 1), 900, 50)];
        correct_clock_skew(&mut spans, 0);
        assert!(spans[0].warnings.is_empty());
        assert_eq!(
            spans[1].warnings,
            ["clock skew adjustment disabled; not applying calculated delta of 125ms"]
        );
        assert_eq!(spans[1].start_time_ns, 900 * MS);
    }

    #[test]
    fn a_child_inside_its_parent_needs_no_adjustment() {
        let mut spans = vec![timed(span(1, 0), 1000, 100), timed(span(2, 1), 1010, 50)];
        correct_clock_skew(&mut spans, 0);
        assert!(spans.iter().all(|s| s.warnings.is_empty()));
    }

    #[test]
    fn a_longer_child_is_aligned_to_the_parent_start_only_when_it_starts_before() {
        let mut spans = vec![
            timed(span(1, 0), 1000, 10),
            timed(span(2, 1), 990, 50),
            timed(span(3, 1), 1005, 50),
        ];
        correct_clock_skew(&mut spans, 0);
        assert_eq!(
            spans[1].warnings,
            ["clock skew adjustment disabled; not applying calculated delta of 10ms"]
        );
        assert!(spans[2].warnings.is_empty());
    }

    #[test]
    fn clock_skew_within_the_maximum_is_applied_to_span_and_logs() {
        let mut child = timed(span(2, 1), 900, 50);
        child.logs = vec![Log {
            timestamp_ns: 910 * MS,
            fields: Vec::new(),
        }];
        let mut spans = vec![timed(span(1, 0), 1000, 100), child];
        correct_clock_skew(&mut spans, 200 * MS);
        assert_eq!(spans[1].start_time_ns, 1025 * MS);
        assert_eq!(spans[1].logs[0].timestamp_ns, 1035 * MS);
        assert_eq!(
            spans[1].warnings,
            ["This span's timestamps were adjusted by 125ms"]
        );
    }

    #[test]
    fn clock_skew_beyond_the_maximum_is_reported_not_applied() {
        let mut spans = vec![timed(span(1, 0), 1000, 100), timed(span(2, 1), 900, 50)];
        correct_clock_skew(&mut spans, MS);
        assert_eq!(
            spans[1].warnings,
            ["max clock skew adjustment delta of 1ms exceeded; not applying calculated delta of 125ms"]
        );
        assert_eq!(spans[1].start_time_ns, 900 * MS);
    }

    #[test]
    fn same_host_children_inherit_their_ancestors_skew() {
        // Root on host A; child on A lies outside but shares the host: no skew.
        let mut spans = vec![
            on_host(timed(span(1, 0), 1000, 100), "10.0.0.1"),
            on_host(timed(span(2, 1), 900, 50), "10.0.0.1"),
        ];
        correct_clock_skew(&mut spans, 0);
        assert!(spans[1].warnings.is_empty());
        // A remote child gets a delta; its same-host child inherits the same delta.
        let mut spans = vec![
            on_host(timed(span(1, 0), 1000, 100), "10.0.0.1"),
            on_host(timed(span(2, 1), 900, 50), "10.0.0.2"),
            on_host(timed(span(3, 2), 910, 10), "10.0.0.2"),
        ];
        correct_clock_skew(&mut spans, 0);
        let expected = ["clock skew adjustment disabled; not applying calculated delta of 125ms"];
        assert_eq!(spans[1].warnings, expected);
        assert_eq!(spans[2].warnings, expected);
    }

    #[test]
    fn missing_parents_and_duplicate_ids_are_reported() {
        let mut spans = vec![span(1, 0), span(2, 0x77), span(1, 0)];
        correct_clock_skew(&mut spans, 0);
        assert_eq!(
            spans[1].warnings,
            ["parent span ID=0000000000000077 is not in the trace; skipping clock skew adjustment"]
        );
        assert_eq!(
            spans[2].warnings,
            ["duplicate span IDs; skipping clock skew adjustment"]
        );
        // The reference to the absent parent is kept.
        assert_eq!(parent_of(&spans[1]), Some(0x77));
    }

    #[test]
    fn deep_traces_and_cycles_do_not_overflow_or_loop() {
        let mut spans: Vec<Span> = (1..=50_000u64)
            .map(|i| timed(span(i, i - 1), 1000 + i, 1))
            .collect();
        spans.push(span(60_001, 60_002));
        spans.push(span(60_002, 60_001));
        correct_clock_skew(&mut spans, 0);
        assert!(spans[1].warnings[0].starts_with("clock skew adjustment disabled"));
    }

    #[test]
    fn packed_ipv4_tags_are_rendered_dotted() {
        let mut s = span(1, 0);
        s.tags = vec![Tag {
            key: "peer.ipv4".into(),
            value: TagValue::Int64(0x0a00_0307),
        }];
        s.process.tags = vec![
            Tag {
                key: "ip".into(),
                value: TagValue::Int64(-1062731775),
            }, // 0xC0A80001
            Tag {
                key: "port".into(),
                value: TagValue::Int64(80),
            },
        ];
        let mut spans = vec![s];
        normalize_ip_tags(&mut spans);
        assert_eq!(spans[0].tags[0].value, TagValue::String("10.0.3.7".into()));
        assert_eq!(
            spans[0].process.tags[0].value,
            TagValue::String("192.168.0.1".into())
        );
        assert_eq!(spans[0].process.tags[1].value, TagValue::Int64(80));
    }

    #[test]
    fn references_with_a_zero_trace_id_are_dropped_with_a_warning() {
        let mut s = span(2, 1);
        s.references.push(Reference {
            ref_type: RefType::FollowsFrom,
            trace_id: TraceId(0),
            span_id: SpanId(0xab),
        });
        let mut spans = vec![s];
        fix_references(&mut spans);
        assert_eq!(spans[0].references.len(), 1);
        assert_eq!(
            spans[0].warnings,
            ["Invalid span reference removed {TraceID:0000000000000000 SpanID:00000000000000ab RefType:FOLLOWS_FROM}"]
        );
    }

    #[test]
    fn the_first_same_trace_child_of_reference_moves_to_the_front() {
        let follows = |trace, id| Reference {
            ref_type: RefType::FollowsFrom,
            trace_id: trace,
            span_id: SpanId(id),
        };
        let child_of = |trace, id| Reference {
            ref_type: RefType::ChildOf,
            trace_id: trace,
            span_id: SpanId(id),
        };
        let mut s = span(9, 0);
        s.references = vec![
            follows(TRACE, 1),
            child_of(TraceId(0x5), 2),
            follows(TRACE, 3),
            child_of(TRACE, 4),
        ];
        let mut spans = vec![s];
        fix_references(&mut spans);
        assert_eq!(
            spans[0].references,
            [
                child_of(TRACE, 4),
                follows(TRACE, 1),
                child_of(TraceId(0x5), 2),
                follows(TRACE, 3)
            ]
        );
        // Without a CHILD_OF, the first same-trace reference leads.
        let mut s = span(9, 0);
        s.references = vec![follows(TraceId(0x5), 1), follows(TRACE, 2)];
        let mut spans = vec![s];
        fix_references(&mut spans);
        assert_eq!(spans[0].references[0], follows(TRACE, 2));
    }

    #[test]
    fn adjust_trace_runs_everything_and_dedupes_retried_shared_server_spans() {
        let mut spans = vec![
            with_kind(span(0x20, 0), "client"),
            with_kind(span(0x20, 0), "server"),
            with_kind(span(0x20, 0), "server"),
        ];
        let warnings = adjust_trace(&mut spans, AdjustOptions::default());
        assert!(warnings.is_empty());
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[1].span_id, SpanId(1));
    }

    #[test]
    fn sdk_attributes_move_to_the_process() {
        let mut s = span(1, 0);
        s.tags = vec![
            Tag::string("http.method", "GET"),
            Tag::string("telemetry.sdk.language", "go"),
            Tag::string("telemetry.sdk.name", "opentelemetry"),
        ];
        s.process.tags = vec![Tag::string("telemetry.sdk.name", "kept")];
        let mut spans = vec![s];
        move_sdk_attributes_to_process(&mut spans);
        assert_eq!(keys(&spans[0].tags), ["http.method"]);
        assert_eq!(
            keys(&spans[0].process.tags),
            ["telemetry.sdk.language", "telemetry.sdk.name"]
        );
        assert_eq!(
            spans[0].process.tags[1],
            Tag::string("telemetry.sdk.name", "kept")
        );
    }
}
