//! Prometheus metrics of a bridge, served at `/metrics` (and `/healthz`).

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

type Labels = Vec<(String, String)>;

/// Counters and gauges every bridge and sink updates.
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    delivery_failures: Family<Labels, Counter>,
    dead_letters: Counter,
    resyncs: Family<Labels, Counter>,
    connected: Gauge,
    pending: Gauge,
    full_fetches: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("regsync_bridge");
        let events = Family::<Labels, Counter>::default();
        registry.register(
            "events",
            "Events delivered to the sink, by type",
            events.clone(),
        );
        let delivery_failures = Family::<Labels, Counter>::default();
        registry.register(
            "delivery_failures",
            "Delivery attempts that failed and will be retried, by sink and kind",
            delivery_failures.clone(),
        );
        let dead_letters = Counter::default();
        registry.register(
            "dead_letters",
            "Events the sink refused for good, written to the dead-letter file",
            dead_letters.clone(),
        );
        let resyncs = Family::<Labels, Counter>::default();
        registry.register(
            "resyncs",
            "Full reads of the registry, by reason (start, reconnect, session_expired)",
            resyncs.clone(),
        );
        let connected = Gauge::default();
        registry.register(
            "connected",
            "1 while the registry answers, 0 while the bridge is paused",
            connected.clone(),
        );
        let pending = Gauge::default();
        registry.register(
            "pending_changes",
            "Changed services read but not yet delivered",
            pending.clone(),
        );
        let full_fetches = Family::<Labels, Counter>::default();
        registry.register(
            "eureka_full_fetches",
            "Full GET /eureka/apps, by reason (start, hashcode_mismatch, no_hashcode, delta_gap, failover)",
            full_fetches.clone(),
        );
        Metrics {
            registry,
            events,
            delivery_failures,
            dead_letters,
            resyncs,
            connected,
            pending,
            full_fetches,
        }
    }
}

fn label(key: &str, value: &str) -> Labels {
    vec![(key.to_owned(), value.to_owned())]
}

impl Metrics {
    /// One event delivered.
    pub fn delivered(&self, event_type: &str) {
        self.events.get_or_create(&label("type", event_type)).inc();
    }

    /// One failed delivery attempt.
    pub fn delivery_failed(&self, sink: &str, kind: &str) {
        let labels = vec![
            ("sink".to_owned(), sink.to_owned()),
            ("kind".to_owned(), kind.to_owned()),
        ];
        self.delivery_failures.get_or_create(&labels).inc();
    }

    /// One event dead-lettered.
    pub fn dead_lettered(&self) {
        self.dead_letters.inc();
    }

    /// One full read of the registry.
    pub fn resynced(&self, reason: &str) {
        self.resyncs.get_or_create(&label("reason", reason)).inc();
    }

    /// Whether the registry answers.
    pub fn set_connected(&self, connected: bool) {
        self.connected.set(i64::from(connected));
    }

    /// Changes read and not yet delivered.
    pub fn set_pending(&self, n: usize) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// One full Eureka fetch.
    pub fn full_fetch(&self, reason: &str) {
        self.full_fetches
            .get_or_create(&label("reason", reason))
            .inc();
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until the process ends; returns the bound address.
pub async fn serve(metrics: Arc<Metrics>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} for /metrics (--metrics-listen)"))?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move { metrics.encode() }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics server stopped");
        }
    });
    Ok(bound)
}
