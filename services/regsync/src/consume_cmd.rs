//! `regsync consume`: the function core behind an rdkafka consumer group.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use regsync_sync_consumer::{ConsumeConfig, DLQ_SUFFIX};

use crate::cli::{KafkaArgs, StoreArgs};

/// Arguments of `regsync consume`.
#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    /// Kafka bootstrap servers, comma-separated.
    #[arg(long, env = "REGSYNC_KAFKA_BROKERS")]
    pub brokers: String,
    /// Topic carrying registry events (CloudEvents, structured or `ce_` binary mode).
    #[arg(long, env = "REGSYNC_KAFKA_TOPIC", default_value = "registry-events")]
    pub topic: String,
    /// Consumer group id; run several consumers with one group to share partitions.
    #[arg(long, env = "REGSYNC_KAFKA_GROUP", default_value = "regsync")]
    pub group: String,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub archive: crate::serve::ArchiveArgs,
    /// Most records applied as one batch (one snapshot publish).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// Longest wait for a batch to fill once its first record arrived (e.g. 100ms, 1s).
    #[arg(long, default_value = "100ms", value_parser = crate::snapshot_cmd::parse_duration)]
    pub batch_wait: Duration,
    /// Dead-letter topic for records that can never apply [default: <topic>.dlq].
    #[arg(long)]
    pub dlq_topic: Option<String>,
    /// Where to serve Prometheus /metrics (consumer lag, outcomes, failures); port 0 picks one.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// Conversion rules (YAML); see the README's "Conversion rules".
    #[arg(long, short = 'c', env = "REGSYNC_CONVERT_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Runs the consumer until SIGTERM or Ctrl-C.
pub fn run(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    crate::serve::block_on(consume(args))
}

async fn consume(args: ConsumeArgs) -> anyhow::Result<ExitCode> {
    let mut pipeline = crate::serve::pipeline(&args.store.store, args.config.as_deref()).await?;
    args.archive.attach(&mut pipeline).await?;
    let kafka = args.kafka.config().settings(&args.brokers)?;
    let mut config = ConsumeConfig::new(kafka, &args.topic, &args.group);
    config.batch_size = args.batch_size as usize;
    config.batch_wait = args.batch_wait;
    config.dlq_topic = args
        .dlq_topic
        .unwrap_or_else(|| format!("{}{DLQ_SUFFIX}", args.topic));
    let summary = format!(
        "regsync consume: {} (group {}) on {} -> {}; dead letters to {}",
        config.topic,
        config.group,
        config.kafka.brokers(),
        args.store.store,
        config.dlq_topic
    );
    let totals = regsync_sync_consumer::run(
        config,
        pipeline,
        Some(args.metrics_listen),
        crate::signals::terminated(),
        |addr| {
            println!("{summary}");
            if let Some(addr) = addr {
                println!("metrics on http://{addr}/metrics");
            }
        },
    )
    .await?;
    println!(
        "stopped after {} batches, {} records ({} dead-lettered); offsets committed",
        totals.batches, totals.records, totals.dead_lettered
    );
    Ok(ExitCode::SUCCESS)
}
