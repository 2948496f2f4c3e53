//! `regsync`: the one command users run. Glue only; the work lives in the library crates.

use std::io::IsTerminal as _;
use std::process::ExitCode;

mod apply_cmd;
mod bridge_cmd;
mod cli;
mod consume_cmd;
mod convert_cmd;
mod gc_task;
mod listener;
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

/// Set to anything but empty, it turns colours off (https://no-color.org).
const NO_COLOR: &str = "NO_COLOR";

fn main() -> ExitCode {
    let cli = cli::parse();
    // Colours only on a terminal: logs redirected to a file or a pipe stay plain text.
    let colour =
        std::io::stderr().is_terminal() && std::env::var_os(NO_COLOR).is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
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
