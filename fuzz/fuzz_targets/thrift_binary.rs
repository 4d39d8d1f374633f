//! Fuzz target: binary-protocol Thrift, as on the agent port 6832 and in
//! `POST /api/traces` bodies (Jaeger) and `POST /api/v1/spans` (Zipkin v1).
//!
//! In: arbitrary bytes. Out: a decoded batch or an error; a panic, hang or
//! unbounded allocation is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spoor_proto::thrift::Protocol;
use spoor_proto::{jaeger_thrift, zipkin_v1};

fuzz_target!(|data: &[u8]| {
    let _ = jaeger_thrift::decode_agent_datagram(data, Protocol::Binary);
    let _ = jaeger_thrift::decode_http_body(data);
    let _ = zipkin_v1::decode_thrift(data);
});
