//! `regsync apply`: server-side apply of a generation's ServiceEntries to a cluster.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use regsync_store::Store;

use crate::cli::StoreArgs;

/// Arguments of `regsync apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Generation number (the latest by default).
    #[arg(long, short = 'g')]
    pub generation: Option<u64>,
    /// Kubeconfig file. Without it: $KUBECONFIG, ~/.kube/config, then the in-cluster service
    /// account.
    #[arg(long, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Context of the kubeconfig (its current context by default).
    #[arg(long)]
    pub context: Option<String>,
    /// A namespace regsync owns entries in; repeat it. Owned entries are pruned in these and in
    /// the namespaces of the snapshot's entries, so name a namespace here to empty it.
    #[arg(long = "namespace", short = 'n', value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Send every request as a server-side dry run: validated, nothing changed.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `regsync apply`.
pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_async(args))
}

async fn run_async(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    // The cluster first: a wrong kubeconfig is the likeliest mistake, and reading it is cheap.
    let client = regsync_kube::connect(args.kubeconfig.as_deref(), args.context.as_deref())
        .await
        .map_err(anyhow::Error::msg)?;
    let url = &args.store.store;
    let store = Store::open(url)
        .await
        .with_context(|| format!("cannot open store {url}"))?;
    let generation = regsync_snapshots::generation(&store, args.generation).await?;
    let view = regsync_snapshots::read(&store, &generation).await?;
    for r in &view.rejected {
        for reason in &r.reasons {
            eprintln!("warning: {}: {reason}", r.resource);
        }
    }
    let namespaces: BTreeSet<String> = args.namespaces.iter().cloned().collect();
    let report = regsync_kube::apply(&client, &view.entries, &namespaces, args.dry_run).await?;
    let mut out = std::io::stdout().lock();
    let suffix = if args.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    for name in &report.applied {
        writeln!(out, "serviceentry {name} applied{suffix}")?;
    }
    for name in &report.pruned {
        writeln!(out, "serviceentry {name} pruned{suffix}")?;
    }
    writeln!(
        out,
        "generation {}: {} applied, {} pruned{suffix}",
        generation.number,
        report.applied.len(),
        report.pruned.len()
    )?;
    Ok(ExitCode::SUCCESS)
}
