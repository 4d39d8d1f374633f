//! Spoor's split mode on Kafka: collectors, store nodes and query nodes of
//! the one binary, coordinated by nothing but a Kafka topic and consumer
//! group.
//!
//! In: the `kafka` settings ([`KafkaConfig`]); on a collector, validated
//! batches from the receivers; on a store node, the span topic's records.
//! Out: on a collector, [`KafkaForwarder`] (one record per request and
//! trace, keyed and partitioned by trace id, acknowledged by the brokers
//! before the client is answered); on a store node, [`SpanConsumer`] (its
//! partitions written through the node's durable pipeline, offsets
//! committed only after that) and the [`NodeReport`] query nodes read.
//!
//! Layout: [`config`] the settings, [`record`] the record format, [`batch`]
//! one durable step of a store node, `topic` the topic's creation and
//! metadata, [`producer`], [`consumer`], [`node_state`] the partitions a
//! node owns and has held, [`metrics`] their names.

pub mod assembly;
pub mod batch;
mod client;
pub mod config;
pub mod consumer;
pub mod metrics;
pub mod node_state;
pub mod producer;
pub mod progress;
pub mod record;
pub mod tail_stage;
mod topic;

pub use client::KafkaClientError;
pub use config::KafkaConfig;
pub use consumer::SpanConsumer;
pub use node_state::{NodeReport, NodeState};
pub use producer::{KafkaForwarder, SpanProducer};
