//! Benchmarks of Headway against PostGraphile, raw SQL and a raw WebSocket broadcast
//! server. `benches/run` builds everything and calls `headway-bench run`; BENCHMARKS.md
//! describes the method and keeps the figures.

mod api;
mod dashboard;
mod fanout;
mod load;
mod pgproxy;
mod pgwait;
mod process;
mod procfs;
mod report;
mod run;
mod seed;
mod writes;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "headway-bench",
    about = "Benchmarks Headway side by side with its peers on 127.0.0.1"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start Headway on an empty database, seed it, run every benchmark and write the figures.
    Run(Box<run::RunArgs>),
    /// Serve the raw WebSocket broadcast peer of the fan-out benchmark on 127.0.0.1.
    BroadcastServer {
        /// The port to listen on.
        #[arg(long)]
        port: u16,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            // Dropping the run on SIGINT or SIGTERM kills the servers it started, because
            // each child process is killed when its handle is dropped.
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                outcome = run::run(*args) => outcome,
                _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted; the servers were stopped and nothing was recorded"),
                _ = terminate.recv() => anyhow::bail!("terminated; the servers were stopped and nothing was recorded"),
            }
        }
        Command::BroadcastServer { port } => fanout::serve_broadcast(port).await,
    }
}
