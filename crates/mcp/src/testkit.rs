//! An istiod-like config-source client for tests and benchmarks (feature `testkit`).
//!
//! istiod's own client runs in `tests/istio` (Go); this Rust client follows the contract
//! (`docs/mcp-wire-contract.md` §4–5, adsc.go): all initial requests back to back with
//! Go timestamp nonces, the node only on the first, an ACK for every response except a non-empty
//! MeshConfig, a store replaced per type by every response, entries dropped the way istiod drops
//! them, and synced once every requested type has been answered. It panics on any breach of the
//! contract, which is what a test wants.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use prost::Message;
use regsync_proto::istio::mcp::v1alpha1::Resource;
use regsync_proto::istio::networking::v1alpha3::ServiceEntry;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

use crate::types::MESH_CONFIG;
use crate::{Ads, Metrics, Rendered, Snapshot};
use regsync_model::Entry;
use regsync_model::entry::{Location, Resolution, ServiceEntrySpec, ServicePort, WorkloadEntry};
use std::sync::Arc;
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

/// How long [`Istiod::sync`] waits.
pub const WAIT: Duration = Duration::from_secs(10);

/// What istiod holds for one type from this source: name -> (version, ServiceEntry).
pub type Store = BTreeMap<String, (String, ServiceEntry)>;

/// An istiod-like config-source client.
pub struct Istiod {
    pub types: Vec<&'static str>,
    pub node: Node,
    pub tx: mpsc::Sender<DiscoveryRequest>,
    pub rx: Streaming<DiscoveryResponse>,
    pub stores: BTreeMap<String, Store>,
    pub answered: BTreeSet<String>,
    /// (type_url, nonce) of every response, to check nonces are fresh.
    pub nonces: BTreeSet<String>,
    /// Store events: (type, name) created or updated because the version changed.
    pub updates: Vec<(String, String)>,
    pub ack: bool,
}

/// The node istiod sends on its first request (wire contract §4), at `revision`.
pub fn node(revision: &str) -> Node {
    Node {
        id: "sidecar~10.244.0.7~istiod-5f7d9c.istio-system~istio-system.svc.cluster.local".into(),
        metadata: Some(Struct {
            fields: [
                ("GENERATOR", "api"),
                ("ISTIO_REVISION", revision),
                ("ISTIO_VERSION", "65536.65536.65536"),
            ]
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_owned(),
                    Value {
                        kind: Some(Kind::StringValue(v.to_owned())),
                    },
                )
            })
            .collect(),
        }),
        ..Node::default()
    }
}

pub fn go_time_nonce(i: usize) -> String {
    format!(
        "2026-11-21 23:34:51.{:06} +0000 UTC m=+0.{:09}",
        969_512 + i,
        113_891_976 + i
    )
}

impl Istiod {
    /// Connects in plaintext to `addr` and sends the initial requests for `types`.
    pub async fn connect(addr: SocketAddr, types: &[&'static str], revision: &str) -> Self {
        Self::try_connect(addr, types, revision).await.unwrap()
    }

    /// [`Istiod::connect`] that reports a server that is down instead of panicking, for tests
    /// that restart the server (istiod reconnects to a config source with backoff).
    pub async fn try_connect(
        addr: SocketAddr,
        types: &[&'static str],
        revision: &str,
    ) -> Result<Self, tonic::Status> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .map_err(|e| tonic::Status::unavailable(format!("cannot connect to {addr}: {e}")))?;
        Self::try_on_channel(channel, types, revision).await
    }

    /// Opens a stream on `channel` (plaintext or TLS) and sends the initial requests for `types`.
    pub async fn on_channel(
        channel: tonic::transport::Channel,
        types: &[&'static str],
        revision: &str,
    ) -> Self {
        Self::try_on_channel(channel, types, revision)
            .await
            .unwrap()
    }

    async fn try_on_channel(
        channel: tonic::transport::Channel,
        types: &[&'static str],
        revision: &str,
    ) -> Result<Self, tonic::Status> {
        let mut client =
            AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(usize::MAX);
        let (tx, requests) = mpsc::channel(64);
        let node = node(revision);
        // All initial requests go out back to back, the node only on the first.
        for (i, t) in types.iter().enumerate() {
            tx.send(DiscoveryRequest {
                type_url: (*t).to_owned(),
                response_nonce: go_time_nonce(i),
                node: (i == 0).then(|| node.clone()),
                ..DiscoveryRequest::default()
            })
            .await
            .unwrap();
        }
        let rx = client
            .stream_aggregated_resources(ReceiverStream::new(requests))
            .await?
            .into_inner();
        Ok(Self {
            types: types.to_vec(),
            node,
            tx,
            rx,
            stores: BTreeMap::new(),
            answered: BTreeSet::new(),
            nonces: BTreeSet::new(),
            updates: Vec::new(),
            ack: true,
        })
    }

    /// istiod's HasSynced: every requested type but MeshConfig answered at least once.
    pub fn synced(&self) -> bool {
        self.types
            .iter()
            .filter(|t| **t != MESH_CONFIG)
            .all(|t| self.answered.contains(*t))
    }

    /// Receives and handles one response; `None` when nothing came within `wait`.
    pub async fn step(&mut self, wait: Duration) -> Option<DiscoveryResponse> {
        self.try_step(wait).await.unwrap()
    }

    /// [`Istiod::step`] that returns the stream's end or error (the server went away) instead
    /// of panicking; breaches of the contract still panic.
    pub async fn try_step(
        &mut self,
        wait: Duration,
    ) -> Result<Option<DiscoveryResponse>, tonic::Status> {
        let Ok(message) = tokio::time::timeout(wait, self.rx.message()).await else {
            return Ok(None);
        };
        let Some(resp) = message? else {
            return Err(tonic::Status::unavailable("the server closed the stream"));
        };
        assert!(!resp.nonce.is_empty(), "every response has a nonce");
        assert!(
            !resp.version_info.is_empty(),
            "every response has a version"
        );
        assert!(
            self.nonces.insert(resp.nonce.clone()),
            "nonce {} reused",
            resp.nonce
        );
        let is_mcp = self.types.contains(&resp.type_url.as_str()) && resp.type_url != MESH_CONFIG;
        if resp.type_url == MESH_CONFIG && !resp.resources.is_empty() {
            panic!("a non-empty MeshConfig response: istiod would never ACK it");
        }
        if is_mcp {
            self.apply(&resp);
            self.answered.insert(resp.type_url.clone());
        }
        if self.ack {
            self.tx
                .send(DiscoveryRequest {
                    type_url: resp.type_url.clone(),
                    version_info: resp.version_info.clone(),
                    response_nonce: resp.nonce.clone(),
                    node: Some(self.node.clone()),
                    ..DiscoveryRequest::default()
                })
                .await
                .map_err(|_| tonic::Status::unavailable("the request stream is closed"))?;
        }
        Ok(Some(resp))
    }

    /// Sends a request for `type_url` naming `names`, as a careless or hostile client might
    /// (istiod's own requests name nothing): a few large names make a request of any size.
    pub async fn send_names(&self, type_url: &str, names: Vec<String>) {
        self.tx
            .send(DiscoveryRequest {
                type_url: type_url.to_owned(),
                resource_names: names,
                node: Some(self.node.clone()),
                ..DiscoveryRequest::default()
            })
            .await
            .unwrap();
    }

    /// SotW: the response replaces the whole collection; invalid resources are skipped (and so
    /// deleted), as adsc.go `handleMCP` does.
    pub fn apply(&mut self, resp: &DiscoveryResponse) {
        let old = self.stores.remove(&resp.type_url).unwrap_or_default();
        let mut new = Store::new();
        for any in &resp.resources {
            if !any.type_url.ends_with("/istio.mcp.v1alpha1.Resource") {
                continue;
            }
            let r = Resource::decode(any.value.as_slice()).unwrap();
            let meta = r.metadata.unwrap();
            if meta.name.split('/').filter(|p| !p.is_empty()).count() != 2 {
                continue;
            }
            let body = r.body.unwrap();
            if !body
                .type_url
                .ends_with("/istio.networking.v1alpha3.ServiceEntry")
            {
                continue;
            }
            let se = ServiceEntry::decode(body.value.as_slice()).unwrap();
            if se.hosts.is_empty() || se.ports.iter().any(|p| p.number == 0 || p.number > 65535) {
                continue;
            }
            let changed = match old.get(&meta.name) {
                Some((v, _)) => meta.version.is_empty() || *v != meta.version,
                None => true,
            };
            if changed {
                self.updates
                    .push((resp.type_url.clone(), meta.name.clone()));
            }
            new.insert(meta.name, (meta.version, se));
        }
        self.stores.insert(resp.type_url.clone(), new);
    }

    /// Handles responses until synced.
    pub async fn sync(&mut self) {
        self.sync_within(WAIT).await;
    }

    /// Handles responses until synced, for at most `wait` (a large snapshot takes longer to
    /// load than [`WAIT`]).
    pub async fn sync_within(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while !self.synced() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not synced within {wait:?}: {:?}",
                self.answered
            );
            self.step(wait).await.expect("a response");
        }
    }

    pub fn entries(&self, type_url: &str) -> Vec<String> {
        self.stores
            .get(type_url)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// What the mesh routes to for `type_url`: each host of each entry with its endpoints'
    /// addresses (entries without endpoints show an empty set).
    pub fn endpoints(&self, type_url: &str) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_, se) in self
            .stores
            .get(type_url)
            .into_iter()
            .flat_map(|s| s.values())
        {
            for host in &se.hosts {
                out.entry(host.clone())
                    .or_default()
                    .extend(se.endpoints.iter().map(|e| e.address.clone()));
            }
        }
        out
    }
}

/// A ServiceEntry `istio-system/<name>` at content hash `version` with one static endpoint per
/// address, as the conversion would store it.
pub fn entry(name: &str, version: &str, addresses: &[&str]) -> Entry {
    Entry {
        namespace: "istio-system".into(),
        name: name.into(),
        version: version.into(),
        create_time_ms: 1_700_000_000_000,
        labels: BTreeMap::from([("app.kubernetes.io/managed-by".into(), "regsync".into())]),
        annotations: BTreeMap::from([("regsync.io/registry".into(), "eureka".into())]),
        spec: ServiceEntrySpec {
            hosts: vec![format!("{name}.eureka.local")],
            ports: vec![ServicePort {
                number: 8080,
                protocol: "HTTP".into(),
                name: "http-8080".into(),
                target_port: None,
            }],
            location: Location::MeshInternal,
            resolution: Resolution::Static,
            endpoints: addresses
                .iter()
                .map(|a| WorkloadEntry {
                    address: (*a).into(),
                    ports: BTreeMap::from([("http-8080".into(), 8080)]),
                    ..WorkloadEntry::default()
                })
                .collect(),
            ..ServiceEntrySpec::default()
        },
    }
}

/// `entries` rendered as generation `generation`, ready for the snapshot channel.
pub fn rendered(generation: u64, entries: &[Entry]) -> Snapshot {
    Some(Arc::new(Rendered::new(generation, entries).unwrap()))
}

/// An ADS service on 127.0.0.1 fed by a snapshot channel the test holds.
pub struct Server {
    pub addr: SocketAddr,
    pub snapshots: watch::Sender<Snapshot>,
    pub ads: Ads,
    pub metrics: Metrics,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

/// Serves `first` on a free port.
pub async fn serve(first: Snapshot) -> Server {
    serve_on("127.0.0.1:0".parse().unwrap(), first).await
}

/// Serves on `addr`, retrying while a previous server still holds it.
pub async fn serve_on(addr: SocketAddr, first: Snapshot) -> Server {
    serve_with(addr, first, usize::MAX).await
}

/// Serves on `addr` with responses limited to `max_response_bytes`.
pub async fn serve_with(addr: SocketAddr, first: Snapshot, max_response_bytes: usize) -> Server {
    let deadline = tokio::time::Instant::now() + WAIT;
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    };
    let addr = listener.local_addr().unwrap();
    let (snapshots, rx) = watch::channel(first);
    let metrics = Metrics::default();
    let ads = Ads::new(rx, metrics.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // As `regsync mcp serve` configures it.
    let svc = crate::AdsServer::new(ads.clone(), max_response_bytes);
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .add_service(svc)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    Server {
        addr,
        snapshots,
        ads,
        metrics,
        stop,
    }
}

impl Server {
    /// Stops accepting, and ends every stream (as a process exit would).
    pub fn stop(self) -> SocketAddr {
        let _ = self.stop.send(());
        drop(self.snapshots);
        self.addr
    }
}
