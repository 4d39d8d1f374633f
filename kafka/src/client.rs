//! Building librdkafka clients from Spoor's settings, and the errors of
//! talking to the brokers.
//!
//! In: a property map (from [`crate::KafkaConfig`]). Out: an rdkafka
//! `ClientConfig`, and [`KafkaClientError`] naming what failed.

use std::collections::BTreeMap;

use rdkafka::config::ClientConfig;

/// Why a Kafka client could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum KafkaClientError {
    /// librdkafka refused the configuration.
    #[error("cannot create the kafka client: {0}")]
    Create(String),
    /// The brokers' metadata could not be read.
    #[error("cannot read the metadata of topic {topic:?} from the brokers: {reason}")]
    Metadata {
        /// The topic asked about.
        topic: String,
        /// What went wrong.
        reason: String,
    },
    /// The topic does not exist and was not created.
    #[error("topic {0:?} does not exist (create it, or set kafka.create_topic: true)")]
    NoTopic(String),
    /// Creating the topic failed.
    #[error("cannot create topic {topic:?}: {reason}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
    /// Subscribing to the topic failed.
    #[error("cannot subscribe to topic {topic:?}: {reason}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// What went wrong.
        reason: String,
    },
}

/// An rdkafka client configuration holding exactly `properties`.
pub fn client_config(properties: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in properties {
        config.set(key, value);
    }
    config
}
