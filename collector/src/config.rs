//! Collector settings: one serde section of Spoor's configuration tree.
//!
//! In: the `collector` section of the configuration file (unknown keys are
//! rejected, every key has a default). Out: a [`CollectorConfig`] that
//! [`CollectorConfig::validate`] checks in one pass, reporting every problem.

use std::time::Duration;

use serde::{Deserialize, Serialize};

const MIB: usize = 1 << 20;
/// Upper bound accepted for any request size limit.
const MAX_SIZE_LIMIT: usize = 1 << 30;
/// Upper bound accepted for the queue length and the group-commit size.
const MAX_QUEUE: usize = 1 << 16;
/// Upper bound accepted for the retry hint.
const MAX_RETRY_AFTER_SECONDS: u64 = 3600;
/// Upper bound accepted for the wait for room in the store.
const MAX_OVERLOAD_WAIT_MS: u64 = 60_000;

/// Settings of the receivers and the ingest pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// The bounded queue between receivers and the storage writer.
    pub pipeline: PipelineConfig,
    /// OTLP over gRPC.
    pub otlp_grpc: OtlpGrpcConfig,
    /// OTLP over HTTP.
    pub otlp_http: OtlpHttpConfig,
    /// Zipkin v2 (and v1) over HTTP.
    pub zipkin: ZipkinConfig,
    /// Jaeger over gRPC (`CollectorService/PostSpans`).
    pub jaeger_grpc: JaegerGrpcConfig,
    /// Jaeger Thrift over HTTP (`POST /api/traces`).
    pub jaeger_thrift_http: JaegerThriftHttpConfig,
    /// Jaeger agent over UDP (`Agent.emitBatch`, compact and binary Thrift).
    pub agent: AgentConfig,
    /// Seconds a client is told to wait before retrying when the pipeline is
    /// full or shutting down (HTTP `Retry-After`, gRPC `RetryInfo`).
    pub retry_after_seconds: u64,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            pipeline: PipelineConfig::default(),
            otlp_grpc: OtlpGrpcConfig::default(),
            otlp_http: OtlpHttpConfig::default(),
            zipkin: ZipkinConfig::default(),
            jaeger_grpc: JaegerGrpcConfig::default(),
            jaeger_thrift_http: JaegerThriftHttpConfig::default(),
            agent: AgentConfig::default(),
            retry_after_seconds: 1,
        }
    }
}

/// Settings of the ingest pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Batches (one per request) that may wait for the writer; a request
    /// arriving when the queue is full is answered "overloaded" at once.
    pub queue_capacity: usize,
    /// Queued batches the writer commits together in one storage write.
    pub max_batches_per_write: usize,
    /// Batches decoded, validated and encoded at once (0 = one per core);
    /// more requests wait for a turn without using CPU, so the flusher
    /// keeps its share of the cores.
    pub prepare_concurrency: usize,
    /// Batches in that stage at once while the store's flusher is behind
    /// (its buffer more than half way from `storage.live_max_bytes` to
    /// `storage.live_hard_max_bytes`, though the flusher runs without pause
    /// over the soft bound), so the flusher gets the other cores before the
    /// hard bound has requests wait (0 = no lower limit).
    pub behind_prepare_concurrency: usize,
    /// Milliseconds a request that arrives while the store's buffer is over
    /// its hard bound waits for the flusher to make room before it is
    /// answered "slow down" (0 = answered at once). A client that waits
    /// here is served as soon as there is room, instead of sleeping the
    /// whole retry hint while the server has nothing to do.
    pub overload_wait_ms: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            queue_capacity: 64,
            max_batches_per_write: 16,
            prepare_concurrency: 0,
            behind_prepare_concurrency: 1,
            overload_wait_ms: 1000,
        }
    }
}

/// Settings of the OTLP/gRPC receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpGrpcConfig {
    /// Largest accepted request message, in bytes after decompression.
    #[serde(with = "spoor_storage::byte_size")]
    pub max_message_bytes: usize,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        OtlpGrpcConfig {
            max_message_bytes: 16 * MIB,
        }
    }
}

/// Settings of the OTLP/HTTP receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpHttpConfig {
    /// Largest accepted request body, in bytes; applies to the body as sent
    /// and again to the body after decompression.
    #[serde(with = "spoor_storage::byte_size")]
    pub max_body_bytes: usize,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig {
            max_body_bytes: 20 * MIB,
        }
    }
}

/// Settings of the Zipkin receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZipkinConfig {
    /// Largest accepted request body, in bytes; applies to the body as sent
    /// and again to the body after decompression.
    #[serde(with = "spoor_storage::byte_size")]
    pub max_body_bytes: usize,
    /// Reject what Zipkin itself rejects (upper-case hex ids, unknown span
    /// kinds, ...) instead of accepting it leniently.
    pub strict: bool,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        ZipkinConfig {
            max_body_bytes: 20 * MIB,
            strict: false,
        }
    }
}

/// Settings of the Jaeger gRPC receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerGrpcConfig {
    /// Largest accepted request message, in bytes after decompression.
    #[serde(with = "spoor_storage::byte_size")]
    pub max_message_bytes: usize,
}

impl Default for JaegerGrpcConfig {
    fn default() -> Self {
        JaegerGrpcConfig {
            max_message_bytes: 16 * MIB,
        }
    }
}

/// Settings of the Jaeger Thrift HTTP receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JaegerThriftHttpConfig {
    /// Largest accepted request body, in bytes; applies to the body as sent
    /// and again to the body after decompression.
    #[serde(with = "spoor_storage::byte_size")]
    pub max_body_bytes: usize,
}

impl Default for JaegerThriftHttpConfig {
    fn default() -> Self {
        JaegerThriftHttpConfig {
            max_body_bytes: 20 * MIB,
        }
    }
}

/// Settings of the Jaeger agent UDP receivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Datagrams of one listener being decoded or stored at once; a datagram
    /// arriving when this many are in flight is dropped and counted.
    pub max_datagrams_in_flight: usize,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            max_datagrams_in_flight: 64,
        }
    }
}

impl CollectorConfig {
    /// The retry hint given to clients that are asked to back off.
    pub fn retry_after(&self) -> Duration {
        Duration::from_secs(self.retry_after_seconds)
    }

    /// How long a request waits for room in the store before it is refused.
    pub fn overload_wait(&self) -> Duration {
        Duration::from_millis(self.pipeline.overload_wait_ms)
    }

    /// Checks every value and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut check_range = |key: &str, value: usize, max: usize| {
            if value == 0 || value > max {
                problems.push(format!(
                    "collector.{key} must be between 1 and {max}, got {value}"
                ));
            }
        };
        check_range(
            "pipeline.queue_capacity",
            self.pipeline.queue_capacity,
            MAX_QUEUE,
        );
        check_range(
            "pipeline.max_batches_per_write",
            self.pipeline.max_batches_per_write,
            MAX_QUEUE,
        );
        check_range(
            "otlp_grpc.max_message_bytes",
            self.otlp_grpc.max_message_bytes,
            MAX_SIZE_LIMIT,
        );
        check_range(
            "otlp_http.max_body_bytes",
            self.otlp_http.max_body_bytes,
            MAX_SIZE_LIMIT,
        );
        check_range(
            "zipkin.max_body_bytes",
            self.zipkin.max_body_bytes,
            MAX_SIZE_LIMIT,
        );
        check_range(
            "jaeger_grpc.max_message_bytes",
            self.jaeger_grpc.max_message_bytes,
            MAX_SIZE_LIMIT,
        );
        check_range(
            "jaeger_thrift_http.max_body_bytes",
            self.jaeger_thrift_http.max_body_bytes,
            MAX_SIZE_LIMIT,
        );
        check_range(
            "agent.max_datagrams_in_flight",
            self.agent.max_datagrams_in_flight,
            MAX_QUEUE,
        );
        if self.pipeline.prepare_concurrency > MAX_QUEUE {
            problems.push(format!(
                "collector.pipeline.prepare_concurrency must be at most {MAX_QUEUE} (0 = one per core), got {}",
                self.pipeline.prepare_concurrency
            ));
        }
        if self.pipeline.behind_prepare_concurrency > MAX_QUEUE {
            problems.push(format!(
                "collector.pipeline.behind_prepare_concurrency must be at most {MAX_QUEUE} (0 = no lower limit), got {}",
                self.pipeline.behind_prepare_concurrency
            ));
        }
        if self.pipeline.overload_wait_ms > MAX_OVERLOAD_WAIT_MS {
            problems.push(format!(
                "collector.pipeline.overload_wait_ms must be at most {MAX_OVERLOAD_WAIT_MS} (0 = refuse at once), got {}",
                self.pipeline.overload_wait_ms
            ));
        }
        if self.retry_after_seconds == 0 || self.retry_after_seconds > MAX_RETRY_AFTER_SECONDS {
            problems.push(format!(
                "collector.retry_after_seconds must be between 1 and {MAX_RETRY_AFTER_SECONDS}, got {}",
                self.retry_after_seconds
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_documented_values() {
        let config = CollectorConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.pipeline.queue_capacity, 64);
        assert_eq!(config.pipeline.max_batches_per_write, 16);
        assert_eq!(config.otlp_grpc.max_message_bytes, 16 * MIB);
        assert_eq!(config.otlp_http.max_body_bytes, 20 * MIB);
        assert_eq!(config.zipkin.max_body_bytes, 20 * MIB);
        assert!(!config.zipkin.strict);
        assert_eq!(config.jaeger_grpc.max_message_bytes, 16 * MIB);
        assert_eq!(config.jaeger_thrift_http.max_body_bytes, 20 * MIB);
        assert_eq!(config.agent.max_datagrams_in_flight, 64);
        assert_eq!(config.retry_after(), Duration::from_secs(1));
        assert_eq!(config.overload_wait(), Duration::from_millis(1000));
    }

    #[test]
    fn partial_yaml_keeps_defaults_for_missing_keys() {
        let config: CollectorConfig =
            serde_yaml::from_str("pipeline:\n  queue_capacity: 8\nzipkin:\n  strict: true\n")
                .unwrap();
        assert_eq!(config.pipeline.queue_capacity, 8);
        assert_eq!(config.pipeline.max_batches_per_write, 16);
        assert!(config.zipkin.strict);
        assert_eq!(config.zipkin.max_body_bytes, 20 * MIB);
    }

    #[test]
    fn unknown_key_is_rejected_and_named() {
        let error = serde_yaml::from_str::<CollectorConfig>("otlp_http:\n  max_body_byte: 10\n")
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("max_body_byte"), "{message}");
        assert!(message.contains("otlp_http"), "{message}");
    }

    #[test]
    fn validate_reports_every_problem_in_one_pass() {
        let mut config = CollectorConfig::default();
        config.pipeline.queue_capacity = 0;
        config.pipeline.max_batches_per_write = 0;
        config.otlp_grpc.max_message_bytes = 0;
        config.otlp_http.max_body_bytes = MAX_SIZE_LIMIT + 1;
        config.zipkin.max_body_bytes = 0;
        config.retry_after_seconds = 0;
        config.pipeline.prepare_concurrency = MAX_QUEUE + 1;
        config.pipeline.behind_prepare_concurrency = MAX_QUEUE + 1;
        config.pipeline.overload_wait_ms = MAX_OVERLOAD_WAIT_MS + 1;
        let problems = config.validate().unwrap_err();
        assert_eq!(problems.len(), 9, "{problems:?}");
        for key in [
            "collector.pipeline.queue_capacity",
            "collector.pipeline.max_batches_per_write",
            "collector.otlp_grpc.max_message_bytes",
            "collector.otlp_http.max_body_bytes",
            "collector.zipkin.max_body_bytes",
            "collector.retry_after_seconds",
            "collector.pipeline.prepare_concurrency",
            "collector.pipeline.behind_prepare_concurrency",
            "collector.pipeline.overload_wait_ms",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(key)),
                "missing {key} in {problems:?}"
            );
        }
    }
}
