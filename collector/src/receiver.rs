//! Which receiver a request came through: the `receiver` label of every
//! ingest metric and log line.
//!
//! In: nothing (a leaf of the crate). Out: [`Receiver`], named by the
//! receivers, the submit path (`ingest`, `pipeline`) and [`crate::metrics`].

/// Which receiver a request came through (the `receiver` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Receiver {
    /// OTLP over gRPC: `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
    OtlpGrpc,
    /// OTLP over HTTP: `POST /v1/traces`.
    OtlpHttp,
    /// Zipkin v2 over HTTP: `POST /api/v2/spans`.
    ZipkinHttp,
    /// Zipkin v1 over HTTP: `POST /api/v1/spans`, served on the Zipkin port.
    ZipkinV1Http,
    /// Jaeger over gRPC: `jaeger.api_v2.CollectorService/PostSpans`.
    JaegerGrpc,
    /// Jaeger Thrift over HTTP: `POST /api/traces`.
    JaegerThriftHttp,
    /// Jaeger agent over UDP, compact Thrift: `Agent.emitBatch`.
    AgentCompact,
    /// Jaeger agent over UDP, binary Thrift: `Agent.emitBatch`.
    AgentBinary,
    /// The span topic of a split deployment, read by a store node.
    Kafka,
}

impl Receiver {
    /// Every receiver.
    pub const ALL: [Receiver; 9] = [
        Receiver::OtlpGrpc,
        Receiver::OtlpHttp,
        Receiver::ZipkinHttp,
        Receiver::ZipkinV1Http,
        Receiver::JaegerGrpc,
        Receiver::JaegerThriftHttp,
        Receiver::AgentCompact,
        Receiver::AgentBinary,
        Receiver::Kafka,
    ];

    /// The metric label and log name of the receiver.
    pub fn label(self) -> &'static str {
        match self {
            Receiver::OtlpGrpc => "otlp_grpc",
            Receiver::OtlpHttp => "otlp_http",
            Receiver::ZipkinHttp => "zipkin_http",
            Receiver::ZipkinV1Http => "zipkin_v1_http",
            Receiver::JaegerGrpc => "jaeger_grpc",
            Receiver::JaegerThriftHttp => "jaeger_thrift_http",
            Receiver::AgentCompact => "agent_compact",
            Receiver::AgentBinary => "agent_binary",
            Receiver::Kafka => "kafka",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_distinct_and_documented() {
        let doc_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");
        let doc = std::fs::read_to_string(doc_path).expect("docs/metrics.md");
        let mut labels: Vec<&str> = Receiver::ALL.iter().map(|r| r.label()).collect();
        for label in &labels {
            assert!(
                doc.contains(&format!("`{label}`")),
                "receiver label {label} is not in docs/metrics.md"
            );
        }
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Receiver::ALL.len());
    }
}
