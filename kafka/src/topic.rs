//! The span and progress topics: created when missing (some brokers never create topics
//! on their own), and its partition count read from the brokers.
//!
//! In: [`KafkaConfig`] (brokers, topic, partitions, replication factor).
//! Out: the topic exists; its partition count.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{Client, ClientContext, DefaultClientContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::client::{client_config, KafkaClientError};
use crate::config::KafkaConfig;

/// How long a metadata request or topic creation may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Creates the span topic unless it exists. Blocks.
pub fn ensure(config: &KafkaConfig) -> Result<(), KafkaClientError> {
    ensure_named(config, &config.topic, config.partitions, &[])
}

/// Creates the progress topic unless it exists, with as many partitions as
/// the span topic, compacted (only each partition's newest progress
/// matters). Blocks.
pub fn ensure_progress(config: &KafkaConfig, partitions: u32) -> Result<(), KafkaClientError> {
    ensure_named(
        config,
        &config.progress_topic(),
        partitions,
        &[("cleanup.policy", "compact")],
    )
}

/// Creates topic `name` with `partitions` partitions and topic `settings`
/// unless it exists. Blocks.
fn ensure_named(
    config: &KafkaConfig,
    name: &str,
    partitions: u32,
    settings: &[(&str, &str)],
) -> Result<(), KafkaClientError> {
    let mut properties = config.client_properties.clone();
    properties.insert("bootstrap.servers".into(), config.brokers.clone());
    let admin: AdminClient<DefaultClientContext> = client_config(&properties)
        .create()
        .map_err(|e| KafkaClientError::Create(e.to_string()))?;
    let mut topic = NewTopic::new(
        name,
        partitions as i32,
        TopicReplication::Fixed(config.replication_factor),
    );
    for (key, value) in settings {
        topic = topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results =
        futures::executor::block_on(admin.create_topics([&topic], &options)).map_err(|e| {
            KafkaClientError::CreateTopic {
                topic: name.to_string(),
                reason: e.to_string(),
            }
        })?;
    for result in results {
        match result {
            Ok(name) => {
                tracing::info!(topic = %name, partitions, "created a topic")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaClientError::CreateTopic {
                    topic: name,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// The topic's partition count, from the brokers' metadata. Blocks; retries
/// for a while, since a just-created topic may not be in the metadata yet.
pub fn partition_count<C: ClientContext>(
    client: &Client<C>,
    topic: &str,
) -> Result<u32, KafkaClientError> {
    let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
    loop {
        let metadata = client
            .fetch_metadata(Some(topic), ADMIN_TIMEOUT)
            .map_err(|e| KafkaClientError::Metadata {
                topic: topic.to_string(),
                reason: e.to_string(),
            })?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if partitions > 0 {
            return Ok(partitions as u32);
        }
        if std::time::Instant::now() >= deadline {
            return Err(KafkaClientError::NoTopic(topic.to_string()));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
