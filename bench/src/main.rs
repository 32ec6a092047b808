//! `sotay-bench`: the benchmark program of SPEC §8. It starts a real `sotay-server` (this same
//! binary re-executed in `serve` mode, so the server is its own process and its memory can be read)
//! on a fresh database, drives it with simulated devices running the project's own device code,
//! and prints every figure beside its target and, where one exists, the raw limit measured in the
//! same run (Automerge's own in-memory merge, raw SQLite inserts of the same bytes) as a ratio.
//!
//! `--quick` runs every scenario at reduced size; `--json` prints one JSON object per figure.

mod figures;
mod harness;
mod phone;
mod province;
mod reports;
mod scenarios;

use clap::Parser;

/// Command line.
#[derive(Parser, Debug, Clone)]
#[command(name = "sotay-bench", about = "Sổ Tay benchmarks against SPEC §8 targets")]
pub struct Args {
    /// Reduced sizes: every scenario in under two minutes on 2 cores.
    #[arg(long)]
    pub quick: bool,
    /// One JSON object per line per figure instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Run only the scenarios whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
    /// Also run the database-size and report scenarios on PostgreSQL, and the province scenarios
    /// (which need it): a URL of a database on the server where the benchmark may create its own
    /// (e.g. `postgres://postgres@127.0.0.1:5432/test`).
    #[arg(long)]
    pub postgres: Option<String>,
    /// Internal: run as the server process on this database URL.
    #[arg(long, hide = true)]
    pub serve: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if let Some(db_url) = &args.serve {
        return runtime.block_on(harness::serve_child(db_url));
    }
    runtime.block_on(scenarios::run_all(&args))
}
