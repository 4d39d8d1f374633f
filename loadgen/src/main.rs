//! `spoor-loadgen`: realistic tracing load for Spoor and any other OTLP or
//! Zipkin backend, and the measurements around it.
//!
//! In: a subcommand and its flags. Out: traffic to the backend and the
//! numbers measured, on stdout (summaries and `RESULT key=value` lines) and
//! stderr (progress).

use clap::{Parser, Subcommand};

use spoor_loadgen::{floor, query, send, sink};

#[derive(Debug, Parser)]
#[command(
    name = "spoor-loadgen",
    version,
    about = "Load generator and benchmark client for tracing backends"
)]
struct Cli {
    /// Runtime worker threads (default: one per core).
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send generated traces over OTLP gRPC/HTTP, Jaeger gRPC/Thrift or Zipkin JSON/proto3.
    Send(send::SendArgs),
    /// Measure trace-by-id and search latency over the Jaeger HTTP query API.
    Query(query::QueryArgs),
    /// Decode OTLP protobuf batches on one core: the ingest floor.
    DecodeFloor(floor::FloorArgs),
    /// A minimal OTLP/Zipkin receiver that counts spans (for testing the loadgen).
    Sink(sink::SinkArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::DecodeFloor(args) = &cli.command {
        // Single-threaded on purpose: no runtime.
        let result = floor::run(args)?;
        println!("{}", result.human());
        println!("{}", result.result_line());
        return Ok(());
    }
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = cli.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Send(args) => {
                let summary = send::run(args).await?;
                println!("{}", summary.human());
                println!("{}", summary.result_line());
            }
            Command::Query(args) => {
                let report = query::run(args).await?;
                println!("{}", report.human());
                for line in report.result_lines() {
                    println!("{line}");
                }
            }
            Command::Sink(args) => sink::run(args).await?,
            Command::DecodeFloor(_) => unreachable!("handled above"),
        }
        anyhow::Ok(())
    })
}
