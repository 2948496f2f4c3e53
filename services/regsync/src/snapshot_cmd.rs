//! `regsync snapshot apply|ls|get|diff|gc`, and `regsync export`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use regsync_convert::input::RawDefaults;
use regsync_model::WorkloadEntry;
use regsync_snapshots::EntryChange;
use regsync_store::Store;

use crate::cli::{ExportArgs, KubeOutput, SnapshotCommand};
use crate::convert_cmd::{load_config, read_inputs, report_rejected};

/// Exit code for "try again later" (sysexits EX_TEMPFAIL).
const TEMPFAIL: u8 = 75;

/// Parses `250ms`, `30s`, `15m`, `1h`, `2d` or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use e.g. 250ms, 30s, 15m, 1h or 2d"))?;
    let millis = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?}; use ms, s, m, h or d"
            ));
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(millis)))
}

async fn open(url: &str) -> anyhow::Result<Store> {
    Store::open(url)
        .await
        .with_context(|| format!("cannot open store {url}"))
}

/// `regsync export`: the entries of a generation as Kubernetes objects.
pub fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(write_entries(
            &args.store.store,
            args.generation,
            args.output,
            &mut std::io::stdout().lock(),
        ))
}

/// Writes the ServiceEntries of `generation` (the latest when `None`) of the store at `url` as
/// Kubernetes objects; rejections go to stderr as warnings.
async fn write_entries(
    url: &str,
    generation: Option<u64>,
    output: KubeOutput,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let store = open(url).await?;
    if store.latest().await?.number == 0 {
        return Err(no_snapshot(url));
    }
    let g = regsync_snapshots::generation(&store, generation).await?;
    let view = regsync_snapshots::read(&store, &g).await?;
    if view.entries.is_empty() {
        eprintln!(
            "generation {} in {url} has no ServiceEntries (none registered, or all rejected)",
            g.number
        );
    }
    for r in &view.rejected {
        for reason in &r.reasons {
            eprintln!("warning: {}: {reason}", r.resource);
        }
    }
    let text = match output {
        KubeOutput::Yaml => regsync_kube::to_yaml(&view.entries),
        KubeOutput::Json => {
            serde_json::to_string_pretty(&regsync_kube::to_json_list(&view.entries))? + "\n"
        }
    };
    out.write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// What `snapshot get` and `export` say about a store nothing was published to (or none at
/// all, a common first step: the default `file://.regsync/store` is in the current directory).
fn no_snapshot(url: &str) -> anyhow::Error {
    let missing = url
        .strip_prefix("file://")
        .filter(|dir| !std::path::Path::new(dir).exists())
        .map(|dir| format!(" ({dir} does not exist)"))
        .unwrap_or_default();
    anyhow::anyhow!(
        "no snapshot in {url}{missing}: nothing was published to this store.\n\
         - `regsync up` prints the URL of the store it fills (`store ...`): pass it as --store\n\
         - or publish here: `regsync snapshot apply --store {url} FILE...` or \
         `regsync replay FILE --store {url}`"
    )
}

/// Runs a `snapshot` subcommand.
pub fn run(cmd: SnapshotCommand) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(run_async(cmd))
}

async fn run_async(cmd: SnapshotCommand) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        SnapshotCommand::Apply {
            store,
            config,
            attempts,
            files,
        } => {
            let config = load_config(config.as_deref())?;
            let inputs = read_inputs(
                &files,
                &RawDefaults::default(),
                regsync_model::event::DEFAULT_MAX_PAYLOAD,
            )?;
            // Rejections do not depend on the state: fold into an empty one, without rendering.
            let mut scratch = regsync_model::RegistryState::default();
            let outcomes: Vec<_> = inputs
                .events
                .iter()
                .map(|e| regsync_convert::fold::apply_event(&mut scratch, e))
                .collect();
            let invalid = inputs.failures + report_rejected(&inputs, &outcomes);
            if invalid > 0 {
                eprintln!("{invalid} input(s) invalid; nothing applied");
                return Ok(ExitCode::from(1));
            }
            let store = open(&store.store).await?;
            match regsync_snapshots::apply(&store, &inputs.events, &config, attempts).await {
                Ok(applied) => {
                    let p = &applied.plan;
                    let applied_n = p
                        .outcomes
                        .iter()
                        .filter(|o| matches!(o, regsync_convert::Outcome::Applied))
                        .count();
                    writeln!(
                        out,
                        "generation {}: {} event(s), {} applied, {} stale; {} unit(s) moved, {} host(s) rendered, {} object(s) changed, {} attempt(s)",
                        applied.generation.number,
                        p.outcomes.len(),
                        applied_n,
                        p.outcomes.len() - applied_n,
                        p.moved.len(),
                        p.hosts.len(),
                        p.written,
                        applied.attempts
                    )?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) if e.is_retryable() => {
                    eprintln!("error: {e}; nothing was published, run the same command again");
                    Ok(ExitCode::from(TEMPFAIL))
                }
                Err(e) => Err(e.into()),
            }
        }
        SnapshotCommand::Ls { store, limit } => {
            let store = open(&store.store).await?;
            let history = regsync_snapshots::history(&store, limit).await?;
            if history.is_empty() {
                eprintln!(
                    "no generation yet: publish one with `regsync snapshot apply --store ... FILE...`"
                );
            }
            writeln!(out, "GENERATION\tROOT")?;
            for g in history {
                writeln!(out, "{}\t{}", g.number, g.root)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SnapshotCommand::Get {
            store,
            generation,
            output,
        } => write_entries(&store.store, generation, output, &mut out).await,
        SnapshotCommand::Digest {
            store: url,
            generation,
        } => {
            let store = open(&url.store).await?;
            let digest = match regsync_snapshots::generation(&store, generation).await {
                Ok(g) => regsync_pipeline::replay::digest(&store, &g)
                    .await
                    .map(|digest| (digest, g.number)),
                Err(e) => Err(e.into()),
            };
            match digest {
                Ok((digest, number)) => {
                    writeln!(out, "snapshot {digest} (generation {number})")?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(regsync_pipeline::Error::Store(e)) if damaged(&e) => {
                    eprintln!(
                        "error: {e}\n\
                         the snapshot is damaged, so it has no digest. Restore that object from a \
                         backup or bucket versioning, or rebuild the snapshot in a new store with \
                         `regsync replay`; `regsync snapshot ls --store {}` lists the generations \
                         retained and `regsync snapshot digest -g N` checks one",
                        url.store
                    );
                    Ok(ExitCode::from(1))
                }
                Err(regsync_pipeline::Error::Store(e)) => Err(e.into()),
                Err(e) => Err(e.into()),
            }
        }
        SnapshotCommand::Diff {
            store,
            from,
            to,
            json,
        } => {
            let store = open(&store.store).await?;
            let a = regsync_snapshots::generation(&store, Some(from)).await?;
            let b = regsync_snapshots::generation(&store, to).await?;
            let diff = regsync_snapshots::diff(&store, &a, &b).await?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::to_string_pretty(&diff_json(a.number, b.number, &diff))?
                )?;
            } else {
                write_diff(&mut out, &diff)?;
            }
            Ok(if diff.changes.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        SnapshotCommand::Gc {
            store,
            retain,
            grace,
            dry_run,
        } => {
            let store = open(&store.store).await?;
            let report = store
                .gc(regsync_store::generations::GcOptions {
                    retain: usize::try_from(retain).unwrap_or(usize::MAX),
                    grace,
                    dry_run,
                })
                .await?;
            writeln!(out, "{report}")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Whether `e` says an object of the snapshot is missing, corrupt or does not decode (rather
/// than the store being unreachable, or `latest` or a generation number being wrong).
fn damaged(e: &regsync_store::Error) -> bool {
    match e {
        regsync_store::Error::Corrupt { .. } => true,
        regsync_store::Error::Layout { key, .. } => key.starts_with(regsync_store::CONTENT_PREFIX),
        _ => false,
    }
}

fn endpoint_text(e: &WorkloadEntry) -> String {
    let ports: Vec<String> = e.ports.values().map(u32::to_string).collect();
    if ports.is_empty() {
        e.address.clone()
    } else {
        format!("{}:{}", e.address, ports.join(","))
    }
}

pub fn write_diff(out: &mut impl Write, diff: &regsync_snapshots::Diff) -> std::io::Result<()> {
    for c in &diff.changes {
        match c {
            EntryChange::Added(e) => writeln!(
                out,
                "+ {} ({} endpoints)",
                e.resource_name(),
                e.spec.endpoints.len()
            )?,
            EntryChange::Removed(e) => writeln!(
                out,
                "- {} ({} endpoints)",
                e.resource_name(),
                e.spec.endpoints.len()
            )?,
            EntryChange::Changed {
                new,
                added,
                removed,
                ..
            } => {
                writeln!(out, "~ {}", new.resource_name())?;
                for e in added {
                    writeln!(out, "    + {}", endpoint_text(e))?;
                }
                for e in removed {
                    writeln!(out, "    - {}", endpoint_text(e))?;
                }
                if added.is_empty() && removed.is_empty() {
                    writeln!(out, "    (ports, labels or annotations changed)")?;
                }
            }
        }
    }
    Ok(())
}

fn diff_json(from: u64, to: u64, diff: &regsync_snapshots::Diff) -> serde_json::Value {
    let names = |f: fn(&EntryChange) -> Option<String>| -> Vec<String> {
        diff.changes.iter().filter_map(f).collect()
    };
    let changed: Vec<serde_json::Value> = diff
        .changes
        .iter()
        .filter_map(|c| match c {
            EntryChange::Changed {
                new,
                added,
                removed,
                ..
            } => Some(serde_json::json!({
                "resource": new.resource_name(),
                "addedEndpoints": added,
                "removedEndpoints": removed,
            })),
            _ => None,
        })
        .collect();
    serde_json::json!({
        "from": from,
        "to": to,
        "added": names(|c| match c {
            EntryChange::Added(e) => Some(e.resource_name()),
            _ => None,
        }),
        "removed": names(|c| match c {
            EntryChange::Removed(e) => Some(e.resource_name()),
            _ => None,
        }),
        "changed": changed,
    })
}
