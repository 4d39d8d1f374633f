//! `query`: latency of the read side of a backend over the Jaeger HTTP query
//! API (`/api/traces`, `/api/traces/{id}`), which Spoor and Jaeger both serve.
//!
//! In: [`QueryArgs`] (query URL, how many lookups and searches, a file of
//! trace ids written by `send --ids-out` or nothing, in which case ids are
//! learnt from searches). Out: a [`QueryReport`] with, per kind of query
//! (trace by id; service+operation; +tag; +minDuration; all over the last
//! hour with limit 20), the count, errors, empty answers, mean traces
//! returned and p50/p99/max latency.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng as _, SeedableRng as _};

use crate::gen::{Catalog, Shape, REGIONS};
use crate::stats::{latency, new_histogram, positive, record, Latency};

/// Command-line arguments of `query`.
#[derive(Debug, Clone, clap::Parser)]
pub struct QueryArgs {
    /// Base URL of the Jaeger-compatible query API.
    #[arg(long, default_value = "http://127.0.0.1:16686")]
    pub query_url: String,
    /// Trace-by-id lookups to run.
    #[arg(long, default_value_t = 200)]
    pub lookups: usize,
    /// Searches of each kind to run.
    #[arg(long, default_value_t = 100)]
    pub searches: usize,
    /// Trace ids to look up (hex, one per line, as `send --ids-out` writes).
    /// Without it, ids are learnt from searches.
    #[arg(long)]
    pub ids_file: Option<PathBuf>,
    /// Queries in flight at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Search window in seconds, ending now.
    #[arg(long, default_value_t = 3600)]
    pub window: u64,
    /// `limit` of every search.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// `minDuration` of the minDuration searches (Jaeger duration syntax).
    #[arg(long, default_value = "100ms")]
    pub min_duration: String,
    /// Tag of the tag searches as KEY=VALUE (default: rotate over `region` values).
    #[arg(long)]
    pub tag: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout: f64,
    /// Stop after this many seconds whatever is left.
    #[arg(long, default_value_t = 600.0)]
    pub max_seconds: f64,
    /// Services of the generated traffic (used when the API lists none).
    #[arg(long, default_value_t = 10)]
    pub services: usize,
    /// Operations per service of the generated traffic (same fallback).
    #[arg(long, default_value_t = 8)]
    pub operations: usize,
    /// Seed for choosing services, operations and ids.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The kinds of query measured, in report order.
pub const KINDS: [&str; 4] = [
    "trace-by-id",
    "service+operation",
    "service+operation+tag",
    "service+operation+minDuration",
];

/// Measurements of one kind of query.
#[derive(Debug, Clone, PartialEq)]
pub struct KindReport {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// Queries run.
    pub runs: u64,
    /// Answers that were not 2xx (or not JSON), by status.
    pub errors: BTreeMap<String, u64>,
    /// Successful answers with no trace in them.
    pub empty: u64,
    /// Mean traces per successful answer.
    pub mean_results: f64,
    /// Latency of successful answers.
    pub latency: Latency,
}

/// Everything `query` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryReport {
    /// Per kind, in [`KINDS`] order (kinds with no runs are left out).
    pub kinds: Vec<KindReport>,
    /// Where the looked-up ids came from.
    pub id_source: String,
    /// Distinct trace ids available for lookups.
    pub ids: usize,
}

impl QueryReport {
    /// The human table.
    pub fn human(&self) -> String {
        let mut out = format!(
            "query latency ({} trace ids from {})\n{:<31} {:>6} {:>6} {:>6} {:>8} {:>9} {:>9} {:>9}\n",
            self.ids, self.id_source, "kind", "runs", "errors", "empty", "results", "p50 ms", "p99 ms", "max ms"
        );
        for k in &self.kinds {
            out.push_str(&format!(
                "{:<31} {:>6} {:>6} {:>6} {:>8.1} {:>9.2} {:>9.2} {:>9.2}\n",
                k.kind,
                k.runs,
                k.errors.values().sum::<u64>(),
                k.empty,
                k.mean_results,
                k.latency.p50_ms,
                k.latency.p99_ms,
                k.latency.max_ms
            ));
            if !k.errors.is_empty() {
                let errors: Vec<String> =
                    k.errors.iter().map(|(s, n)| format!("{s}: {n}")).collect();
                out.push_str(&format!("    errors: {}\n", errors.join(", ")));
            }
        }
        out.trim_end().to_string()
    }

    /// One `RESULT query kind=... ...` line per kind.
    pub fn result_lines(&self) -> Vec<String> {
        self.kinds
            .iter()
            .map(|k| {
                format!(
                    "RESULT query kind={} runs={} errors={} empty={} mean_results={:.1} p50_ms={:.3} p99_ms={:.3} max_ms={:.3}",
                    k.kind,
                    k.runs,
                    k.errors.values().sum::<u64>(),
                    k.empty,
                    k.mean_results,
                    k.latency.p50_ms,
                    k.latency.p99_ms,
                    k.latency.max_ms
                )
            })
            .collect()
    }
}

/// One query to run: the kind index into [`KINDS`], the path and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Index into [`KINDS`].
    pub kind: usize,
    /// Path under the query URL.
    pub path: String,
    /// Query-string parameters.
    pub params: Vec<(String, String)>,
}

struct KindStats {
    histogram: Histogram<u64>,
    runs: u64,
    errors: BTreeMap<String, u64>,
    empty: u64,
    results: u64,
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Parses a file of hex trace ids (blank lines and `#` comments skipped).
pub fn parse_ids(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| l.len() <= 32 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase)
        .filter(|l| seen.insert(l.clone()))
        .collect()
}

/// The trace ids in a Jaeger `/api/traces` answer.
pub fn trace_ids_in(answer: &serde_json::Value) -> Vec<String> {
    answer["data"]
        .as_array()
        .map(|traces| {
            traces
                .iter()
                .filter_map(|t| t["traceID"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The names in a Jaeger `{"data": [...]}` list answer (strings or objects
/// with a `name`).
pub fn names_in(answer: &serde_json::Value) -> Vec<String> {
    answer["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    i.as_str()
                        .or_else(|| i["name"].as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Builds the search jobs: `searches` of each search kind over random
/// (service, operation) pairs.
pub fn search_jobs(args: &QueryArgs, targets: &[(String, String)], rng: &mut SmallRng) -> Vec<Job> {
    let end = now_micros();
    let start = end.saturating_sub(args.window * 1_000_000);
    let mut jobs = Vec::new();
    if targets.is_empty() {
        return jobs;
    }
    let tag = args
        .tag
        .as_ref()
        .and_then(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()));
    for kind in 1..KINDS.len() {
        for i in 0..args.searches {
            let (service, operation) = &targets[rng.random_range(0..targets.len())];
            let mut params = vec![
                ("service".to_string(), service.clone()),
                ("operation".to_string(), operation.clone()),
                ("start".to_string(), start.to_string()),
                ("end".to_string(), end.to_string()),
                ("limit".to_string(), args.limit.to_string()),
            ];
            match kind {
                2 => {
                    let (k, v) = tag.clone().unwrap_or_else(|| {
                        ("region".to_string(), REGIONS[i % REGIONS.len()].to_string())
                    });
                    params.push(("tags".to_string(), serde_json::json!({ k: v }).to_string()));
                }
                3 => params.push(("minDuration".to_string(), args.min_duration.clone())),
                _ => {}
            }
            jobs.push(Job {
                kind,
                path: "/api/traces".to_string(),
                params,
            });
        }
    }
    jobs
}

async fn get_json(
    client: &reqwest::Client,
    url: &str,
    params: &[(String, String)],
) -> Result<serde_json::Value, String> {
    let resp = client.get(url).query(params).send().await.map_err(|e| {
        if e.is_timeout() {
            "timeout".to_string()
        } else {
            "transport error".to_string()
        }
    })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("http {}", status.as_u16()));
    }
    let body = resp.bytes().await.map_err(|_| "body error".to_string())?;
    serde_json::from_slice(&body).map_err(|_| "not JSON".to_string())
}

/// Learns (service, operation) pairs from the API, or from the generator's
/// catalog when the API lists none.
async fn targets(client: &reqwest::Client, args: &QueryArgs, base: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(services) = get_json(client, &format!("{base}/api/services"), &[]).await {
        for service in names_in(&services) {
            let url = format!("{base}/api/services/{service}/operations");
            if let Ok(ops) = get_json(client, &url, &[]).await {
                out.extend(names_in(&ops).into_iter().map(|op| (service.clone(), op)));
            }
        }
    }
    if out.is_empty() {
        let catalog = Catalog::new(Shape {
            services: args.services,
            operations: args.operations,
            spans_per_trace: 1,
        });
        for s in &catalog.services {
            out.extend(
                s.operations
                    .iter()
                    .map(|o| (s.name.clone(), o.name.clone())),
            );
        }
    }
    out.sort();
    out
}

/// Runs `query` to completion.
pub async fn run(args: QueryArgs) -> anyhow::Result<QueryReport> {
    if args.concurrency == 0 || !positive(args.max_seconds) {
        bail!("--concurrency and --max-seconds must be positive");
    }
    let base = args.query_url.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs_f64(args.timeout))
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs_f64(args.max_seconds);
    let mut rng = SmallRng::seed_from_u64(args.seed);
    let targets = targets(&client, &args, &base).await;
    eprintln!(
        "spoor-loadgen query: {base} | {} service/operation pairs",
        targets.len()
    );

    // Trace ids: from the file, or learnt from plain service searches.
    let (mut ids, mut id_source) = match &args.ids_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (parse_ids(&text), format!("file {}", path.display()))
        }
        None => (Vec::new(), String::new()),
    };
    // Too few ids in the file (or none given): learn more from searches of
    // each service over three slices of the window.
    if ids.len() < args.lookups {
        let from_file = ids.len();
        let end = now_micros();
        let slice = args.window * 1_000_000 / 3;
        let mut services: Vec<String> = targets.iter().map(|(s, _)| s.clone()).collect();
        services.dedup();
        let mut seen: HashSet<String> = ids.iter().cloned().collect();
        'rounds: for round in 0..3u64 {
            for service in &services {
                if ids.len() >= args.lookups || Instant::now() >= deadline {
                    break 'rounds;
                }
                let params = vec![
                    ("service".to_string(), service.clone()),
                    (
                        "start".to_string(),
                        end.saturating_sub((round + 1) * slice).to_string(),
                    ),
                    (
                        "end".to_string(),
                        end.saturating_sub(round * slice).to_string(),
                    ),
                    ("limit".to_string(), "100".to_string()),
                ];
                if let Ok(answer) = get_json(&client, &format!("{base}/api/traces"), &params).await
                {
                    ids.extend(
                        trace_ids_in(&answer)
                            .into_iter()
                            .filter(|id| seen.insert(id.clone())),
                    );
                }
            }
        }
        if ids.len() > from_file {
            if !id_source.is_empty() {
                id_source.push_str(" + ");
            }
            id_source.push_str("searches");
        }
    }
    if id_source.is_empty() {
        id_source.push_str("nowhere");
    }

    let mut jobs: Vec<Job> = Vec::new();
    if !ids.is_empty() {
        for _ in 0..args.lookups {
            let id = &ids[rng.random_range(0..ids.len())];
            jobs.push(Job {
                kind: 0,
                path: format!("/api/traces/{id}"),
                params: Vec::new(),
            });
        }
    } else if args.lookups > 0 {
        eprintln!("no trace ids found: skipping trace-by-id lookups");
    }
    jobs.extend(search_jobs(&args, &targets, &mut rng));

    let stats: Arc<Vec<Mutex<KindStats>>> = Arc::new(
        KINDS
            .iter()
            .map(|_| {
                Mutex::new(KindStats {
                    histogram: new_histogram(),
                    runs: 0,
                    errors: BTreeMap::new(),
                    empty: 0,
                    results: 0,
                })
            })
            .collect(),
    );
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (jobs, next, stats, client, base) = (
            jobs.clone(),
            next.clone(),
            stats.clone(),
            client.clone(),
            base.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Relaxed);
                if i >= jobs.len() || Instant::now() >= deadline {
                    break;
                }
                let job = &jobs[i];
                let t0 = Instant::now();
                let answer = get_json(&client, &format!("{base}{}", job.path), &job.params).await;
                let took = t0.elapsed();
                let mut s = stats[job.kind].lock().unwrap_or_else(|e| e.into_inner());
                s.runs += 1;
                match answer {
                    Ok(v) => {
                        record(&mut s.histogram, took);
                        let n = v["data"].as_array().map_or(0, Vec::len) as u64;
                        s.results += n;
                        if n == 0 {
                            s.empty += 1;
                        }
                    }
                    Err(status) => *s.errors.entry(status).or_insert(0) += 1,
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("query task panicked")?;
    }
    let kinds = KINDS
        .iter()
        .zip(stats.iter())
        .filter_map(|(kind, s)| {
            let s = s.lock().unwrap_or_else(|e| e.into_inner());
            let ok = s.runs - s.errors.values().sum::<u64>();
            (s.runs > 0).then(|| KindReport {
                kind,
                runs: s.runs,
                errors: s.errors.clone(),
                empty: s.empty,
                mean_results: s.results as f64 / ok.max(1) as f64,
                latency: latency(&s.histogram),
            })
        })
        .collect();
    Ok(QueryReport {
        kinds,
        id_source,
        ids: ids.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_files_are_parsed_leniently() {
        let ids = parse_ids("# ids\n0123456789abcdef0123456789ABCDEF\n\nnot-hex\n0123456789abcdef0123456789abcdef\nabc\n");
        assert_eq!(
            ids,
            vec![
                "0123456789abcdef0123456789abcdef".to_string(),
                "abc".to_string()
            ]
        );
    }

    #[test]
    fn jaeger_answers_are_read() {
        let v = serde_json::json!({"data": [{"traceID": "ab", "spans": []}, {"traceID": "cd"}]});
        assert_eq!(trace_ids_in(&v), vec!["ab", "cd"]);
        assert_eq!(
            names_in(&serde_json::json!({"data": ["a", {"name": "b"}]})),
            vec!["a", "b"]
        );
        assert!(names_in(&serde_json::json!({"data": null})).is_empty());
    }

    #[test]
    fn every_search_kind_gets_its_parameters() {
        let args = <QueryArgs as clap::Parser>::parse_from(["query", "--searches", "3"]);
        let targets = vec![("frontend".to_string(), "GET /a".to_string())];
        let jobs = search_jobs(&args, &targets, &mut SmallRng::seed_from_u64(1));
        assert_eq!(jobs.len(), 9);
        let has = |j: &Job, k: &str| j.params.iter().any(|(key, _)| key == k);
        for j in &jobs {
            assert!(has(j, "service") && has(j, "operation") && has(j, "start") && has(j, "end"));
            assert!(j.params.contains(&("limit".to_string(), "20".to_string())));
            assert_eq!(has(j, "tags"), j.kind == 2);
            assert_eq!(has(j, "minDuration"), j.kind == 3);
        }
        let tags = &jobs
            .iter()
            .find(|j| j.kind == 2)
            .expect("a tag search")
            .params;
        let (_, t) = tags.iter().find(|(k, _)| k == "tags").expect("tags");
        let parsed: serde_json::Value = serde_json::from_str(t).expect("tags are JSON");
        assert!(parsed["region"].is_string());
    }
}
