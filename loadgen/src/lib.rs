//! Spoor's load generator as a library: the pieces behind the
//! `spoor-loadgen` binary, public so the integration tests can drive them.
//!
//! In: command-line arguments (parsed in `main.rs`). Out: traffic to a
//! tracing backend ([`send`], over every protocol in [`encode`], with the
//! Jaeger and Zipkin proto3 shapes from [`translate`]), query latencies
//! ([`query`]), the single-core decode floor ([`floor`]) and a minimal
//! OTLP/Zipkin sink for testing the generator itself ([`sink`]). Start reading at [`gen`] (what the traffic
//! looks like), then [`send`].

pub mod encode;
pub mod floor;
pub mod gen;
pub mod query;
pub mod send;
pub mod sink;
pub mod stats;
pub mod translate;
pub mod wire;
