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

/// Where `consume` and `webhook` keep what they receive.
#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    /// Keep every received record whole, before it is applied, under archive/ of this store:
    /// s3://bucket/prefix, file:///dir, or `store` for the snapshot store. Rebuild or audit
    /// from it with `regsync replay s3://bucket/prefix/archive --store URL`.
    #[arg(long, env = "REGSYNC_ARCHIVE_URL", value_name = "URL")]
    pub archive: Option<String>,
}

impl ArchiveArgs {
    /// Opens the archive, if one is asked for, and attaches it to `pipeline`.
    pub async fn attach(&self, pipeline: &mut Pipeline) -> anyhow::Result<()> {
        use regsync_pipeline::config::ArchiveTarget;
        let Some(url) = &self.archive else {
            return Ok(());
        };
        let target = ArchiveTarget::parse(url).map_err(|e| anyhow::anyhow!("--archive: {e}"))?;
        let archive = target
            .open(&pipeline.store)
            .await
            .with_context(|| format!("cannot open the archive store {url}"))?;
        pipeline.archive = Some(archive);
        Ok(())
    }
}
