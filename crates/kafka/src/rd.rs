//! librdkafka clients: a [`ClientConfig`] per role with regsync's defaults, the user's
//! properties over them, a [`Context`] that notices a refused login or TLS failure, and
//! [`wait_ready`], which returns as soon as the brokers answer or refuse.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use rdkafka;
use rdkafka::client::{Client, ClientContext};
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, Failure, Settings};

/// What a client is for; each has its defaults.
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    /// A member of a consumer group that commits offsets itself, from the earliest record.
    GroupConsumer {
        /// The group id.
        group: &'a str,
        /// How long a silent member keeps its partitions.
        session_timeout: Duration,
        /// How often the client reports statistics to [`Context`] (consumer lag).
        statistics: Option<Duration>,
    },
    /// A reader that assigns partitions itself and commits nothing (`regsync record`).
    Reader,
    /// An idempotent producer that waits for every in-sync replica.
    Producer {
        /// How long to gather records into one request.
        linger: Option<Duration>,
    },
    /// An admin client (topic creation).
    Admin,
}

impl Settings {
    /// The librdkafka configuration for `role`: the brokers, the role's defaults, then every
    /// user property (so the user can override any default).
    pub fn client_config(&self, role: Role<'_>) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        c.set("client.id", "regsync");
        match role {
            Role::GroupConsumer {
                group,
                session_timeout,
                statistics,
            } => {
                c.set("group.id", group)
                    .set("enable.auto.commit", "false")
                    .set("enable.auto.offset.store", "false")
                    .set("auto.offset.reset", "earliest")
                    .set("session.timeout.ms", millis(session_timeout));
                if let Some(every) = statistics {
                    c.set("statistics.interval.ms", millis(every));
                }
            }
            Role::Reader => {
                c.set("group.id", "regsync-record")
                    .set("enable.auto.commit", "false")
                    .set("enable.partition.eof", "false");
            }
            Role::Producer { linger } => {
                c.set("enable.idempotence", "true")
                    .set("acks", "all")
                    .set("message.timeout.ms", "30000");
                if let Some(linger) = linger {
                    c.set("linger.ms", millis(linger));
                }
            }
            Role::Admin => {}
        }
        for p in self.passthrough() {
            c.set(&p.key, &p.value);
        }
        c
    }

    /// A client for `role` with a fresh [`Context`].
    pub fn create<T: FromClientConfigAndContext<Context>>(
        &self,
        role: Role<'_>,
        context: Context,
    ) -> Result<T, Error> {
        self.client_config(role)
            .create_with_context(context)
            .map_err(|e| Error::Client {
                brokers: self.brokers.clone(),
                reason: format!("{e} (check the -X / --kafka-config properties)"),
            })
    }
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

type StatsSink = Box<dyn Fn(Statistics) + Send + Sync>;

/// The client context of every regsync librdkafka client: it keeps the first refused login or
/// TLS failure for [`wait_ready`], and passes statistics on to an optional sink.
#[derive(Default)]
pub struct Context {
    failure: Refusal,
    stats: Option<StatsSink>,
}

/// The first refused login or TLS failure a client's [`Context`] saw; a handle taken before the
/// client is created (clients such as `FutureProducer` wrap their context).
#[derive(Debug, Clone, Default)]
pub struct Refusal(Arc<Mutex<Option<Failure>>>);

impl Refusal {
    fn get(&self) -> Option<Failure> {
        self.0.lock().map(|f| f.clone()).unwrap_or(None)
    }

    /// Keeps `error` if it is a refused login or a TLS failure; whether it was. Clients that
    /// return errors from `poll` instead of reporting them to their context (a `BaseConsumer`
    /// in a group) feed them here.
    pub fn note(&self, error: &KafkaError, reason: &str) -> bool {
        let failure = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                Failure::Login(reason.to_owned())
            }
            Some(RDKafkaErrorCode::SSL) => Failure::Tls(reason.to_owned()),
            _ => return false,
        };
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(failure);
        }
        true
    }
}

impl Context {
    /// A context that hands statistics (`statistics.interval.ms`) to `sink`.
    pub fn with_stats(sink: impl Fn(Statistics) + Send + Sync + 'static) -> Self {
        Context {
            failure: Refusal::default(),
            stats: Some(Box::new(sink)),
        }
    }

    /// The handle [`wait_ready`] watches.
    pub fn refusal(&self) -> Refusal {
        self.failure.clone()
    }
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        if let Some(sink) = &self.stats {
            sink(statistics);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if self.failure.note(&error, reason) {
            tracing::error!(target: "librdkafka", "{error}: {reason}");
        } else {
            tracing::warn!(target: "librdkafka", "{error}: {reason}");
        }
    }
}

impl ConsumerContext for Context {}

/// Waits until the brokers answer a metadata request (for `topic`, or all topics), at most
/// `timeout`. Returns at once with an error naming the settings when the brokers refuse the
/// login or the TLS handshake fails, as `refusal` learns from the client's context or from
/// `pump`, called between requests (a `BaseConsumer` polls itself there).
pub fn wait_ready<C: ClientContext>(
    settings: &Settings,
    client: &Client<C>,
    refusal: &Refusal,
    topic: Option<&str>,
    timeout: Duration,
    mut pump: impl FnMut(),
) -> Result<Metadata, Error> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer");
    loop {
        pump();
        if let Some(f) = refusal.get() {
            return Err(settings.refused(f));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Unreachable {
                brokers: settings.brokers.clone(),
                protocol: settings.security.protocol,
                secs: timeout.as_secs(),
                reason: last,
            });
        }
        match client.fetch_metadata(topic, left.min(Duration::from_millis(250))) {
            Ok(md) => return Ok(md),
            Err(e) => last = e.to_string(),
        }
    }
}
