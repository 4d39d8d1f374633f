//! Sampling tests: for every tail policy a trace built to hit it and one
//! built to miss it, composite rate allocation, the final-decision
//! precedence, configuration errors, and ingest sampling (consistency,
//! per-service rates, debug and forced traces kept at 0 %).
//!
//! In: hand-built traces and YAML policy configurations. Out: assertions.

use spoor_proto::ids::TraceId;
use spoor_proto::model::{
    kv, string_kv, Event, InstrumentationScope, Span, Status, TracesData, Value,
};

use super::config::SamplingConfig;
use super::head::HeadSampler;
use super::policy::{build_all, combine, TraceFacts};
use super::policy_config::PolicyConfig;
use super::tail::TailSampler;
use crate::testing::{span, traces};

const MS: u64 = 1_000_000;

fn policies(yaml: &str) -> Vec<PolicyConfig> {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// The decision of the policies in `yaml` for `data`, at second 100.
fn decide(yaml: &str, data: &TracesData) -> (bool, String) {
    let built = build_all(&policies(yaml)).unwrap_or_else(|p| panic!("{p:?}"));
    let facts = TraceFacts::new(TraceId(7), data, 100);
    let (keep, name) = combine(&built, &facts);
    (keep, name.to_string())
}

fn keeps(yaml: &str, data: &TracesData) -> bool {
    decide(yaml, data).0
}

/// A trace of two spans of `ms` total duration, with `attrs` on the child.
fn trace_with(ms: u64, attrs: Vec<spoor_proto::model::KeyValue>) -> TracesData {
    let mut root = span(7, 1, "root");
    root.end_time_unix_nano = root.start_time_unix_nano + ms * MS;
    let mut child = span(7, 2, "child");
    child.parent_span_id = root.span_id.clone();
    child.attributes = attrs;
    traces("shop", vec![root, child])
}

#[test]
fn always_sample_keeps_everything() {
    let yaml = "- {name: all, type: always_sample}";
    assert_eq!(decide(yaml, &trace_with(1, vec![])), (true, "all".into()));
}

#[test]
fn probabilistic_policy_keeps_its_share_by_trace_id() {
    let yaml =
        "- {name: p, type: probabilistic, probabilistic: {sampling_percentage: 30, hash_salt: s}}";
    let built = build_all(&policies(yaml)).unwrap();
    let data = trace_with(1, vec![]);
    let kept = (1..=4000u128)
        .filter(|i| combine(&built, &TraceFacts::new(TraceId(*i), &data, 0)).0)
        .count();
    assert!((1000..1400).contains(&kept), "kept {kept} of 4000");
    let none = "- {name: p, type: probabilistic, probabilistic: {sampling_percentage: 0}}";
    assert!(!keeps(none, &data));
    let all = "- {name: p, type: probabilistic, probabilistic: {sampling_percentage: 100}}";
    assert!(keeps(all, &data));
}

#[test]
fn latency_compares_the_whole_traces_duration() {
    let yaml = "- {name: slow, type: latency, latency: {threshold_ms: 500}}";
    assert!(keeps(yaml, &trace_with(800, vec![])));
    assert!(!keeps(yaml, &trace_with(100, vec![])));
    let band =
        "- {name: band, type: latency, latency: {threshold_ms: 500, upper_threshold_ms: 1000}}";
    assert!(keeps(band, &trace_with(700, vec![])));
    assert!(!keeps(band, &trace_with(1500, vec![])));
}

#[test]
fn status_code_matches_any_span() {
    let yaml = "- {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}";
    let mut failing = trace_with(1, vec![]);
    failing.resource_spans[0].scope_spans[0].spans[1].status = Some(Status {
        code: 2,
        message: "boom".into(),
    });
    assert!(keeps(yaml, &failing));
    assert!(!keeps(yaml, &trace_with(1, vec![])));
    let unset = "- {name: u, type: status_code, status_code: {status_codes: [OK, UNSET]}}";
    assert!(keeps(unset, &trace_with(1, vec![])));
}

#[test]
fn string_attribute_matches_values_or_regexes_and_can_invert() {
    let yaml = "- {name: s, type: string_attribute, string_attribute: {key: customer, values: [acme, globex]}}";
    assert!(keeps(
        yaml,
        &trace_with(1, vec![string_kv("customer", "acme")])
    ));
    assert!(!keeps(
        yaml,
        &trace_with(1, vec![string_kv("customer", "initech")])
    ));
    let regex = "- {name: r, type: string_attribute, string_attribute: {key: http.url, values: ['^/api/v[0-9]+/pay'], enabled_regex_matching: true}}";
    assert!(keeps(
        regex,
        &trace_with(1, vec![string_kv("http.url", "/api/v2/pay?x=1")])
    ));
    assert!(!keeps(
        regex,
        &trace_with(1, vec![string_kv("http.url", "/health")])
    ));
    let invert = "- {name: no-health, type: string_attribute, string_attribute: {key: http.url, values: [/health], invert_match: true}}";
    assert!(keeps(
        invert,
        &trace_with(1, vec![string_kv("http.url", "/pay")])
    ));
    assert!(!keeps(
        invert,
        &trace_with(1, vec![string_kv("http.url", "/health")])
    ));
}

#[test]
fn attributes_are_found_on_resources_scopes_and_events() {
    let yaml = "- {name: s, type: string_attribute, string_attribute: {key: tier, values: [gold]}}";
    let mut on_resource = trace_with(1, vec![]);
    on_resource.resource_spans[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes
        .push(string_kv("tier", "gold"));
    assert!(keeps(yaml, &on_resource));
    let mut on_scope = trace_with(1, vec![]);
    on_scope.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
        attributes: vec![string_kv("tier", "gold")],
        ..Default::default()
    });
    assert!(keeps(yaml, &on_scope));
    let mut on_event = trace_with(1, vec![]);
    on_event.resource_spans[0].scope_spans[0].spans[0]
        .events
        .push(Event {
            name: "upgrade".into(),
            attributes: vec![string_kv("tier", "gold")],
            ..Default::default()
        });
    assert!(keeps(yaml, &on_event));
}

#[test]
fn numeric_attribute_checks_a_range_of_ints_and_floats() {
    let yaml = "- {name: n, type: numeric_attribute, numeric_attribute: {key: http.status_code, min_value: 500, max_value: 599}}";
    assert!(keeps(
        yaml,
        &trace_with(1, vec![kv("http.status_code", Value::IntValue(503))])
    ));
    assert!(!keeps(
        yaml,
        &trace_with(1, vec![kv("http.status_code", Value::IntValue(200))])
    ));
    assert!(keeps(
        yaml,
        &trace_with(1, vec![kv("http.status_code", Value::DoubleValue(500.0))])
    ));
    let open_ended =
        "- {name: n, type: numeric_attribute, numeric_attribute: {key: retries, min_value: 3}}";
    assert!(keeps(
        open_ended,
        &trace_with(1, vec![kv("retries", Value::IntValue(9))])
    ));
    let invert = "- {name: n, type: numeric_attribute, numeric_attribute: {key: retries, min_value: 0, max_value: 2, invert_match: true}}";
    assert!(keeps(
        invert,
        &trace_with(1, vec![kv("retries", Value::IntValue(9))])
    ));
    assert!(!keeps(
        invert,
        &trace_with(1, vec![kv("retries", Value::IntValue(1))])
    ));
}

#[test]
fn boolean_attribute_matches_the_value() {
    let yaml =
        "- {name: b, type: boolean_attribute, boolean_attribute: {key: cache.miss, value: true}}";
    assert!(keeps(
        yaml,
        &trace_with(1, vec![kv("cache.miss", Value::BoolValue(true))])
    ));
    assert!(!keeps(
        yaml,
        &trace_with(1, vec![kv("cache.miss", Value::BoolValue(false))])
    ));
    assert!(!keeps(
        yaml,
        &trace_with(1, vec![string_kv("cache.miss", "true")])
    ));
}

#[test]
fn span_count_bounds_the_number_of_spans() {
    let yaml = "- {name: c, type: span_count, span_count: {min_spans: 2, max_spans: 3}}";
    assert!(keeps(yaml, &trace_with(1, vec![])));
    assert!(!keeps(yaml, &traces("shop", vec![span(7, 1, "only")])));
    let many: Vec<Span> = (1..=5).map(|i| span(7, i, "s")).collect();
    assert!(!keeps(yaml, &traces("shop", many.clone())));
    let unbounded = "- {name: c, type: span_count, span_count: {min_spans: 4}}";
    assert!(keeps(unbounded, &traces("shop", many)));
}

#[test]
fn trace_state_matches_a_member() {
    let yaml = "- {name: t, type: trace_state, trace_state: {key: vendor, values: [keep, yes]}}";
    let mut data = trace_with(1, vec![]);
    data.resource_spans[0].scope_spans[0].spans[1].trace_state = "rojo=1, vendor=keep".into();
    assert!(keeps(yaml, &data));
    data.resource_spans[0].scope_spans[0].spans[1].trace_state = "vendor=skip".into();
    assert!(!keeps(yaml, &data));
}

#[test]
fn rate_limiting_allows_a_span_budget_per_second() {
    let yaml = "- {name: r, type: rate_limiting, rate_limiting: {spans_per_second: 5}}";
    let built = build_all(&policies(yaml)).unwrap();
    let data = trace_with(1, vec![]); // two spans
    let at = |second| combine(&built, &TraceFacts::new(TraceId(1), &data, second)).0;
    assert!(at(10));
    assert!(at(10));
    assert!(
        !at(10),
        "a third two-span trace would make 6 spans in one second"
    );
    assert!(at(11), "a new second has a new budget");
}

#[test]
fn and_needs_every_sub_policy() {
    let yaml = r#"
- name: slow-errors
  type: and
  and:
    and_sub_policy:
      - {name: slow, type: latency, latency: {threshold_ms: 500}}
      - {name: customer, type: string_attribute, string_attribute: {key: customer, values: [acme]}}
"#;
    assert!(keeps(
        yaml,
        &trace_with(900, vec![string_kv("customer", "acme")])
    ));
    assert!(!keeps(yaml, &trace_with(900, vec![])));
    assert!(!keeps(
        yaml,
        &trace_with(10, vec![string_kv("customer", "acme")])
    ));
}

#[test]
fn not_inverts_its_sub_policy() {
    let yaml = r#"
- name: not-fast
  type: not
  not:
    not_sub_policy: {name: fast, type: latency, latency: {threshold_ms: 0, upper_threshold_ms: 100}}
"#;
    assert!(keeps(yaml, &trace_with(500, vec![])));
    assert!(!keeps(yaml, &trace_with(50, vec![])));
}

#[test]
fn drop_beats_every_other_policy() {
    let yaml = r#"
- {name: all, type: always_sample}
- name: no-health
  type: drop
  drop:
    drop_sub_policy:
      - {name: health, type: string_attribute, string_attribute: {key: http.url, values: [/health]}}
"#;
    assert_eq!(
        decide(yaml, &trace_with(1, vec![string_kv("http.url", "/health")])),
        (false, "no-health".into())
    );
    assert_eq!(
        decide(yaml, &trace_with(1, vec![string_kv("http.url", "/pay")])),
        (true, "all".into())
    );
}

#[test]
fn an_inverted_match_vetoes_and_an_inverted_miss_yields_to_not_sampled() {
    let yaml = r#"
- {name: all, type: always_sample}
- {name: no-bots, type: string_attribute, string_attribute: {key: user_agent, values: [bot], invert_match: true}}
"#;
    assert_eq!(
        decide(yaml, &trace_with(1, vec![string_kv("user_agent", "bot")])),
        (false, "no-bots".into())
    );
    let only_invert = r#"
- {name: slow, type: latency, latency: {threshold_ms: 500}}
- {name: no-bots, type: string_attribute, string_attribute: {key: user_agent, values: [bot], invert_match: true}}
"#;
    // The inverted policy found no bot, but the latency policy said no.
    assert_eq!(
        decide(only_invert, &trace_with(1, vec![])),
        (false, "none".into())
    );
    let alone = "- {name: no-bots, type: string_attribute, string_attribute: {key: user_agent, values: [bot], invert_match: true}}";
    assert_eq!(
        decide(alone, &trace_with(1, vec![])),
        (true, "no-bots".into())
    );
}

#[test]
fn composite_allocates_the_span_budget_in_policy_order() {
    let yaml = r#"
- name: budget
  type: composite
  composite:
    max_total_spans_per_second: 10
    policy_order: [errors, everything]
    composite_sub_policy:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
      - {name: everything, type: always_sample}
    rate_allocation:
      - {policy: errors, percent: 60}
      - {policy: everything, percent: 40}
"#;
    let built = build_all(&policies(yaml)).unwrap();
    let ok = trace_with(1, vec![]); // two spans each
    let mut failing = trace_with(1, vec![]);
    failing.resource_spans[0].scope_spans[0].spans[0].status = Some(Status {
        code: 2,
        message: String::new(),
    });
    let at =
        |data: &TracesData, second| combine(&built, &TraceFacts::new(TraceId(1), data, second)).0;
    // "everything" has 4 spans per second: two ordinary traces, not three.
    assert!(at(&ok, 1));
    assert!(at(&ok, 1));
    assert!(!at(&ok, 1));
    // Errors have their own 6 spans: three failing traces still fit.
    assert!(at(&failing, 1));
    assert!(at(&failing, 1));
    assert!(at(&failing, 1));
    // Then the error budget is used up, and so is "everything"'s.
    assert!(!at(&failing, 1));
    // A new second restores both budgets.
    assert!(at(&ok, 2));
    assert!(at(&failing, 2));
}

#[test]
fn composite_sub_policies_without_an_allocation_get_no_budget() {
    let yaml = r#"
- name: budget
  type: composite
  composite:
    max_total_spans_per_second: 100
    policy_order: [a, b]
    composite_sub_policy:
      - {name: a, type: latency, latency: {threshold_ms: 1000}}
      - {name: b, type: always_sample}
    rate_allocation:
      - {policy: a, percent: 50}
"#;
    assert!(!keeps(yaml, &trace_with(1, vec![])));
    assert!(keeps(yaml, &trace_with(2000, vec![])));
}

#[test]
fn configuration_errors_name_the_key_and_the_policy() {
    let bad = r#"
- {name: slow, type: latency}
- {name: codes, type: status_code, status_code: {status_codes: [FAILED]}}
- {name: rx, type: string_attribute, string_attribute: {key: k, values: ['('], enabled_regex_matching: true}}
- {name: mixed, type: always_sample, latency: {threshold_ms: 1}}
- {name: slow, type: rate_limiting, rate_limiting: {spans_per_second: 0}}
- name: comp
  type: composite
  composite:
    max_total_spans_per_second: 10
    policy_order: [x, ghost]
    composite_sub_policy:
      - {name: x, type: always_sample}
    rate_allocation: [{policy: x, percent: 120}]
"#;
    let problems = build_all(&policies(bad)).unwrap_err();
    let expect = [
        ("policies[0] (policy \"slow\")", "needs a `latency` section"),
        (
            "policies[1] (policy \"codes\")",
            "unknown status code \"FAILED\"",
        ),
        (
            "policies[2] (policy \"rx\")",
            "not a valid regular expression",
        ),
        (
            "policies[3] (policy \"mixed\")",
            "section `latency` does not belong",
        ),
        (
            "policies[4] (policy \"slow\")",
            "the name is used by another policy",
        ),
        (
            "policies[4] (policy \"slow\")",
            "rate_limiting.spans_per_second",
        ),
        ("policies[5] (policy \"comp\")", "add up to 120"),
        (
            "policies[5] (policy \"comp\")",
            "policy_order names \"ghost\"",
        ),
    ];
    for (policy, message) in expect {
        assert!(
            problems
                .iter()
                .any(|p| p.contains(policy) && p.contains(message)),
            "no problem naming {policy} with {message:?} in {problems:#?}"
        );
    }
    let typo = serde_yaml::from_str::<SamplingConfig>(
        "tail:\n  policies:\n    - {name: a, type: latency, latency: {threshold: 5}}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(typo.contains("threshold"), "{typo}");
    let unknown_type = serde_yaml::from_str::<SamplingConfig>(
        "tail:\n  policies:\n    - {name: a, type: sometimes}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(unknown_type.contains("sometimes"), "{unknown_type}");
}

#[test]
fn sampling_config_validates_every_section_at_once() {
    assert_eq!(SamplingConfig::default().validate(), Ok(()));
    let config: SamplingConfig = serde_yaml::from_str(
        r#"
probabilistic: {sampling_percentage: 150, services: {checkout: -1}}
default_sampling_probability: 2
tail:
  decision_wait: 10s
  max_age: 5s
  policies: [{name: x, type: latency}]
"#,
    )
    .unwrap();
    let problems = config.validate().unwrap_err();
    for key in [
        "sampling.probabilistic.sampling_percentage",
        "sampling.probabilistic.services.\"checkout\"",
        "sampling.default_sampling_probability",
        "sampling.tail.max_age",
        "sampling.tail.policies[0] (policy \"x\")",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(key)),
            "missing {key} in {problems:#?}"
        );
    }
}

fn head(yaml: &str) -> HeadSampler {
    let config: SamplingConfig = serde_yaml::from_str(yaml).unwrap();
    config.validate().unwrap();
    HeadSampler::new(&config)
}

#[test]
fn head_sampling_keeps_whole_traces_consistently() {
    let sampler = head("probabilistic: {sampling_percentage: 25, hash_seed: 42}");
    let other_collector = head("probabilistic: {sampling_percentage: 25, hash_seed: 42}");
    let mut kept_traces = 0;
    for trace in 1..=2000u128 {
        let spans = |n: u64| (1..=n).map(|i| span(trace, i, "op")).collect::<Vec<_>>();
        let mut first = traces("a", spans(3));
        let mut second = traces("b", spans(2));
        let a = sampler.apply(&mut first);
        let b = other_collector.apply(&mut second);
        assert_eq!(
            a.kept > 0,
            b.kept > 0,
            "collectors disagree on trace {trace}"
        );
        assert!(a.kept == 3 || a.dropped == 3, "a trace was split: {a:?}");
        if a.kept > 0 {
            kept_traces += 1;
        } else {
            assert!(first.resource_spans.is_empty(), "empty groups are removed");
        }
    }
    assert!(
        (400..600).contains(&kept_traces),
        "kept {kept_traces} of 2000"
    );
    let reseeded = head("probabilistic: {sampling_percentage: 25, hash_seed: 43}");
    let differs = (1..=200u128).any(|trace| {
        let mut x = traces("a", vec![span(trace, 1, "op")]);
        let mut y = x.clone();
        sampler.apply(&mut x).kept != reseeded.apply(&mut y).kept
    });
    assert!(differs, "the seed changes which traces are kept");
}

#[test]
fn head_sampling_applies_per_service_rates() {
    let sampler =
        head("probabilistic: {sampling_percentage: 0, services: {checkout: 100, noisy: 0}}");
    let mut data = traces("checkout", vec![span(1, 1, "pay")]);
    data.resource_spans
        .extend(traces("noisy", vec![span(1, 2, "poll")]).resource_spans);
    data.resource_spans
        .extend(traces("other", vec![span(1, 3, "x")]).resource_spans);
    let outcome = sampler.apply(&mut data);
    assert_eq!((outcome.kept, outcome.dropped), (1, 2));
    assert_eq!(data.resource_spans.len(), 1);
    assert_eq!(data.resource_spans[0].service_name(), "checkout");
}

#[test]
fn debug_and_forced_traces_are_kept_at_zero_percent() {
    let sampler = head("probabilistic: {sampling_percentage: 0}");
    let zipkin_debug = Span {
        debug: true,
        ..span(1, 1, "debug")
    };
    let jaeger_debug = Span {
        jaeger_flags: 3,
        ..span(2, 1, "jaeger")
    };
    let envoy_forced = Span {
        attributes: vec![string_kv(
            "guid:x-request-id",
            "5f0a2d1e-6b7c-ad3e-9f10-1234567890ab",
        )],
        ..span(3, 1, "envoy")
    };
    let envoy_sampled = Span {
        attributes: vec![string_kv(
            "guid:x-request-id",
            "5f0a2d1e-6b7c-9d3e-9f10-1234567890ab",
        )],
        ..span(4, 1, "envoy-normal")
    };
    let client_forced = Span {
        attributes: vec![string_kv(
            "guid:x-request-id",
            "5f0a2d1e-6b7c-bd3e-9f10-1234567890ab",
        )],
        ..span(6, 1, "client-forced")
    };
    // A second span of trace 1 without the flag follows its trace.
    let sibling = span(1, 2, "sibling");
    let mut data = traces(
        "svc",
        vec![
            zipkin_debug,
            jaeger_debug,
            envoy_forced,
            envoy_sampled,
            client_forced,
            sibling,
            span(5, 1, "plain"),
        ],
    );
    let outcome = sampler.apply(&mut data);
    assert_eq!((outcome.kept_forced, outcome.dropped), (5, 2));
    let names: Vec<&str> = data.resource_spans[0].scope_spans[0]
        .spans
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["debug", "jaeger", "envoy", "client-forced", "sibling"]
    );
    let tail = TailSampler::new(&SamplingConfig {
        tail: super::config::TailConfig {
            policies: policies(
                "- {name: none, type: probabilistic, probabilistic: {sampling_percentage: 0}}",
            )
            .into(),
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let debug_trace = traces(
        "svc",
        vec![Span {
            debug: true,
            ..span(9, 1, "d")
        }],
    );
    let decision = tail.decide_at(TraceId(9), &debug_trace, 0);
    assert!(decision.keep);
    assert_eq!(&*decision.policy, "debug");
    assert!(
        !tail
            .decide_at(TraceId(9), &traces("svc", vec![span(9, 1, "d")]), 0)
            .keep
    );
}

#[test]
fn the_default_configuration_keeps_everything() {
    let sampler = HeadSampler::new(&SamplingConfig::default());
    assert!(sampler.keeps_everything());
    let mut data = traces("svc", vec![span(1, 1, "a"), span(2, 1, "b")]);
    assert_eq!(sampler.apply(&mut data).dropped, 0);
    assert_eq!(data.span_count(), 2);
    assert!(!SamplingConfig::default().tail_enabled());
}

#[test]
fn ingest_counts_sampled_spans_and_stores_only_kept_traces() {
    use crate::config::CollectorConfig;
    use crate::metrics::reason;
    use crate::receiver::Receiver;
    use crate::testing::{pipeline_with, post, run_counted, send};
    use prost::Message;

    let config = CollectorConfig::default();
    let (store, pipeline) = pipeline_with(&config);
    pipeline.set_head_sampler(head("probabilistic: {sampling_percentage: 0}"));
    let router = crate::otlp_http_router(pipeline.clone(), &config);
    let forced = Span {
        debug: true,
        ..span(11, 1, "forced")
    };
    let batch = traces("svc", vec![span(10, 1, "a"), span(10, 2, "b"), forced]);
    let (status, counters) = run_counted(Receiver::OtlpHttp, || async {
        send(
            &router,
            post(
                "/v1/traces",
                &[("content-type", "application/x-protobuf")],
                batch.encode_to_vec(),
            ),
        )
        .await
        .status
    });
    assert_eq!(status, http::StatusCode::OK);
    assert_eq!(counters.rejected(Receiver::OtlpHttp, reason::SAMPLED), 2);
    assert_eq!(counters.accepted(Receiver::OtlpHttp), 1);
    assert_eq!(
        counters.get(
            spoor_storage::decider::SAMPLING_SPANS_DROPPED_TOTAL,
            &[("stage", "head"), ("policy", "probabilistic")]
        ),
        2
    );
    assert_eq!(store.span_count(10), 0);
    assert_eq!(store.span_count(11), 1);
    pipeline.shutdown_blocking();
}
