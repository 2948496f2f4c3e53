//! Prometheus metrics of the MCP service: connected clients, responses sent, ACKs and NACKs per
//! type, push-to-ACK latency, and the snapshot served.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a per-type metric: `type_url`.
pub type Labels = Vec<(String, String)>;

/// The service's metrics, registered in a [`Registry`] the caller serves.
#[derive(Clone)]
pub struct Metrics {
    /// Streams open now.
    pub clients: Gauge,
    /// Responses sent, by type URL.
    pub pushes: Family<Labels, Counter>,
    /// ACKs received, by type URL.
    pub acks: Family<Labels, Counter>,
    /// NACKs received, by type URL.
    pub nacks: Family<Labels, Counter>,
    /// Seconds from sending a ServiceEntry response to its ACK.
    pub ack_latency: Histogram,
}

impl Metrics {
    /// Creates the metrics and registers them under `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self {
            clients: Gauge::default(),
            pushes: Family::default(),
            acks: Family::default(),
            nacks: Family::default(),
            ack_latency: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        };
        registry.register(
            "connected_clients",
            "ADS streams open now",
            m.clients.clone(),
        );
        registry.register(
            "pushes",
            "DiscoveryResponses sent, by type_url",
            m.pushes.clone(),
        );
        registry.register("acks", "ACKs received, by type_url", m.acks.clone());
        registry.register(
            "nacks",
            "NACKs received, by type_url (each is also logged with its error_detail)",
            m.nacks.clone(),
        );
        registry.register(
            "push_to_ack_seconds",
            "Time from sending a ServiceEntry response to its ACK",
            m.ack_latency.clone(),
        );
        m
    }

    /// Labels for `type_url`.
    pub fn labels(type_url: &str) -> Labels {
        vec![("type_url".to_owned(), type_url.to_owned())]
    }
}

impl Default for Metrics {
    /// Metrics registered nowhere (for tests and benches).
    fn default() -> Self {
        Self::register(&mut Registry::default())
    }
}
