//! `regsync consume`: the function core behind an rdkafka consumer group, for running outside
//! Lambda (on a VM, in Kubernetes, or locally).
//!
//! Each loop collects a batch (up to `batch_size` records or `batch_wait`), applies it with
//! [`regsync_pipeline::apply_batch`] (one publish), produces the records that can never apply to
//! the dead-letter topic (`<topic>.dlq`, reason in headers) and only then commits the offsets.
//! A failure that a retry can fix (store conflict or outage, dead-letter topic unreachable) is
//! retried with backoff, never skipped; SIGTERM lets the current batch finish and commit. A crash
//! at any point redelivers from the last commit, and redelivered records fold to `stale`.
//!
//! The Kafka clients are configured by `regsync-kafka` (security, properties, role
//! defaults); librdkafka is linked only by the services, so the Lambda builds compile no C.

pub mod metrics;
pub mod record;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use regsync_kafka::Settings;
use regsync_kafka::rd::rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use regsync_kafka::rd::rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use regsync_kafka::rd::rdkafka::message::{
    BorrowedMessage, Header, Headers, Message, OwnedHeaders,
};
use regsync_kafka::rd::rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use regsync_kafka::rd::rdkafka::{self as rdkafka, Offset, TopicPartitionList};
use regsync_kafka::rd::{Context, Role, wait_ready};
use regsync_pipeline::{BatchReport, DeadLetter, Input, KafkaRecord, Pipeline, apply_batch};
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use metrics::Metrics;

/// Suffix of the dead-letter topic's name.
pub const DLQ_SUFFIX: &str = ".dlq";
/// Longest pause between retries of a failing batch.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The group session timeout (`session.timeout.ms`, overridable with `-X`): a member that
/// crashed is evicted, and its partitions handed over, after this long without a heartbeat.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting waits for the brokers to answer (a refused login returns at once).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What `regsync consume` runs with.
#[derive(Debug, Clone)]
pub struct ConsumeConfig {
    /// The brokers and the client settings (security, properties).
    pub kafka: Settings,
    /// Topic to consume.
    pub topic: String,
    /// Consumer group id.
    pub group: String,
    /// Most records per batch.
    pub batch_size: usize,
    /// Longest wait for a batch to fill once its first record arrived.
    pub batch_wait: Duration,
    /// Dead-letter topic.
    pub dlq_topic: String,
}

impl ConsumeConfig {
    /// The usual configuration for `topic`: batches of 500 or 100 ms, `<topic>.dlq`.
    pub fn new(kafka: Settings, topic: &str, group: &str) -> Self {
        ConsumeConfig {
            kafka,
            topic: topic.to_owned(),
            group: group.to_owned(),
            batch_size: 500,
            batch_wait: Duration::from_millis(100),
            dlq_topic: format!("{topic}{DLQ_SUFFIX}"),
        }
    }
}

/// Totals of a run, for the exit message and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Batches committed.
    pub batches: u64,
    /// Records committed.
    pub records: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
}

/// Creates `topic` with `partitions` if it does not exist.
pub async fn ensure_topic(
    config: &ConsumeConfig,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<Context> = config.kafka.create(Role::Admin, Context::default())?;
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .with_context(|| format!("cannot create topic {topic} on {}", config.kafka.brokers()))?;
    for r in results {
        match r {
            Ok(_) => info!(topic, partitions, "topic created"),
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => anyhow::bail!("cannot create topic {t}: {code}"),
        }
    }
    Ok(())
}

/// The record as the core sees it.
pub fn owned(m: &BorrowedMessage<'_>) -> KafkaRecord {
    KafkaRecord {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp_ms: m.timestamp().to_millis(),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers: m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The consumer, the dead-letter producer and what they report to.
pub struct Consumer {
    config: ConsumeConfig,
    consumer: StreamConsumer<Context>,
    producer: FutureProducer<Context>,
    pipeline: Pipeline,
    metrics: Arc<Metrics>,
}

impl Consumer {
    /// Connects: the group consumer (manual commits), the idempotent dead-letter producer, and
    /// the dead-letter topic (created with the source topic's partition count if missing).
    pub async fn connect(
        config: ConsumeConfig,
        pipeline: Pipeline,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        // The dead-letter producer first: its client serves its own events, so it learns of a
        // refused login or TLS failure at once (a group consumer only when polled). The
        // metadata of all topics, not of the source topic: a producer's request for one topic
        // may create it.
        let context = Context::default();
        let refusal = context.refusal();
        let producer: FutureProducer<Context> = config
            .kafka
            .create(Role::Producer { linger: None }, context)?;
        let metadata = wait_ready(
            &config.kafka,
            producer.client(),
            &refusal,
            None,
            CONNECT_TIMEOUT,
            || {},
        )?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == config.topic)
            .map(|t| t.partitions().len())
            .filter(|&n| n > 0)
            .unwrap_or(1);
        ensure_topic(
            &config,
            &config.dlq_topic,
            i32::try_from(partitions).unwrap_or(1),
        )
        .await?;
        let consumer: StreamConsumer<Context> = config.kafka.create(
            Role::GroupConsumer {
                group: &config.group,
                session_timeout: SESSION_TIMEOUT,
                statistics: Some(Duration::from_secs(1)),
            },
            metrics::context(metrics.clone()),
        )?;
        consumer
            .subscribe(&[&config.topic])
            .with_context(|| format!("cannot subscribe to {}", config.topic))?;
        info!(brokers = %config.kafka.brokers(), topic = %config.topic, group = %config.group, dlq = %config.dlq_topic, "consuming");
        Ok(Consumer {
            config,
            consumer,
            producer,
            pipeline,
            metrics,
        })
    }

    /// Runs until `stop` turns true; the batch in hand is finished and committed first.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> anyhow::Result<Totals> {
        let mut totals = Totals::default();
        loop {
            if *stop.borrow() {
                break;
            }
            let first = tokio::select! {
                biased;
                _ = stop.changed() => break,
                m = self.consumer.recv() => m,
            };
            let mut batch = match first {
                Ok(m) => vec![owned(&m)],
                Err(e) => {
                    warn!(error = %e, "cannot read from Kafka; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let deadline = tokio::time::Instant::now() + self.config.batch_wait;
            while batch.len() < self.config.batch_size {
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(owned(&m)),
                    Ok(Err(e)) => warn!(error = %e, "cannot read from Kafka"),
                    Err(_) => break,
                }
            }
            let Some(report) = self.process_until_done(&batch, &stop).await else {
                warn!(
                    records = batch.len(),
                    "stopping with a batch not stored; it will be redelivered"
                );
                return Ok(totals);
            };
            self.commit(&batch)?;
            totals.batches += 1;
            totals.records += batch.len() as u64;
            totals.dead_lettered += report.count("rejected") as u64;
        }
        info!(
            batches = totals.batches,
            records = totals.records,
            "consumer stopped"
        );
        Ok(totals)
    }

    /// Applies and dead-letters `batch`, retrying with backoff until it succeeds; `None` when
    /// asked to stop while it was failing.
    async fn process_until_done(
        &self,
        batch: &[KafkaRecord],
        stop: &watch::Receiver<bool>,
    ) -> Option<BatchReport> {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.process(batch).await {
                Ok(report) => return Some(report),
                Err((kind, message)) => {
                    self.metrics.batch_failed(kind);
                    warn!(kind, error = %message, retry_in_ms = delay.as_millis() as u64, "batch failed; retrying");
                    if *stop.borrow() {
                        return None;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    async fn process(&self, batch: &[KafkaRecord]) -> Result<BatchReport, (&'static str, String)> {
        let max = self.pipeline.max_record_bytes;
        let inputs: Vec<Input> = batch.iter().map(|r| r.decode(max)).collect();
        // Kept whole before anything is applied; a failure retries the batch.
        if let Some(archive) = &self.pipeline.archive {
            archive
                .kafka(batch)
                .await
                .map_err(|e| (e.kind(), regsync_pipeline::error::chain(&e)))?;
        }
        let report = apply_batch(&self.pipeline, inputs)
            .await
            .map_err(|e| (e.kind(), regsync_pipeline::error::chain(&e)))?;
        for (i, why) in report.rejections() {
            let record = &batch[i];
            let letter = DeadLetter::new(record, why.clone());
            self.dead_letter(record, &letter).await?;
        }
        self.metrics.batch_done(&report);
        debug!(
            records = batch.len(),
            generation = report.generation,
            "batch stored"
        );
        Ok(report)
    }

    async fn dead_letter(
        &self,
        record: &KafkaRecord,
        letter: &DeadLetter,
    ) -> Result<(), (&'static str, String)> {
        let mut headers = OwnedHeaders::new();
        for (k, v) in letter.kafka_headers(record) {
            headers = headers.insert(Header {
                key: &k,
                value: Some(&v),
            });
        }
        let mut out = FutureRecord::<[u8], [u8]>::to(&self.config.dlq_topic).headers(headers);
        if let Some(k) = &record.key {
            out = out.key(k.as_slice());
        }
        if let Some(v) = &record.value {
            out = out.payload(v.as_slice());
        }
        self.producer
            .send(out, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| {
                (
                    "DeadLetterUnavailable",
                    format!("cannot produce to {}: {e}", self.config.dlq_topic),
                )
            })?;
        warn!(
            position = %record.position(),
            dlq = %self.config.dlq_topic,
            kind = %letter.rejection.kind,
            reason = %letter.rejection.reason,
            "record dead-lettered"
        );
        Ok(())
    }

    /// Commits the next offset of every partition in `batch`.
    fn commit(&self, batch: &[KafkaRecord]) -> anyhow::Result<()> {
        let mut next: BTreeMap<(&str, i32), i64> = BTreeMap::new();
        for r in batch {
            let e = next.entry((&r.topic, r.partition)).or_insert(0);
            *e = (*e).max(r.offset + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &next {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .context("bad offset")?;
        }
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Sync) {
            // After a rebalance the partitions belong to another member, which redelivers them;
            // the records fold to stale there, so nothing is lost.
            warn!(error = %e, "offset commit failed; the records will be redelivered");
        }
        Ok(())
    }
}

/// Connects and runs until `shutdown` resolves; `on_ready` gets the metrics address.
pub async fn run(
    config: ConsumeConfig,
    pipeline: Pipeline,
    metrics_listen: Option<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(Option<SocketAddr>),
) -> anyhow::Result<Totals> {
    let metrics = Arc::new(Metrics::default());
    let addr = match metrics_listen {
        Some(addr) => Some(metrics::serve(metrics.clone(), addr).await?),
        None => None,
    };
    let consumer = Consumer::connect(config, pipeline, metrics).await?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        info!("stop requested; finishing the current batch");
        let _ = tx.send(true);
    });
    on_ready(addr);
    consumer.run(rx).await
}
