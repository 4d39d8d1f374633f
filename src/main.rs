//! `spoor`: the Spoor tracing backend as one binary.
//!
//! In: the command line, `SPOOR_*` environment variables and an optional
//! YAML config file (see `config`). Out: a running all-in-one server: the
//! receivers (OTLP gRPC/HTTP, Zipkin), the embedded store, the Jaeger query
//! API and the admin endpoints, each on its own listener (see `serve`).
//!
//! Subcommands: `all-in-one` (the default), the roles of a split deployment
//! on Kafka (`collector`, `store`, `query`), and `print-config`.

mod admin;
mod cluster;
mod config;
mod env_vars;
mod http_metrics;
mod lenient_http;
mod serve;

use clap::{Parser, Subcommand};

/// jemalloc for every allocation of the process, RocksDB's included: with
/// glibc's malloc the memory of a load stayed with the process after it
/// (1.1 GiB resident when idle, from arenas glibc never trims), and malloc
/// took a sixth of the ingest CPU. jemalloc's background threads return
/// freed pages about a second after they are freed (the options are set at
/// build time in `.cargo/config.toml`).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Spoor: a distributed tracing backend (Jaeger, Zipkin and OTLP compatible).
#[derive(Debug, Parser)]
#[command(name = "spoor", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    overrides: config::Overrides,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every part in one process (the default).
    AllInOne,
    /// Split deployment: receive spans and produce them to Kafka.
    Collector,
    /// Split deployment: consume Kafka partitions into the embedded store
    /// and serve queries over them to query nodes.
    Store,
    /// Split deployment: serve the query APIs over every store node.
    Query,
    /// Print the effective configuration as YAML and exit.
    PrintConfig,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (config, env_report) = match config::Config::load(&cli.overrides, std::env::vars()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("spoor: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::AllInOne) {
        Command::PrintConfig => match serde_yaml::to_string(&config) {
            Ok(text) => {
                if let Some(warning) = env_report.warning() {
                    eprintln!("spoor: {warning}");
                }
                print!("{text}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("spoor: cannot render configuration: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        command @ (Command::AllInOne | Command::Collector | Command::Store | Command::Query) => {
            let role = match command {
                Command::Collector => serve::Role::Collector,
                Command::Store => serve::Role::Store,
                Command::Query => serve::Role::Query,
                _ => serve::Role::AllInOne,
            };
            init_logging(&config.log_level);
            if let Some(warning) = env_report.warning() {
                tracing::warn!("{warning}");
            }
            if !env_report.service_links.is_empty() {
                tracing::debug!(
                    "ignoring Kubernetes service-link variables {}",
                    env_report.service_links.join(", ")
                );
            }
            match serve::run(role, config) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    eprintln!("spoor: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}
