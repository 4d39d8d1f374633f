//! Spoor's one configuration tree: defaults, then a YAML config file, then
//! `SPOOR_*` environment variables, then command-line flags (each later layer
//! wins). Unknown keys in the file are errors that name them; unknown
//! `SPOOR_*` variables are reported back (see `env_vars`) for a warning;
//! every value is validated and every problem reported at once.
//!
//! In: the parsed command line and the process environment. Out: a validated
//! [`Config`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spoor_collector::{AnalyticsConfig, CollectorConfig};
use spoor_query::{QueryHttpSettings, ZipkinReadSettings};
use spoor_storage::StorageConfig;

use crate::env_vars::EnvReport;

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the embedded store keeps its data (overrides `storage.data_dir`).
    pub data_dir: PathBuf,
    /// Listener addresses.
    pub listen: Listen,
    /// Storage settings.
    pub storage: StorageConfig,
    /// Receiver and pipeline settings.
    pub collector: CollectorConfig,
    /// Query API settings.
    pub query: QueryConfig,
    /// Sampling: ingest rate, tail policies, strategies for SDKs.
    pub sampling: spoor_collector::SamplingConfig,
    /// RED metrics and the service dependency graph.
    pub analytics: AnalyticsConfig,
    /// The Kafka topic and group of a split deployment (`spoor collector`,
    /// `spoor store`, `spoor query`); all-in-one does not use it.
    pub kafka: spoor_kafka::KafkaConfig,
    /// How a query node of a split deployment reaches the store nodes.
    pub cluster: ClusterConfig,
    /// Log filter (`error`, `warn`, `info`, `debug`, or a tracing filter).
    pub log_level: String,
}

/// Query-side settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// The Jaeger HTTP query API.
    pub http: QueryHttpSettings,
    /// The Zipkin v2 read API on the Zipkin port.
    pub zipkin: ZipkinReadSettings,
}

/// Split-deployment settings beside `kafka`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// A query node's store nodes and how long it waits for them
    /// (checked when `spoor query` starts).
    pub query: spoor_query::ClusterQuerySettings,
}

/// Listener addresses, one per port.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Listen {
    /// OTLP gRPC.
    pub otlp_grpc: SocketAddr,
    /// OTLP HTTP (`/v1/traces`).
    pub otlp_http: SocketAddr,
    /// Zipkin (`/api/v2/spans`).
    pub zipkin: SocketAddr,
    /// Jaeger query HTTP API.
    pub query_http: SocketAddr,
    /// Jaeger query gRPC API (api_v2 and api_v3 `QueryService`).
    pub query_grpc: SocketAddr,
    /// Admin: health, metrics.
    pub admin: SocketAddr,
    /// Sampling strategies over HTTP (`/sampling`, `/api/sampling`).
    pub sampling_http: SocketAddr,
    /// Sampling strategies over gRPC (`SamplingManager`).
    pub sampling_grpc: SocketAddr,
    /// Jaeger gRPC collector (`CollectorService/PostSpans`).
    pub jaeger_grpc: SocketAddr,
    /// Jaeger Thrift over HTTP (`POST /api/traces`).
    pub jaeger_thrift_http: SocketAddr,
    /// Jaeger agent, compact Thrift over UDP.
    pub agent_compact: SocketAddr,
    /// Jaeger agent, binary Thrift over UDP.
    pub agent_binary: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
        Listen {
            otlp_grpc: any(4317),
            otlp_http: any(4318),
            zipkin: any(9411),
            query_http: any(16686),
            query_grpc: any(16685),
            admin: any(14269),
            sampling_http: any(5778),
            sampling_grpc: any(5779),
            jaeger_grpc: any(14250),
            jaeger_thrift_http: any(14268),
            agent_compact: any(6831),
            agent_binary: any(6832),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./spoor-data"),
            listen: Listen::default(),
            storage: StorageConfig::default(),
            collector: CollectorConfig::default(),
            query: QueryConfig::default(),
            sampling: spoor_collector::SamplingConfig::default(),
            analytics: AnalyticsConfig::default(),
            kafka: spoor_kafka::KafkaConfig::default(),
            cluster: ClusterConfig::default(),
            log_level: "info".to_string(),
        }
    }
}

/// A byte-size flag (`512MiB`, `1GB`, `1048576`) as a `usize`.
fn parse_byte_size_usize(text: &str) -> Result<usize, String> {
    let bytes = spoor_storage::byte_size::parse(text)?;
    usize::try_from(bytes).map_err(|_| format!("{text:?} is too large"))
}

/// Settings that can be given as flags or `SPOOR_*` variables.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// YAML configuration file (see spoor.example.yaml).
    #[arg(long, env = "SPOOR_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory of the embedded store.
    #[arg(long, env = "SPOOR_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// OTLP gRPC listen address.
    #[arg(long, env = "SPOOR_OTLP_GRPC_ADDR", value_name = "ADDR")]
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP HTTP listen address.
    #[arg(long, env = "SPOOR_OTLP_HTTP_ADDR", value_name = "ADDR")]
    pub otlp_http_addr: Option<SocketAddr>,
    /// Zipkin listen address.
    #[arg(long, env = "SPOOR_ZIPKIN_ADDR", value_name = "ADDR")]
    pub zipkin_addr: Option<SocketAddr>,
    /// Jaeger query HTTP listen address.
    #[arg(long, env = "SPOOR_QUERY_HTTP_ADDR", value_name = "ADDR")]
    pub query_http_addr: Option<SocketAddr>,
    /// Jaeger query gRPC listen address.
    #[arg(long, env = "SPOOR_QUERY_GRPC_ADDR", value_name = "ADDR")]
    pub query_grpc_addr: Option<SocketAddr>,
    /// Admin (health, metrics) listen address.
    #[arg(long, env = "SPOOR_ADMIN_ADDR", value_name = "ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// Sampling strategies HTTP listen address.
    #[arg(long, env = "SPOOR_SAMPLING_HTTP_ADDR", value_name = "ADDR")]
    pub sampling_http_addr: Option<SocketAddr>,
    /// Sampling strategies gRPC listen address.
    #[arg(long, env = "SPOOR_SAMPLING_GRPC_ADDR", value_name = "ADDR")]
    pub sampling_grpc_addr: Option<SocketAddr>,
    /// Jaeger gRPC collector listen address.
    #[arg(long, env = "SPOOR_JAEGER_GRPC_ADDR", value_name = "ADDR")]
    pub jaeger_grpc_addr: Option<SocketAddr>,
    /// Jaeger Thrift HTTP collector listen address.
    #[arg(long, env = "SPOOR_JAEGER_THRIFT_HTTP_ADDR", value_name = "ADDR")]
    pub jaeger_thrift_http_addr: Option<SocketAddr>,
    /// Jaeger agent compact Thrift UDP listen address.
    #[arg(long, env = "SPOOR_AGENT_COMPACT_ADDR", value_name = "ADDR")]
    pub agent_compact_addr: Option<SocketAddr>,
    /// Jaeger agent binary Thrift UDP listen address.
    #[arg(long, env = "SPOOR_AGENT_BINARY_ADDR", value_name = "ADDR")]
    pub agent_binary_addr: Option<SocketAddr>,
    /// How long traces are kept, e.g. `72h`, `7d`.
    #[arg(long, env = "SPOOR_RETENTION", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub retention: Option<Duration>,
    /// Disk budget for stored traces in bytes (0 = none).
    #[arg(long, env = "SPOOR_MAX_DISK_BYTES", value_name = "BYTES", value_parser = spoor_storage::byte_size::parse)]
    pub max_disk_bytes: Option<u64>,
    /// Largest accepted OTLP HTTP body, in bytes, after decompression.
    #[arg(long, env = "SPOOR_OTLP_HTTP_MAX_BODY_BYTES", value_name = "BYTES", value_parser = parse_byte_size_usize)]
    pub otlp_http_max_body_bytes: Option<usize>,
    /// Largest accepted OTLP gRPC message, in bytes, after decompression.
    #[arg(long, env = "SPOOR_OTLP_GRPC_MAX_MESSAGE_BYTES", value_name = "BYTES", value_parser = parse_byte_size_usize)]
    pub otlp_grpc_max_message_bytes: Option<usize>,
    /// Largest accepted Zipkin body, in bytes, after decompression.
    #[arg(long, env = "SPOOR_ZIPKIN_MAX_BODY_BYTES", value_name = "BYTES", value_parser = parse_byte_size_usize)]
    pub zipkin_max_body_bytes: Option<usize>,
    /// Log filter (`info`, `debug`, ...).
    #[arg(long, env = "SPOOR_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Kafka bootstrap brokers of a split deployment (`host:port,...`).
    #[arg(long, env = "SPOOR_KAFKA_BROKERS", value_name = "BROKERS")]
    pub kafka_brokers: Option<String>,
    /// This node's name in a split deployment (default: the host name).
    #[arg(long, env = "SPOOR_NODE_NAME", value_name = "NAME")]
    pub node_name: Option<String>,
    /// A query node's store nodes, comma separated (`http://host:16686,...`).
    #[arg(
        long,
        env = "SPOOR_CLUSTER_STORES",
        value_name = "URLS",
        value_delimiter = ','
    )]
    pub cluster_stores: Option<Vec<String>>,
}

/// Why the configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

impl Config {
    /// Builds the configuration from defaults, the file, the environment
    /// (already folded into `overrides` by clap) and flags. The `SPOOR_*`
    /// variables Spoor does not read come back in the report: Kubernetes
    /// service links are ignored, other names deserve a warning.
    pub fn load(
        overrides: &Overrides,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<(Config, EnvReport), ConfigError> {
        let report = EnvReport::from_names(env.map(|(k, _)| k));
        let mut config = match &overrides.config {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Config::from_yaml(&text).map_err(|message| ConfigError::Parse {
                    path: path.clone(),
                    message,
                })?
            }
        };
        config.apply(overrides);
        config.validate().map_err(ConfigError::Invalid)?;
        Ok((config, report))
    }

    /// Parses YAML text; unknown keys are rejected with their path.
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let mut config: Config = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        // A data_dir given only in the storage section is honoured.
        if config.data_dir == Config::default().data_dir
            && config.storage.data_dir != StorageConfig::default().data_dir
        {
            config.data_dir = config.storage.data_dir.clone();
        }
        config.storage.data_dir = config.data_dir.clone();
        Ok(config)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(v) = &o.data_dir {
            self.data_dir = v.clone();
        }
        self.storage.data_dir = self.data_dir.clone();
        if let Some(v) = o.otlp_grpc_addr {
            self.listen.otlp_grpc = v;
        }
        if let Some(v) = o.otlp_http_addr {
            self.listen.otlp_http = v;
        }
        if let Some(v) = o.zipkin_addr {
            self.listen.zipkin = v;
        }
        if let Some(v) = o.query_http_addr {
            self.listen.query_http = v;
        }
        if let Some(v) = o.query_grpc_addr {
            self.listen.query_grpc = v;
        }
        if let Some(v) = o.admin_addr {
            self.listen.admin = v;
        }
        if let Some(v) = o.sampling_http_addr {
            self.listen.sampling_http = v;
        }
        if let Some(v) = o.sampling_grpc_addr {
            self.listen.sampling_grpc = v;
        }
        if let Some(v) = o.jaeger_grpc_addr {
            self.listen.jaeger_grpc = v;
        }
        if let Some(v) = o.jaeger_thrift_http_addr {
            self.listen.jaeger_thrift_http = v;
        }
        if let Some(v) = o.agent_compact_addr {
            self.listen.agent_compact = v;
        }
        if let Some(v) = o.agent_binary_addr {
            self.listen.agent_binary = v;
        }
        if let Some(v) = &o.kafka_brokers {
            self.kafka.brokers = v.clone();
        }
        if let Some(v) = &o.node_name {
            self.kafka.node_name = v.clone();
        }
        if let Some(v) = &o.cluster_stores {
            self.cluster.query.stores = v
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = o.retention {
            self.storage.retention = v;
        }
        if let Some(v) = o.max_disk_bytes {
            self.storage.max_disk_bytes = v;
        }
        if let Some(v) = o.otlp_http_max_body_bytes {
            self.collector.otlp_http.max_body_bytes = v;
        }
        if let Some(v) = o.otlp_grpc_max_message_bytes {
            self.collector.otlp_grpc.max_message_bytes = v;
        }
        if let Some(v) = o.zipkin_max_body_bytes {
            self.collector.zipkin.max_body_bytes = v;
        }
        if let Some(v) = &o.log_level {
            self.log_level = v.clone();
        }
    }

    /// Checks every section and reports all problems at once.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if let Err(p) = self.storage.validate() {
            problems.extend(p);
        }
        if let Err(p) = self.collector.validate() {
            problems.extend(p);
        }
        if let Err(p) = self.sampling.validate() {
            problems.extend(p);
        }
        if let Err(p) = self.analytics.validate() {
            problems.extend(p);
        }
        if let Err(p) = self.query.http.validate() {
            problems.extend(p);
        }
        if let Err(p) = self.query.zipkin.validate() {
            problems.extend(p);
        }
        problems.extend(self.kafka.validate());
        let l = &self.listen;
        let addrs = [
            ("listen.otlp_grpc", l.otlp_grpc),
            ("listen.otlp_http", l.otlp_http),
            ("listen.zipkin", l.zipkin),
            ("listen.query_http", l.query_http),
            ("listen.query_grpc", l.query_grpc),
            ("listen.admin", l.admin),
            ("listen.sampling_http", l.sampling_http),
            ("listen.sampling_grpc", l.sampling_grpc),
            ("listen.jaeger_grpc", l.jaeger_grpc),
            ("listen.jaeger_thrift_http", l.jaeger_thrift_http),
        ];
        for (i, (name, addr)) in addrs.iter().enumerate() {
            for (other, other_addr) in &addrs[i + 1..] {
                if addr == other_addr && addr.port() != 0 {
                    problems.push(format!("{name} and {other} both use {addr}"));
                }
            }
        }
        // The agent listeners are UDP: they only clash with each other.
        if l.agent_compact == l.agent_binary && l.agent_compact.port() != 0 {
            problems.push(format!(
                "listen.agent_compact and listen.agent_binary both use {}",
                l.agent_compact
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
    fn empty_file_gives_defaults() {
        assert_eq!(Config::from_yaml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_rejected_with_its_name() {
        let err = Config::from_yaml("storage:\n  retension: 1h\n").unwrap_err();
        assert!(err.contains("retension"), "{err}");
        let err = Config::from_yaml("listen:\n  zipkn: 0.0.0.0:1\n").unwrap_err();
        assert!(err.contains("zipkn"), "{err}");
    }

    #[test]
    fn shipped_example_config_parses_and_validates() {
        let text = include_str!("../spoor.example.yaml");
        let config = Config::from_yaml(text).unwrap();
        config.validate().unwrap();
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("spoor-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.yaml");
        std::fs::write(&file, "data_dir: /from/file\nstorage:\n  retention: 2h\n").unwrap();
        let o = Overrides {
            config: Some(file),
            data_dir: Some("/from/flag".into()),
            ..Default::default()
        };
        let (c, _) = Config::load(&o, std::iter::empty()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(c.storage.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(c.storage.retention, Duration::from_secs(7200));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn byte_sizes_take_units_in_the_file_and_on_the_command_line() {
        let c = Config::from_yaml(
            "storage:\n  live_max_bytes: 300MiB\n  live_hard_max_bytes: 1GiB\n  memory_budget: 2GiB\ncollector:\n  otlp_http:\n    max_body_bytes: 4 MiB\n",
        )
        .unwrap();
        assert_eq!(c.storage.live_max_bytes, 300 << 20);
        assert_eq!(c.storage.live_hard_max_bytes, 1 << 30);
        assert_eq!(c.collector.otlp_http.max_body_bytes, 4 << 20);
        let err = Config::from_yaml("storage:\n  live_max_bytes: plenty\n").unwrap_err();
        assert!(err.contains("plenty"), "{err}");
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            overrides: Overrides,
        }
        use clap::Parser as _;
        let flags = Flags::try_parse_from(["spoor", "--max-disk-bytes", "10GiB"]).unwrap();
        assert_eq!(flags.overrides.max_disk_bytes, Some(10 << 30));
        let bad = Flags::try_parse_from(["spoor", "--zipkin-max-body-bytes", "big"]);
        assert!(bad.err().expect("refused").to_string().contains("big"));
    }

    #[test]
    fn unknown_spoor_variables_are_reported_not_refused() {
        let env = [
            ("SPOOR_DATADIR", "x"),
            ("SPOOR_SERVICE_HOST", "10.0.0.1"),
            ("SPOOR_PORT_16686_TCP", "tcp://10.0.0.1:16686"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let (config, report) = Config::load(&Overrides::default(), env.into_iter()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(report.unknown, vec!["SPOOR_DATADIR"]);
        assert_eq!(report.service_links.len(), 2);
    }

    #[test]
    fn every_problem_is_reported() {
        let mut c = Config::default();
        c.storage.retention = Duration::ZERO;
        c.listen.zipkin = c.listen.admin;
        let problems = c.validate().unwrap_err();
        assert!(problems.len() >= 2, "{problems:?}");
    }
}
