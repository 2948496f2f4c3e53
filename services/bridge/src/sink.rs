//! Where a bridge delivers its events: a Kafka topic, a signed webhook, or a JSON-lines file.
//!
//! Every sink delivers a batch in order and does not return until each event is delivered or,
//! when the receiver refuses it for good (too large, invalid), written to the dead-letter file
//! with the reason. Failures that may pass (broker or receiver down, 5xx, timeouts, a wrong
//! secret) are logged, counted in `regsync_bridge_delivery_failures_total` and retried with
//! exponential backoff: no event is dropped silently, and a later event of a service never
//! overtakes an earlier one.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use regsync_kafka::rd::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use regsync_kafka::rd::rdkafka::message::{Header, OwnedHeaders};
use regsync_kafka::rd::rdkafka::producer::{
    DeliveryFuture, FutureProducer, FutureRecord, Producer as _,
};
use regsync_kafka::rd::{Context, Role, wait_ready};
use regsync_model::event::STRUCTURED_CONTENT_TYPE;
use regsync_pipeline::webhook::{self, BATCH_CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt as _;
use tracing::{error, warn};

use crate::event::{Outgoing, now_ms, rfc3339};
use crate::metrics::Metrics;

/// A `--sink` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    /// `kafka://BROKER[,BROKER...]/TOPIC`.
    Kafka {
        /// Bootstrap servers, comma-separated.
        brokers: String,
        /// Topic.
        topic: String,
    },
    /// `https://...` (or `http://...` on a trusted network): the webhook contract.
    Webhook {
        /// The receiver's URL.
        url: String,
    },
    /// `file://PATH`: JSON lines appended to PATH (`file://events.jsonl` is relative).
    File {
        /// The file.
        path: PathBuf,
    },
}

const SINK_FORMS: &str = "kafka://BROKER[,BROKER...]/TOPIC, https://HOST/PATH or file://PATH";

impl FromStr for SinkSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("--sink {text:?}: {why}; expected {SINK_FORMS}");
        if let Some(rest) = text.strip_prefix("kafka://") {
            let (brokers, topic) = rest
                .split_once('/')
                .ok_or_else(|| bad("no topic after the brokers"))?;
            if brokers.is_empty() {
                return Err(bad("no broker"));
            }
            let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
            if topic.is_empty() || topic.len() > 249 || !topic.chars().all(valid) {
                return Err(bad(
                    "the topic must be 1 to 249 characters of a-z, A-Z, 0-9, '.', '_' and '-'",
                ));
            }
            Ok(SinkSpec::Kafka {
                brokers: brokers.to_owned(),
                topic: topic.to_owned(),
            })
        } else if text.starts_with("https://") || text.starts_with("http://") {
            let url = reqwest::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("no host"));
            }
            Ok(SinkSpec::Webhook {
                url: text.to_owned(),
            })
        } else if let Some(path) = text.strip_prefix("file://") {
            if path.is_empty() || path.ends_with('/') {
                return Err(bad("no file name"));
            }
            Ok(SinkSpec::File {
                path: PathBuf::from(path),
            })
        } else {
            Err(bad("unknown scheme"))
        }
    }
}

impl fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkSpec::Kafka { brokers, topic } => write!(f, "kafka://{brokers}/{topic}"),
            SinkSpec::Webhook { url } => f.write_str(url),
            SinkSpec::File { path } => write!(f, "file://{}", path.display()),
        }
    }
}

/// How sinks behave.
#[derive(Clone)]
pub struct SinkOptions {
    /// The Kafka client settings (security, properties) of a `kafka://` sink.
    pub kafka: regsync_kafka::Config,
    /// The webhook's shared secret (`REGSYNC_WEBHOOK_SECRET`).
    pub webhook_secret: Option<Vec<u8>>,
    /// Largest webhook body; bigger batches are split (the receiver's default limit is 1 MiB).
    pub webhook_max_body: usize,
    /// Timeout of one webhook request.
    pub webhook_timeout: Duration,
    /// Where refused events go, one JSON line each with the reason.
    pub dead_letter: PathBuf,
    /// Longest wait between two delivery attempts.
    pub max_backoff: Duration,
    /// Metrics to update.
    pub metrics: Arc<Metrics>,
}

impl SinkOptions {
    /// Defaults: no secret, 1 MiB bodies, 10 s requests, `dead-letters.jsonl`, 30 s backoff.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        SinkOptions {
            kafka: regsync_kafka::Config::default(),
            webhook_secret: None,
            webhook_max_body: regsync_pipeline::webhook::DEFAULT_MAX_BODY_BYTES,
            webhook_timeout: Duration::from_secs(10),
            dead_letter: PathBuf::from("dead-letters.jsonl"),
            max_backoff: Duration::from_secs(30),
            metrics,
        }
    }
}

/// An open sink.
pub struct Sink {
    name: String,
    kind: Kind,
    dead: DeadLetters,
    metrics: Arc<Metrics>,
    max_backoff: Duration,
}

enum Kind {
    Kafka(KafkaSink),
    Webhook(WebhookSink),
    File(FileSink),
}

/// The outcome of one attempt over the pending events (indices into them).
#[derive(Default)]
struct Attempt {
    /// To try again, in order.
    retry: Vec<usize>,
    /// Refused for good, with the reason.
    refused: Vec<(usize, String)>,
    /// Why the retried ones failed: a metric label and a message.
    error: Option<(&'static str, String)>,
}

impl Attempt {
    fn fail_from(index: usize, len: usize, kind: &'static str, message: String) -> Self {
        Attempt {
            retry: (index..len).collect(),
            refused: Vec::new(),
            error: Some((kind, message)),
        }
    }
}

impl Sink {
    /// Opens the sink `spec` names. Kafka and webhook sinks connect lazily: a receiver that is
    /// down at start is retried like any later failure. Kafka brokers that refuse the login or
    /// the TLS handshake at start are an error, naming the settings.
    pub async fn open(spec: &SinkSpec, options: SinkOptions) -> anyhow::Result<Sink> {
        let kind = match spec {
            SinkSpec::Kafka { brokers, topic } => {
                Kind::Kafka(KafkaSink::new(brokers, topic, &options.kafka)?)
            }
            SinkSpec::Webhook { url } => Kind::Webhook(WebhookSink::new(url, &options)?),
            SinkSpec::File { path } => Kind::File(FileSink::open(path).await?),
        };
        Ok(Sink {
            name: spec.to_string(),
            kind,
            dead: DeadLetters {
                path: options.dead_letter,
            },
            metrics: options.metrics,
            max_backoff: options.max_backoff,
        })
    }

    /// The sink's URL.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn label(&self) -> &'static str {
        match self.kind {
            Kind::Kafka(_) => "kafka",
            Kind::Webhook(_) => "webhook",
            Kind::File(_) => "file",
        }
    }

    /// Delivers `batch` in order. Returns once every event is delivered or dead-lettered;
    /// fails only when the dead-letter file cannot be written.
    pub async fn deliver(&mut self, batch: &[Outgoing]) -> anyhow::Result<()> {
        let mut pending: Vec<&Outgoing> = batch.iter().collect();
        let mut backoff = Duration::from_millis(100);
        while !pending.is_empty() {
            let attempt = match &mut self.kind {
                Kind::Kafka(k) => k.attempt(&pending).await,
                Kind::Webhook(w) => w.attempt(&pending).await,
                Kind::File(f) => f.attempt(&pending).await,
            };
            for (i, reason) in &attempt.refused {
                let event = pending[*i];
                error!(sink = %self.name, id = %event.event.id, key = %event.key, %reason,
                    dead_letter = %self.dead.path.display(), "the sink refused an event for good; it goes to the dead-letter file");
                self.dead.write(event, &self.name, reason).await?;
                self.metrics.dead_lettered();
            }
            for (i, event) in pending.iter().enumerate() {
                if !attempt.retry.contains(&i) && !attempt.refused.iter().any(|(r, _)| *r == i) {
                    self.metrics.delivered(event.event.event_type.as_str());
                }
            }
            if attempt.retry.is_empty() {
                break;
            }
            let (kind, message) = attempt
                .error
                .unwrap_or(("unknown", "delivery failed".to_owned()));
            self.metrics.delivery_failed(self.label(), kind);
            warn!(sink = %self.name, kind, error = %message, undelivered = attempt.retry.len(),
                retry_in = ?backoff, "delivery failed; retrying (no event is dropped)");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.max_backoff);
            pending = attempt.retry.iter().map(|&i| pending[i]).collect();
        }
        Ok(())
    }
}

/// One whole state to publish: its key, the content then recorded as published (`None`: the
/// thing is gone), and the event.
pub(crate) type Change<K> = (K, Option<String>, Outgoing);

/// Delivers `changes` in batches of `batch_size`, recording each batch in `published` once it
/// is delivered and calling `delivered` with its size.
pub(crate) async fn publish<K: std::hash::Hash + Eq + Clone>(
    sink: &mut Sink,
    changes: &[Change<K>],
    batch_size: usize,
    published: &mut std::collections::HashMap<K, String>,
    mut delivered: impl FnMut(u64),
) -> anyhow::Result<()> {
    sink.metrics.set_pending(changes.len());
    for chunk in changes.chunks(batch_size.max(1)) {
        let batch: Vec<Outgoing> = chunk.iter().map(|(_, _, o)| o.clone()).collect();
        sink.deliver(&batch).await?;
        for (key, content, _) in chunk {
            match content {
                Some(content) => published.insert(key.clone(), content.clone()),
                None => published.remove(key),
            };
        }
        delivered(chunk.len() as u64);
    }
    sink.metrics.set_pending(0);
    Ok(())
}

/// The HTTP client of the webhook sink and the Eureka poller (rustls, the system's roots).
pub(crate) fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("regsync-bridge/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build an HTTP client")
}

/// The dead-letter file: one JSON line per refused event, `{time, sink, reason, event}`.
struct DeadLetters {
    path: PathBuf,
}

impl DeadLetters {
    async fn write(&self, event: &Outgoing, sink: &str, reason: &str) -> anyhow::Result<()> {
        let record: Value = serde_json::from_slice(&event.json)?;
        let line =
            json!({"time": rfc3339(now_ms()), "sink": sink, "reason": reason, "event": record});
        let mut bytes = serde_json::to_vec(&line)?;
        bytes.push(b'\n');
        append_durably(&self.path, &bytes).await.with_context(|| {
            format!(
                "cannot write the dead-letter file {} (--dead-letter); the event {} was not delivered",
                self.path.display(),
                event.event.id
            )
        })
    }
}

/// Appends `bytes` to `path` and syncs; on failure the file is cut back to its old length, so a
/// retry never leaves half a line behind.
async fn append_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    let before = file.metadata().await?.len();
    let written = async {
        file.write_all(bytes).await?;
        file.flush().await?;
        file.sync_data().await
    }
    .await;
    if written.is_err() {
        let _ = file.set_len(before).await;
    }
    written
}

struct FileSink {
    path: PathBuf,
}

impl FileSink {
    async fn open(path: &Path) -> anyhow::Result<FileSink> {
        tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .with_context(|| {
                format!(
                    "cannot open {} for appending (--sink file://…)",
                    path.display()
                )
            })?;
        Ok(FileSink {
            path: path.to_owned(),
        })
    }

    async fn attempt(&mut self, pending: &[&Outgoing]) -> Attempt {
        let mut bytes = Vec::with_capacity(pending.iter().map(|o| o.json.len() + 1).sum());
        for event in pending {
            bytes.extend_from_slice(&event.json);
            bytes.push(b'\n');
        }
        match append_durably(&self.path, &bytes).await {
            Ok(()) => Attempt::default(),
            Err(e) => Attempt::fail_from(
                0,
                pending.len(),
                "io",
                format!("cannot append to {}: {e}", self.path.display()),
            ),
        }
    }
}

struct KafkaSink {
    producer: FutureProducer<Context>,
    topic: String,
}

/// How long opening a Kafka sink waits to learn whether the brokers accept the login; brokers
/// that are merely down are retried later, like any delivery failure.
const KAFKA_PROBE: Duration = Duration::from_secs(5);

impl KafkaSink {
    fn new(brokers: &str, topic: &str, kafka: &regsync_kafka::Config) -> anyhow::Result<Self> {
        let settings = kafka.settings(brokers)?;
        let context = Context::default();
        let refusal = context.refusal();
        let producer: FutureProducer<Context> = settings.create(
            Role::Producer {
                linger: Some(Duration::from_millis(1)),
            },
            context,
        )?;
        match wait_ready(
            &settings,
            producer.client(),
            &refusal,
            Some(topic),
            KAFKA_PROBE,
            || {},
        ) {
            Ok(_) => {}
            Err(e @ regsync_kafka::Error::Unreachable { .. }) => {
                warn!(error = %e, "Kafka is not reachable yet; events wait and are retried");
            }
            Err(e) => return Err(e.into()),
        }
        Ok(KafkaSink {
            producer,
            topic: topic.to_owned(),
        })
    }

    async fn attempt(&mut self, pending: &[&Outgoing]) -> Attempt {
        let mut futures: Vec<(usize, DeliveryFuture)> = Vec::with_capacity(pending.len());
        let mut attempt = Attempt::default();
        for (i, event) in pending.iter().enumerate() {
            let headers = OwnedHeaders::new().insert(Header {
                key: "content-type",
                value: Some(STRUCTURED_CONTENT_TYPE),
            });
            let mut record = FutureRecord::to(&self.topic)
                .key(event.key.as_bytes())
                .payload(event.json.as_slice())
                .headers(headers);
            loop {
                match self.producer.send_result(record) {
                    Ok(future) => {
                        futures.push((i, future));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) if is_permanent(&e) => {
                        attempt
                            .refused
                            .push((i, format!("Kafka refused the record: {e}")));
                        break;
                    }
                    Err((e, _)) => {
                        // Nothing after this one may overtake it.
                        attempt.retry.extend(i..pending.len());
                        attempt.error =
                            Some(("enqueue", format!("cannot enqueue for {}: {e}", self.topic)));
                        break;
                    }
                }
            }
            if !attempt.retry.is_empty() {
                break;
            }
        }
        for (i, future) in futures {
            match future.await {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) if is_permanent(&e) => {
                    attempt
                        .refused
                        .push((i, format!("Kafka refused the record: {e}")));
                }
                Ok(Err((e, _))) => {
                    attempt.retry.push(i);
                    attempt
                        .error
                        .get_or_insert(("delivery", format!("{}: {e}", self.topic)));
                }
                Err(_) => {
                    attempt.retry.push(i);
                    attempt
                        .error
                        .get_or_insert(("delivery", "the producer was dropped".to_owned()));
                }
            }
        }
        attempt.retry.sort_unstable();
        attempt.retry.dedup();
        attempt
    }
}

/// Errors no retry can fix: the record itself is unacceptable.
fn is_permanent(e: &KafkaError) -> bool {
    let code = match e {
        KafkaError::MessageProduction(code) => *code,
        _ => return false,
    };
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidMessageSize
    )
}

struct WebhookSink {
    client: reqwest::Client,
    /// The client's per-request timeout, named in the error when it runs out.
    timeout: Duration,
    url: String,
    secret: Vec<u8>,
    max_body: usize,
}

impl WebhookSink {
    fn new(url: &str, options: &SinkOptions) -> anyhow::Result<Self> {
        let secret = options.webhook_secret.clone().with_context(|| {
            format!(
                "the webhook sink {url} signs every request: set {} to the receiver's shared secret",
                regsync_pipeline::webhook::SECRET
            )
        })?;
        let client = http_client(options.webhook_timeout)?;
        Ok(WebhookSink {
            client,
            timeout: options.webhook_timeout,
            url: url.to_owned(),
            secret,
            max_body: options.webhook_max_body,
        })
    }

    /// Consecutive runs of `pending` whose batch body fits `max_body` (one event always forms a
    /// run, however large: the receiver says whether it takes it).
    fn chunks(&self, pending: &[&Outgoing]) -> Vec<std::ops::Range<usize>> {
        let mut chunks = Vec::new();
        let mut start = 0;
        let mut size = 2;
        for (i, event) in pending.iter().enumerate() {
            let add = event.json.len() + 1;
            if i > start && size + add > self.max_body {
                chunks.push(start..i);
                start = i;
                size = 2;
            }
            size += add;
        }
        if start < pending.len() {
            chunks.push(start..pending.len());
        }
        chunks
    }

    async fn post(&self, events: &[&Outgoing]) -> Result<(), PostError> {
        let (content_type, body) = if let [one] = events {
            (STRUCTURED_CONTENT_TYPE, one.json.clone())
        } else {
            let mut body = vec![b'['];
            for (i, event) in events.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&event.json);
            }
            body.push(b']');
            (BATCH_CONTENT_TYPE, body)
        };
        let mut signed = webhook::Request {
            method: "POST".into(),
            path: request_target(&self.url),
            headers: vec![("content-type".into(), content_type.into())],
            body,
        };
        webhook::sign_request(&self.secret, now_ms() / 1000, &mut signed);
        let mut request = self.client.post(&self.url);
        for (name, value) in &signed.headers {
            request = request.header(name, value);
        }
        match request.body(signed.body).send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                Err(PostError::Status(status, text.chars().take(500).collect()))
            }
            Err(e) if e.is_timeout() => Err(PostError::Timeout(e.to_string())),
            Err(e) => Err(PostError::Unreachable(e.to_string())),
        }
    }

    async fn attempt(&mut self, pending: &[&Outgoing]) -> Attempt {
        let mut attempt = Attempt::default();
        for chunk in self.chunks(pending) {
            let events = &pending[chunk.clone()];
            match self.post(events).await {
                Ok(()) => {}
                // Refused as invalid or too large: find which, one by one.
                Err(PostError::Status(400 | 413 | 422, body)) if events.len() == 1 => {
                    attempt
                        .refused
                        .push((chunk.start, format!("the webhook answered: {body}")));
                }
                Err(PostError::Status(400 | 413 | 422, _)) => {
                    for i in chunk.clone() {
                        match self.post(&pending[i..=i]).await {
                            Ok(()) => {}
                            Err(PostError::Status(400 | 413 | 422, body)) => attempt
                                .refused
                                .push((i, format!("the webhook answered: {body}"))),
                            Err(e) => return self.retry_from(attempt, i, pending.len(), e),
                        }
                    }
                }
                Err(e) => return self.retry_from(attempt, chunk.start, pending.len(), e),
            }
        }
        attempt
    }

    fn retry_from(&self, mut attempt: Attempt, from: usize, len: usize, e: PostError) -> Attempt {
        attempt.retry.extend(from..len);
        let url = &self.url;
        attempt.error = Some(match e {
            PostError::Unreachable(why) => (
                "connect",
                format!("POST {url}: {why}; is the receiver up and the URL right?"),
            ),
            PostError::Timeout(why) => (
                "timeout",
                format!(
                    "POST {url}: no answer within {} s ({why}); the receiver is slow or stuck: check its logs and load",
                    self.timeout.as_secs_f64()
                ),
            ),
            PostError::Status(status, body) => {
                let (kind, hint) = match status {
                    401 => (
                        "unauthorized",
                        "the signature was refused: check that REGSYNC_WEBHOOK_SECRET matches the receiver's and that both clocks are within 5 minutes",
                    ),
                    403..=405 => ("client_error", "check the --sink URL"),
                    429 | 503 => ("busy", "the receiver asks to slow down"),
                    _ => ("server_error", "the receiver failed"),
                };
                (kind, format!("POST {url} answered {status} {body}; {hint}"))
            }
        });
        attempt
    }
}

/// Why a webhook POST did not succeed.
enum PostError {
    /// No connection (the receiver is down or the URL is wrong).
    Unreachable(String),
    /// Connected, but no whole answer within the sink's timeout.
    Timeout(String),
    /// An answer other than 2xx: its status and the start of its body.
    Status(u16, String),
}

/// The path and query of `url` as an HTTP client sends them (what a v2 signature covers).
fn request_target(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        },
        Err(_) => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sink_urls_parse_and_bad_ones_say_why() {
        assert_eq!(
            "kafka://a:9092,b:9092/registry-events".parse::<SinkSpec>(),
            Ok(SinkSpec::Kafka {
                brokers: "a:9092,b:9092".into(),
                topic: "registry-events".into()
            })
        );
        assert_eq!(
            "file://events.jsonl".parse::<SinkSpec>(),
            Ok(SinkSpec::File {
                path: "events.jsonl".into()
            })
        );
        assert_eq!(
            "file:///var/lib/regsync/events.jsonl".parse::<SinkSpec>(),
            Ok(SinkSpec::File {
                path: "/var/lib/regsync/events.jsonl".into()
            })
        );
        assert!(matches!(
            "https://hooks.example.com/regsync".parse::<SinkSpec>(),
            Ok(SinkSpec::Webhook { .. })
        ));
        let e = "kafka://a:9092".parse::<SinkSpec>().unwrap_err();
        assert!(
            e.contains("\"kafka://a:9092\"") && e.contains("no topic"),
            "{e}"
        );
        let e = "kafka://a:9092/bad topic".parse::<SinkSpec>().unwrap_err();
        assert!(e.contains("1 to 249 characters"), "{e}");
        let e = "nats://x/y".parse::<SinkSpec>().unwrap_err();
        assert!(
            e.contains("unknown scheme") && e.contains("kafka://"),
            "{e}"
        );
    }
}
