//! Agent UDP receiver tests: a real UDP socket on loopback, datagrams as
//! jaeger-client sends them, a real store; every scenario checked for span
//! accounting.
//!
//! In: emitBatch datagrams in both protocols, garbage, a flood. Out: checks
//! of the store and of the counters.

use std::net::SocketAddr;

use spoor_proto::jaeger::api_v2::{Batch, Process, Span};
use spoor_proto::jaeger_thrift::encode_emit_batch;
use tokio::sync::oneshot;

use super::*;
use crate::testing::{held_pipeline_with, pipeline_with, run_counted, with_queue_full, TestStore};

fn datagram(trace: u128, spans: u64, protocol: ThriftProtocol) -> Vec<u8> {
    let span = |id: u64| Span {
        trace_id: Bytes::copy_from_slice(&trace.to_be_bytes()),
        span_id: Bytes::copy_from_slice(&id.to_be_bytes()),
        operation_name: "emit".into(),
        start_time: Some(prost_types::Timestamp {
            seconds: 1_717_000_000,
            nanos: 0,
        }),
        ..Default::default()
    };
    let batch = Batch {
        spans: (1..=spans).map(span).collect(),
        process: Some(Process {
            service_name: "agent-client".into(),
            tags: vec![],
        }),
    };
    encode_emit_batch(&batch, protocol, 1)
}

/// Serves `protocol` on a loopback port; returns its address and a stop
/// handle that resolves once in-flight datagrams are done.
async fn serve(
    pipeline: Pipeline,
    config: &CollectorConfig,
    protocol: ThriftProtocol,
) -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let receiver = AgentUdpReceiver::new(pipeline, config, protocol);
    let task = tokio::spawn(receiver.serve(socket, async move {
        let _ = stopped.await;
    }));
    (address, stop, task)
}

async fn wait_for(store: &TestStore, trace: u128, spans: usize) {
    for _ in 0..200 {
        if store.span_count(trace) == spans {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("trace {trace} never reached {spans} spans");
}

#[test]
fn emit_batch_datagrams_are_stored_in_both_protocols() {
    for protocol in [ThriftProtocol::Compact, ThriftProtocol::Binary] {
        let receiver = match protocol {
            ThriftProtocol::Compact => Receiver::AgentCompact,
            ThriftProtocol::Binary => Receiver::AgentBinary,
        };
        let (_, counters) = run_counted(receiver, || async {
            let (store, pipeline) = pipeline_with(&CollectorConfig::default());
            let (address, stop, task) =
                serve(pipeline, &CollectorConfig::default(), protocol).await;
            let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            client
                .send_to(&datagram(61, 4, protocol), address)
                .await
                .unwrap();
            wait_for(&store, 61, 4).await;
            stop.send(()).unwrap();
            task.await.unwrap();
        });
        assert_eq!(counters.requests(receiver, outcome::ACCEPTED), 1);
        assert_eq!(counters.accepted(receiver), 4);
    }
}

#[test]
fn malformed_datagrams_are_counted_and_the_listener_keeps_going() {
    let (_, counters) = run_counted(Receiver::AgentCompact, || async {
        let (store, pipeline) = pipeline_with(&CollectorConfig::default());
        let (address, stop, task) = serve(
            pipeline,
            &CollectorConfig::default(),
            ThriftProtocol::Compact,
        )
        .await;
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let good = datagram(62, 2, ThriftProtocol::Compact);
        for bad in [&b"hello"[..], &[0x82, 0x81], &good[..good.len() / 2], &[]] {
            client.send_to(bad, address).await.unwrap();
        }
        // A binary datagram on the compact port is garbage too.
        client
            .send_to(&datagram(63, 1, ThriftProtocol::Binary), address)
            .await
            .unwrap();
        client.send_to(&good, address).await.unwrap();
        wait_for(&store, 62, 2).await;
        stop.send(()).unwrap();
        task.await.unwrap();
    });
    assert_eq!(
        counters.requests(Receiver::AgentCompact, outcome::INVALID),
        5
    );
}

#[test]
fn a_flood_is_dropped_and_counted_never_stalled() {
    let (_, counters) = run_counted(Receiver::AgentBinary, || async {
        let mut config = CollectorConfig::default();
        config.pipeline.queue_capacity = 1;
        config.pipeline.max_batches_per_write = 1;
        config.agent.max_datagrams_in_flight = 2;
        let (store, pipeline, hold) = held_pipeline_with(&config);
        let (address, stop, task) = serve(pipeline.clone(), &config, ThriftProtocol::Binary).await;
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let send = |trace| {
            let client = &client;
            async move {
                client
                    .send_to(&datagram(trace, 20, ThriftProtocol::Binary), address)
                    .await
                    .unwrap();
            }
        };
        // The first datagram fills the queue; the held writer keeps it full
        // while the rest of the flood arrives.
        let flood = async {
            for trace in 2..=200u128 {
                send(trace).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        };
        with_queue_full(&pipeline, hold, send(1), flood).await;
        wait_for(&store, 1, 20).await;
        stop.send(()).unwrap();
        task.await.unwrap();
        assert_eq!(
            store.span_count(1),
            20,
            "the queued datagram was not stored"
        );
    });
    let dropped = counters.requests(Receiver::AgentBinary, outcome::OVERLOADED);
    let accepted = counters.requests(Receiver::AgentBinary, outcome::ACCEPTED);
    assert!(
        dropped > 0,
        "a flood into a full queue should drop datagrams: {counters:?}"
    );
    assert!(accepted > 0);
}
