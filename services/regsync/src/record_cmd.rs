//! `regsync record`: a Kafka topic's registry events to a JSON-lines recording.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use regsync_sync_consumer::record::{KafkaSource, record};

use crate::cli::KafkaArgs;

/// Arguments of `regsync record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// kafka://BROKER[,BROKER...]/TOPIC, optionally @OFFSET (every partition from that offset)
    /// or @TIME (RFC 3339: the first record at or after it); from the beginning by default.
    #[arg(long, value_parser = clap::value_parser!(KafkaSource))]
    pub from: KafkaSource,
    /// The recording to write (JSON lines); `-` for stdout. An existing file is replaced.
    #[arg(long)]
    pub to: PathBuf,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// Records, prints a summary and any rejected record to stderr; exit code 2 when some records
/// were not events (the others are recorded).
pub fn run(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let recording = record(&args.from, &args.kafka.config())?;
    if args.to.as_os_str() == "-" {
        std::io::stdout().write_all(&recording.lines)?;
    } else {
        // Written beside the target and renamed over it: never half a recording.
        let tmp = args.to.with_extension("partial");
        std::fs::write(&tmp, &recording.lines)
            .and_then(|()| std::fs::rename(&tmp, &args.to))
            .with_context(|| format!("cannot write --to {}", args.to.display()))?;
    }
    for (position, reason) in &recording.rejected {
        if reason.contains(position.as_str()) {
            eprintln!("not recorded: {reason}");
        } else {
            eprintln!("not recorded: {position}: {reason}");
        }
    }
    eprintln!(
        "recorded {} events from {} ({} partitions) to {}{}",
        recording.events,
        args.from.topic,
        recording.partitions,
        args.to.display(),
        if recording.rejected.is_empty() {
            String::new()
        } else {
            format!(
                "; {} records are not events (listed above)",
                recording.rejected.len()
            )
        }
    );
    Ok(if recording.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
