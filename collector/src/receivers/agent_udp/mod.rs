//! Jaeger agent UDP receivers: `Agent.emitBatch` on port 6831 (compact
//! Thrift) and 6832 (binary Thrift).
//!
//! In: datagrams, each one whole Thrift message (`emitBatch` with a Jaeger
//! batch, or the legacy `emitZipkinBatch` with Zipkin v1 spans), up to
//! 65,000 bytes as Jaeger clients size them. Out: spans into the pipeline.
//! UDP has no answer: a datagram that does not decode is counted (outcome
//! `invalid`) and dropped; a datagram that arrives while
//! `agent.max_datagrams_in_flight` others are still being decoded or
//! stored is dropped unread and counted (outcome `overloaded`); a batch the
//! full pipeline refuses is counted as rejected spans (reason
//! `overloaded`). Nothing a client sends can stop the listener.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use spoor_proto::jaeger_thrift::decode_agent_datagram;
pub use spoor_proto::thrift::Protocol as ThriftProtocol;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::config::CollectorConfig;
use crate::error::IngestError;
use crate::ingest::Ingest;
use crate::metrics::{self, outcome};
use crate::pipeline::Pipeline;
use crate::receiver::Receiver;

#[cfg(test)]
mod tests;

/// The largest datagram read (the UDP maximum; Jaeger clients send at most
/// 65,000 bytes).
const MAX_DATAGRAM_BYTES: usize = 65_536;

/// One agent listener, ready to serve a bound UDP socket.
pub struct AgentUdpReceiver {
    ingest: Ingest,
    receiver: Receiver,
    protocol: ThriftProtocol,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
}

impl AgentUdpReceiver {
    /// The receiver for `protocol` (compact: port 6831, binary: port 6832).
    pub fn new(
        pipeline: Pipeline,
        config: &CollectorConfig,
        protocol: ThriftProtocol,
    ) -> AgentUdpReceiver {
        let receiver = match protocol {
            ThriftProtocol::Compact => Receiver::AgentCompact,
            ThriftProtocol::Binary => Receiver::AgentBinary,
        };
        let max_in_flight = config.agent.max_datagrams_in_flight;
        AgentUdpReceiver {
            ingest: Ingest::new(pipeline, receiver, config.retry_after()),
            receiver,
            protocol,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
        }
    }

    /// Which receiver this is.
    pub fn receiver(&self) -> Receiver {
        self.receiver
    }

    /// Reads datagrams from `socket` until `shutdown` completes, then waits
    /// for the datagrams still in flight.
    pub async fn serve(self, socket: UdpSocket, shutdown: impl Future<Output = ()>) {
        let mut buffer = vec![0u8; MAX_DATAGRAM_BYTES];
        tokio::pin!(shutdown);
        loop {
            let length = tokio::select! {
                () = &mut shutdown => break,
                received = socket.recv_from(&mut buffer) => match received {
                    Ok((length, _)) => length,
                    Err(error) => {
                        // ICMP errors of earlier sends and the like: keep reading.
                        tracing::debug!(%error, receiver = self.receiver.label(), "UDP receive failed");
                        continue;
                    }
                },
            };
            let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
                metrics::request_finished(self.receiver, outcome::OVERLOADED, Duration::ZERO);
                continue;
            };
            let datagram = Bytes::copy_from_slice(&buffer[..length]);
            let ingest = self.ingest.clone();
            let protocol = self.protocol;
            let receiver = self.receiver;
            tokio::spawn(async move {
                let started = Instant::now();
                let result = ingest
                    .observe(ingest.decode_and_submit(move || {
                        decode_agent_datagram(&datagram, protocol).map_err(|error| {
                            IngestError::Malformed(format!("invalid agent datagram: {error}"))
                        })
                    }))
                    .await;
                if let Err(error) = result {
                    tracing::debug!(%error, receiver = receiver.label(), elapsed = ?started.elapsed(), "agent datagram dropped");
                }
                drop(permit);
            });
        }
        let _ = self.in_flight.acquire_many(self.max_in_flight as u32).await;
    }
}
