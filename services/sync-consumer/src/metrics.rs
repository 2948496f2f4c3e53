//! Prometheus metrics of the consumer, served at `/metrics`: records per outcome, batches,
//! failures per kind, dead letters, the snapshot generation, and the consumer lag per partition
//! (from librdkafka's statistics, refreshed every second).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use regsync_kafka::rd::Context;
use regsync_kafka::rd::rdkafka::statistics::Statistics;
use regsync_pipeline::BatchReport;

type Labels = Vec<(String, String)>;

/// The consumer's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    records: Family<Labels, Counter>,
    batches: Counter,
    failures: Family<Labels, Counter>,
    dead_letters: Counter,
    generation: Gauge,
    lag: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("regsync_consumer");
        let records = Family::<Labels, Counter>::default();
        registry.register(
            "records",
            "Records stored, by outcome (applied, stale, rejected)",
            records.clone(),
        );
        let batches = Counter::default();
        registry.register("batches", "Batches stored and committed", batches.clone());
        let failures = Family::<Labels, Counter>::default();
        registry.register(
            "batch_failures",
            "Batch attempts that failed and will be retried, by kind",
            failures.clone(),
        );
        let dead_letters = Counter::default();
        registry.register(
            "dead_letters",
            "Records produced to the dead-letter topic",
            dead_letters.clone(),
        );
        let generation = Gauge::default();
        registry.register(
            "snapshot_generation",
            "Snapshot generation of the last stored batch",
            generation.clone(),
        );
        let lag = Family::<Labels, Gauge>::default();
        registry.register(
            "lag_records",
            "Records in the partition not yet consumed (librdkafka consumer_lag)",
            lag.clone(),
        );
        Metrics {
            registry,
            records,
            batches,
            failures,
            dead_letters,
            generation,
            lag,
        }
    }
}

impl Metrics {
    /// Counts a stored batch.
    pub fn batch_done(&self, report: &BatchReport) {
        for r in &report.records {
            self.records
                .get_or_create(&vec![("outcome".into(), r.outcome.label().into())])
                .inc();
        }
        self.dead_letters.inc_by(report.count("rejected") as u64);
        self.batches.inc();
        if let Some(g) = report.generation {
            self.generation.set(i64::try_from(g).unwrap_or(i64::MAX));
        }
    }

    /// Counts a failed attempt.
    pub fn batch_failed(&self, kind: &str) {
        self.failures
            .get_or_create(&vec![("kind".into(), kind.into())])
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// The client context of the group consumer: librdkafka's statistics become the lag gauge.
pub fn context(metrics: Arc<Metrics>) -> Context {
    Context::with_stats(move |statistics: Statistics| {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // -1 is librdkafka's internal partition and partitions not assigned here.
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                metrics
                    .lag
                    .get_or_create(&vec![
                        ("topic".into(), topic.clone()),
                        ("partition".into(), partition.to_string()),
                    ])
                    .set(p.consumer_lag);
            }
        }
    })
}

/// Serves `/metrics` and `/healthz` on `addr`; returns the bound address.
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for metrics on {addr}"))?;
    let bound = listener.local_addr()?;
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                let m = metrics.clone();
                async move { m.render() }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    Ok(bound)
}
