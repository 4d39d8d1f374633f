//! End to end: bad input gets a clear client error, over real sockets
//! against the real binary, and nothing of it is stored.
//!
//! In: Zipkin v1 JSON with a wrong type where a list belongs, posted to
//! `/api/v1/spans`; bytes that are not a protobuf message, sent by a real
//! gRPC client to every gRPC service that is not a receiver (the query
//! services api_v2 and api_v3 and health on the query port, `SamplingManager`
//! on its own port and on the Jaeger collector port) and to the Jaeger
//! collector beside it. Out: 400 naming the field / `INVALID_ARGUMENT`, and
//! each refusal counted once in the admin `/metrics`.

mod support;

use bytes::{Buf, BufMut};
use serde_json::json;
use support::*;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// The value of the sample of `metric` whose labels include every one of
/// `labels` (`name="value"`), or 0 when there is none.
fn sample(metrics: &str, metric: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .map(|line| {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or_else(|| panic!("unreadable sample: {line}"))
        })
        .sum()
}

async fn admin_metrics(client: &reqwest::Client, spoor: &Spoor) -> String {
    client
        .get(format!("{}/metrics", spoor.admin_url()))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text")
}

#[tokio::test]
async fn zipkin_v1_with_a_wrong_type_where_a_list_belongs_is_400_naming_the_field() {
    let spoor = Spoor::start();
    let client = reqwest::Client::new();
    let span = |trace: &str, service: &str| {
        json!({
            "traceId": trace, "id": "00000000000000b2", "name": "get /cart",
            "timestamp": now_ns() / 1000, "duration": 2000,
            "annotations": [{"timestamp": now_ns() / 1000, "value": "sr",
                             "endpoint": {"serviceName": service, "ipv4": "10.0.0.2"}}]
        })
    };
    let cases = [
        ("binaryAnnotations", json!(7)),
        ("annotations", json!(7)),
        (
            "binaryAnnotations",
            json!({"key": "http.path", "value": "/cart"}),
        ),
        ("annotations", json!("sr")),
    ];
    let mut refused_traces = Vec::new();
    for (i, (field, value)) in cases.iter().enumerate() {
        let trace = format!("{:016x}", 0xbad0 + i);
        let mut bad = span(&trace, &format!("v1-bad-{i}"));
        bad[*field] = value.clone();
        let resp = client
            .post(format!("{}/api/v1/spans", spoor.zipkin_url()))
            .json(&json!([bad]))
            .send()
            .await
            .expect("post v1");
        assert_eq!(resp.status(), 400, "{field}: {value}");
        let message = resp.text().await.unwrap();
        assert!(
            message.contains(&format!("span 0: {field} must be a list")),
            "{field}: {message}"
        );
        refused_traces.push(trace);
    }
    // The same span with the field well typed is taken, and found.
    let good_trace = "000000000000900d";
    let resp = client
        .post(format!("{}/api/v1/spans", spoor.zipkin_url()))
        .json(&json!([span(good_trace, "v1-good")]))
        .send()
        .await
        .expect("post v1");
    assert_eq!(resp.status(), 202);
    let services_url = format!("{}/api/services", spoor.query_url());
    let services = eventually(10, || async {
        let body: serde_json::Value = client
            .get(&services_url)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let names: Vec<String> = body["data"]
            .as_array()?
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        names.iter().any(|s| s == "v1-good").then_some(names)
    })
    .await;
    assert!(
        !services.iter().any(|s| s.starts_with("v1-bad")),
        "a refused span was stored: {services:?}"
    );
    for trace in refused_traces {
        let resp = client
            .get(format!("{}/api/traces/{trace}", spoor.query_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "trace {trace} of a refused request");
    }
    let metrics = admin_metrics(&client, &spoor).await;
    let counted = |outcome: &str| {
        sample(
            &metrics,
            "spoor_receiver_requests_total",
            &[
                "receiver=\"zipkin_v1_http\"",
                &format!("outcome=\"{outcome}\""),
            ],
        )
    };
    assert_eq!(counted("invalid"), cases.len() as f64, "{metrics}");
    assert_eq!(counted("accepted"), 1.0, "{metrics}");
}

/// Bytes that are no protobuf message of any type: a field key whose
/// varint never ends.
const NOT_PROTOBUF: &[u8] = b"\xff\xff\xff";

/// A codec that sends its bytes as they are, so a real gRPC client can send
/// what no generated client would.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}

/// Sends [`NOT_PROTOBUF`] as the request of the unary method `path`.
async fn send_garbage(addr: std::net::SocketAddr, path: &'static str) -> tonic::Status {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("channel ready");
    let result = grpc
        .unary(
            tonic::Request::new(NOT_PROTOBUF.to_vec()),
            tonic::codegen::http::uri::PathAndQuery::from_static(path),
            RawCodec,
        )
        .await;
    match result {
        Ok(response) => panic!("{path} answered {:?}", response.into_inner()),
        Err(status) => status,
    }
}

#[tokio::test]
async fn undecodable_grpc_requests_are_invalid_argument_on_every_port_and_counted() {
    let spoor = Spoor::start();
    let client = reqwest::Client::new();
    // (listener, method, service label, or the receiver that counts it)
    let cases = [
        (
            "query_grpc",
            "/jaeger.api_v2.QueryService/GetServices",
            "jaeger.api_v2.QueryService",
        ),
        (
            "query_grpc",
            "/jaeger.api_v2.QueryService/GetTrace",
            "jaeger.api_v2.QueryService",
        ),
        (
            "query_grpc",
            "/jaeger.api_v3.QueryService/GetServices",
            "jaeger.api_v3.QueryService",
        ),
        (
            "query_grpc",
            "/grpc.health.v1.Health/Check",
            "grpc.health.v1.Health",
        ),
        (
            "sampling_grpc",
            "/jaeger.api_v2.SamplingManager/GetSamplingStrategy",
            "jaeger.api_v2.SamplingManager",
        ),
        (
            "jaeger_grpc",
            "/jaeger.api_v2.SamplingManager/GetSamplingStrategy",
            "jaeger.api_v2.SamplingManager",
        ),
        (
            "jaeger_grpc",
            "/jaeger.api_v2.CollectorService/PostSpans",
            "receiver:jaeger_grpc",
        ),
    ];
    for (listener, path, _) in cases {
        let status = send_garbage(spoor.addr(listener), path).await;
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "{listener} {path}: {status:?}"
        );
        assert!(
            status
                .message()
                .contains("failed to decode Protobuf message"),
            "{listener} {path}: {status:?}"
        );
    }
    let metrics = admin_metrics(&client, &spoor).await;
    for service in [
        "jaeger.api_v2.QueryService",
        "jaeger.api_v3.QueryService",
        "grpc.health.v1.Health",
        "jaeger.api_v2.SamplingManager",
    ] {
        let expected = cases.iter().filter(|(_, _, s)| *s == service).count();
        assert_eq!(
            sample(
                &metrics,
                "spoor_grpc_requests_refused_total",
                &[&format!("service=\"{service}\""), "outcome=\"invalid\""],
            ),
            expected as f64,
            "{service} in\n{metrics}"
        );
    }
    // The collector beside the sampling service counts its own refusal, once.
    assert_eq!(
        sample(
            &metrics,
            "spoor_receiver_requests_total",
            &["receiver=\"jaeger_grpc\"", "outcome=\"invalid\""],
        ),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            "spoor_grpc_requests_refused_total",
            &["service=\"jaeger.api_v2.CollectorService\""],
        ),
        0.0,
        "{metrics}"
    );
    // A well-formed request on the same ports still works.
    let mut health = tonic::client::Grpc::new(
        tonic::transport::Endpoint::from_shared(spoor.query_grpc_url())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    health.ready().await.unwrap();
    let answer = health
        .unary(
            tonic::Request::new(Vec::new()),
            tonic::codegen::http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
            RawCodec,
        )
        .await
        .expect("health check with an empty (valid) request");
    // HealthCheckResponse { status: SERVING (1) }
    assert_eq!(answer.into_inner(), vec![0x08, 0x01]);
}
