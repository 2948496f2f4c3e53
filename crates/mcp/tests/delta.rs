//! DeltaAggregatedResources over real gRPC on 127.0.0.1, driven the way an incremental xDS
//! client (Envoy, `pkg/adsc/delta.go`) drives it: wildcard and named subscriptions, only changed
//! and removed resources, ACK/NACK by nonce, and a reconnect that says what it holds.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse,
};
use envoy_types::pb::google::rpc::Status;
use prost::Message;
use regsync_mcp::testkit::{WAIT, entry, node, rendered, serve};
use regsync_mcp::types::{MESH_CONFIG, SERVICE_ENTRY_V1};
use regsync_mcp::{Metrics, Snapshot};
use regsync_proto::istio::mcp::v1alpha1::Resource;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

/// A delta client holding name → version per type, as the protocol defines its state.
struct DeltaClient {
    tx: mpsc::Sender<DeltaDiscoveryRequest>,
    rx: Streaming<DeltaDiscoveryResponse>,
    held: BTreeMap<String, BTreeMap<String, String>>,
}

impl DeltaClient {
    /// Opens a stream and sends one first request per `(type, names, initial versions)`.
    async fn connect(
        addr: SocketAddr,
        subscriptions: &[(&str, &[&str], BTreeMap<String, String>)],
    ) -> Self {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        let (tx, requests) = mpsc::channel(16);
        let mut held = BTreeMap::new();
        for (i, (type_url, names, initial)) in subscriptions.iter().enumerate() {
            tx.send(DeltaDiscoveryRequest {
                node: (i == 0).then(|| node("default")),
                type_url: (*type_url).to_owned(),
                resource_names_subscribe: names.iter().map(|n| (*n).to_owned()).collect(),
                initial_resource_versions: initial
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
                ..DeltaDiscoveryRequest::default()
            })
            .await
            .unwrap();
            held.insert((*type_url).to_owned(), initial.clone());
        }
        let rx = client
            .delta_aggregated_resources(ReceiverStream::new(requests))
            .await
            .unwrap()
            .into_inner();
        Self { tx, rx, held }
    }

    /// The next response, applied to what the client holds (not yet ACKed).
    async fn next(&mut self) -> DeltaDiscoveryResponse {
        let resp = tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("a response within WAIT")
            .unwrap()
            .expect("the stream stays open");
        let held = self.held.entry(resp.type_url.clone()).or_default();
        for r in &resp.resources {
            let any = r.resource.as_ref().unwrap();
            assert_eq!(
                any.type_url,
                "type.googleapis.com/istio.mcp.v1alpha1.Resource"
            );
            let mcp = Resource::decode(any.value.as_slice()).unwrap();
            let meta = mcp.metadata.unwrap();
            assert_eq!(meta.name, r.name, "Resource name matches the MCP metadata");
            assert_eq!(
                meta.version, r.version,
                "Resource version is metadata.version"
            );
            held.insert(r.name.clone(), r.version.clone());
        }
        for name in &resp.removed_resources {
            held.remove(name);
        }
        resp
    }

    async fn reply(&self, resp: &DeltaDiscoveryResponse, error: Option<&str>) {
        self.tx
            .send(DeltaDiscoveryRequest {
                type_url: resp.type_url.clone(),
                response_nonce: resp.nonce.clone(),
                error_detail: error.map(|m| Status {
                    code: 3,
                    message: m.to_owned(),
                    details: vec![],
                }),
                ..DeltaDiscoveryRequest::default()
            })
            .await
            .unwrap();
    }

    async fn nothing_arrives(&mut self) {
        let r = tokio::time::timeout(Duration::from_millis(300), self.rx.message()).await;
        assert!(r.is_err(), "nothing more was due, got {r:?}");
    }

    fn held(&self, type_url: &str) -> BTreeMap<String, String> {
        self.held.get(type_url).cloned().unwrap_or_default()
    }
}

fn counter(metrics: &Metrics, name: &str) -> u64 {
    let family = match name {
        "acks" => &metrics.acks,
        _ => &metrics.nacks,
    };
    family
        .get_or_create(&Metrics::labels(SERVICE_ENTRY_V1))
        .get()
}

/// Generation `g` holding `(name, version, address)` entries.
fn generation(g: u64, entries: &[(&str, &str, &str)]) -> Snapshot {
    let entries: Vec<_> = entries
        .iter()
        .map(|(name, version, address)| entry(name, version, &[address]))
        .collect();
    rendered(g, &entries)
}

fn names(r: &DeltaDiscoveryResponse) -> Vec<&str> {
    r.resources.iter().map(|r| r.name.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_client_gets_only_changes_and_removals_and_a_nack_keeps_its_state() {
    let server = serve(generation(
        1,
        &[("orders", "o1", "10.0.0.1"), ("users", "u1", "10.0.0.2")],
    ))
    .await;
    let mut client = DeltaClient::connect(
        server.addr,
        &[
            (MESH_CONFIG, &[], BTreeMap::new()),
            (SERVICE_ENTRY_V1, &[], BTreeMap::new()),
        ],
    )
    .await;

    // Every type is answered: MeshConfig empty, ServiceEntries in full.
    let mut first = BTreeMap::new();
    for _ in 0..2 {
        let r = client.next().await;
        first.insert(r.type_url.clone(), r);
    }
    let mesh = &first[MESH_CONFIG];
    assert!(mesh.resources.is_empty() && mesh.removed_resources.is_empty());
    let se = &first[SERVICE_ENTRY_V1];
    assert_eq!(se.system_version_info, "1");
    assert_eq!(names(se), vec!["istio-system/orders", "istio-system/users"]);
    client.reply(mesh, None).await;
    client.reply(se, None).await;
    client.nothing_arrives().await;

    // Generation 2: orders unchanged, users gone, billing new. Only the difference moves.
    server
        .snapshots
        .send(generation(
            2,
            &[("orders", "o1", "10.0.0.1"), ("billing", "b1", "10.0.0.3")],
        ))
        .unwrap();
    let r2 = client.next().await;
    assert_eq!(r2.system_version_info, "2");
    assert_eq!(names(&r2), vec!["istio-system/billing"]);
    assert_eq!(r2.removed_resources, vec!["istio-system/users".to_owned()]);
    client.reply(&r2, None).await;
    assert_eq!(
        client.held(SERVICE_ENTRY_V1),
        BTreeMap::from([
            ("istio-system/billing".into(), "b1".into()),
            ("istio-system/orders".into(), "o1".into())
        ])
    );

    // Generation 3 is refused: the server keeps the client's state and does not send it again.
    let before = counter(&server.metrics, "nacks");
    server
        .snapshots
        .send(generation(
            3,
            &[("orders", "o2", "10.0.0.9"), ("billing", "b1", "10.0.0.3")],
        ))
        .unwrap();
    let r3 = client.next().await;
    assert_eq!(names(&r3), vec!["istio-system/orders"]);
    client
        .held
        .get_mut(SERVICE_ENTRY_V1)
        .unwrap()
        .insert("istio-system/orders".into(), "o1".into());
    client.reply(&r3, Some("refused by the test")).await;
    // nothing_arrives waits long enough for the server to have read the NACK.
    client.nothing_arrives().await;
    assert_eq!(counter(&server.metrics, "nacks"), before + 1);
    let acked = server.ads.clients()[0].acked.clone();
    assert_eq!(acked[SERVICE_ENTRY_V1], "2", "the last ACKed version stays");
    assert_eq!(server.ads.clients()[0].revision.as_deref(), Some("default"));

    // Generation 4 changes orders again: it is sent, from the state the client kept.
    server
        .snapshots
        .send(generation(
            4,
            &[("orders", "o3", "10.0.0.10"), ("billing", "b1", "10.0.0.3")],
        ))
        .unwrap();
    let r4 = client.next().await;
    assert_eq!(names(&r4), vec!["istio-system/orders"]);
    assert_eq!(r4.resources[0].version, "o3");
    client.reply(&r4, None).await;

    // A reconnect says what it holds: only what changed since is sent.
    let held = client.held(SERVICE_ENTRY_V1);
    drop(client);
    server
        .snapshots
        .send(generation(
            5,
            &[
                ("orders", "o3", "10.0.0.10"),
                ("payments", "p1", "10.0.0.4"),
            ],
        ))
        .unwrap();
    let mut again =
        DeltaClient::connect(server.addr, &[(SERVICE_ENTRY_V1, &[], held.clone())]).await;
    let r5 = again.next().await;
    assert_eq!(names(&r5), vec!["istio-system/payments"]);
    assert_eq!(
        r5.removed_resources,
        vec!["istio-system/billing".to_owned()]
    );
    again.reply(&r5, None).await;
    assert_eq!(
        again.held(SERVICE_ENTRY_V1),
        BTreeMap::from([
            ("istio-system/orders".into(), "o3".into()),
            ("istio-system/payments".into(), "p1".into())
        ])
    );
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_subscriptions_follow_subscribe_and_unsubscribe() {
    let server = serve(generation(
        1,
        &[("orders", "o1", "10.0.0.1"), ("users", "u1", "10.0.0.2")],
    ))
    .await;
    let mut client = DeltaClient::connect(
        server.addr,
        &[(
            SERVICE_ENTRY_V1,
            &["istio-system/orders", "istio-system/nope"],
            BTreeMap::new(),
        )],
    )
    .await;
    let r1 = client.next().await;
    assert_eq!(names(&r1), vec!["istio-system/orders"]);
    assert_eq!(
        r1.removed_resources,
        vec!["istio-system/nope".to_owned()],
        "a name that does not exist is answered with its removal"
    );
    client.reply(&r1, None).await;

    // A change to an entry not subscribed sends nothing.
    server
        .snapshots
        .send(generation(
            2,
            &[("orders", "o1", "10.0.0.1"), ("users", "u2", "10.0.0.5")],
        ))
        .unwrap();
    client.nothing_arrives().await;

    // Subscribing to users (with no nonce: not an ACK) sends it.
    client
        .tx
        .send(DeltaDiscoveryRequest {
            type_url: SERVICE_ENTRY_V1.into(),
            resource_names_subscribe: vec!["istio-system/users".into()],
            resource_names_unsubscribe: vec!["istio-system/orders".into()],
            ..DeltaDiscoveryRequest::default()
        })
        .await
        .unwrap();
    let r2 = client.next().await;
    assert_eq!(names(&r2), vec!["istio-system/users"]);
    assert!(
        r2.removed_resources.is_empty(),
        "an unsubscribed name is not removed by the server"
    );
    client.reply(&r2, None).await;
    // The server reads the ACK asynchronously.
    let deadline = tokio::time::Instant::now() + WAIT;
    while counter(&server.metrics, "acks") < 2 {
        assert!(tokio::time::Instant::now() < deadline, "both ACKs counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.stop();
}
