//! The server's Prometheus metrics: the stream metrics of [`regsync_mcp::Metrics`] plus the
//! snapshot served, its age, load failures, the guard and the gRPC port's connections, all under
//! the `regsync_mcp_` prefix.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of one metric: a `reason`.
pub type Labels = Vec<(String, String)>;

/// Every metric of the server, and their registry.
pub struct Metrics {
    registry: Registry,
    /// The stream metrics, shared with the ADS service.
    pub streams: regsync_mcp::Metrics,
    /// Generation served now (0 before the first).
    pub generation: Gauge,
    /// Seconds since the generation served was loaded.
    pub age: Gauge,
    /// Entries and endpoints served.
    pub entries: Gauge,
    /// Endpoints served.
    pub endpoints: Gauge,
    /// Generations that could not be served, by reason.
    pub load_failures: Family<Labels, Counter>,
    /// 1 while the guard holds a generation back.
    pub guard_held: Gauge,
    /// The generation held (0 when none).
    pub guard_held_generation: Gauge,
    /// Generations the guard started holding.
    pub guard_holds: Counter,
    /// Held generations served after all, by reason (window, operator).
    pub guard_releases: Family<Labels, Counter>,
    /// gRPC connections open now, handshaking or established.
    pub connections: Gauge,
    /// Connections closed before HTTP/2 began, by reason (timeout, tls, not_http2, closed).
    pub connections_refused: Family<Labels, Counter>,
    /// Failed accepts on the gRPC port (EMFILE and the like), each followed by a backoff.
    pub accept_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("regsync_mcp");
        let streams = regsync_mcp::Metrics::register(&mut registry);
        let m = Self {
            streams,
            generation: Gauge::default(),
            age: Gauge::default(),
            entries: Gauge::default(),
            endpoints: Gauge::default(),
            load_failures: Family::default(),
            guard_held: Gauge::default(),
            guard_held_generation: Gauge::default(),
            guard_holds: Counter::default(),
            guard_releases: Family::default(),
            connections: Gauge::default(),
            connections_refused: Family::default(),
            accept_errors: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "snapshot_generation",
            "Snapshot generation served now (0 before the first good one)",
            m.generation.clone(),
        );
        registry.register(
            "snapshot_age_seconds",
            "Seconds since the generation served was loaded",
            m.age.clone(),
        );
        registry.register(
            "snapshot_entries",
            "ServiceEntries served",
            m.entries.clone(),
        );
        registry.register(
            "snapshot_endpoints",
            "Endpoints across the ServiceEntries served",
            m.endpoints.clone(),
        );
        registry.register(
            "snapshot_load_failures",
            "Generations not served, by reason (corrupt, layout, invalid, store); the last good one, if any, stays served",
            m.load_failures.clone(),
        );
        registry.register(
            "guard_held",
            "1 while the mass-deregistration guard holds a generation back",
            m.guard_held.clone(),
        );
        registry.register(
            "guard_held_generation",
            "The generation the guard holds back (0 when none)",
            m.guard_held_generation.clone(),
        );
        registry.register(
            "guard_holds",
            "Times the guard started holding a generation back",
            m.guard_holds.clone(),
        );
        registry.register(
            "guard_releases",
            "Held generations served after all, by reason (window, operator)",
            m.guard_releases.clone(),
        );
        registry.register(
            "connections",
            "gRPC connections open, handshaking or established (capped by --max-connections)",
            m.connections.clone(),
        );
        registry.register(
            "connections_refused",
            "gRPC connections closed before HTTP/2 began, by reason (timeout, tls, not_http2, closed)",
            m.connections_refused.clone(),
        );
        registry.register(
            "accept_errors",
            "Failed accepts on the gRPC port (such as EMFILE, out of file descriptors); each backs off",
            m.accept_errors.clone(),
        );
        Self { registry, ..m }
    }
}

impl Metrics {
    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Labels for `reason`.
    pub fn reason(reason: &str) -> Labels {
        vec![("reason".to_owned(), reason.to_owned())]
    }
}
