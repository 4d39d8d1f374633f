//! Spoor's trace store: an embedded RocksDB database designed for high ingest
//! rates, fast trace-by-id and bounded search.
//!
//! In: [`PreparedBatch`]es (spans grouped by trace and encoded, built by
//! [`prepare_batch`] on the caller's thread) through [`Store::write_batches`].
//! Out: whole traces ([`Store::get_trace`], or by the low 64 bits of the id
//! with [`Store::get_trace_by_low64`] for Zipkin's lenient trace ids), search
//! ([`Store::find_traces`]),
//! the service/operation catalogue ([`Store::services`],
//! [`Store::operations`]), and the analytics aggregates (RED series and
//! dependency links in time buckets, [`aggregates`]). A [`TraceDecider`] set
//! with [`Store::set_decider`] decides per trace, as it leaves the buffer,
//! whether it is stored (tail sampling, [`decider`]).
//!
//! Design (see ARCHITECTURE.md): every accepted batch is first written to a
//! write-ahead column family (one key per batch) so an acknowledged span
//! survives a crash; spans are then assembled per trace in a bounded in-memory
//! buffer ([`live`]); idle traces are flushed whole into hourly time
//! partitions (one column family each) as one record per trace plus a block
//! summary used to prune searches ([`rocks`]). Retention drops whole
//! partitions, so disk is freed at once.
//!
//! This crate never sees a wire format other than the canonical model, and
//! knows nothing of receivers or HTTP. Start reading at [`Store`].

pub mod aggregates;
mod archive;
mod bloom;
pub mod byte_size;
mod config;
pub mod decider;
mod error;
mod keys;
pub mod live;
mod matcher;
mod prepare;
mod query;
pub mod rocks;
mod settings;
mod summary;

pub use aggregates::{AggregateDelta, DependencyLink};
pub use config::StorageConfig;
pub use decider::{Decision, DecisionPolicy, TraceDecider};
pub use error::StorageError;
pub use matcher::span_matches;
pub use prepare::{prepare_batch, PreparedBatch, PreparedTrace};
pub use query::{Operation, TraceQuery};
pub use rocks::{FoundTrace, SearchCursor, Store, StoreStats};
pub use summary::SpanSummary;
