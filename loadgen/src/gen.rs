//! The trace generator: realistic, randomly shaped traces.
//!
//! In: a [`Shape`] (how many services, operations per service, spans per
//! trace), a seed and the wall clock. Out: [`Batch`]es of exactly N spans,
//! grouped by resource (service + host) the way an SDK or a collector sends
//! them. A batch is a list of compact [`SpanRec`]s that name catalog strings
//! by index; it becomes the canonical model with [`Batch::to_request`] (for
//! the JSON encoders and tests) or OTLP protobuf bytes directly with
//! [`crate::wire::encode_batch`] (the fast path, byte-identical to prost's).
//!
//! Each trace gets a fresh random 128-bit trace id and a tree of spans: a
//! SERVER root in an entry service, then CLIENT → SERVER pairs that call from
//! one service into another, and an INTERNAL span when an odd span is left.
//! Every span has exactly [`ATTRIBUTES_PER_SPAN`] attributes of mixed
//! cardinality, about [`ERROR_SHARE`] of spans have an ERROR status (and an
//! `exception` event), about a fifth of the others have one or two events,
//! and child spans lie inside their parents in time, ending shortly before
//! "now".

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use spoor_proto::model::{
    kv, string_kv, Event, InstrumentationScope, KeyValue, Resource, ResourceSpans, ScopeSpans,
    Span, SpanKind, Status, StatusCode, Value,
};
use spoor_proto::otlp::ExportTraceServiceRequest;

/// Attributes every generated span carries.
pub const ATTRIBUTES_PER_SPAN: usize = 10;

/// The share of spans that get an ERROR status.
pub const ERROR_SHARE: f64 = 0.05;

/// Hosts (resource instances) per service.
pub const HOSTS_PER_SERVICE: usize = 3;

/// Values of the low-cardinality `region` attribute.
pub const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"];

/// Values of `http.method` (one per operation, by operation index).
pub const METHODS: [&str; 4] = ["GET", "POST", "PUT", "DELETE"];

/// Number of distinct `user.id` values.
pub const USERS: u32 = 1_000_000;

/// Load balancers that call the entry services (`net.peer.name` of roots).
pub const EDGES: usize = 8;

/// Messages of errors (status messages and `exception.message`).
pub const ERROR_MESSAGES: [&str; 4] = [
    "upstream request timeout",
    "connection reset by peer",
    "internal server error",
    "deadline exceeded",
];

/// Names of the events of spans without errors.
pub const EVENT_NAMES: [&str; 3] = ["cache.miss", "retry", "message.sent"];

/// The instrumentation scope every batch names.
pub const SCOPE_NAME: &str = "spoor-loadgen";

/// The version of [`SCOPE_NAME`].
pub const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

const SERVICE_NAMES: [&str; 20] = [
    "frontend",
    "api-gateway",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "inventory",
    "auth",
    "user",
    "recommendation",
    "search",
    "catalog",
    "notification",
    "email",
    "currency",
    "ad",
    "fraud-detection",
    "accounting",
    "quote",
    "image-provider",
];

const NOUNS: [&str; 12] = [
    "orders",
    "items",
    "users",
    "carts",
    "payments",
    "shipments",
    "products",
    "sessions",
    "prices",
    "reviews",
    "coupons",
    "addresses",
];

/// The shape of the generated traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Number of distinct services (≥ 1).
    pub services: usize,
    /// Operations per service (≥ 1).
    pub operations: usize,
    /// Spans per trace (≥ 1).
    pub spans_per_trace: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            services: 10,
            operations: 8,
            spans_per_trace: 10,
        }
    }
}

/// One operation of a service: its span name and the attributes tied to it.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Span name, e.g. `GET /api/v1/orders/{id}`.
    pub name: String,
    /// `http.method`.
    pub method: &'static str,
    /// `http.route`.
    pub route: String,
    /// `db.statement`.
    pub statement: String,
    /// Name of the INTERNAL span that loads this operation's data.
    pub load_name: String,
}

/// One service with its hosts and operations.
#[derive(Debug, Clone)]
pub struct Service {
    /// `service.name`.
    pub name: String,
    /// `host.name` of each instance.
    pub hosts: Vec<String>,
    /// The database host the service's INTERNAL spans talk to.
    pub db_host: String,
    /// The operations the service serves.
    pub operations: Vec<Operation>,
    /// The resource of each instance.
    pub resources: Vec<Resource>,
}

/// The fixed names of a [`Shape`]: services, hosts, operations, resources.
/// Deterministic, so `send` and `query` agree on names without talking.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The shape this catalog was built for.
    pub shape: Shape,
    /// All services, index = service number.
    pub services: Vec<Service>,
    /// `net.peer.name` of the load balancers calling root spans.
    pub edges: Vec<String>,
}

/// The name of service number `i`.
pub fn service_name(i: usize) -> String {
    match SERVICE_NAMES.get(i) {
        Some(name) => (*name).to_string(),
        None => format!("service-{i}"),
    }
}

impl Catalog {
    /// Builds the names for a shape (zero counts are raised to one).
    pub fn new(shape: Shape) -> Catalog {
        let shape = Shape {
            services: shape.services.max(1),
            operations: shape.operations.max(1),
            spans_per_trace: shape.spans_per_trace.max(1),
        };
        let services = (0..shape.services)
            .map(|s| {
                let name = service_name(s);
                let hosts: Vec<String> = (0..HOSTS_PER_SERVICE)
                    .map(|h| format!("{name}-{h}.prod.internal"))
                    .collect();
                let operations = (0..shape.operations)
                    .map(|o| {
                        let noun = NOUNS[(s + o) % NOUNS.len()];
                        let suffix = if o < NOUNS.len() {
                            String::new()
                        } else {
                            format!("/v{}", o / NOUNS.len())
                        };
                        let method = METHODS[o % METHODS.len()];
                        let route = format!("/api/v1/{noun}{suffix}/{{id}}");
                        Operation {
                            name: format!("{method} {route}"),
                            method,
                            statement: format!(
                                "SELECT id, status, total, updated_at FROM {noun} WHERE id = $1 AND tenant_id = $2 LIMIT 1"
                            ),
                            load_name: format!("load {noun}"),
                            route,
                        }
                    })
                    .collect();
                let resources = hosts
                    .iter()
                    .map(|host| Resource {
                        attributes: vec![
                            string_kv("service.name", name.clone()),
                            string_kv("host.name", host.clone()),
                            string_kv("service.version", format!("1.{}.{}", s % 7, s % 3)),
                            string_kv("telemetry.sdk.name", "opentelemetry"),
                            string_kv("telemetry.sdk.language", "rust"),
                            string_kv("telemetry.sdk.version", "0.30.0"),
                        ],
                        dropped_attributes_count: 0,
                    })
                    .collect();
                Service {
                    db_host: format!("{name}-db.prod.internal"),
                    name,
                    hosts,
                    operations,
                    resources,
                }
            })
            .collect();
        let edges = (0..EDGES)
            .map(|e| format!("lb-{e}.edge.internal"))
            .collect();
        Catalog {
            shape,
            services,
            edges,
        }
    }

    /// The resource of a service instance.
    pub fn resource(&self, service: usize, host: usize) -> &Resource {
        &self.services[service].resources[host]
    }
}

/// Who is on the other side of a span (`net.peer.name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A host of a service: (service, host).
    Host(u16, u8),
    /// A load balancer in front of the entry services.
    Edge(u8),
    /// The database of a service.
    Db(u16),
}

/// How a span is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanName {
    /// The name of operation (service, operation).
    Op(u16, u16),
    /// The load span of operation (service, operation).
    Load(u16, u16),
}

/// What sets a span apart from a plain successful one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    /// No status, no event.
    None,
    /// ERROR status with message `status`, and an `exception` event with
    /// message `exception` (indexes into [`ERROR_MESSAGES`]).
    Error {
        /// Status message.
        status: u8,
        /// `exception.message`.
        exception: u8,
    },
    /// One or two events, named by indexes into [`EVENT_NAMES`].
    Events(u8, [u8; 2]),
}

/// One generated span in compact form: ids, times and indexes into the
/// [`Catalog`] instead of strings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanRec {
    /// Trace id (never 0).
    pub trace_id: u128,
    /// Span id (never 0).
    pub span_id: u64,
    /// Parent span id, 0 for a root.
    pub parent_span_id: u64,
    /// Service index (the resource's service).
    pub service: u16,
    /// Host index within the service (the resource's host).
    pub host: u8,
    /// The operation of `service` whose method, route and statement the
    /// attributes carry.
    pub op: u16,
    /// The span name.
    pub name: SpanName,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, ns since the epoch.
    pub start: u64,
    /// End, ns since the epoch.
    pub end: u64,
    /// `http.status_code`.
    pub http_status: i64,
    /// `net.peer.name`.
    pub peer: Peer,
    /// `user.id` is `user-<user>`.
    pub user: u32,
    /// `region` is `REGIONS[region]`.
    pub region: u8,
    /// `cache.hit`.
    pub cache_hit: bool,
    /// `app.cart.total` is `cart_cents / 100`.
    pub cart_cents: u32,
    /// `request.id` is this as 32 hex characters.
    pub request_id: u128,
    /// Status and events.
    pub extra: Extra,
}

impl SpanRec {
    /// The span name as text.
    pub fn name<'c>(&self, catalog: &'c Catalog) -> &'c str {
        match self.name {
            SpanName::Op(s, o) => &catalog.services[s as usize].operations[o as usize].name,
            SpanName::Load(s, o) => &catalog.services[s as usize].operations[o as usize].load_name,
        }
    }

    /// `net.peer.name` as text.
    pub fn peer<'c>(&self, catalog: &'c Catalog) -> &'c str {
        match self.peer {
            Peer::Host(s, h) => &catalog.services[s as usize].hosts[h as usize],
            Peer::Edge(e) => &catalog.edges[e as usize],
            Peer::Db(s) => &catalog.services[s as usize].db_host,
        }
    }

    /// `app.cart.total`.
    pub fn cart_total(&self) -> f64 {
        f64::from(self.cart_cents) / 100.0
    }

    /// The events of this span: (time, name, attributes).
    pub fn events(&self) -> Vec<Event> {
        let len = self.end - self.start;
        match self.extra {
            Extra::None => Vec::new(),
            Extra::Error { exception, .. } => vec![Event {
                time_unix_nano: self.start + len / 2,
                name: "exception".to_string(),
                attributes: vec![
                    string_kv("exception.type", "RequestError"),
                    string_kv("exception.message", ERROR_MESSAGES[exception as usize]),
                ],
                dropped_attributes_count: 0,
            }],
            Extra::Events(count, names) => (0..count as u64)
                .map(|i| Event {
                    time_unix_nano: self.start + len * (i + 1) / 3,
                    name: EVENT_NAMES[names[i as usize] as usize].to_string(),
                    attributes: vec![kv("attempt", Value::IntValue(i as i64 + 1))],
                    dropped_attributes_count: 0,
                })
                .collect(),
        }
    }

    /// The span in the canonical model.
    pub fn to_span(&self, catalog: &Catalog) -> Span {
        let op = &catalog.services[self.service as usize].operations[self.op as usize];
        let attributes: Vec<KeyValue> = vec![
            string_kv("http.method", op.method),
            kv("http.status_code", Value::IntValue(self.http_status)),
            string_kv("http.route", op.route.clone()),
            string_kv("net.peer.name", self.peer(catalog)),
            string_kv("user.id", format!("user-{}", self.user)),
            string_kv("region", REGIONS[self.region as usize]),
            kv("cache.hit", Value::BoolValue(self.cache_hit)),
            kv("app.cart.total", Value::DoubleValue(self.cart_total())),
            string_kv("db.statement", op.statement.clone()),
            string_kv("request.id", format!("{:032x}", self.request_id)),
        ];
        let status = match self.extra {
            Extra::Error { status, .. } => Some(Status {
                message: ERROR_MESSAGES[status as usize].to_string(),
                code: StatusCode::Error as i32,
            }),
            _ => None,
        };
        Span {
            trace_id: Bytes::copy_from_slice(&self.trace_id.to_be_bytes()),
            span_id: Bytes::copy_from_slice(&self.span_id.to_be_bytes()),
            parent_span_id: if self.parent_span_id == 0 {
                Bytes::new()
            } else {
                Bytes::copy_from_slice(&self.parent_span_id.to_be_bytes())
            },
            name: self.name(catalog).to_string(),
            kind: self.kind as i32,
            start_time_unix_nano: self.start,
            end_time_unix_nano: self.end,
            attributes,
            events: self.events(),
            status,
            ..Default::default()
        }
    }
}

/// A batch of spans sorted by resource (service, host), ready to encode.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The names the spans refer to.
    pub catalog: Arc<Catalog>,
    /// The spans, grouped by (service, host).
    pub spans: Vec<SpanRec>,
}

impl Batch {
    /// Number of spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the batch has no span.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The spans as runs of one resource each: `(service, host, spans)`.
    pub fn groups(&self) -> impl Iterator<Item = (u16, u8, &[SpanRec])> {
        self.spans
            .chunk_by(|a, b| (a.service, a.host) == (b.service, b.host))
            .map(|run| (run[0].service, run[0].host, run))
    }

    /// The batch in the canonical model, as an OTLP export request.
    pub fn to_request(&self) -> ExportTraceServiceRequest {
        let resource_spans = self
            .groups()
            .map(|(service, host, run)| ResourceSpans {
                resource: Some(
                    self.catalog
                        .resource(service as usize, host as usize)
                        .clone(),
                ),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.to_string(),
                        version: SCOPE_VERSION.to_string(),
                        ..Default::default()
                    }),
                    spans: run.iter().map(|r| r.to_span(&self.catalog)).collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect();
        ExportTraceServiceRequest { resource_spans }
    }

    /// The trace ids of the root spans in the batch.
    pub fn root_trace_ids(&self) -> impl Iterator<Item = u128> + '_ {
        self.spans
            .iter()
            .filter(|s| s.parent_span_id == 0)
            .map(|s| s.trace_id)
    }
}

/// Produces traces and batches. One per sending task; not shared.
pub struct Generator {
    rng: SmallRng,
    catalog: Arc<Catalog>,
    pending: VecDeque<SpanRec>,
}

/// Nanoseconds since the Unix epoch.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Time window of a span while its tree is built.
#[derive(Clone, Copy)]
struct Window {
    start: u64,
    end: u64,
}

/// Per-trace facts every span of the trace shares.
#[derive(Clone, Copy)]
struct TraceFacts {
    trace_id: u128,
    user: u32,
    region: u8,
}

impl Generator {
    /// A generator over `catalog`, seeded for reproducible shapes and ids.
    pub fn new(catalog: Arc<Catalog>, seed: u64) -> Generator {
        Generator {
            rng: SmallRng::seed_from_u64(seed),
            catalog,
            pending: VecDeque::new(),
        }
    }

    /// The catalog this generator draws names from.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// One complete trace ending shortly before `now_ns`, root span first.
    pub fn trace(&mut self, now_ns: u64) -> Vec<SpanRec> {
        let shape = self.catalog.shape;
        let facts = TraceFacts {
            trace_id: loop {
                let v: u128 = self.rng.random();
                if v != 0 {
                    break v;
                }
            },
            user: self.rng.random_range(0..USERS),
            region: self.rng.random_range(0..REGIONS.len()) as u8,
        };

        // Root: a SERVER span in one of the entry services, 2 ms – 1.2 s long,
        // ended up to 50 ms ago.
        let root_duration = (2e6 * 600f64.powf(self.rng.random::<f64>())) as u64;
        let end = now_ns.saturating_sub(self.rng.random_range(0..50_000_000u64));
        let root_window = Window {
            start: end.saturating_sub(root_duration),
            end,
        };
        let entry = self.rng.random_range(0..shape.services.min(2)) as u16;
        let root_op = self.rng.random_range(0..shape.operations) as u16;
        let edge = Peer::Edge(self.rng.random_range(0..EDGES) as u8);
        let host = self.host();

        let mut spans: Vec<SpanRec> = Vec::with_capacity(shape.spans_per_trace);
        spans.push(self.span(
            &facts,
            0,
            (entry, host, root_op),
            SpanName::Op(entry, root_op),
            SpanKind::Server,
            root_window,
            edge,
        ));
        // (index into spans, window) of every SERVER span.
        let mut servers: Vec<(usize, Window)> = vec![(0, root_window)];

        while spans.len() < shape.spans_per_trace {
            let (parent_idx, parent_window) = servers[self.rng.random_range(0..servers.len())];
            let parent = spans[parent_idx];
            let window = self.child_window(parent_window);
            if shape.spans_per_trace - spans.len() >= 2 {
                // A call into another service: CLIENT here, SERVER there.
                let callee = if shape.services > 1 {
                    let other = self.rng.random_range(0..shape.services - 1);
                    ((parent.service as usize + 1 + other) % shape.services) as u16
                } else {
                    parent.service
                };
                let callee_op = self.rng.random_range(0..shape.operations) as u16;
                let callee_host = self.host();
                let client = self.span(
                    &facts,
                    parent.span_id,
                    (parent.service, parent.host, parent.op),
                    SpanName::Op(callee, callee_op),
                    SpanKind::Client,
                    window,
                    Peer::Host(callee, callee_host),
                );
                spans.push(client);
                // The server side starts after and ends before the client side
                // by a network delay of 50–500 µs (bounded by the call itself).
                let len = window.end - window.start;
                let delay = self.rng.random_range(50_000..500_000u64).min(len / 4);
                let server_window = Window {
                    start: window.start + delay,
                    end: window.end - delay,
                };
                let server = self.span(
                    &facts,
                    client.span_id,
                    (callee, callee_host, callee_op),
                    SpanName::Op(callee, callee_op),
                    SpanKind::Server,
                    server_window,
                    Peer::Host(parent.service, parent.host),
                );
                servers.push((spans.len(), server_window));
                spans.push(server);
            } else {
                let internal = self.span(
                    &facts,
                    parent.span_id,
                    (parent.service, parent.host, parent.op),
                    SpanName::Load(parent.service, parent.op),
                    SpanKind::Internal,
                    window,
                    Peer::Db(parent.service),
                );
                spans.push(internal);
            }
        }
        spans
    }

    fn host(&mut self) -> u8 {
        self.rng.random_range(0..HOSTS_PER_SERVICE) as u8
    }

    /// A window inside `parent`: starts in its first half, ends before it.
    fn child_window(&mut self, parent: Window) -> Window {
        let len = parent.end.saturating_sub(parent.start).max(1);
        let start = parent.start + (len as f64 * self.rng.random_range(0.0..0.5)) as u64;
        let room = parent.end.saturating_sub(start).max(1);
        let dur = ((room as f64 * self.rng.random_range(0.2..0.95)) as u64).clamp(1, room);
        Window {
            start,
            end: start + dur,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        facts: &TraceFacts,
        parent_span_id: u64,
        (service, host, op): (u16, u8, u16),
        name: SpanName,
        kind: SpanKind,
        window: Window,
        peer: Peer,
    ) -> SpanRec {
        let error = self.rng.random_bool(ERROR_SHARE);
        let http_status: i64 = if error {
            [500, 502, 503, 504][self.rng.random_range(0..4)]
        } else {
            match self.rng.random_range(0..100) {
                0..=84 => 200,
                85..=92 => 201,
                93..=96 => 204,
                _ => 404,
            }
        };
        let extra = if error {
            Extra::Error {
                status: self.rng.random_range(0..ERROR_MESSAGES.len()) as u8,
                exception: self.rng.random_range(0..ERROR_MESSAGES.len()) as u8,
            }
        } else if self.rng.random_bool(0.2) {
            let count = if self.rng.random_bool(0.25) { 2 } else { 1 };
            let names = [
                self.rng.random_range(0..EVENT_NAMES.len()) as u8,
                self.rng.random_range(0..EVENT_NAMES.len()) as u8,
            ];
            Extra::Events(count, names)
        } else {
            Extra::None
        };
        SpanRec {
            trace_id: facts.trace_id,
            span_id: loop {
                let v: u64 = self.rng.random();
                if v != 0 {
                    break v;
                }
            },
            parent_span_id,
            service,
            host,
            op,
            name,
            kind,
            start: window.start,
            end: window.end,
            http_status,
            peer,
            user: facts.user,
            region: facts.region,
            cache_hit: self.rng.random_bool(0.3),
            cart_cents: self.rng.random_range(0..50_000),
            request_id: self.rng.random(),
            extra,
        }
    }

    /// The next batch of exactly `n` spans. Traces are cut at batch
    /// boundaries when they do not fit (the rest goes in the next batch), as
    /// a collector's batch processor does.
    pub fn batch(&mut self, n: usize) -> Batch {
        while self.pending.len() < n {
            let now = now_nanos();
            let trace = self.trace(now);
            self.pending.extend(trace);
        }
        let mut spans: Vec<SpanRec> = self.pending.drain(..n).collect();
        spans.sort_by_key(|s| (s.service, s.host));
        Batch {
            catalog: self.catalog.clone(),
            spans,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn generator(shape: Shape, seed: u64) -> Generator {
        Generator::new(Arc::new(Catalog::new(shape)), seed)
    }

    /// A generated span in the model, with its service.
    struct T {
        service: u16,
        span: Span,
    }

    fn trace(g: &mut Generator, now: u64) -> Vec<T> {
        let catalog = g.catalog().clone();
        g.trace(now)
            .iter()
            .map(|r| T {
                service: r.service,
                span: r.to_span(&catalog),
            })
            .collect()
    }

    #[test]
    fn trace_ids_are_fresh_and_span_ids_unique() {
        let mut g = generator(Shape::default(), 7);
        let mut traces = HashSet::new();
        let mut span_ids = HashSet::new();
        for _ in 0..2_000 {
            let t = trace(&mut g, now_nanos());
            assert_eq!(t.len(), 10);
            let id = t[0].span.trace_id();
            assert_ne!(id.0, 0);
            assert!(traces.insert(id), "trace id repeated");
            for s in &t {
                assert_eq!(s.span.trace_id(), id);
                assert_eq!(s.span.trace_id.len(), 16);
                assert_eq!(s.span.span_id.len(), 8);
                assert_ne!(s.span.span_id().0, 0);
                assert!(span_ids.insert(s.span.span_id()), "span id repeated");
            }
        }
        // Two generators with different seeds do not collide either.
        let mut other = generator(Shape::default(), 8);
        for _ in 0..100 {
            assert!(!traces.contains(&trace(&mut other, now_nanos())[0].span.trace_id()));
        }
    }

    #[test]
    fn every_span_has_ten_distinct_attributes() {
        let mut g = generator(
            Shape {
                services: 3,
                operations: 2,
                spans_per_trace: 7,
            },
            1,
        );
        for _ in 0..200 {
            for s in trace(&mut g, now_nanos()) {
                assert_eq!(s.span.attributes.len(), ATTRIBUTES_PER_SPAN);
                let keys: HashSet<_> = s.span.attributes.iter().map(|kv| kv.key.as_str()).collect();
                assert_eq!(keys.len(), ATTRIBUTES_PER_SPAN);
                assert!(s.span.attributes.iter().all(|kv| kv
                    .value
                    .as_ref()
                    .and_then(|v| v.value.as_ref())
                    .is_some()));
            }
        }
    }

    #[test]
    fn about_five_percent_of_spans_are_errors() {
        let mut g = generator(Shape::default(), 3);
        let (mut spans, mut errors) = (0usize, 0usize);
        for _ in 0..5_000 {
            for s in trace(&mut g, now_nanos()) {
                spans += 1;
                if s.span.status_code() == StatusCode::Error {
                    errors += 1;
                    assert!(s.span.events.iter().any(|e| e.name == "exception"));
                }
            }
        }
        let share = errors as f64 / spans as f64;
        assert!((0.04..0.06).contains(&share), "error share {share}");
    }

    #[test]
    fn parent_links_form_a_tree_inside_parent_time() {
        let mut g = generator(
            Shape {
                services: 5,
                operations: 4,
                spans_per_trace: 12,
            },
            11,
        );
        let now = now_nanos();
        for _ in 0..500 {
            let t = trace(&mut g, now);
            let by_id: HashMap<u64, &T> = t.iter().map(|s| (s.span.span_id().0, s)).collect();
            let roots: Vec<_> = t
                .iter()
                .filter(|s| s.span.parent_span_id.is_empty())
                .collect();
            assert_eq!(roots.len(), 1);
            assert_eq!(roots[0].span.span_kind(), SpanKind::Server);
            assert!(roots[0].span.end_time_unix_nano <= now);
            for s in &t {
                assert!(s.span.end_time_unix_nano > s.span.start_time_unix_nano);
                if s.span.parent_span_id.is_empty() {
                    continue;
                }
                let parent = by_id
                    .get(&s.span.parent_span_id().0)
                    .expect("parent is in the trace");
                assert!(s.span.start_time_unix_nano >= parent.span.start_time_unix_nano);
                assert!(s.span.end_time_unix_nano <= parent.span.end_time_unix_nano);
                match s.span.span_kind() {
                    // A server span's parent is the client span that called it, in another service.
                    SpanKind::Server => {
                        assert_eq!(parent.span.span_kind(), SpanKind::Client);
                        assert_ne!(parent.service, s.service);
                    }
                    // Client and internal spans hang under a server span of their own service.
                    _ => {
                        assert_eq!(parent.span.span_kind(), SpanKind::Server);
                        assert_eq!(parent.service, s.service);
                    }
                }
            }
            // Every span reaches the root.
            for s in &t {
                let mut cur = s;
                for _ in 0..t.len() {
                    if cur.span.parent_span_id.is_empty() {
                        break;
                    }
                    cur = by_id[&cur.span.parent_span_id().0];
                }
                assert!(cur.span.parent_span_id.is_empty());
            }
        }
    }

    #[test]
    fn batches_have_exactly_n_spans_grouped_by_resource() {
        let mut g = generator(Shape::default(), 5);
        for n in [1, 7, 100, 333] {
            let b = g.batch(n);
            assert_eq!(b.len(), n);
            let request = b.to_request();
            let total: usize = request
                .resource_spans
                .iter()
                .map(|rs| rs.span_count())
                .sum();
            assert_eq!(total, n);
            let mut seen = HashSet::new();
            for rs in &request.resource_spans {
                let r = rs.resource.as_ref().expect("resource");
                let host = r
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "host.name")
                    .expect("host.name");
                assert!(seen.insert((rs.service_name().to_string(), format!("{:?}", host.value))));
                assert_eq!(r.attributes.len(), 6);
            }
        }
    }

    #[test]
    fn one_span_traces_and_one_service_work() {
        let mut g = generator(
            Shape {
                services: 1,
                operations: 1,
                spans_per_trace: 1,
            },
            2,
        );
        let t = trace(&mut g, now_nanos());
        assert_eq!(t.len(), 1);
        let mut g = generator(
            Shape {
                services: 1,
                operations: 1,
                spans_per_trace: 4,
            },
            2,
        );
        assert_eq!(trace(&mut g, now_nanos()).len(), 4);
    }
}
