//! End to end durability: every span that got a success answer is still
//! there after a clean restart and after kill -9 in the middle of a load.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use spoor_proto::ids::TraceId;
use spoor_proto::otlp::trace_service_client::TraceServiceClient;
use spoor_proto::otlp::ExportTraceServiceRequest;
use support::*;

#[tokio::test]
async fn spans_survive_a_clean_restart() {
    let mut spoor = Spoor::start();
    let mut client = TraceServiceClient::connect(spoor.otlp_grpc_url())
        .await
        .unwrap();
    let ids: Vec<TraceId> = (0..20).map(|_| random_trace()).collect();
    for id in &ids {
        client
            .export(ExportTraceServiceRequest {
                resource_spans: sample_trace(*id, "restart").resource_spans,
            })
            .await
            .unwrap();
    }
    spoor.terminate();
    spoor.restart();
    let http = reqwest::Client::new();
    for id in &ids {
        let t = fetch_trace(&http, &spoor, *id)
            .await
            .unwrap_or_else(|| panic!("trace {id} lost"));
        assert_eq!(t["spans"].as_array().unwrap().len(), 2);
    }
}

#[tokio::test]
async fn acknowledged_spans_survive_kill_9_during_load() {
    let mut spoor = Spoor::start();
    let acked: Arc<Mutex<Vec<TraceId>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for _ in 0..4 {
        let url = spoor.otlp_grpc_url();
        let acked = acked.clone();
        let stop = stop.clone();
        senders.push(tokio::spawn(async move {
            let Ok(mut client) = TraceServiceClient::connect(url).await else {
                return;
            };
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) && sent < 5000 {
                sent += 1;
                let id = random_trace();
                let req = ExportTraceServiceRequest {
                    resource_spans: sample_trace(id, "crash").resource_spans,
                };
                match client.export(req).await {
                    Ok(_) => acked.lock().unwrap().push(id),
                    Err(_) => return, // the server is gone
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    spoor.kill9();
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        let _ = s.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few acknowledged requests ({}) to mean anything",
        acked.len()
    );
    spoor.restart();
    let http = reqwest::Client::new();
    let mut missing = Vec::new();
    for id in &acked {
        match fetch_trace(&http, &spoor, *id).await {
            Some(t) if t["spans"].as_array().map(Vec::len) == Some(2) => {}
            _ => missing.push(*id),
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged traces lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
}
