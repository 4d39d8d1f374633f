//! The per-trace span cap (`query.http.max_spans_per_trace`): a trace larger
//! than the cap is cut to its earliest-starting spans before it is rendered,
//! so one enormous trace cannot make a response (or the browser showing it)
//! unbounded.
//!
//! In: a whole stored trace and the cap (0 = no cap). Out: the trace with at
//! most `cap` spans, the number of spans cut, and the warning text the v1 and
//! api_v2 views attach when they cut.

use spoor_proto::model;

/// Cuts `data` to its `cap` earliest-starting spans (ties kept in storage
/// order); returns how many spans were removed. `cap == 0` keeps everything.
pub fn cap_model_trace(data: &mut model::TracesData, cap: usize) -> usize {
    let total = data.span_count();
    if cap == 0 || total <= cap {
        return 0;
    }
    let mut starts: Vec<u64> = data
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.start_time_unix_nano)
        .collect();
    let (_, threshold, _) = starts.select_nth_unstable(cap - 1);
    let threshold = *threshold;
    // Spans strictly before the threshold are all kept; the rest of the
    // budget goes to spans starting exactly at it, in storage order.
    let below = starts.iter().filter(|s| **s < threshold).count();
    let mut at_threshold_budget = cap - below;
    for rs in &mut data.resource_spans {
        for ss in &mut rs.scope_spans {
            ss.spans.retain(|span| {
                if span.start_time_unix_nano < threshold {
                    true
                } else if span.start_time_unix_nano == threshold && at_threshold_budget > 0 {
                    at_threshold_budget -= 1;
                    true
                } else {
                    false
                }
            });
        }
        rs.scope_spans.retain(|ss| !ss.spans.is_empty());
    }
    data.resource_spans.retain(|rs| !rs.scope_spans.is_empty());
    total - cap
}

/// The warning shown on a trace that was cut.
pub fn cap_warning(cut: usize, cap: usize) -> String {
    format!(
        "trace has {} spans; only the {cap} earliest are shown (query.http.max_spans_per_trace)",
        cut + cap
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(starts: &[u64]) -> model::TracesData {
        model::TracesData {
            resource_spans: vec![model::ResourceSpans {
                scope_spans: starts
                    .iter()
                    .map(|start| model::ScopeSpans {
                        spans: vec![model::Span {
                            start_time_unix_nano: *start,
                            ..Default::default()
                        }],
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }],
        }
    }

    fn starts(data: &model::TracesData) -> Vec<u64> {
        data.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| s.start_time_unix_nano)
            .collect()
    }

    #[test]
    fn the_earliest_spans_are_kept_up_to_the_cap() {
        let mut data = trace(&[50, 10, 40, 20, 30]);
        assert_eq!(cap_model_trace(&mut data, 3), 2);
        assert_eq!(starts(&data), [10, 20, 30]);
        assert_eq!(data.resource_spans[0].scope_spans.len(), 3);
    }

    #[test]
    fn ties_at_the_cut_are_kept_in_storage_order_and_zero_means_no_cap() {
        let mut data = trace(&[5, 5, 5, 1]);
        assert_eq!(cap_model_trace(&mut data, 2), 2);
        assert_eq!(starts(&data), [5, 1]);
        let mut data = trace(&[3, 2, 1]);
        assert_eq!(cap_model_trace(&mut data, 0), 0);
        assert_eq!(cap_model_trace(&mut data, 3), 0);
        assert_eq!(data.span_count(), 3);
        assert_eq!(
            cap_warning(2, 3),
            "trace has 5 spans; only the 3 earliest are shown (query.http.max_spans_per_trace)"
        );
    }
}
