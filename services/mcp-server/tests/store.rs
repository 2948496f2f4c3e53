//! `regsync mcp serve` driven through the store, the way it runs: generations are published with
//! the same code the functions use, and istiod-like clients (`regsync_mcp::testkit`, wire
//! contract §4–5; istiod itself cannot run here) watch what arrives. Stores: a local directory,
//! and with the `it` feature a real S3-compatible server (SeaweedFS) on 127.0.0.1.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use regsync_convert::ConvertConfig;
use regsync_mcp::testkit::{Istiod, WAIT};
use regsync_mcp::types::{ISTIOD_1_23_TYPES, ISTIOD_1_30_TYPES};
use regsync_mcp_server::guard::{GuardConfig, request_release};
use regsync_mcp_server::{Config, Running, WatchConfig};
use regsync_model::RegistryEvent;
use regsync_snapshots::testkit::{instance_event, ip, registry, registry_at};
use regsync_store::Store;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const SE_V1: &str = "networking.istio.io/v1/ServiceEntry";
const SE_V1ALPHA3: &str = "networking.istio.io/v1alpha3/ServiceEntry";

fn config(url: &str, guard: GuardConfig) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin_listen: "127.0.0.1:0".parse().unwrap(),
        watch: WatchConfig {
            poll_interval: Duration::from_millis(25),
            debounce: Duration::from_millis(10),
            guard,
        },
        ..Config::new(url)
    }
}

async fn publish(store: &Store, events: &[RegistryEvent]) -> u64 {
    regsync_snapshots::apply(store, events, &ConvertConfig::default(), 16)
        .await
        .unwrap()
        .generation
        .number
}

async fn http(running: &Running, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{}{path}", running.admin))
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

async fn status(running: &Running) -> serde_json::Value {
    serde_json::from_str(&http(running, "/status").await.1).unwrap()
}

/// Polls `/status` until `pred` holds.
async fn until_status(running: &Running, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let s = status(running).await;
        if pred(&s) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {s:#}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Endpoints istiod holds under `type_url`.
/// The gRPC health service's answer for the ADS service, on the xDS port.
async fn grpc_health(running: &Running) -> ServingStatus {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", running.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let resp = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: "envoy.service.discovery.v3.AggregatedDiscoveryService".into(),
        })
        .await
        .unwrap();
    ServingStatus::try_from(resp.into_inner().status).unwrap()
}

fn endpoints(istiod: &Istiod, type_url: &str) -> usize {
    istiod
        .stores
        .get(type_url)
        .map_or(0, |s| s.values().map(|(_, se)| se.endpoints.len()).sum())
}

/// Handles responses until istiod holds `expected` endpoints under `type_url`.
async fn until_endpoints(istiod: &mut Istiod, type_url: &str, expected: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while endpoints(istiod, type_url) != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "istiod holds {} endpoints, expected {expected}",
            endpoints(istiod, type_url)
        );
        istiod.step(WAIT).await.expect("a push");
    }
}

/// Asserts nothing arrives for a while (several poll intervals).
async fn nothing_arrives(istiod: &mut Istiod) {
    if let Some(resp) = istiod.step(Duration::from_millis(300)).await {
        panic!(
            "unexpected push of {} version {}",
            resp.type_url, resp.version_info
        );
    }
}

/// `instance_event(app, ip, version)` seen again at `at` (a re-registration with the same
/// content): newer timestamps, which the state keeps and no rendered field shows.
fn seen_again(app: usize, ip: &str, version: u64, at: u64) -> RegistryEvent {
    let mut v = instance_event(app, ip, version).to_json();
    let stamp = (1_700_000_000_000u64 + at).to_string();
    v["id"] = format!("seen-again-{app}-{ip}-{at}").into();
    v["sourceversion"] = stamp.clone().into();
    v["data"]["instance"]["lastUpdatedTimestamp"] = stamp.clone().into();
    v["data"]["instance"]["lastDirtyTimestamp"] = stamp.into();
    RegistryEvent::from_value(v).unwrap()
}

fn file_store(dir: &Path) -> (String, Store) {
    let url = format!("file://{}", dir.display());
    (url, Store::File(regsync_store::FileStore::new(dir)))
}

/// The whole life of a server on `store`: not ready before the first publish, then every change
/// reaching every client, and `/status`, `/metrics` and the gRPC health service saying so.
async fn a_change_reaches_every_client(url: &str, store: Store) {
    let running = regsync_mcp_server::start_on(store.clone(), config(url, GuardConfig::default()))
        .await
        .unwrap();
    // Nothing published: not ready, and istiod waits for its ServiceEntries.
    let (code, body) = http(&running, "/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert_eq!(http(&running, "/healthz").await.0, 200);
    assert_eq!(grpc_health(&running).await, ServingStatus::NotServing);
    let mut early = Istiod::connect(running.grpc, &ISTIOD_1_30_TYPES, "default").await;
    for _ in 0..ISTIOD_1_30_TYPES.len() - 1 {
        early
            .step(WAIT)
            .await
            .expect("the empty types are answered at once");
    }
    assert!(
        !early.synced(),
        "ServiceEntry must wait for the first snapshot"
    );
    nothing_arrives(&mut early).await;

    publish(&store, &[registry(4, 3)]).await;
    until_endpoints(&mut early, SE_V1, 12).await;
    assert!(early.synced());
    let (code, body) = http(&running, "/readyz").await;
    assert_eq!(code, 200, "{body}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while grpc_health(&running).await != ServingStatus::Serving {
        assert!(
            tokio::time::Instant::now() < deadline,
            "gRPC health never SERVING"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut clients = vec![(early, SE_V1)];
    for i in 0..6 {
        let (types, se): (&[&'static str], _) = if i % 2 == 0 {
            (&ISTIOD_1_30_TYPES, SE_V1)
        } else {
            (&ISTIOD_1_23_TYPES, SE_V1ALPHA3)
        };
        let mut c = Istiod::connect(running.grpc, types, "default").await;
        c.sync().await;
        clients.push((c, se));
    }
    until_status(&running, "seven clients listed", |s| {
        s["clients"].as_array().unwrap().len() == 7
    })
    .await;

    // One instance more in SERVICE-2: one entry changes, and every client gets it.
    let generation = publish(&store, &[instance_event(2, &ip(2, 7), 5)]).await;
    for (c, se) in &mut clients {
        let se = *se;
        c.updates.clear();
        until_endpoints(c, se, 13).await;
        assert_eq!(c.updates.len(), 1, "one entry changed: {:?}", c.updates);
        assert!(c.updates[0].1.contains("service-2"), "{:?}", c.updates);
    }
    let s = status(&running).await;
    assert_eq!(s["snapshot"]["generation"], generation);
    assert_eq!(s["snapshot"]["endpoints"], 13);
    assert_eq!(s["snapshot"]["registries"]["eureka"], 13);
    until_status(&running, "every client ACKed the change", |s| {
        s["clients"].as_array().unwrap().iter().all(|c| {
            c["acked"].as_object().unwrap().iter().any(|(t, v)| {
                t.ends_with("/ServiceEntry") && v.as_str() == Some(generation.to_string().as_str())
            })
        })
    })
    .await;
    let html = reqwest::Client::new()
        .get(format!("http://{}/status", running.admin))
        .header("Accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<h2>Clients (7)</h2>"), "{html}");
    assert!(html.contains("sidecar~10.244.0.7"), "{html}");
    let metrics = http(&running, "/metrics").await.1;
    assert!(
        metrics.contains(&format!("regsync_mcp_snapshot_generation {generation}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("regsync_mcp_connected_clients 7"),
        "{metrics}"
    );
    assert!(metrics.contains("regsync_mcp_guard_held 0"), "{metrics}");
    assert!(
        metrics.contains("regsync_mcp_push_to_ack_seconds_count"),
        "{metrics}"
    );

    // A generation that changes no entry pushes nothing: the instance is seen again later with
    // the same content, which moves the registry state (a new generation) but no entry.
    let unchanged = publish(&store, &[seen_again(2, &ip(2, 7), 5, 6)]).await;
    assert!(unchanged > generation, "a generation is published");
    until_status(&running, "the new generation is seen", |s| {
        s["snapshot"]["latest_seen"] == unchanged
    })
    .await;
    for (c, _) in &mut clients {
        nothing_arrives(c).await;
    }
    // The next generation that does change an entry is the next push: the one before never was.
    let next = publish(&store, &[instance_event(3, &ip(3, 7), 6)]).await;
    let (c, se) = &mut clients[0];
    let push = c.step(WAIT).await.expect("a push");
    assert_eq!(push.type_url, *se);
    assert_eq!(push.version_info, next.to_string());
    assert_eq!(endpoints(c, se), 14);

    // Stopping ends the streams, and istiod sees the stream close.
    running.stop().await.unwrap();
    let end = tokio::time::timeout(WAIT, clients[0].0.rx.message())
        .await
        .unwrap();
    assert!(matches!(end, Ok(None) | Err(_)), "the stream ends: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_a_file_store_reaches_every_client() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path());
    a_change_reaches_every_client(&url, store).await;
}

#[cfg(feature = "it")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_in_an_s3_store_reaches_every_client() {
    let endpoint = std::env::var("REGSYNC_IT_S3_ENDPOINT")
        .expect("REGSYNC_IT_S3_ENDPOINT names the S3-compatible server (scripts/services.sh)");
    let bucket = format!(
        "mcp-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let store = regsync_store::testsuite::s3_store(
        &endpoint,
        &bucket,
        "mesh",
        regsync_store::RequestCounter::default(),
    )
    .await;
    a_change_reaches_every_client(&format!("s3://{bucket}/mesh"), store).await;
}

/// Copies what `from` has and `to` lacks, `latest` last (as a writer would publish).
fn copy_store(from: &Path, to: &Path) {
    let objects = from.join("objects");
    std::fs::create_dir_all(to.join("objects")).unwrap();
    for f in std::fs::read_dir(&objects).unwrap() {
        let f = f.unwrap();
        let target = to.join("objects").join(f.file_name());
        if !target.exists() {
            std::fs::copy(f.path(), target).unwrap();
        }
    }
    let tmp = to.join("latest.incoming");
    std::fs::copy(from.join("latest"), &tmp).unwrap();
    std::fs::rename(tmp, to.join("latest")).unwrap();
}

fn new_objects(before: &Path, after: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(after.join("objects"))
        .unwrap()
        .map(|f| f.unwrap())
        .filter(|f| !before.join("objects").join(f.file_name()).exists())
        .map(|f| f.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_generation_is_never_served_and_the_next_good_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path());
    let first = publish(&store, &[registry(3, 2)]).await;
    let running = regsync_mcp_server::start_on(store.clone(), config(&url, GuardConfig::default()))
        .await
        .unwrap();
    let mut istiod = Istiod::connect(running.grpc, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    assert_eq!(endpoints(&istiod, SE_V1), 6);

    // The next generation is written elsewhere, one of its new objects is damaged (a bit flip
    // in storage), and it is published here.
    let staging = tempfile::tempdir().unwrap();
    copy_store(dir.path(), staging.path());
    let (_, staged) = file_store(staging.path());
    let corrupt = publish(&staged, &[instance_event(1, &ip(1, 9), 3)]).await;
    let damaged = new_objects(dir.path(), staging.path());
    assert!(!damaged.is_empty());
    let originals: Vec<Vec<u8>> = damaged.iter().map(|p| std::fs::read(p).unwrap()).collect();
    for p in &damaged {
        let mut bytes = std::fs::read(p).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0x20;
        std::fs::write(p, bytes).unwrap();
    }
    copy_store(staging.path(), dir.path());

    until_status(&running, "the corrupt generation is refused", |s| {
        s["snapshot"]["last_failure"]["generation"] == corrupt
    })
    .await;
    let s = status(&running).await;
    assert_eq!(
        s["snapshot"]["generation"], first,
        "the last good one stays served"
    );
    assert_eq!(s["snapshot"]["latest_seen"], corrupt);
    let reason = s["snapshot"]["last_failure"]["reason"].as_str().unwrap();
    assert!(reason == "corrupt" || reason == "layout", "{s:#}");
    nothing_arrives(&mut istiod).await;
    assert_eq!(endpoints(&istiod, SE_V1), 6);
    let metrics = http(&running, "/metrics").await.1;
    assert!(
        metrics.contains(&format!(
            "regsync_mcp_snapshot_load_failures_total{{reason=\"{reason}\"}} 1"
        )),
        "counted once however many polls see it: {metrics}"
    );
    assert_eq!(
        http(&running, "/readyz").await.0,
        200,
        "still serving the last good one"
    );

    // The storage is repaired and a writer publishes again: that generation is served.
    for (p, bytes) in damaged.iter().zip(originals) {
        let target = dir.path().join("objects").join(p.file_name().unwrap());
        std::fs::write(target, bytes).unwrap();
    }
    let next = publish(&store, &[instance_event(0, &ip(0, 9), 4)]).await;
    until_endpoints(&mut istiod, SE_V1, 8).await;
    assert_eq!(status(&running).await["snapshot"]["generation"], next);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_holds_a_ninety_percent_drop_until_an_operator_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path());
    let first = publish(&store, &[registry(10, 10)]).await;
    let guard = GuardConfig {
        max_loss_percent: 50.0,
        window: Duration::from_secs(3600),
    };
    let running = regsync_mcp_server::start_on(store.clone(), config(&url, guard))
        .await
        .unwrap();
    let mut istiod = Istiod::connect(running.grpc, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    assert_eq!(endpoints(&istiod, SE_V1), 100);

    // The registry comes back with one instance per application: 90 of 100 endpoints gone.
    let dropped = publish(&store, &[registry_at(10, 1, 1)]).await;
    until_status(&running, "the drop is held", |s| {
        s["snapshot"]["held"]["generation"] == dropped
    })
    .await;
    let s = status(&running).await;
    assert_eq!(s["snapshot"]["generation"], first);
    assert_eq!(s["snapshot"]["held"]["loss"]["registry"], "eureka");
    assert_eq!(s["snapshot"]["held"]["loss"]["before"], 100);
    assert_eq!(s["snapshot"]["held"]["loss"]["after"], 10);
    nothing_arrives(&mut istiod).await;
    assert_eq!(
        endpoints(&istiod, SE_V1),
        100,
        "the previous generation stays served"
    );
    let metrics = http(&running, "/metrics").await.1;
    assert!(metrics.contains("regsync_mcp_guard_held 1"), "{metrics}");
    assert!(
        metrics.contains(&format!("regsync_mcp_guard_held_generation {dropped}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("regsync_mcp_guard_holds_total 1"),
        "{metrics}"
    );

    // The operator looks, agrees, and releases it.
    request_release(&store, dropped, "test").await.unwrap();
    until_endpoints(&mut istiod, SE_V1, 10).await;
    let s = status(&running).await;
    assert_eq!(s["snapshot"]["generation"], dropped);
    assert!(s["snapshot"]["held"].is_null());
    let metrics = http(&running, "/metrics").await.1;
    assert!(metrics.contains("regsync_mcp_guard_held 0"), "{metrics}");
    assert!(
        metrics.contains("regsync_mcp_guard_releases_total{reason=\"operator\"} 1"),
        "{metrics}"
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_that_lasts_past_the_window_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = file_store(dir.path());
    publish(&store, &[registry(4, 5)]).await;
    let window = Duration::from_secs(3);
    let guard = GuardConfig {
        max_loss_percent: 50.0,
        window,
    };
    let running = regsync_mcp_server::start_on(store.clone(), config(&url, guard))
        .await
        .unwrap();
    let mut istiod = Istiod::connect(running.grpc, &ISTIOD_1_30_TYPES, "default").await;
    istiod.sync().await;
    assert_eq!(endpoints(&istiod, SE_V1), 20);

    // The guard starts its window when the server first sees the drop, after `published`: a push
    // received sooner than `window` after it is a release before the window passed. A slow
    // machine only delays pushes, so no deadline here is tight: the window only has to outlast
    // one publish, for istiod to be stepped while the drop is held.
    let published = tokio::time::Instant::now();
    let dropped = publish(&store, &[registry_at(4, 1, 1)]).await;
    let deadline = published + window + WAIT;
    let mut quiet_steps_while_held = 0;
    loop {
        let started = published.elapsed();
        let push = istiod.step(Duration::from_millis(100)).await;
        if let Some(push) = push {
            let after = published.elapsed();
            assert!(
                after >= window,
                "{} version {} pushed {after:?} after the drop, within the guard's window",
                push.type_url,
                push.version_info
            );
            if endpoints(&istiod, SE_V1) == 4 {
                assert_eq!(push.version_info, dropped.to_string());
                break;
            }
        } else {
            assert_eq!(
                endpoints(&istiod, SE_V1),
                20,
                "the previous generation stays served while the drop is held"
            );
            quiet_steps_while_held += usize::from(started < window);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the held generation was never served; istiod holds {} endpoints",
            endpoints(&istiod, SE_V1)
        );
    }
    assert!(
        quiet_steps_while_held > 0,
        "istiod was never stepped while the drop was held"
    );
    let s = status(&running).await;
    assert_eq!(s["snapshot"]["generation"], dropped);
    assert!(s["snapshot"]["held"].is_null(), "{s:#}");
    let metrics = http(&running, "/metrics").await.1;
    assert!(
        metrics.contains("regsync_mcp_guard_holds_total 1"),
        "the drop was held first: {metrics}"
    );
    assert!(
        metrics.contains("regsync_mcp_guard_releases_total{reason=\"window\"} 1"),
        "{metrics}"
    );
    running.stop().await.unwrap();
}
