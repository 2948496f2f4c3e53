//! `ingest-kafka`: the Lambda function behind MSK and self-managed Kafka event source mappings.
//!
//! One invocation is one batch: every record of every topic-partition is decoded (base64 key and
//! value, byte-array headers, structured or `ce_` binary-mode CloudEvents) and handed to
//! [`regsync_pipeline::apply_batch`], which publishes one snapshot generation. A record that can
//! never apply is written to the dead-letter location with its raw bytes, topic, partition,
//! offset and reason, so it never blocks its partition. Only a retryable failure (store conflict
//! or outage, dead-letter store unreachable) fails the invocation, and the mapping redelivers the
//! batch; redelivered records fold to `stale`, so that is safe.
//!
//! The mapping reads the brokers. The only Kafka client here is rskafka (pure Rust, configured
//! by `regsync-kafka`), for an optional dead-letter topic ([`topic`]); the crate must not depend
//! on librdkafka, so the arm64 cross-build compiles no Kafka C library.

pub mod topic;

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord as LambdaKafkaRecord};
use lambda_runtime::{Diagnostic, LambdaEvent};
use regsync_pipeline::config::Reader;
use regsync_pipeline::{
    DeadLetter, DeadLetterTarget, InitError, Input, KafkaRecord, Pipeline, PipelineConfig,
    Rejection, StoreDeadLetters, apply_batch,
};
use serde::Serialize;
use tracing::{info, warn};

/// What the function needs for every invocation, built once at cold start.
#[derive(Debug)]
pub struct Context {
    /// The function core.
    pub pipeline: Pipeline,
    /// Where records that can never apply go, chosen at cold start.
    pub dead_letters: DeadLetters,
}

/// The dead-letter location of REGSYNC_DEAD_LETTER_URL.
#[derive(Debug)]
pub enum DeadLetters {
    /// Objects under `dead-letter/` of a store (the snapshot store by default).
    Store(StoreDeadLetters),
    /// Records on a Kafka topic.
    Topic(Box<topic::TopicDeadLetters>),
}

/// The Secrets Manager secret (ARN or name) holding the dead-letter topic's SCRAM login, as
/// MSK keeps it: `{"username": "...", "password": "..."}`; the secret a `SASL_SCRAM_*_AUTH`
/// event source mapping reads can be the same.
pub const SASL_SECRET_ARN: &str = "REGSYNC_KAFKA_SASL_SECRET_ARN";

impl Context {
    /// Reads the configuration through `get` and opens the stores.
    pub async fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        Context::open(get, None).await
    }

    /// The same, with the AWS configuration that reads [`SASL_SECRET_ARN`] given (a local
    /// Secrets Manager in tests) instead of loaded from the environment.
    pub async fn with_aws(
        get: impl Fn(&str) -> Option<String>,
        aws: aws_config::SdkConfig,
    ) -> Result<Self, InitError> {
        Context::open(get, Some(aws)).await
    }

    async fn open(
        get: impl Fn(&str) -> Option<String>,
        aws: Option<aws_config::SdkConfig>,
    ) -> Result<Self, InitError> {
        let mut r = Reader::new(&get);
        let config = PipelineConfig::read(&mut r);
        let config = r.finish(config)?;
        let pipeline = Pipeline::open(&config).await?;
        let dead_letters = match (&config.dead_letter, &pipeline.dead_letters) {
            (DeadLetterTarget::Kafka { brokers, topic }, _) => {
                // Security from REGSYNC_KAFKA_* or the REGSYNC_KAFKA_CONFIG file, checked now:
                // a bad setting stops the cold start with its name.
                let file = get(regsync_kafka::ENV_CONFIG).map(std::path::PathBuf::from);
                let mut kafka = regsync_kafka::Config::with_env(file, Vec::new(), &get);
                if let Some(id) = get(SASL_SECRET_ARN).filter(|id| !id.is_empty()) {
                    let aws = match aws {
                        Some(aws) => aws,
                        None => {
                            aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
                        }
                    };
                    let (user, password) =
                        regsync_pipeline::secrets::scram_login(&aws, &id).await?;
                    kafka = kafka.with_login(user, password, SASL_SECRET_ARN);
                }
                let settings = kafka
                    .settings(brokers)
                    .map_err(|e| InitError::Kafka(e.to_string()))?;
                DeadLetters::Topic(Box::new(topic::TopicDeadLetters::new(settings, topic)))
            }
            (DeadLetterTarget::Store(_), Some(store)) => DeadLetters::Store(store.clone()),
            // Pipeline::open opens a store for every store target; the snapshot store's
            // dead-letter/ prefix is the default location.
            (DeadLetterTarget::Store(_), None) => {
                DeadLetters::Store(StoreDeadLetters::new(pipeline.store.clone()))
            }
        };
        Ok(Context {
            pipeline,
            dead_letters,
        })
    }
}

/// What an invocation returns: counts per outcome, and the generation the batch is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records received.
    pub records: usize,
    /// Records that moved the state.
    pub applied: usize,
    /// Records already known or overtaken (redeliveries, reordering).
    pub stale: usize,
    /// Records written to the dead-letter location.
    pub dead_lettered: usize,
    /// The generation the batch is in, when any record was valid.
    pub generation: Option<u64>,
    /// Whether a new generation was published.
    pub published: bool,
}

/// A failed invocation: the mapping will redeliver the batch.
pub struct Failure(pub regsync_pipeline::Error);

/// One line, `kind: error: cause: ...`: the runtime logs a failed invocation with `{:?}`, and a
/// derived form dumped the nested SDK error (request ids, connector internals) beside the
/// function's own warning.
impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}",
            self.0.kind(),
            regsync_pipeline::error::chain(&self.0)
        )
    }
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic {
            error_type: f.0.kind().to_owned(),
            error_message: format!("{}; {}", regsync_pipeline::error::chain(&f.0), f.0.advice()),
        }
    }
}

/// The records of `event` in topic, partition, offset order; a record whose base64 does not
/// decode carries its rejection (and its text verbatim, so nothing is lost).
pub fn records(event: &KafkaEvent) -> Vec<(KafkaRecord, Option<Rejection>)> {
    let mut out: Vec<_> = event.records.values().flatten().map(convert).collect();
    out.sort_by(|(a, _), (b, _)| {
        (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset))
    });
    out
}

fn convert(r: &LambdaKafkaRecord) -> (KafkaRecord, Option<Rejection>) {
    let mut rejection = None;
    let mut decode = |field: &str, text: &Option<String>| -> Option<Vec<u8>> {
        let text = text.as_ref()?;
        // SIMD decoding: the values are most of a 6 MB invocation payload.
        match base64_simd::STANDARD.decode_to_vec(text) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                rejection.get_or_insert_with(|| {
                    Rejection::new(
                        "base64",
                        Some(field),
                        format!("record {field} is not base64 ({e}); kept verbatim"),
                    )
                });
                Some(text.clone().into_bytes())
            }
        }
    };
    let key = decode("key", &r.key);
    let value = decode("value", &r.value);
    let mut headers = Vec::new();
    for map in &r.headers {
        // Each map holds one header in practice; sort for a stable order if not.
        let mut pairs: Vec<_> = map.iter().collect();
        pairs.sort();
        for (k, v) in pairs {
            headers.push((k.clone(), v.iter().map(|&b| b as u8).collect()));
        }
    }
    let record = KafkaRecord {
        topic: r.topic.clone().unwrap_or_default(),
        partition: i32::try_from(r.partition).unwrap_or(i32::MAX),
        offset: r.offset,
        timestamp_ms: Some(r.timestamp.0.timestamp_millis()),
        key,
        value,
        headers,
    };
    (record, rejection)
}

/// Handles one invocation.
pub async fn handle(ctx: &Context, event: LambdaEvent<KafkaEvent>) -> Result<Summary, Failure> {
    let deadline = event.context.deadline;
    let records = records(&event.payload);
    // Bounded by the invocation's deadline: a store or broker that hangs fails the batch as a
    // function error (redelivered), not as a Lambda timeout that says nothing.
    let request_id = &event.context.request_id;
    regsync_pipeline::error::by_deadline(deadline, process(ctx, &records, request_id))
        .await
        .map_err(|e| {
            warn!(error = %regsync_pipeline::error::chain(&e), kind = e.kind(), records = records.len(), "batch failed; the mapping will redeliver it");
            Failure(e)
        })
}

async fn process(
    ctx: &Context,
    records: &[(KafkaRecord, Option<Rejection>)],
    request_id: &str,
) -> regsync_pipeline::Result<Summary> {
    let max = ctx.pipeline.max_record_bytes;
    let inputs: Vec<Input> = records
        .iter()
        .map(|(r, pre)| match pre {
            Some(why) => Err(why.clone()),
            None => r.decode(max),
        })
        .collect();
    // Kept whole before anything is applied; a failure fails the invocation (redelivered).
    if let Some(archive) = &ctx.pipeline.archive {
        archive.kafka(records.iter().map(|(r, _)| r)).await?;
    }
    let report = apply_batch(&ctx.pipeline, inputs).await?;
    let letters: Vec<(DeadLetter, &KafkaRecord)> = report
        .rejections()
        .map(|(i, why)| (DeadLetter::new(&records[i].0, why.clone()), &records[i].0))
        .collect();
    // Both writers do nothing for no letters, and count a letter already there as written.
    let dead_lettered = match &ctx.dead_letters {
        DeadLetters::Topic(topic) => topic.write(&letters).await,
        DeadLetters::Store(store) => {
            let letters: Vec<DeadLetter> = letters.into_iter().map(|(l, _)| l).collect();
            store.write(&letters).await
        }
    }?;
    let summary = Summary {
        records: records.len(),
        applied: report.count("applied"),
        stale: report.count("stale"),
        dead_lettered,
        generation: report.generation,
        published: report.published,
    };
    info!(
        request_id,
        records = summary.records,
        applied = summary.applied,
        stale = summary.stale,
        dead_lettered = summary.dead_lettered,
        generation = summary.generation,
        published = summary.published,
        "batch done"
    );
    Ok(summary)
}
