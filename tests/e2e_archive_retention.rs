//! End to end: a trace archived through `POST /api/archive/{id}` is still
//! served by `/api/traces/{id}` (and gRPC GetTrace) after retention has
//! dropped the partition holding it, while an unarchived trace of the same
//! age is gone.

mod support;

use spoor_proto::jaeger::api_v2::query_service_client::QueryServiceClient;
use spoor_proto::jaeger::api_v2::GetTraceRequest;
use support::*;

#[tokio::test]
async fn archived_traces_outlive_retention() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spoor.yaml");
    std::fs::write(
        &config,
        "storage:\n  retention: 2s\n  partition_duration: 1s\n  retention_check_interval: 1s\n  trace_idle_timeout: 1s\n  trace_max_age: 1s\n",
    )
    .unwrap();
    let spoor = Spoor::start_with(&["--config", &config.display().to_string()]);
    let http = reqwest::Client::new();
    let kept = random_trace();
    let dropped = random_trace();
    send_otlp(&http, &spoor, sample_trace(kept, "checkout")).await;
    send_otlp(&http, &spoor, sample_trace(dropped, "checkout")).await;
    let resp = http
        .post(format!(
            "{}/api/archive/{}",
            spoor.query_url(),
            kept.to_hex32()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Retention removes the unarchived trace...
    eventually(30, || async {
        let resp = http
            .get(format!(
                "{}/api/traces/{}",
                spoor.query_url(),
                dropped.to_hex32()
            ))
            .send()
            .await
            .ok()?;
        (resp.status() == 404).then_some(())
    })
    .await;
    // ...the archived one is still served, whole, over HTTP and gRPC.
    let trace = fetch_trace(&http, &spoor, kept)
        .await
        .expect("archived trace");
    assert_eq!(trace["spans"].as_array().unwrap().len(), 2);
    let mut client = QueryServiceClient::connect(spoor.query_grpc_url())
        .await
        .unwrap();
    let mut stream = client
        .get_trace(GetTraceRequest {
            trace_id: kept.to_bytes().to_vec().into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().spans.len(), 2);
    let resp = http
        .get(format!(
            "{}/api/v3/traces/{}",
            spoor.query_url(),
            kept.to_hex32()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
