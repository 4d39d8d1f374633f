//! Spoor's wire and disk formats and its canonical span model.
//!
//! In: protobuf definitions under `protos/` (compiled at build time by protox,
//! no `protoc` needed). Out: the canonical model ([`model`]), the generated
//! message and service types of every protocol Spoor speaks ([`otlp`],
//! [`jaeger`], [`zipkin`]), and id helpers ([`ids`]).
//! The JSON translations live here too: OTLP/JSON ([`otlp_json`]) and Zipkin
//! v2 ([`zipkin_v2`]) to and from the model, and the per-span id checks every
//! receiver applies after decoding ([`validate`]). Jaeger ingest: api_v2
//! protobuf ([`jaeger_proto`]) and Thrift ([`jaeger_thrift`], on the
//! bounds-checked reader in [`thrift`]); Zipkin v1 JSON and Thrift
//! ([`zipkin_v1`], converted to v2 first).
//!
//! The canonical model is wire-compatible with OTLP: an OTLP
//! `ExportTraceServiceRequest` decodes straight into [`model::TracesData`].
//! Start reading at [`model`].
//!
//! This crate knows field numbers; no other crate does.

pub mod fragment;
pub mod ids;
pub mod jaeger_proto;
pub mod jaeger_thrift;
pub mod model;
pub mod otlp_json;
pub mod request_spans;
pub mod span_columns;
pub mod thrift;
pub mod validate;
pub mod zipkin_v1;
pub mod zipkin_v2;

/// Generated protobuf code. Not edited by hand; regenerated on every build.
///
/// The modules nest like the protobuf packages because prost refers to
/// messages of other packages by relative `super::` paths.
#[allow(clippy::all, clippy::pedantic, missing_docs, unreachable_pub)]
mod generated {
    pub mod spoor {
        pub mod model {
            pub mod v1 {
                tonic::include_proto!("spoor.model.v1");
            }
        }
    }
    pub mod opentelemetry {
        pub mod proto {
            pub mod collector {
                pub mod trace {
                    pub mod v1 {
                        tonic::include_proto!("opentelemetry.proto.collector.trace.v1");
                    }
                }
            }
        }
    }
    pub mod zipkin {
        pub mod proto3 {
            tonic::include_proto!("zipkin.proto3");
        }
    }
    pub mod jaeger {
        pub mod api_v2 {
            tonic::include_proto!("jaeger.api_v2");
        }
        pub mod api_v3 {
            tonic::include_proto!("jaeger.api_v3");
        }
    }
    pub use jaeger::api_v2 as jaeger_v2;
    pub use jaeger::api_v3 as jaeger_v3;
    pub use opentelemetry::proto::collector::trace::v1 as otlp_collector;
    pub use spoor::model::v1 as spoor_model;
    pub use zipkin::proto3 as zipkin_proto3;
}

/// OTLP trace collector service types (`opentelemetry.proto.collector.trace.v1`).
pub mod otlp {
    pub use crate::generated::otlp_collector::*;
}

/// Zipkin v2 proto3 types (`zipkin.proto3`).
pub mod zipkin {
    pub use crate::generated::zipkin_proto3::*;
}

/// Jaeger protobuf types.
pub mod jaeger {
    /// `jaeger.api_v2`: model, collector, query and sampling services.
    pub mod api_v2 {
        pub use crate::generated::jaeger_v2::*;
    }
    /// `jaeger.api_v3`: the OTLP-based query service.
    pub mod api_v3 {
        pub use crate::generated::jaeger_v3::*;
    }
}

/// The encoded `FileDescriptorSet` of every proto above, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("descriptors");
