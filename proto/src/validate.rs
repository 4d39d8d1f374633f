//! Per-span id validation of a decoded batch.
//!
//! In: a [`model::TracesData`] as a receiver decoded it (ids may have any
//! length). Out: the same batch without the spans whose ids are unusable, and
//! a [`Rejections`] count with a message naming the first bad span, which the
//! receivers report as OTLP `partial_success` (or log and count for Zipkin).
//!
//! A span is kept when its trace id is 16 bytes and not all zero, its span id
//! is 8 bytes and not all zero, and its parent span id is empty or 8 bytes.
//! An all-zero 8-byte parent id is normalised to empty (a root span).
//! ScopeSpans and ResourceSpans left without spans are removed.

use crate::model;

/// How many spans [`drop_invalid_spans`] removed, and why the first one was bad.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    pub rejected: usize,
    pub first_error: Option<String>,
    /// Spans kept but changed: an all-zero parent id cleared.
    pub changed: usize,
}

/// Removes spans with unusable ids; see the module documentation for the rules.
pub fn drop_invalid_spans(data: &mut model::TracesData) -> Rejections {
    let mut rejections = Rejections::default();
    for (r, resource_spans) in data.resource_spans.iter_mut().enumerate() {
        for (s, scope_spans) in resource_spans.scope_spans.iter_mut().enumerate() {
            let mut index = 0;
            scope_spans.spans.retain_mut(|span| {
                let problem = check_span(span, &mut rejections.changed);
                if let Some(problem) = &problem {
                    rejections.rejected += 1;
                    if rejections.first_error.is_none() {
                        rejections.first_error =
                            Some(format!("span {index} of resource {r} scope {s}: {problem}"));
                    }
                }
                index += 1;
                problem.is_none()
            });
        }
        resource_spans.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    data.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
    rejections
}

/// What is wrong with a span's ids, if anything. Normalises an all-zero
/// parent, counting it in `changed`.
fn check_span(span: &mut model::Span, changed: &mut usize) -> Option<String> {
    if let Some(problem) = check_id("trace_id", &span.trace_id, 16) {
        return Some(problem);
    }
    if let Some(problem) = check_id("span_id", &span.span_id, 8) {
        return Some(problem);
    }
    match span.parent_span_id.len() {
        0 => {}
        8 if is_all_zero(&span.parent_span_id) => {
            span.parent_span_id = bytes::Bytes::new();
            *changed += 1;
        }
        8 => {}
        n => return Some(format!("parent_span_id has {n} bytes, expected 0 or 8")),
    }
    None
}

fn check_id(field: &str, id: &[u8], expected: usize) -> Option<String> {
    if id.len() != expected {
        Some(format!(
            "{field} has {} bytes, expected {expected}",
            id.len()
        ))
    } else if is_all_zero(id) {
        Some(format!("{field} is all zeros"))
    } else {
        None
    }
}

fn is_all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceSpans, ScopeSpans, Span, TracesData};
    use bytes::Bytes;

    fn span(trace: &[u8], id: &[u8], parent: &[u8]) -> Span {
        Span {
            trace_id: Bytes::copy_from_slice(trace),
            span_id: Bytes::copy_from_slice(id),
            parent_span_id: Bytes::copy_from_slice(parent),
            ..Default::default()
        }
    }

    fn good() -> Span {
        span(&[1; 16], &[2; 8], &[])
    }

    fn batch(groups: Vec<Vec<Vec<Span>>>) -> TracesData {
        TracesData {
            resource_spans: groups
                .into_iter()
                .map(|scopes| ResourceSpans {
                    scope_spans: scopes
                        .into_iter()
                        .map(|spans| ScopeSpans {
                            spans,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
        }
    }

    fn only_error(s: Span) -> String {
        let mut data = batch(vec![vec![vec![s]]]);
        let r = drop_invalid_spans(&mut data);
        assert_eq!(r.rejected, 1);
        assert!(data.resource_spans.is_empty());
        r.first_error.unwrap()
    }

    #[test]
    fn valid_spans_are_kept_untouched() {
        let mut data = batch(vec![vec![vec![good(), span(&[1; 16], &[3; 8], &[2; 8])]]]);
        let before = data.clone();
        assert_eq!(drop_invalid_spans(&mut data), Rejections::default());
        assert_eq!(data, before);
    }

    #[test]
    fn trace_id_must_be_sixteen_nonzero_bytes() {
        assert_eq!(
            only_error(span(&[1; 8], &[2; 8], &[])),
            "span 0 of resource 0 scope 0: trace_id has 8 bytes, expected 16"
        );
        assert_eq!(
            only_error(span(&[], &[2; 8], &[])),
            "span 0 of resource 0 scope 0: trace_id has 0 bytes, expected 16"
        );
        assert_eq!(
            only_error(span(&[0; 16], &[2; 8], &[])),
            "span 0 of resource 0 scope 0: trace_id is all zeros"
        );
    }

    #[test]
    fn span_id_must_be_eight_nonzero_bytes() {
        assert_eq!(
            only_error(span(&[1; 16], &[2; 7], &[])),
            "span 0 of resource 0 scope 0: span_id has 7 bytes, expected 8"
        );
        assert_eq!(
            only_error(span(&[1; 16], &[0; 8], &[])),
            "span 0 of resource 0 scope 0: span_id is all zeros"
        );
    }

    #[test]
    fn parent_span_id_must_be_empty_or_eight_bytes() {
        assert_eq!(
            only_error(span(&[1; 16], &[2; 8], &[3; 4])),
            "span 0 of resource 0 scope 0: parent_span_id has 4 bytes, expected 0 or 8"
        );
    }

    #[test]
    fn all_zero_parent_becomes_a_root() {
        let mut data = batch(vec![vec![vec![
            span(&[1; 16], &[2; 8], &[0; 8]),
            span(&[1; 16], &[3; 8], &[2; 8]),
        ]]]);
        let rejections = drop_invalid_spans(&mut data);
        assert_eq!((rejections.rejected, rejections.changed), (0, 1));
        assert!(data.resource_spans[0].scope_spans[0].spans[0]
            .parent_span_id
            .is_empty());
    }

    #[test]
    fn message_names_the_first_bad_span_by_its_original_position() {
        let bad = span(&[1; 8], &[2; 8], &[]);
        let mut data = batch(vec![
            vec![vec![good()]],
            vec![
                vec![good()],
                vec![
                    good(),
                    good(),
                    good(),
                    bad.clone(),
                    span(&[0; 16], &[2; 8], &[]),
                ],
            ],
        ]);
        let r = drop_invalid_spans(&mut data);
        assert_eq!(r.rejected, 2);
        assert_eq!(
            r.first_error.as_deref(),
            Some("span 3 of resource 1 scope 1: trace_id has 8 bytes, expected 16")
        );
        assert_eq!(data.span_count(), 5);
    }

    #[test]
    fn emptied_scopes_and_resources_are_removed() {
        let bad = || span(&[0; 16], &[2; 8], &[]);
        let mut data = batch(vec![vec![vec![bad()]], vec![vec![bad()], vec![good()]]]);
        assert_eq!(drop_invalid_spans(&mut data).rejected, 2);
        assert_eq!(data.resource_spans.len(), 1);
        assert_eq!(data.resource_spans[0].scope_spans.len(), 1);
        assert_eq!(data.span_count(), 1);
    }
}
