//! Pairing spans into dependency edges across batches.
//!
//! In: the facts of each received span ([`SpanFacts`]), batch by batch, and
//! the clock. Out: [`Edge`]s (caller service → called service), each span
//! pair counted once, plus for every span whether it was new (a span seen
//! again within the wait is a duplicate and counted nowhere).
//!
//! Spans of one trace arrive in any order and in different batches, so every
//! span waits in a bounded map (by trace id, span id and Zipkin's `shared`
//! flag) for `wait`, and a span whose parent has not arrived leaves a
//! waiting reference under the parent's id. Rules:
//!
//! - A SERVER or CONSUMER span whose parent belongs to another service is a
//!   call parent → child. So is a span without kind (or INTERNAL) whose
//!   parent is not a CLIENT or PRODUCER span (Jaeger's rule for tracers that
//!   set no kinds); a CLIENT parent is instead paired with its server span.
//! - A Zipkin shared SERVER span (same id as its CLIENT span) is paired with
//!   the non-shared span of that id; children of a shared id prefer the
//!   shared (server) side, which is the service that made their calls.
//! - A CONSUMER span with links is paired with the linked spans (messaging
//!   producer → consumer); `connection_type` is `messaging_system` when a
//!   PRODUCER or CONSUMER span is involved.
//! - A CLIENT or PRODUCER span that no server span of another service
//!   answered by the time it leaves the map counts as a call to the service
//!   its peer attributes name (`virtual_node`, or `database` for database
//!   clients); a SERVER span that found no parent counts as called by its
//!   `peer.service` when it has one.
//! - Calls within one service are not edges. A call failed when the child
//!   span or its CLIENT/PRODUCER parent has status ERROR.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use spoor_proto::model::SpanKind;

/// Identity of a span in the pairing map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SpanKey {
    pub trace: u128,
    pub span: u64,
    /// Zipkin's shared flag: the server half of a span id shared with its client.
    pub shared: bool,
}

/// What pairing needs to know of one span.
#[derive(Debug, Clone)]
pub(crate) struct SpanFacts {
    pub key: SpanKey,
    /// Parent span id, 0 for a root.
    pub parent: u64,
    /// Linked spans (trace, span), kept for CONSUMER spans only.
    pub links: Vec<(u128, u64)>,
    pub service: Arc<str>,
    pub kind: SpanKind,
    pub error: bool,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// The service on the other side, from the span's own attributes.
    pub peer: Option<Arc<str>>,
    /// A database client span (has `db.system`).
    pub database: bool,
}

/// How an edge was found (the servicegraph `connection_type` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Connection {
    Direct,
    MessagingSystem,
    VirtualNode,
    Database,
}

impl Connection {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Connection::Direct => "",
            Connection::MessagingSystem => "messaging_system",
            Connection::VirtualNode => "virtual_node",
            Connection::Database => "database",
        }
    }
}

/// One call from a client service to a server service.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Edge {
    pub client: Arc<str>,
    pub server: Arc<str>,
    pub connection: Connection,
    pub failed: bool,
    /// When the call happened (the child's start, or the client's).
    pub time_ns: u64,
    /// Duration of the server side, when it was seen.
    pub server_ns: Option<u64>,
    /// Duration of the client side, when it was seen.
    pub client_ns: Option<u64>,
}

/// A fast keyed hash for the pairing and grouping maps: ids and names come
/// from clients, so the key is random per process (no chosen collisions),
/// and the mixing is a folded 128-bit multiply per 8 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedState {
    key: u64,
}

impl Default for KeyedState {
    fn default() -> Self {
        KeyedState {
            key: std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64) | 1,
        }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher { state: self.key }
    }
}

/// The hasher of [`KeyedState`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyedHasher {
    state: u64,
}

impl KeyedHasher {
    #[inline]
    fn mix(&mut self, value: u64) {
        let product =
            u128::from(self.state ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for KeyedHasher {
    fn finish(&self) -> u64 {
        self.state
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
        }
        let rest = chunks.remainder();
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(last) ^ ((bytes.len() as u64) << 56));
    }
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }
    fn write_i32(&mut self, i: i32) {
        self.mix(i as u64);
    }
}

/// A hash map with the keyed fast hash.
pub(crate) type FastMap<K, V> = HashMap<K, V, KeyedState>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// The non-shared span of that id (a shared server looking for its client).
    NonShared,
    /// The shared span of that id if present, else the non-shared one.
    PreferShared,
}

#[derive(Debug)]
struct Entry {
    facts: SpanFacts,
    born_ms: u64,
    /// A span of another service was paired with this one as its parent.
    answered: bool,
    /// Bit i: reference i of this span was paired.
    resolved: u64,
}

/// Children waiting for a span that has not arrived: (sequence number of
/// the child, index of the reference).
#[derive(Debug)]
struct Waiting {
    born_ms: u64,
    children: Vec<(u64, u8)>,
}

/// The bounded pairing state.
///
/// Held spans live in `entries` in arrival order (they leave in that order
/// too), so a span is named by its sequence number and reached without a
/// hash lookup once found; the map only finds a span by its key.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Span key → sequence number of its entry.
    spans: FastMap<SpanKey, u64>,
    /// Held spans, oldest first; `entries[i]` has sequence `first_seq + i`.
    entries: VecDeque<Entry>,
    first_seq: u64,
    /// References to spans not seen yet, by (trace, span).
    waiting: FastMap<(u128, u64), Waiting>,
    /// Waiting references in the order they were made (born, id).
    waiting_order: VecDeque<(u64, (u128, u64))>,
    /// Shared (Zipkin server-half) spans held; lookups skip them when 0.
    shared: usize,
    wait_ms: u64,
    max_items: usize,
}

fn is_caller(kind: SpanKind) -> bool {
    matches!(kind, SpanKind::Client | SpanKind::Producer)
}

fn is_callee(kind: SpanKind) -> bool {
    matches!(kind, SpanKind::Server | SpanKind::Consumer)
}

/// The spans a span may have been called by (at most 64).
fn reference_count(facts: &SpanFacts) -> usize {
    if facts.key.shared {
        1
    } else if is_caller(facts.kind) {
        0
    } else if facts.kind == SpanKind::Consumer && !facts.links.is_empty() {
        facts.links.len().min(64)
    } else {
        usize::from(facts.parent != 0)
    }
}

/// Reference `index` of a span, with what it wants.
fn reference(facts: &SpanFacts, index: usize) -> Option<(u128, u64, Want)> {
    if index >= reference_count(facts) {
        return None;
    }
    let trace = facts.key.trace;
    if facts.key.shared {
        Some((trace, facts.key.span, Want::NonShared))
    } else if facts.kind == SpanKind::Consumer && !facts.links.is_empty() {
        facts
            .links
            .get(index)
            .map(|(t, s)| (*t, *s, Want::PreferShared))
    } else {
        Some((trace, facts.parent, Want::PreferShared))
    }
}

impl Graph {
    pub(crate) fn new(wait_ms: u64, max_items: usize) -> Graph {
        Graph {
            spans: FastMap::default(),
            entries: VecDeque::new(),
            first_seq: 0,
            waiting: FastMap::default(),
            waiting_order: VecDeque::new(),
            shared: 0,
            wait_ms: wait_ms.max(1),
            max_items: max_items.max(1),
        }
    }

    /// Spans and waiting references held now.
    pub(crate) fn len(&self) -> usize {
        self.spans.len() + self.waiting.len()
    }

    fn entry(&self, seq: u64) -> Option<&Entry> {
        let index = seq.checked_sub(self.first_seq)?;
        self.entries.get(usize::try_from(index).ok()?)
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut Entry> {
        let index = seq.checked_sub(self.first_seq)?;
        self.entries.get_mut(usize::try_from(index).ok()?)
    }

    fn next_seq(&self) -> u64 {
        self.first_seq + self.entries.len() as u64
    }

    /// Adds a batch; returns for each span whether it was new, and pushes the
    /// edges the batch completes (including edges of spans it pushed out).
    pub(crate) fn observe(
        &mut self,
        now_ms: u64,
        batch: Vec<SpanFacts>,
        edges: &mut Vec<Edge>,
    ) -> Vec<bool> {
        self.expire(now_ms, edges);
        let mut new = Vec::with_capacity(batch.len());
        let first_added = self.next_seq();
        for facts in batch {
            let key = facts.key;
            let seq = self.next_seq();
            match self.spans.entry(key) {
                std::collections::hash_map::Entry::Occupied(_) => {
                    new.push(false);
                    continue;
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(seq);
                }
            }
            self.entries.push_back(Entry {
                facts,
                born_ms: now_ms,
                answered: false,
                resolved: 0,
            });
            new.push(true);
            self.shared += usize::from(key.shared);
        }
        let added = first_added..self.next_seq();
        for seq in added.clone() {
            self.pair_as_child(seq, now_ms, edges);
        }
        if !self.waiting.is_empty() {
            for seq in added {
                self.pair_waiting_children(seq, edges);
            }
        }
        while self.len() > self.max_items {
            if !self.evict_oldest(edges) {
                break;
            }
        }
        new
    }

    /// Lets go of everything older than the wait.
    pub(crate) fn expire(&mut self, now_ms: u64, edges: &mut Vec<Edge>) {
        while let Some(born) = self.oldest_born() {
            if born + self.wait_ms > now_ms {
                break;
            }
            self.evict_oldest(edges);
        }
    }

    /// Lets go of everything (shutdown).
    pub(crate) fn drain(&mut self, edges: &mut Vec<Edge>) {
        while self.evict_oldest(edges) {}
    }

    fn oldest_born(&self) -> Option<u64> {
        let span = self.entries.front().map(|e| e.born_ms);
        let waiting = self.waiting_order.front().map(|w| w.0);
        match (span, waiting) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn find(&self, trace: u128, span: u64, want: Want) -> Option<u64> {
        let plain = SpanKey {
            trace,
            span,
            shared: false,
        };
        if want == Want::PreferShared && self.shared > 0 {
            let shared = SpanKey {
                shared: true,
                ..plain
            };
            if let Some(seq) = self.spans.get(&shared) {
                return Some(*seq);
            }
        }
        self.spans.get(&plain).copied()
    }

    fn pair_as_child(&mut self, child: u64, now_ms: u64, edges: &mut Vec<Edge>) {
        let Some(entry) = self.entry(child) else {
            return;
        };
        let count = reference_count(&entry.facts);
        for index in 0..count {
            let Some((trace, span, want)) =
                self.entry(child).and_then(|e| reference(&e.facts, index))
            else {
                continue;
            };
            match self.find(trace, span, want) {
                Some(parent) if parent != child => self.pair(child, index as u8, parent, edges),
                _ => {
                    let waiting = self.waiting.entry((trace, span)).or_insert_with(|| {
                        self.waiting_order.push_back((now_ms, (trace, span)));
                        Waiting {
                            born_ms: now_ms,
                            children: Vec::new(),
                        }
                    });
                    waiting.children.push((child, index as u8));
                }
            }
        }
    }

    fn pair_waiting_children(&mut self, parent: u64, edges: &mut Vec<Edge>) {
        let Some(parent_key) = self.entry(parent).map(|e| e.facts.key) else {
            return;
        };
        let id = (parent_key.trace, parent_key.span);
        let Some(mut waiting) = self.waiting.remove(&id) else {
            return;
        };
        let children = std::mem::take(&mut waiting.children);
        for (child, index) in children {
            let Some(entry) = self.entry(child) else {
                continue;
            };
            if entry.resolved & (1 << index) != 0 {
                continue;
            }
            let want = reference(&entry.facts, usize::from(index)).map(|r| r.2);
            let fits = match want {
                Some(Want::NonShared) => !parent_key.shared,
                Some(Want::PreferShared) => true,
                None => false,
            };
            if fits && child != parent {
                self.pair(child, index, parent, edges);
            } else {
                waiting.children.push((child, index));
            }
        }
        if !waiting.children.is_empty() {
            self.waiting.insert(id, waiting);
        }
    }

    /// Decides the pair (child's reference `index` is `parent`) once.
    fn pair(&mut self, child: u64, index: u8, parent: u64, edges: &mut Vec<Edge>) {
        let Some(parent_entry) = self.entry(parent) else {
            return;
        };
        let p = &parent_entry.facts;
        let (p_service, p_kind, p_error, p_duration) =
            (p.service.clone(), p.kind, p.error, p.duration_ns);
        let Some(child_entry) = self.entry_mut(child) else {
            return;
        };
        if child_entry.resolved & (1 << index) != 0 {
            return;
        }
        child_entry.resolved |= 1 << index;
        let c = &child_entry.facts;
        if Arc::ptr_eq(&c.service, &p_service) || c.service == p_service {
            return;
        }
        let is_edge = is_callee(c.kind)
            || (matches!(c.kind, SpanKind::Internal | SpanKind::Unspecified) && !is_caller(p_kind));
        if !is_edge {
            return;
        }
        let messaging = c.kind == SpanKind::Consumer || p_kind == SpanKind::Producer;
        edges.push(Edge {
            client: p_service,
            server: c.service.clone(),
            connection: if messaging {
                Connection::MessagingSystem
            } else {
                Connection::Direct
            },
            failed: c.error || (is_caller(p_kind) && p_error),
            time_ns: c.start_ns,
            server_ns: Some(c.duration_ns),
            client_ns: is_caller(p_kind).then_some(p_duration),
        });
        if let Some(parent_entry) = self.entry_mut(parent) {
            parent_entry.answered = true;
        }
    }

    /// Removes the oldest item (span or waiting reference); false when
    /// there is none.
    fn evict_oldest(&mut self, edges: &mut Vec<Edge>) -> bool {
        let span = self.entries.front().map(|e| e.born_ms);
        let waiting = self.waiting_order.front().map(|w| w.0);
        let span_first = match (span, waiting) {
            (None, None) => return false,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a <= b,
        };
        if span_first {
            if let Some(entry) = self.entries.pop_front() {
                self.first_seq += 1;
                let key = entry.facts.key;
                self.spans.remove(&key);
                self.shared -= usize::from(key.shared);
                if let Some(edge) = unanswered_edge(&entry) {
                    edges.push(edge);
                }
            }
        } else if let Some((born, id)) = self.waiting_order.pop_front() {
            if self.waiting.get(&id).is_some_and(|w| w.born_ms == born) {
                self.waiting.remove(&id);
            }
        }
        true
    }
}

/// The edge a span leaving the map stands for on its own, if any.
fn unanswered_edge(entry: &Entry) -> Option<Edge> {
    let f = &entry.facts;
    let peer = f.peer.clone().filter(|p| **p != *f.service)?;
    if is_caller(f.kind) && !entry.answered {
        let connection = if f.kind == SpanKind::Producer {
            Connection::MessagingSystem
        } else if f.database {
            Connection::Database
        } else {
            Connection::VirtualNode
        };
        return Some(Edge {
            client: f.service.clone(),
            server: peer,
            connection,
            failed: f.error,
            time_ns: f.start_ns,
            server_ns: None,
            client_ns: Some(f.duration_ns),
        });
    }
    if is_callee(f.kind) && entry.resolved == 0 {
        return Some(Edge {
            client: peer,
            server: f.service.clone(),
            connection: Connection::VirtualNode,
            failed: f.error,
            time_ns: f.start_ns,
            server_ns: Some(f.duration_ns),
            client_ns: None,
        });
    }
    None
}
