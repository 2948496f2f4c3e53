//! regsync's MCP front: a snapshot generation rendered once into `istio.mcp.v1alpha1.Resource`s
//! ([`render`]), the per-stream State-of-the-World protocol istiod speaks ([`sotw`]), and the
//! `envoy.service.discovery.v3.AggregatedDiscoveryService` that serves it ([`ads`]).
//!
//! `docs/mcp-wire-contract.md` (summarised in docs/mcp.md) is the specification. This
//! crate knows nothing of object storage: callers put each good generation on a
//! `tokio::sync::watch` channel, which also folds bursts into one push. It must not depend on
//! AWS, Kafka or Kubernetes crates.

pub mod ads;
pub mod delta;
pub mod metrics;
pub mod render;
pub mod service;
pub mod sotw;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod types;
pub mod wire;

pub use ads::{Ads, Client, Snapshot};
pub use metrics::Metrics;
pub use render::Rendered;
pub use service::AdsServer;
