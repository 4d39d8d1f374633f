//! Store floor: how many spans per second one core pushes through each
//! stage a span of an OTLP protobuf request takes in the store: the prost
//! decode, [`prepare_request_batch`] (fragments, summaries, search tokens),
//! [`Store::write_batches`] (write-ahead log and buffer) and
//! [`Store::flush`] (block encoding, SST and index writes), with the
//! traffic `spoor-loadgen send` makes.
//!
//! In: optional arguments `[rounds] [batch_spans] [wal_compression_level]`
//! (defaults 10, 500 and the store's default).
//! Out: one human line per stage and one `RESULT store-floor …` line on
//! stdout. Each round makes fresh batches outside the timed parts (new
//! trace ids, as under real load), writes them and flushes all of them;
//! the store flushes on one thread and never on its own in between. It
//! allocates with jemalloc, as the server does.
//!
//! Run: `cargo bench -p spoor-collector --bench store_floor -- 10 500`

use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use spoor_loadgen::gen::{Catalog, Generator, Shape};
use spoor_loadgen::wire;
use spoor_proto::model::TracesData;
use spoor_proto::request_spans::RequestSpans;
use spoor_storage::{prepare_request_batch, StorageConfig, Store};

/// The server's allocator, so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Requests per round (100 of 500 spans: 50,000 spans, about 25 MB).
const BATCHES: usize = 100;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let batch_spans: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let wal_compression_level: i32 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(StorageConfig::default().wal_compression_level);

    let dir = tempfile::tempdir().expect("temporary directory");
    let hour = Duration::from_secs(3600);
    let store = Store::open(StorageConfig {
        data_dir: dir.path().to_path_buf(),
        flush_threads: 1,
        trace_idle_timeout: hour,
        trace_max_age: hour,
        live_max_bytes: 1 << 30,
        live_hard_max_bytes: 2 << 30,
        live_max_traces: 10_000_000,
        memory_budget: 4 << 30,
        wal_compression_level,
        ..StorageConfig::default()
    })
    .expect("opening the store");

    let shape = Shape {
        services: 10,
        operations: 8,
        spans_per_trace: 10,
    };
    let mut generator = Generator::new(std::sync::Arc::new(Catalog::new(shape)), 1);
    let mut times = [Duration::ZERO; 4];
    let mut spans = 0u64;
    for _ in 0..rounds {
        let bodies: Vec<Bytes> = (0..BATCHES)
            .map(|_| Bytes::from(wire::encode_batch(&generator.batch(batch_spans))))
            .collect();

        let start = Instant::now();
        let decoded: Vec<TracesData> = bodies
            .iter()
            .map(|b| TracesData::decode(b.clone()).expect("the load generator's batch decodes"))
            .collect();
        times[0] += start.elapsed();

        let found: Vec<RequestSpans> = bodies
            .iter()
            .map(|b| RequestSpans::find(b).expect("the spans are found"))
            .collect();
        let start = Instant::now();
        let prepared: Vec<_> = decoded
            .iter()
            .zip(&found)
            .map(|(data, spans)| prepare_request_batch(data, spans))
            .collect();
        times[1] += start.elapsed();
        drop(decoded);

        let start = Instant::now();
        for batch in prepared.chunks(8) {
            store.write_batches(batch).expect("writing a batch");
        }
        times[2] += start.elapsed();

        let start = Instant::now();
        store.flush(true).expect("flushing");
        times[3] += start.elapsed();
        spans += (BATCHES * batch_spans) as u64;
    }
    let names = ["decode", "prepare", "write", "flush"];
    let mut total = Duration::ZERO;
    let mut fields = String::new();
    for (name, time) in names.iter().zip(times) {
        let us = time.as_secs_f64() * 1e6 / spans as f64;
        println!("store floor, {name:>8}: {us:.3} us/span (1 core)");
        fields.push_str(&format!(" {name}_us={us:.3}"));
        total += time;
    }
    let us = total.as_secs_f64() * 1e6 / spans as f64;
    println!(
        "store floor, all four: {us:.3} us/span, {:.0} spans/s on one core",
        1e6 / us
    );
    println!(
        "RESULT store-floor batch_spans={batch_spans} wal_level={wal_compression_level} spans={spans}{fields} total_us={us:.3}"
    );
    store.shutdown().expect("store shutdown");
}
