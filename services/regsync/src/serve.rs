//! What the long-running commands (`consume`, `webhook`) share: a multi-threaded runtime and the
//! function core over a store.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use regsync_pipeline::Pipeline;

use crate::convert_cmd::load_config;

/// Runs `work` on a multi-threaded runtime.
pub fn block_on(
    work: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(work)
}

/// The function core over the store at `url` with the rules in `config`; these commands report
/// rejected records themselves, so no dead-letter store is attached.
pub async fn pipeline(url: &str, config: Option<&Path>) -> anyhow::Result<Pipeline> {
    let store = regsync_store::Store::open(url)
        .await
        .with_context(|| format!("cannot open store {url}"))?;
    let mut pipeline = Pipeline::with_store(store);
    pipeline.convert = load_config(config)?;
    pipeline.dead_letters = None;
    Ok(pipeline)
}
