//! `regsync replay`: recorded events folded into a store through the function core.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use regsync_model::event::DEFAULT_MAX_PAYLOAD;
use regsync_pipeline::replay::{self, Item, Options, Progress, Report};
use regsync_store::Store;
use regsync_sync_consumer::record::KafkaSource;

use crate::cli::StoreArgs;

/// Exit code when a replay was interrupted (128 + SIGINT, as shells report Ctrl-C).
const INTERRUPTED: u8 = 130;

/// Arguments of `regsync replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Where the events come from, in order: a recording (JSON lines, a JSON array or one event;
    /// `-` for stdin), a directory or a store prefix (`file:///dir`, `s3://bucket/prefix`: every
    /// object under it, e.g. the `dead-letter/` prefix of a snapshot store), or a Kafka topic
    /// (`kafka://BROKER[,BROKER...]/TOPIC[@OFFSET|@TIME]`).
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<String>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Rebuild the state as of this moment (RFC 3339): events whose CloudEvents `time` is later
    /// are left out, and so are events without a `time`.
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<i64>,
    /// Replay into a private copy of the store's latest generation; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the entries and endpoints the replay adds, removes or changes in the store's latest
    /// generation (with --dry-run: would add, remove or change).
    #[arg(long)]
    pub diff: bool,
    /// Events per published generation.
    #[arg(long, default_value_t = replay::DEFAULT_BATCH as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch: u64,
    /// Replay from the start even when the store holds a checkpoint of this source.
    #[arg(long)]
    pub restart: bool,
    /// Conversion rules (YAML); every writer of a store must use the same.
    #[arg(long, short = 'c', env = "REGSYNC_CONVERT_CONFIG")]
    pub config: Option<PathBuf>,
    /// How kafka:// sources are read.
    #[command(flatten)]
    pub kafka: crate::cli::KafkaArgs,
}

fn parse_until(text: &str) -> Result<i64, String> {
    replay::parse_time(text).ok_or_else(|| {
        format!("{text:?} is not an RFC 3339 time; e.g. 2026-11-23T10:00:00Z or 2026-11-23T11:00:00+01:00")
    })
}

/// Runs `regsync replay`.
pub fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    crate::serve::block_on(replay_async(args))
}

async fn read_source(source: &str, args: &ReplayArgs) -> anyhow::Result<Vec<Item>> {
    if source.starts_with("kafka://") {
        let kafka: KafkaSource = source.parse().map_err(anyhow::Error::msg)?;
        let config = args.kafka.config();
        let recording = tokio::task::spawn_blocking(move || {
            regsync_sync_consumer::record::record(&kafka, &config)
        })
        .await??;
        let mut items = replay::items_from_bytes(source, &recording.lines, DEFAULT_MAX_PAYLOAD);
        items.extend(recording.rejected.into_iter().map(|(origin, reason)| Item {
            input: Err(regsync_pipeline::Rejection::new(
                "syntax",
                None,
                format!("{origin}: {reason}"),
            )),
            origin,
            time_ms: None,
        }));
        return Ok(items);
    }
    if source.starts_with("s3://")
        || source.starts_with("file://")
        || std::path::Path::new(source).is_dir()
    {
        let store = Store::open(source)
            .await
            .with_context(|| format!("cannot open source {source}"))?;
        return Ok(replay::items_from_store(&store, DEFAULT_MAX_PAYLOAD).await?);
    }
    if source == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        return Ok(replay::items_from_bytes(
            "stdin",
            &bytes,
            DEFAULT_MAX_PAYLOAD,
        ));
    }
    let bytes = std::fs::read(source).with_context(|| {
        format!("cannot read {source}; a SOURCE is a file, a directory, s3://bucket/prefix, file:///dir or kafka://brokers/topic")
    })?;
    Ok(replay::items_from_bytes(
        source,
        &bytes,
        DEFAULT_MAX_PAYLOAD,
    ))
}

fn progress_bar(total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "replaying [{bar:30}] {pos}/{len} records, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

async fn replay_async(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let mut items = Vec::new();
    for source in &args.sources {
        items.extend(read_source(source, &args).await?);
    }
    let live = Store::open(&args.store.store)
        .await
        .with_context(|| format!("cannot open store {}", args.store.store))?;
    let target = if args.dry_run {
        replay::copy_to_memory(&live)
            .await
            .with_context(|| format!("cannot read store {}", args.store.store))?
    } else {
        live
    };
    let base = target.latest().await?;
    let mut pipeline = crate::serve::pipeline("memory://", args.config.as_deref()).await?;
    pipeline.store = target.clone();
    let options = Options {
        batch: usize::try_from(args.batch).unwrap_or(usize::MAX),
        until_ms: args.until,
        resume: !args.restart && !args.dry_run,
        source: args.sources.join(" "),
    };

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            crate::signals::terminated().await;
            stop.store(true, Ordering::SeqCst);
        })
    };
    let bar = progress_bar(items.len());
    let started = Instant::now();
    let mut first = true;
    let mut on_progress = |p: Progress| {
        if first && p.done > 0 {
            bar.suspend(|| {
                eprintln!(
                    "resuming after {} of {} records (a checkpoint in the store; --restart replays from the start)",
                    p.done, p.total
                );
            });
        }
        first = false;
        bar.set_position(p.done as u64);
    };
    let report = replay::replay(&pipeline, items, &options, &mut on_progress, &|| {
        stop.load(Ordering::SeqCst)
    })
    .await;
    watcher.abort();
    bar.finish_and_clear();
    let report = report.context("the replay stopped; run the same command again to resume")?;

    let mut out = std::io::stdout().lock();
    let last = target.latest().await?;
    if args.diff {
        let diff = regsync_snapshots::diff(&target, &base, &last).await?;
        if diff.changes.is_empty() {
            writeln!(out, "no entry changed")?;
        } else {
            crate::snapshot_cmd::write_diff(&mut out, &diff)?;
        }
    }
    for (origin, why) in &report.rejected {
        if why.reason.contains(origin.as_str()) {
            eprintln!("not replayed: {why}");
        } else {
            eprintln!("not replayed: {origin}: {why}");
        }
    }
    summary(&mut out, &args, &report, started.elapsed().as_secs_f64())?;
    writeln!(
        out,
        "snapshot {} ({}generation {})",
        replay::digest(&target, &last).await?,
        if args.dry_run {
            "dry run: would be "
        } else {
            ""
        },
        last.number
    )?;
    if report.interrupted {
        eprintln!(
            "interrupted after {} of {} records; the checkpoint is saved in the store: run the same command again to resume",
            report.done, report.total
        );
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn summary(
    out: &mut impl std::io::Write,
    args: &ReplayArgs,
    report: &Report,
    seconds: f64,
) -> std::io::Result<()> {
    let handled = report.applied + report.stale + report.rejected.len();
    let (dry_run, published) = if args.dry_run {
        (
            " (dry run: nothing written)",
            format!(
                "nothing published (would have published {} generation(s))",
                report.published
            ),
        )
    } else {
        ("", format!("{} generation(s) published", report.published))
    };
    write!(
        out,
        "replayed {handled} of {} records into {}{dry_run}: {} applied, {} stale, {} rejected; {published}",
        report.total,
        args.store.store,
        report.applied,
        report.stale,
        report.rejected.len(),
    )?;
    if report.resumed_after > 0 {
        write!(out, "; {} skipped (done before)", report.resumed_after)?;
    }
    if args.until.is_some() {
        write!(
            out,
            "; left out by --until: {} later, {} without a time",
            report.after_until, report.undated
        )?;
    }
    let rate = if seconds > 0.0 {
        handled as f64 / seconds
    } else {
        0.0
    };
    writeln!(out, "; {seconds:.2} s, {rate:.0} records/s")
}
