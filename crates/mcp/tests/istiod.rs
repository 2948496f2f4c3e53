//! The ADS service against an istiod-like config-source client (`regsync_mcp::testkit`, which
//! follows wire contract §4–5 since istiod itself cannot run here), over real gRPC on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use envoy_types::pb::google::rpc::Status;
use regsync_mcp::testkit::{Istiod, WAIT, entry, rendered, serve, serve_on, serve_with};
use regsync_mcp::types::{ISTIOD_1_23_TYPES, ISTIOD_1_30_TYPES, MESH_CONFIG};
use regsync_mcp::{Metrics, Rendered};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_above_the_message_limit_ends_the_stream_saying_what_to_raise() {
    let entries: Vec<_> = (0..20)
        .map(|i| entry(&format!("svc-{i}"), "h1", &["10.0.0.1"]))
        .collect();
    let server = serve_with("127.0.0.1:0".parse().unwrap(), rendered(1, &entries), 2048).await;
    let mut istiod = Istiod::connect(server.addr, &ISTIOD_1_30_TYPES, "default").await;
    // The small, empty responses fit; the ServiceEntry one does not.
    let status = loop {
        match tokio::time::timeout(WAIT, istiod.rx.message())
            .await
            .unwrap()
        {
            Ok(Some(resp)) => assert!(resp.resources.is_empty(), "{}", resp.type_url),
            Ok(None) => panic!("the stream ended without an error"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(status.message().contains("--max-message-bytes"), "{status}");
    assert!(status.message().contains("2048 bytes"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_does_not_hold_up_the_others() {
    // About 1 MB per response: more than HTTP/2's flow-control windows, so the stuck client's
    // response cannot all be written and its stream stays blocked.
    let big = |g: u64| {
        let addresses: Vec<String> = (0..50).map(|i| format!("10.0.{g}.{i}")).collect();
        let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let entries: Vec<_> = (0..200)
            .map(|i| entry(&format!("svc-{i}"), &format!("h{g}"), &addresses))
            .collect();
        rendered(g, &entries)
    };
    let server = serve(big(1)).await;
    let se = "networking.istio.io/v1/ServiceEntry";
    // Subscribes and never reads a byte again.
    let stuck = Istiod::connect(server.addr, &[se], "").await;
    let mut healthy = Istiod::connect(server.addr, &[se], "").await;
    healthy.sync().await;
    for g in 2..=10 {
        server.snapshots.send(big(g)).unwrap();
        let resp = healthy.step(WAIT).await.unwrap();
        assert_eq!(resp.version_info, g.to_string());
        assert_eq!(healthy.entries(se).len(), 200);
    }
    assert_eq!(
        server.ads.clients().len(),
        2,
        "the stuck client is still connected"
    );
    drop(stuck);
}
