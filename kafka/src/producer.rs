//! The collector role's way out: every accepted batch, split by trace, onto
//! the span topic.
//!
//! In: validated, head-sampled batches from the collector's submit path
//! (through [`spoor_collector::Forwarder`]). Out: one record per (request,
//! trace) on `kafka.topic`, keyed by the trace id and sent to the partition
//! [`spoor_storage::routing::log_partition`] names, so every span of a trace
//! lands in one partition; the request is answered only after the brokers
//! acknowledged every record (`acks=all`, idempotent producer). A full
//! producer queue is [`SubmitError::Overloaded`] (the protocol's "slow
//! down"); a record the brokers did not take is a storage failure.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use spoor_collector::{Forwarder, Forwarding, SubmitError};
use spoor_proto::model::TracesData;
use spoor_storage::routing::log_partition;

use crate::client::{client_config, KafkaClientError};
use crate::config::KafkaConfig;
use crate::record::{self, split_by_trace};
use crate::{metrics, topic};

/// The producer of a collector node; cheap to share.
pub struct SpanProducer {
    producer: FutureProducer,
    topic: String,
    partitions: u32,
}

impl SpanProducer {
    /// Connects, creates the topic when asked to and it is missing, and
    /// reads its partition count. Blocks (call it off the async workers).
    pub fn connect(config: &KafkaConfig) -> Result<SpanProducer, KafkaClientError> {
        let producer: FutureProducer = client_config(&config.producer_properties())
            .create()
            .map_err(|e| KafkaClientError::Create(e.to_string()))?;
        if config.create_topic {
            topic::ensure(config)?;
        }
        let partitions = topic::partition_count(producer.client(), &config.topic)?;
        tracing::info!(
            topic = %config.topic,
            partitions,
            brokers = %config.brokers,
            "producing spans to kafka"
        );
        Ok(SpanProducer {
            producer,
            topic: config.topic.clone(),
            partitions,
        })
    }

    /// Partitions of the topic, read at start.
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// Waits up to `timeout` for every queued record to be acknowledged.
    pub fn flush(&self, timeout: Duration) {
        if let Err(error) = self.producer.flush(timeout) {
            tracing::warn!(%error, "records still unacknowledged at shutdown");
        }
    }

    /// Queues every record of `data` and waits for all acknowledgements.
    async fn send(self: Arc<Self>, data: TracesData) -> Result<(), SubmitError> {
        let records = split_by_trace(data);
        let mut pending = Vec::with_capacity(records.len());
        for record in &records {
            let key = record.key();
            let partition = log_partition(record.trace_id, self.partitions) as i32;
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: record::ENCODING_HEADER,
                    value: Some(record::ENCODING_OTLP_PROTO),
                })
                .insert(Header {
                    key: record::VERSION_HEADER,
                    value: Some(record::VERSION),
                });
            let future_record = FutureRecord::to(&self.topic)
                .key(&key[..])
                .payload(&record.value[..])
                .partition(partition)
                .headers(headers);
            match self.producer.send_result(future_record) {
                Ok(delivery) => pending.push((delivery, record.spans)),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // Records queued before this one are still delivered;
                    // the client retries the whole request, and a replay
                    // of a span is shown once (query-time dedupe).
                    metrics::produce_refused(record.spans);
                    return Err(SubmitError::Overloaded);
                }
                Err((error, _)) => {
                    metrics::produce_failed(record.spans);
                    return Err(SubmitError::Storage(format!(
                        "kafka did not take a record: {error}"
                    )));
                }
            }
        }
        let mut failure = None;
        for (delivery, spans) in pending {
            match delivery.await {
                Ok(Ok(_)) => metrics::produced(spans),
                Ok(Err((error, _))) => {
                    metrics::produce_failed(spans);
                    failure.get_or_insert(format!("kafka did not acknowledge a record: {error}"));
                }
                Err(_) => {
                    metrics::produce_failed(spans);
                    failure.get_or_insert("the kafka producer stopped".to_string());
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(message) => Err(SubmitError::Storage(message)),
        }
    }
}

/// The collector's [`Forwarder`]: each batch becomes its per-trace records.
#[derive(Clone)]
pub struct KafkaForwarder(pub Arc<SpanProducer>);

impl Forwarder for KafkaForwarder {
    fn forward(&self, data: TracesData) -> Forwarding {
        Box::pin(Arc::clone(&self.0).send(data))
    }
}
