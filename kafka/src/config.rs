//! The `kafka` section of Spoor's configuration tree: where the broker is,
//! which topic and consumer group the split roles share, and the bounds of
//! the client's queues.
//!
//! In: the `kafka` section of the configuration file (unknown keys are
//! rejected, every key has a default). Out: a [`KafkaConfig`] that
//! [`KafkaConfig::validate`] checks in one pass, and the librdkafka property
//! maps the producer and the consumer are built from.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Upper bound accepted for the topic's partition count.
const MAX_PARTITIONS: u32 = 10_000;

/// Settings shared by the collector, store and query roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, comma separated (`host:port,host:port`).
    pub brokers: String,
    /// The topic spans travel on, one record per (request, trace).
    pub topic: String,
    /// Partitions of the topic when Spoor creates it (see `create_topic`).
    pub partitions: u32,
    /// Replication factor of the topic when Spoor creates it.
    pub replication_factor: i32,
    /// Create the topic at start when it does not exist.
    pub create_topic: bool,
    /// The store nodes' consumer group.
    pub group_id: String,
    /// Where store nodes that tail-sample record each partition's progress
    /// (where a replay starts, what was already handed on), one partition
    /// per span partition. Empty: the span topic's name + `-progress`.
    pub progress_topic: String,
    /// This node's name: the client id, and the name store nodes report.
    /// Empty: the host name.
    pub node_name: String,
    /// Producer (collector) settings.
    pub producer: ProducerConfig,
    /// Consumer (store) settings.
    pub consumer: ConsumerConfig,
    /// Further librdkafka properties, passed as given (security settings,
    /// for example). Spoor's own durability settings cannot be overridden.
    pub client_properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".to_string(),
            topic: "spoor-spans".to_string(),
            partitions: 8,
            replication_factor: 1,
            create_topic: true,
            group_id: "spoor-store".to_string(),
            progress_topic: String::new(),
            node_name: String::new(),
            producer: ProducerConfig::default(),
            consumer: ConsumerConfig::default(),
            client_properties: BTreeMap::new(),
        }
    }
}

/// Settings of the collector's producer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProducerConfig {
    /// How long the producer waits to fill a batch (`linger.ms`).
    #[serde(with = "humantime_serde")]
    pub linger: Duration,
    /// Bytes the producer's queue holds at most
    /// (`queue.buffering.max.kbytes`); a request finding it full is answered
    /// with its protocol's "slow down".
    pub queue_max_bytes: usize,
    /// How long a record may wait for the brokers' acknowledgement before
    /// the request fails (`message.timeout.ms`).
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Compression of record batches: none, gzip, snappy or lz4 (zstd is
    /// not built into Spoor's librdkafka: its zstd library would have to be
    /// shared with RocksDB's).
    pub compression: String,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            linger: Duration::from_millis(5),
            queue_max_bytes: 64 << 20,
            delivery_timeout: Duration::from_secs(30),
            compression: "lz4".to_string(),
        }
    }
}

/// Settings of the store's consumer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// A member that sends no heartbeat for this long loses its partitions.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Records the store writes in one durable batch at most.
    pub max_batch_records: usize,
    /// How long a batch waits for more records once it has one.
    #[serde(with = "humantime_serde")]
    pub batch_wait: Duration,
    /// Bytes of fetched records the client buffers at most
    /// (`queued.max.messages.kbytes`).
    pub fetch_buffer_bytes: usize,
    /// How often stored offsets (those of records already durable) are
    /// committed to the group.
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// Where a partition with no committed offset starts: `earliest` or
    /// `latest`.
    pub start_from: String,
    /// `group.instance.id` (static membership) = the node name. Only an
    /// optimisation (a restarted node gets its partitions back at once);
    /// correctness never depends on it, and some brokers get it wrong.
    pub static_membership: bool,
    /// How far behind the wall clock a record's timestamp may be when it
    /// reaches a store node. An idle partition's event time moves to the
    /// wall clock minus this, so its last traces get decided.
    #[serde(with = "humantime_serde")]
    pub max_record_delay: Duration,
    /// Bytes of undecided traces a store node holds per partition when it
    /// tail-samples; past it, the oldest are decided early.
    pub open_bytes_per_partition: usize,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            session_timeout: Duration::from_secs(10),
            max_batch_records: 500,
            batch_wait: Duration::from_millis(20),
            fetch_buffer_bytes: 16 << 20,
            commit_interval: Duration::from_secs(1),
            start_from: "earliest".to_string(),
            static_membership: false,
            max_record_delay: Duration::from_secs(5),
            open_bytes_per_partition: 32 << 20,
        }
    }
}

/// librdkafka properties Spoor sets itself for durability and bounds.
const OWN_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "acks",
    "enable.idempotence",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "group.id",
    "group.instance.id",
    "isolation.level",
];

/// Whether `name` is a valid Kafka topic name.
fn is_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl KafkaConfig {
    /// The progress topic's name.
    pub fn progress_topic(&self) -> String {
        if self.progress_topic.is_empty() {
            format!("{}-progress", self.topic)
        } else {
            self.progress_topic.clone()
        }
    }

    /// Every problem in the section, or none.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.brokers.trim().is_empty() {
            problems.push("kafka.brokers must name at least one broker (host:port)".to_string());
        }
        for broker in self.brokers.split(',').filter(|b| !b.trim().is_empty()) {
            if !broker.trim().rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            }) {
                problems.push(format!(
                    "kafka.brokers: {broker:?} is not host:port with a port from 1 to 65535"
                ));
            }
        }
        if !is_topic_name(&self.topic) {
            problems.push(format!(
                "kafka.topic {:?} is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')",
                self.topic
            ));
        }
        if self.partitions == 0 || self.partitions > MAX_PARTITIONS {
            problems.push(format!(
                "kafka.partitions must be from 1 to {MAX_PARTITIONS}, got {}",
                self.partitions
            ));
        }
        if self.replication_factor < 1 {
            problems.push(format!(
                "kafka.replication_factor must be at least 1, got {}",
                self.replication_factor
            ));
        }
        if self.group_id.trim().is_empty() {
            problems.push("kafka.group_id must not be empty".to_string());
        }
        let p = &self.producer;
        if p.linger > Duration::from_secs(5) {
            problems.push(format!(
                "kafka.producer.linger must be at most 5s, got {:?}",
                p.linger
            ));
        }
        if p.delivery_timeout < Duration::from_secs(1) {
            problems.push(format!(
                "kafka.producer.delivery_timeout must be at least 1s, got {:?}",
                p.delivery_timeout
            ));
        }
        if !matches!(p.compression.as_str(), "none" | "gzip" | "snappy" | "lz4") {
            problems.push(format!(
                "kafka.producer.compression must be none, gzip, snappy or lz4, got {:?}",
                p.compression
            ));
        }
        let c = &self.consumer;
        if c.session_timeout < Duration::from_secs(1)
            || c.session_timeout > Duration::from_secs(300)
        {
            problems.push(format!(
                "kafka.consumer.session_timeout must be from 1s to 300s, got {:?}",
                c.session_timeout
            ));
        }
        if c.max_batch_records == 0 || c.max_batch_records > 1_000_000 {
            problems.push(format!(
                "kafka.consumer.max_batch_records must be from 1 to 1000000, got {}",
                c.max_batch_records
            ));
        }
        if c.max_record_delay > Duration::from_secs(300) {
            problems.push(format!(
                "kafka.consumer.max_record_delay must be at most 300s, got {:?}",
                c.max_record_delay
            ));
        }
        if c.open_bytes_per_partition < (1 << 20) {
            problems.push(format!(
                "kafka.consumer.open_bytes_per_partition must be at least 1 MiB, got {}",
                c.open_bytes_per_partition
            ));
        }
        if !self.progress_topic.is_empty() && !is_topic_name(&self.progress_topic) {
            problems.push(format!(
                "kafka.progress_topic {:?} is not a Kafka topic name (1 to 249 of a-z, A-Z, 0-9, '.', '_', '-')",
                self.progress_topic
            ));
        }
        if c.batch_wait > Duration::from_secs(5) {
            problems.push(format!(
                "kafka.consumer.batch_wait must be at most 5s, got {:?}",
                c.batch_wait
            ));
        }
        // The client's queues: from 1 MiB to 2 GiB.
        for (name, bytes) in [
            ("kafka.producer.queue_max_bytes", p.queue_max_bytes),
            ("kafka.consumer.fetch_buffer_bytes", c.fetch_buffer_bytes),
        ] {
            if !(1 << 20..=1 << 31).contains(&bytes) {
                problems.push(format!("{name} must be from 1 MiB to 2 GiB, got {bytes}"));
            }
        }
        if c.commit_interval < Duration::from_millis(100) {
            problems.push(format!(
                "kafka.consumer.commit_interval must be at least 100ms, got {:?}",
                c.commit_interval
            ));
        }
        if !matches!(c.start_from.as_str(), "earliest" | "latest") {
            problems.push(format!(
                "kafka.consumer.start_from must be earliest or latest, got {:?}",
                c.start_from
            ));
        }
        for key in self.client_properties.keys() {
            if OWN_PROPERTIES.contains(&key.as_str()) {
                problems.push(format!(
                    "kafka.client_properties.{key} is set by Spoor itself and cannot be overridden"
                ));
            }
        }
        problems
    }

    /// This node's name: `node_name`, else the host name, else `spoor`.
    pub fn node(&self) -> String {
        if !self.node_name.is_empty() {
            return self.node_name.clone();
        }
        std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_string())
                    .filter(|h| !h.is_empty())
            })
            .unwrap_or_else(|| "spoor".to_string())
    }

    /// Properties every client gets: the brokers, the client id, and the
    /// user's extra properties (security settings among them).
    pub(crate) fn common_properties(&self) -> BTreeMap<String, String> {
        let mut props = self.client_properties.clone();
        props.insert("bootstrap.servers".into(), self.brokers.clone());
        props.insert("client.id".into(), format!("spoor-{}", self.node()));
        props
    }

    /// The producer's librdkafka properties: idempotent, `acks=all`, bounded
    /// queue.
    pub fn producer_properties(&self) -> BTreeMap<String, String> {
        let p = &self.producer;
        let mut props = self.common_properties();
        props.insert("acks".into(), "all".into());
        props.insert("enable.idempotence".into(), "true".into());
        props.insert("linger.ms".into(), p.linger.as_millis().to_string());
        props.insert(
            "queue.buffering.max.kbytes".into(),
            (p.queue_max_bytes / 1024).max(1).to_string(),
        );
        props.insert(
            "message.timeout.ms".into(),
            p.delivery_timeout.as_millis().to_string(),
        );
        props.insert("compression.type".into(), p.compression.clone());
        props
    }

    /// The store consumer's librdkafka properties: manual offset store (an
    /// offset is stored only once its records are durable), periodic commit
    /// of stored offsets, cooperative-sticky assignment.
    pub fn consumer_properties(&self) -> BTreeMap<String, String> {
        let c = &self.consumer;
        let mut props = self.common_properties();
        props.insert("group.id".into(), self.group_id.clone());
        props.insert("enable.auto.commit".into(), "true".into());
        props.insert("enable.auto.offset.store".into(), "false".into());
        props.insert(
            "auto.commit.interval.ms".into(),
            c.commit_interval.as_millis().to_string(),
        );
        props.insert(
            "session.timeout.ms".into(),
            c.session_timeout.as_millis().to_string(),
        );
        props.insert(
            "heartbeat.interval.ms".into(),
            (c.session_timeout.as_millis() / 4).max(100).to_string(),
        );
        props.insert(
            "partition.assignment.strategy".into(),
            "cooperative-sticky".into(),
        );
        props.insert("auto.offset.reset".into(), c.start_from.clone());
        props.insert(
            "queued.max.messages.kbytes".into(),
            (c.fetch_buffer_bytes / 1024).max(1).to_string(),
        );
        props.insert("isolation.level".into(), "read_committed".into());
        if c.static_membership {
            props.insert("group.instance.id".into(), self.node());
        }
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(KafkaConfig::default().validate(), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_named() {
        let mut config = KafkaConfig {
            brokers: "broker-without-port,:9092".to_string(),
            topic: "spans with spaces".to_string(),
            partitions: 0,
            group_id: " ".to_string(),
            ..KafkaConfig::default()
        };
        config.producer.compression = "brotli".to_string();
        config.consumer.start_from = "middle".to_string();
        config.consumer.fetch_buffer_bytes = 1024;
        config
            .client_properties
            .insert("acks".to_string(), "1".to_string());
        let problems = config.validate().join("\n");
        for needle in [
            "\"broker-without-port\" is not host:port",
            "\":9092\" is not host:port",
            "kafka.topic \"spans with spaces\"",
            "kafka.partitions must be from 1",
            "kafka.group_id must not be empty",
            "kafka.producer.compression",
            "kafka.consumer.start_from",
            "kafka.consumer.fetch_buffer_bytes must be from 1 MiB to 2 GiB, got 1024",
            "kafka.client_properties.acks is set by Spoor",
        ] {
            assert!(
                problems.contains(needle),
                "{needle:?} missing in:\n{problems}"
            );
        }
    }

    #[test]
    fn durability_settings_are_fixed() {
        let config = KafkaConfig::default();
        let producer = config.producer_properties();
        assert_eq!(producer["acks"], "all");
        assert_eq!(producer["enable.idempotence"], "true");
        let consumer = config.consumer_properties();
        assert_eq!(consumer["enable.auto.offset.store"], "false");
        assert!(!consumer.contains_key("group.instance.id"));
        let mut config = config;
        config.node_name = "store-1".to_string();
        config.consumer.static_membership = true;
        assert_eq!(config.consumer_properties()["group.instance.id"], "store-1");
        assert_eq!(config.consumer_properties()["client.id"], "spoor-store-1");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_str::<KafkaConfig>(r#"{"brokerz": "x:1"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("brokerz"), "{error}");
    }
}
