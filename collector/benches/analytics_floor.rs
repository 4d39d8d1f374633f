//! Analytics floor: how many spans per second one core pushes through
//! [`Analytics::observe`] (RED series, dependency pairing and the hand-off
//! of aggregates to the store), with the traffic `spoor-loadgen send` makes.
//!
//! In: optional arguments `[seconds] [batch_spans]` (defaults 5 and 500).
//! Out: one human line and one `RESULT analytics-floor …` line on stdout.
//! Every pass gives the batches fresh trace ids outside the timed part, so
//! no span is ever a duplicate, as under real load.
//!
//! Run: `cargo bench -p spoor-collector --bench analytics_floor -- 5 500`

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prost::Message as _;
use spoor_collector::analytics::{Analytics, AnalyticsConfig};
use spoor_loadgen::gen::{Catalog, Generator, Shape};
use spoor_loadgen::wire;
use spoor_proto::model::TracesData;
use spoor_storage::{StorageConfig, Store};

const BATCHES: usize = 200;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5.0);
    let batch_spans: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);

    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open(StorageConfig {
        data_dir: dir.path().to_path_buf(),
        ..StorageConfig::default()
    })
    .expect("opening the store");
    let analytics = Analytics::new(Arc::clone(&store), &AnalyticsConfig::default());

    let shape = Shape {
        services: 10,
        operations: 8,
        spans_per_trace: 10,
    };
    let mut generator = Generator::new(Arc::new(Catalog::new(shape)), 1);
    let mut batches: Vec<TracesData> = (0..BATCHES)
        .map(|_| {
            let bytes = Bytes::from(wire::encode_batch(&generator.batch(batch_spans)));
            TracesData::decode(bytes).expect("the load generator's batch decodes")
        })
        .collect();

    let mut timed = Duration::ZERO;
    let mut spans = 0u64;
    let mut pass = 0u8;
    while timed.as_secs_f64() < seconds {
        pass = pass.wrapping_add(1);
        renumber(&mut batches, pass);
        let start = Instant::now();
        for batch in &batches {
            analytics.observe(batch);
        }
        timed += start.elapsed();
        spans += (BATCHES * batch_spans) as u64;
        analytics.tick();
    }
    let per_sec = spans as f64 / timed.as_secs_f64();
    println!(
        "analytics floor (1 core, batches of {batch_spans} spans): {per_sec:.0} spans/s, {:.2} us/span",
        1e6 / per_sec
    );
    println!(
        "RESULT analytics-floor batch_spans={batch_spans} spans_per_sec={per_sec:.0} spans={spans}"
    );
    analytics.shutdown();
    store.shutdown().expect("store shutdown");
}

/// Gives every span (and every link and parent reference, which only name
/// spans of the same batch traffic) a trace id unique to this pass.
fn renumber(batches: &mut [TracesData], pass: u8) {
    let stamp = |id: &mut Bytes| {
        if id.len() == 16 {
            let mut bytes = id.to_vec();
            bytes[0] = pass;
            *id = Bytes::from(bytes);
        }
    };
    for batch in batches {
        for rs in &mut batch.resource_spans {
            for ss in &mut rs.scope_spans {
                for span in &mut ss.spans {
                    stamp(&mut span.trace_id);
                    for link in &mut span.links {
                        stamp(&mut link.trace_id);
                    }
                }
            }
        }
    }
}
