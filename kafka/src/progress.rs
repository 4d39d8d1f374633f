//! The progress topic: per span partition, where a replay of it starts and
//! what its last owner already wrote, so that whichever store node owns the
//! partition next (the same node after a restart, or another after a
//! rebalance) rebuilds its open traces and writes nothing twice.
//!
//! In: [`Progress`] of a partition, once everything it covers is durable on
//! this node. Out: one record per publication on the progress topic's
//! partition of the same number (value: JSON of the node and the progress);
//! [`ProgressLog::latest`] reads a partition's newest record back. Records
//! are sent one per batch, so the broker's end offset is exact (the
//! newest record is the one before it).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};

use crate::assembly::Progress;
use crate::client::{client_config, KafkaClientError};
use crate::config::KafkaConfig;

/// How long reading or publishing a progress record may take.
const PROGRESS_TIMEOUT: Duration = Duration::from_secs(10);

/// The value of a progress record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressRecord {
    /// The node that wrote it.
    pub node: String,
    /// The partition's progress.
    pub progress: Progress,
}

/// Why progress could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// The brokers refused or did not answer.
    #[error("progress topic {topic:?} partition {partition}: {reason}")]
    Kafka {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// What went wrong.
        reason: String,
    },
    /// A record that is not a progress record.
    #[error("progress topic {topic:?} partition {partition}: record at offset {offset} is not progress: {reason}")]
    Invalid {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Its offset.
        offset: i64,
        /// Why.
        reason: String,
    },
}

/// Reads and writes the progress topic.
pub struct ProgressLog {
    topic: String,
    node: String,
    producer: ThreadedProducer<DefaultProducerContext>,
    reader: BaseConsumer,
}

impl ProgressLog {
    /// Connects (the topic is created by [`crate::topic::ensure`]). Blocks.
    pub fn connect(config: &KafkaConfig) -> Result<ProgressLog, KafkaClientError> {
        let mut produce = config.producer_properties();
        produce.insert("linger.ms".into(), "0".into());
        produce.insert("batch.num.messages".into(), "1".into());
        produce.insert("compression.type".into(), "none".into());
        let producer = client_config(&produce)
            .create()
            .map_err(|e| KafkaClientError::Create(e.to_string()))?;
        let mut read = config.common_properties();
        read.insert(
            "group.id".into(),
            format!("{}-progress-reader", config.group_id),
        );
        read.insert("enable.auto.commit".into(), "false".into());
        read.insert("isolation.level".into(), "read_committed".into());
        let reader = client_config(&read)
            .create()
            .map_err(|e| KafkaClientError::Create(e.to_string()))?;
        Ok(ProgressLog {
            topic: config.progress_topic(),
            node: config.node(),
            producer,
            reader,
        })
    }

    fn kafka_error(&self, partition: u32, reason: impl ToString) -> ProgressError {
        ProgressError::Kafka {
            topic: self.topic.clone(),
            partition,
            reason: reason.to_string(),
        }
    }

    /// Publishes `progress` of `partition` and waits until the brokers
    /// acknowledged it (and everything sent before). Blocks.
    pub fn publish(&self, partition: u32, progress: Progress) -> Result<(), ProgressError> {
        self.send(partition, progress)?;
        self.flush(partition)
    }

    /// Waits until everything sent was acknowledged. Blocks.
    pub fn flush(&self, partition: u32) -> Result<(), ProgressError> {
        self.producer
            .flush(PROGRESS_TIMEOUT)
            .map_err(|e| self.kafka_error(partition, e))
    }

    /// Queues `progress` of `partition` for the brokers without waiting
    /// (records of one partition arrive in the order sent).
    pub fn send(&self, partition: u32, progress: Progress) -> Result<(), ProgressError> {
        let value = serde_json::to_vec(&ProgressRecord {
            node: self.node.clone(),
            progress,
        })
        .map_err(|e| self.kafka_error(partition, e))?;
        let key = partition.to_string();
        let record = BaseRecord::to(&self.topic)
            .partition(partition as i32)
            .key(&key)
            .payload(&value);
        self.producer
            .send(record)
            .map_err(|(e, _)| self.kafka_error(partition, e))
    }

    /// The newest progress of `partition`, or `None` when none was ever
    /// published. Blocks.
    pub fn latest(&self, partition: u32) -> Result<Option<Progress>, ProgressError> {
        let (low, high) =
            match self
                .reader
                .fetch_watermarks(&self.topic, partition as i32, PROGRESS_TIMEOUT)
            {
                Ok(marks) => marks,
                Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                    return Ok(None)
                }
                Err(error) => return Err(self.kafka_error(partition, error)),
            };
        if high <= low {
            return Ok(None);
        }
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&self.topic, partition as i32, Offset::Offset(high - 1))
            .map_err(|e| self.kafka_error(partition, e))?;
        self.reader
            .assign(&list)
            .map_err(|e| self.kafka_error(partition, e))?;
        let deadline = std::time::Instant::now() + PROGRESS_TIMEOUT;
        let found = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break Err(self.kafka_error(partition, "no answer in time"));
            }
            match self.reader.poll(left.min(Duration::from_millis(500))) {
                None => continue,
                Some(Err(error)) => break Err(self.kafka_error(partition, error)),
                Some(Ok(message)) => {
                    break serde_json::from_slice::<ProgressRecord>(
                        message.payload().unwrap_or_default(),
                    )
                    .map(|record| Some(record.progress))
                    .map_err(|error| ProgressError::Invalid {
                        topic: self.topic.clone(),
                        partition,
                        offset: message.offset(),
                        reason: error.to_string(),
                    })
                }
            }
        };
        let _ = self.reader.unassign();
        found
    }
}
