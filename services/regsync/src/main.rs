//! `regsync`: the one command users run. Glue only; the work lives in the library crates.

use std::process::ExitCode;

use clap::Parser;

mod apply_cmd;
mod bridge_cmd;
mod cli;
mod consume_cmd;
mod convert_cmd;
mod mcp_cmd;
mod record_cmd;
mod replay_cmd;
mod serve;
mod signals;
mod snapshot_cmd;
mod up_cmd;
mod webhook_cmd;

// The same allocator as the Lambda functions: batches allocate and free many small objects.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match cli.run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}
