//! End to end, every component a real process on 127.0.0.1 (see `cluster.rs`):
//!
//! ZooKeeper → `regsync bridge zookeeper` → Apache Kafka → `regsync consume` →
//! S3-compatible store (SeaweedFS) → `regsync mcp serve` → an istiod-like client, and the same with
//! the signed webhook (`regsync webhook`) in place of the broker and the consumer. The Kafka
//! run's topic, recorded with `regsync record`, and the consumer's archive each replay into a
//! snapshot with the same digest.
//! `faults.rs` kills and restarts each component while changes flow.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)]

mod cluster;
mod faults;

use std::collections::BTreeSet;
use std::time::Duration;

use cluster::{
    Broker, Mesh, Registry, S3, bridge, consume, digest_of, mcp_addr, mcp_serve, run, unique,
    webhook,
};

const CONVERGE: Duration = Duration::from_secs(60);

fn set(ips: &[&str]) -> BTreeSet<String> {
    ips.iter().map(|ip| (*ip).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dubbo_provider_reaches_istio_through_kafka_and_s3_and_the_recording_replays() {
    let broker = Broker::shared();
    let s3 = S3::shared().await;
    let topic = unique("registry-events");
    broker.create_topic(&topic, 3).await;
    let state = tempfile::tempdir().unwrap();
    let mut registry = Registry::new(2).await;
    let store = s3.url("mesh");

    let _bridge = bridge(
        &registry.dubbo_root(),
        &format!("kafka://{}/{topic}", broker.addr),
        state.path(),
    );
    let _consume = consume(&broker.addr, &topic, &unique("g"), &store, &s3);
    let addr = mcp_addr();
    let _mcp = mcp_serve(&store, addr, &s3);
    let mut mesh = Mesh::new(addr);

    // Providers register: their endpoints reach the mesh.
    registry.register(0, "10.1.0.1").await;
    registry.register(0, "10.1.0.2").await;
    registry.register(1, "10.1.1.1").await;
    mesh.converge(&set(&["10.1.0.1", "10.1.0.2", "10.1.1.1"]), CONVERGE)
        .await;

    // One deregisters (a provider shutting down deletes its znode): it leaves the mesh.
    registry.deregister(0, "10.1.0.1").await;
    mesh.converge(&set(&["10.1.0.2", "10.1.1.1"]), CONVERGE)
        .await;
    assert_eq!(registry.truth(), mesh.addresses());

    // The topic, recorded and replayed into an empty store, rebuilds the live snapshot.
    let recording = state.path().join("run.jsonl");
    let (code, _, err) = run(
        &[
            "record",
            "--from",
            &format!("kafka://{}/{topic}", broker.addr),
            "--to",
            &recording.display().to_string(),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (code, live, err) = run(&["snapshot", "digest", "--store", &store], &s3.env());
    assert_eq!(code, 0, "{err}");
    let rebuilt = format!("file://{}", state.path().join("rebuilt").display());
    let (code, replayed, err) = run(
        &[
            "replay",
            &recording.display().to_string(),
            "--store",
            &rebuilt,
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        digest_of(&replayed),
        digest_of(&live),
        "replayed: {replayed}\nlive: {live}"
    );
    // And the same ServiceEntries, byte for byte.
    let (_, live_yaml, _) = run(&["snapshot", "get", "--store", &store], &s3.env());
    let (_, rebuilt_yaml, _) = run(&["snapshot", "get", "--store", &rebuilt], &[]);
    assert!(live_yaml.contains("address: 10.1.0.2"), "{live_yaml}");
    assert_eq!(live_yaml, rebuilt_yaml);

    // What the consumer archived (`--archive store`) rebuilds it too.
    let from_archive = format!("file://{}", state.path().join("from-archive").display());
    let (code, replayed, err) = run(
        &["replay", &s3.url("mesh/archive"), "--store", &from_archive],
        &s3.env(),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        digest_of(&replayed),
        digest_of(&live),
        "archive: {replayed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_path_works_through_the_webhook() {
    let s3 = S3::shared().await;
    let state = tempfile::tempdir().unwrap();
    let mut registry = Registry::new(1).await;
    let store = s3.url("mesh");
    let (_webhook, url) = webhook(&store, &s3);
    let _bridge = bridge(&registry.dubbo_root(), &url, state.path());
    let addr = mcp_addr();
    let _mcp = mcp_serve(&store, addr, &s3);
    let mut mesh = Mesh::new(addr);

    registry.register(0, "10.2.0.1").await;
    registry.register(0, "10.2.0.2").await;
    mesh.converge(&set(&["10.2.0.1", "10.2.0.2"]), CONVERGE)
        .await;
    registry.deregister(0, "10.2.0.2").await;
    mesh.converge(&set(&["10.2.0.1"]), CONVERGE).await;
    registry.deregister(0, "10.2.0.1").await;
    mesh.converge(&BTreeSet::new(), CONVERGE).await;
    // Nothing was refused on the way.
    let dead =
        std::fs::read_to_string(state.path().join("bridge-dead-letters.jsonl")).unwrap_or_default();
    assert!(dead.is_empty(), "{dead}");
}
