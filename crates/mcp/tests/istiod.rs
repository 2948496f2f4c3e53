//! The ADS service against a client that behaves like istiod's config-source client (adsc.go,
//! wire contract §4–5), over real gRPC on 127.0.0.1. istiod itself cannot run here, so the
//! client follows the documented contract: all initial requests back to back with Go timestamp
//! nonces, the node only on the first, an ACK for every response except a non-empty MeshConfig,
//! a store replaced per type by every response, entries dropped the way istiod drops them, and
//! synced once every requested type has been answered.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::{Struct, Value, value::Kind};
use envoy_types::pb::google::rpc::Status;
use prost::Message;
use regsync_mcp::types::{ISTIOD_1_23_TYPES, ISTIOD_1_30_TYPES, MESH_CONFIG};
use regsync_mcp::{Ads, Metrics, Rendered, Snapshot};
use regsync_model::Entry;
use regsync_model::entry::{Location, Resolution, ServiceEntrySpec, ServicePort, WorkloadEntry};
use regsync_proto::istio::mcp::v1alpha1::Resource;
use regsync_proto::istio::networking::v1alpha3::ServiceEntry;
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::Streaming;

const WAIT: Duration = Duration::from_secs(10);

fn entry(name: &str, version: &str, addresses: &[&str]) -> Entry {
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

fn rendered(generation: u64, entries: &[Entry]) -> Snapshot {
    Some(Arc::new(Rendered::new(generation, entries).unwrap()))
}

struct Server {
    addr: SocketAddr,
    snapshots: watch::Sender<Snapshot>,
    ads: Ads,
    metrics: Metrics,
    stop: tokio::sync::oneshot::Sender<()>,
}

async fn serve(first: Snapshot) -> Server {
    serve_on("127.0.0.1:0".parse().unwrap(), first).await
}

/// Serves on `addr`, retrying while a previous server still holds it.
async fn serve_on(addr: SocketAddr, first: Snapshot) -> Server {
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
    let svc = AggregatedDiscoveryServiceServer::new(ads.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
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
    fn stop(self) -> SocketAddr {
        let _ = self.stop.send(());
        drop(self.snapshots);
        self.addr
    }
}

/// What istiod holds for one type from this source: name -> (version, ServiceEntry).
type Store = BTreeMap<String, (String, ServiceEntry)>;

/// An istiod-like config-source client.
struct Istiod {
    types: Vec<&'static str>,
    node: Node,
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
    stores: BTreeMap<String, Store>,
    answered: BTreeSet<String>,
    /// (type_url, nonce) of every response, to check nonces are fresh.
    nonces: BTreeSet<String>,
    /// Store events: (type, name) created or updated because the version changed.
    updates: Vec<(String, String)>,
    ack: bool,
}

fn go_time_nonce(i: usize) -> String {
    format!(
        "2026-11-21 23:34:51.{:06} +0000 UTC m=+0.{:09}",
        969_512 + i,
        113_891_976 + i
    )
}

impl Istiod {
    async fn connect(addr: SocketAddr, types: &[&'static str], revision: &str) -> Self {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let (tx, requests) = mpsc::channel(64);
        let node = Node {
            id: "sidecar~10.244.0.7~istiod-5f7d9c.istio-system~istio-system.svc.cluster.local"
                .into(),
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
        };
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
            .await
            .unwrap()
            .into_inner();
        Self {
            types: types.to_vec(),
            node,
            tx,
            rx,
            stores: BTreeMap::new(),
            answered: BTreeSet::new(),
            nonces: BTreeSet::new(),
            updates: Vec::new(),
            ack: true,
        }
    }

    /// istiod's HasSynced: every requested type but MeshConfig answered at least once.
    fn synced(&self) -> bool {
        self.types
            .iter()
            .filter(|t| **t != MESH_CONFIG)
            .all(|t| self.answered.contains(*t))
    }

    /// Receives and handles one response; `None` when nothing came within `wait`.
    async fn step(&mut self, wait: Duration) -> Option<DiscoveryResponse> {
        let resp = tokio::time::timeout(wait, self.rx.message())
            .await
            .ok()?
            .unwrap()
            .unwrap();
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
                .unwrap();
        }
        Some(resp)
    }

    /// SotW: the response replaces the whole collection; invalid resources are skipped (and so
    /// deleted), as adsc.go `handleMCP` does.
    fn apply(&mut self, resp: &DiscoveryResponse) {
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
    async fn sync(&mut self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.synced() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not synced: {:?}",
                self.answered
            );
            self.step(WAIT).await.expect("a response");
        }
    }

    fn entries(&self, type_url: &str) -> Vec<String> {
        self.stores
            .get(type_url)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istiod_1_30_gets_v1_service_entries_and_every_other_type_empty() {
    let server = serve(rendered(1, &[entry("orders", "h1", &["10.0.0.1"])])).await;
    let mut istiod = Istiod::connect(server.addr, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    let se = "networking.istio.io/v1/ServiceEntry";
    assert_eq!(istiod.entries(se), ["istio-system/orders"]);
    let (version, body) = &istiod.stores[se]["istio-system/orders"];
    assert_eq!(version, "h1");
    assert_eq!(body.hosts, ["orders.eureka.local"]);
    assert_eq!(body.endpoints[0].address, "10.0.0.1");
    for t in ISTIOD_1_30_TYPES
        .iter()
        .filter(|t| **t != se && **t != MESH_CONFIG)
    {
        assert!(istiod.entries(t).is_empty(), "{t}");
    }
    // MeshConfig is answered too, and empty.
    let clients = server.ads.clients();
    assert_eq!(clients.len(), 1);
    assert!(clients[0].node.starts_with("sidecar~10.244.0.7~"));
    assert_eq!(clients[0].revision.as_deref(), Some("default"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istiod_1_23_gets_v1alpha3_under_the_url_it_asked_for() {
    let server = serve(rendered(1, &[entry("orders", "h1", &["10.0.0.1"])])).await;
    let mut istiod = Istiod::connect(server.addr, &ISTIOD_1_23_TYPES, "").await;
    istiod.sync().await;
    assert_eq!(
        istiod.entries("networking.istio.io/v1alpha3/ServiceEntry"),
        ["istio-system/orders"]
    );
    assert!(
        istiod
            .entries("networking.istio.io/v1/ServiceEntry")
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_ready_until_the_first_snapshot_then_full_state_on_every_change() {
    let server = serve(None).await;
    let mut istiod = Istiod::connect(server.addr, &ISTIOD_1_30_TYPES, "default").await;
    // Every type but ServiceEntry is answered; istiod stays not-ready.
    while istiod.step(Duration::from_millis(500)).await.is_some() {}
    assert!(!istiod.synced());
    assert_eq!(istiod.answered.len(), ISTIOD_1_30_TYPES.len() - 2);

    server
        .snapshots
        .send(rendered(
            1,
            &[
                entry("orders", "h1", &["10.0.0.1"]),
                entry("users", "u1", &["10.0.0.2"]),
            ],
        ))
        .unwrap();
    istiod.sync().await;
    let se = "networking.istio.io/v1/ServiceEntry";
    assert_eq!(
        istiod.entries(se),
        ["istio-system/orders", "istio-system/users"]
    );
    istiod.updates.clear();

    // orders unchanged, users removed, billing added.
    server
        .snapshots
        .send(rendered(
            2,
            &[
                entry("orders", "h1", &["10.0.0.1"]),
                entry("billing", "b1", &["10.0.0.3"]),
            ],
        ))
        .unwrap();
    let resp = istiod.step(WAIT).await.unwrap();
    assert_eq!(resp.type_url, se);
    assert_eq!(resp.version_info, "2");
    assert_eq!(
        istiod.entries(se),
        ["istio-system/billing", "istio-system/orders"]
    );
    // The unchanged entry kept its version, so istiod raised no event for it.
    assert_eq!(
        istiod.updates,
        [(se.to_owned(), "istio-system/billing".to_owned())]
    );
    // Only the ServiceEntry type follows the snapshot.
    assert!(istiod.step(Duration::from_millis(300)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nack_is_counted_and_the_same_version_is_not_sent_again() {
    let server = serve(rendered(1, &[entry("orders", "h1", &["10.0.0.1"])])).await;
    let se = "networking.istio.io/v1/ServiceEntry";
    let mut client = Istiod::connect(server.addr, &[se], "").await;
    client.ack = false;
    let resp = client.step(WAIT).await.unwrap();
    client
        .tx
        .send(DiscoveryRequest {
            type_url: se.into(),
            version_info: String::new(),
            response_nonce: resp.nonce.clone(),
            error_detail: Some(Status {
                code: 3,
                message: "rejected by a test".into(),
                details: vec![],
            }),
            ..DiscoveryRequest::default()
        })
        .await
        .unwrap();
    // A stale nonce is ignored too.
    client
        .tx
        .send(DiscoveryRequest {
            type_url: se.into(),
            response_nonce: "not-a-nonce-we-sent".into(),
            ..DiscoveryRequest::default()
        })
        .await
        .unwrap();
    assert!(client.step(Duration::from_millis(300)).await.is_none());
    let nacks = server
        .metrics
        .nacks
        .get_or_create(&Metrics::labels(se))
        .get();
    assert_eq!(nacks, 1);
    // The next version is sent.
    server
        .snapshots
        .send(rendered(2, &[entry("orders", "h2", &["10.0.0.9"])]))
        .unwrap();
    let resp = client.step(WAIT).await.unwrap();
    assert_eq!(resp.version_info, "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_published_before_the_ack_are_coalesced_to_the_newest() {
    let server = serve(rendered(1, &[entry("orders", "h1", &["10.0.0.1"])])).await;
    let se = "networking.istio.io/v1/ServiceEntry";
    let mut client = Istiod::connect(server.addr, &[se], "").await;
    client.ack = false;
    let first = client.step(WAIT).await.unwrap();
    for g in 2..=5 {
        let v = format!("h{g}");
        server
            .snapshots
            .send(rendered(g, &[entry("orders", &v, &["10.0.0.1"])]))
            .unwrap();
    }
    // Nothing more while the first waits for its ACK.
    assert!(client.step(Duration::from_millis(300)).await.is_none());
    client.ack = true;
    client
        .tx
        .send(DiscoveryRequest {
            type_url: se.into(),
            version_info: first.version_info.clone(),
            response_nonce: first.nonce.clone(),
            ..DiscoveryRequest::default()
        })
        .await
        .unwrap();
    let next = client.step(WAIT).await.unwrap();
    assert_eq!(next.version_info, "5");
    assert!(client.step(Duration::from_millis(300)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_istiods_sync_and_all_get_a_change() {
    let server = serve(rendered(1, &[entry("orders", "h1", &["10.0.0.1"])])).await;
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(Istiod::connect(server.addr, &ISTIOD_1_30_TYPES, "default").await);
    }
    for c in &mut clients {
        c.sync().await;
    }
    assert_eq!(server.ads.clients().len(), 50);
    server
        .snapshots
        .send(rendered(
            2,
            &[entry("orders", "h2", &["10.0.0.1", "10.0.0.2"])],
        ))
        .unwrap();
    let se = "networking.istio.io/v1/ServiceEntry";
    for c in &mut clients {
        let resp = c.step(WAIT).await.unwrap();
        assert_eq!(
            (resp.type_url.as_str(), resp.version_info.as_str()),
            (se, "2")
        );
        assert_eq!(c.stores[se]["istio-system/orders"].1.endpoints.len(), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_restart_istiod_resubscribes_and_syncs_again() {
    let server = serve(rendered(1, &[entry("orders", "h1", &["10.0.0.1"])])).await;
    let mut istiod = Istiod::connect(server.addr, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    let addr = server.stop();
    let ended = tokio::time::timeout(WAIT, istiod.rx.message())
        .await
        .unwrap();
    assert!(
        !matches!(ended, Ok(Some(_))),
        "the stream ends with the server"
    );
    // A new server process on the same address; istiod opens a new stream and sends all
    // initial requests again, keeping what it held until the answers replace it.
    let restarted = serve_on(addr, rendered(7, &[entry("orders", "h1", &["10.0.0.1"])])).await;
    let held = std::mem::take(&mut istiod.stores);
    let mut again = Istiod::connect(restarted.addr, &ISTIOD_1_30_TYPES, "default").await;
    again.stores = held;
    again.sync().await;
    let se = "networking.istio.io/v1/ServiceEntry";
    assert_eq!(again.entries(se), ["istio-system/orders"]);
    // The entry did not change, so istiod raised no event for it after the reconnect.
    assert!(again.updates.is_empty(), "{:?}", again.updates);
}

#[test]
fn a_generation_with_an_entry_istiod_would_drop_is_refused_whole() {
    let good = entry("orders", "h1", &["10.0.0.1"]);
    let mut no_hosts = entry("users", "u1", &["10.0.0.2"]);
    no_hosts.spec.hosts.clear();
    let mut no_version = entry("billing", "", &["10.0.0.3"]);
    no_version.spec.hosts = vec!["billing.eureka.local".into()];
    let invalid =
        Rendered::new(3, &[good.clone(), no_hosts, no_version, good.clone()]).unwrap_err();
    let names: Vec<&str> = invalid.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "istio-system/users",
            "istio-system/billing",
            "istio-system/orders"
        ]
    );
    assert!(
        invalid[1].reasons[0].contains("metadata.version"),
        "{invalid:?}"
    );
    assert!(
        invalid[2].reasons[0].contains("appears twice"),
        "{invalid:?}"
    );
    assert_eq!(Rendered::new(3, &[good]).unwrap().resources.len(), 1);
}
