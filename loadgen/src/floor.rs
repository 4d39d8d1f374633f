//! `decode-floor`: how fast one core can decode the OTLP protobuf batches
//! that `send` produces, the lower bound on any backend's ingest cost.
//!
//! In: [`FloorArgs`] (the same traffic shape and batch size as `send`, how
//! long to run, whether to gunzip first). Out: a [`FloorResult`]: spans/s
//! generated+encoded (the loadgen's own cost) and spans/s and MB/s decoded
//! with prost into `spoor_proto::otlp::ExportTraceServiceRequest`, all on the
//! calling thread.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use bytes::Bytes;
use prost::Message as _;
use spoor_proto::otlp::ExportTraceServiceRequest;

use crate::gen::{Catalog, Generator, Shape};
use crate::stats::positive;
use crate::{encode, wire};

/// Command-line arguments of `decode-floor`.
#[derive(Debug, Clone, clap::Parser)]
pub struct FloorArgs {
    /// Spans per batch.
    #[arg(long, default_value_t = 500)]
    pub batch_spans: usize,
    /// Distinct batches to cycle through (keeps the working set realistic).
    #[arg(long, default_value_t = 64)]
    pub batches: usize,
    /// Seconds of decoding.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Gunzip each batch before decoding (as a receiver of gzip traffic must).
    #[arg(long)]
    pub gzip: bool,
    /// Number of services.
    #[arg(long, default_value_t = 10)]
    pub services: usize,
    /// Operations per service.
    #[arg(long, default_value_t = 8)]
    pub operations: usize,
    /// Spans per trace.
    #[arg(long, default_value_t = 10)]
    pub spans_per_trace: usize,
    /// Seed of the traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What `decode-floor` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct FloorResult {
    /// Spans per batch.
    pub batch_spans: usize,
    /// Whether batches were gunzipped first.
    pub gzip: bool,
    /// Protobuf bytes per span (uncompressed).
    pub bytes_per_span: f64,
    /// Gzip bytes per span.
    pub gzip_bytes_per_span: f64,
    /// Spans generated and protobuf-encoded per second (one core).
    pub generate_spans_per_sec: f64,
    /// Spans decoded per second (one core).
    pub decode_spans_per_sec: f64,
    /// Uncompressed megabytes (10^6) decoded per second.
    pub decode_mb_per_sec: f64,
    /// Spans decoded in total.
    pub spans_decoded: u64,
}

impl FloorResult {
    /// The human summary.
    pub fn human(&self) -> String {
        format!(
            "decode floor (1 core, batches of {} spans{})\n\
             generate+encode  {:.0} spans/s\n\
             prost decode     {:.0} spans/s ({:.1} MB/s, {} spans)\n\
             bytes/span       {:.1} protobuf, {:.1} gzip",
            self.batch_spans,
            if self.gzip { ", gunzip first" } else { "" },
            self.generate_spans_per_sec,
            self.decode_spans_per_sec,
            self.decode_mb_per_sec,
            self.spans_decoded,
            self.bytes_per_span,
            self.gzip_bytes_per_span,
        )
    }

    /// One `RESULT key=value ...` line for scripts.
    pub fn result_line(&self) -> String {
        format!(
            "RESULT decode-floor batch_spans={} gzip={} decode_spans_per_sec={:.0} decode_mb_per_sec={:.1} \
             generate_spans_per_sec={:.0} bytes_per_span={:.1} gzip_bytes_per_span={:.1}",
            self.batch_spans,
            self.gzip,
            self.decode_spans_per_sec,
            self.decode_mb_per_sec,
            self.generate_spans_per_sec,
            self.bytes_per_span,
            self.gzip_bytes_per_span,
        )
    }
}

/// Runs the floor measurement on the calling thread.
pub fn run(args: &FloorArgs) -> anyhow::Result<FloorResult> {
    if args.batch_spans == 0 || args.batches == 0 || !positive(args.seconds) {
        bail!("--batch-spans, --batches and --seconds must be positive");
    }
    let shape = Shape {
        services: args.services,
        operations: args.operations,
        spans_per_trace: args.spans_per_trace,
    };
    let mut generator = Generator::new(Arc::new(Catalog::new(shape)), args.seed);

    let t0 = Instant::now();
    let mut raw: Vec<Bytes> = Vec::with_capacity(args.batches);
    for _ in 0..args.batches {
        let batch = generator.batch(args.batch_spans);
        raw.push(Bytes::from(wire::encode_batch(&batch)));
    }
    let generate_secs = t0.elapsed().as_secs_f64();
    let total_spans = (args.batches * args.batch_spans) as f64;
    let raw_bytes: usize = raw.iter().map(Bytes::len).sum();
    let zipped: Vec<Bytes> = raw.iter().map(|b| Bytes::from(encode::gzip(b))).collect();
    let zipped_bytes: usize = zipped.iter().map(Bytes::len).sum();

    // Check once that every batch decodes to the span count it was made with.
    for b in &raw {
        let decoded = ExportTraceServiceRequest::decode(b.clone())?;
        let n: usize = decoded
            .resource_spans
            .iter()
            .map(|rs| rs.span_count())
            .sum();
        if n != args.batch_spans {
            bail!(
                "a batch decoded to {n} spans, expected {}",
                args.batch_spans
            );
        }
    }

    let budget = Duration::from_secs_f64(args.seconds);
    let start = Instant::now();
    let mut decoded_batches = 0u64;
    let mut decoded_bytes = 0u64;
    let mut i = 0usize;
    while start.elapsed() < budget {
        // Check the clock every 16 batches.
        for _ in 0..16 {
            let request = if args.gzip {
                let unzipped = Bytes::from(encode::gunzip(&zipped[i])?);
                decoded_bytes += unzipped.len() as u64;
                ExportTraceServiceRequest::decode(unzipped)?
            } else {
                decoded_bytes += raw[i].len() as u64;
                ExportTraceServiceRequest::decode(raw[i].clone())?
            };
            black_box(request);
            decoded_batches += 1;
            i = (i + 1) % raw.len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let spans_decoded = decoded_batches * args.batch_spans as u64;
    Ok(FloorResult {
        batch_spans: args.batch_spans,
        gzip: args.gzip,
        bytes_per_span: raw_bytes as f64 / total_spans,
        gzip_bytes_per_span: zipped_bytes as f64 / total_spans,
        generate_spans_per_sec: total_spans / generate_secs.max(1e-9),
        decode_spans_per_sec: spans_decoded as f64 / secs,
        decode_mb_per_sec: decoded_bytes as f64 / secs / 1e6,
        spans_decoded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_floor_run_decodes_spans() {
        for gzip in [false, true] {
            let args = FloorArgs {
                batch_spans: 50,
                batches: 4,
                seconds: 0.05,
                gzip,
                services: 3,
                operations: 2,
                spans_per_trace: 5,
                seed: 9,
            };
            let r = run(&args).expect("floor runs");
            assert!(r.spans_decoded >= 50 * 16);
            assert!(r.decode_spans_per_sec > 0.0);
            assert!(r.bytes_per_span > r.gzip_bytes_per_span);
            assert!(r.result_line().starts_with("RESULT decode-floor "));
        }
    }
}
