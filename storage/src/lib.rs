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
//! Design (see ARCHITECTURE.md): every accepted batch is first appended to
//! a segment-file write-ahead log (one append per group of batches, whole
//! segments deleted once stored) so an acknowledged span survives a crash;
//! spans are then assembled per trace in a bounded in-memory buffer
//! ([`live`]); due traces are encoded into blocks (resources and scopes
//! once per block, one compact record per trace, search summaries) and
//! written once into hourly time partitions that are never compacted
//! ([`rocks`] lists the parts). Retention drops whole partitions, so disk is
//! freed at once.
//!
//! Readers that must not care whether the data is local (the query crate)
//! use the [`TraceSource`] trait ([`source`]), which [`Store`] implements.
//!
//! This crate never sees a wire format other than the canonical model, and
//! knows nothing of receivers or HTTP. Start reading at [`Store`].

pub mod aggregates;
mod archive;
mod block;
mod bloom;
mod bloom_cache;
pub mod byte_size;
mod catalog;
mod cf_options;
mod config;
pub mod decider;
mod error;
mod flush;
mod groups_cache;
mod keys;
pub mod live;
mod matcher;
mod partition;
mod prepare;
mod query;
mod read;
mod recovery;
mod retention;
pub mod rocks;
pub mod routing;
mod scan;
mod search;
mod search_columns;
mod search_list;
mod settings;
pub mod source;
mod summary;
#[cfg(test)]
mod test_fixtures;
mod wal;
mod write;

pub use aggregates::{AggregateDelta, DependencyLink};
pub use config::StorageConfig;
pub use decider::{Decision, DecisionPolicy, TraceDecider};
pub use error::StorageError;
pub use matcher::span_matches;
pub use prepare::{
    prepare_batch, prepare_batch_of, prepare_request_batch, PreparedBatch, PreparedTrace,
};
pub use query::{Operation, TraceQuery};
pub use rocks::{Store, StoreStats};
pub use search::{FoundTrace, SearchCursor};
pub use source::{SeriesFilter, TraceSource};
pub use summary::SpanSummary;
