//! `regsync bridge zookeeper` against a real ZooKeeper (`scripts/services.sh start zookeeper`,
//! REGSYNC_IT_ZK=127.0.0.1:2181) with the real client library: providers register and die as
//! Dubbo's do (ephemeral znodes with real Dubbo URLs, removed when their session closes), and
//! the bridge's own session is cut off and expired.
//!
//! Each test works under its own root (`/regsync-it/<test>-<nanos>/dubbo`), which also covers
//! custom roots.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use regsync_bridge::metrics::Metrics;
use regsync_bridge::zookeeper::{Status, ZkBridge, ZkConfig};
use serde_json::Value;
use support::{Proxy, Running, child_lists, file_sink, shutdown, wait_for};
use zookeeper_client as zk;

const PROVIDERS: &str = "io.regsync.zookeeper.providers.v1";
const WAIT: Duration = Duration::from_secs(15);
/// Real provider znode names (see events/README.md for where each comes from).
const ZNODES: &str = include_str!("../../../events/recordings/dubbo-zk/raw/provider-znodes.txt");

fn zk_addr() -> String {
    std::env::var("REGSYNC_IT_ZK").unwrap_or_else(|_| {
        panic!(
            "REGSYNC_IT_ZK is not set: run `eval \"$(scripts/services.sh start zookeeper)\"` first"
        )
    })
}

fn unique_base(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("/regsync-it/{test}-{nanos}")
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

fn ephemeral() -> zk::CreateOptions<'static> {
    zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all())
}

/// The interface a provider znode registers: the path of its decoded URL.
fn interface_of(znode: &str) -> String {
    let url = percent_encoding::percent_decode_str(znode)
        .decode_utf8()
        .unwrap();
    let after_scheme = url.split_once("://").unwrap().1;
    let path = after_scheme.split_once('/').unwrap().1;
    path.split('?').next().unwrap().to_owned()
}

/// The real znodes registering `interface`.
fn znodes_of(interface: &str) -> Vec<&'static str> {
    ZNODES
        .lines()
        .filter(|z| interface_of(z) == interface)
        .collect()
}

/// A provider process: its own session, so closing it removes its znodes as ZooKeeper does.
async fn provider(addr: &str, path: &str, data: &[u8]) -> zk::Client {
    let client = zk::Client::connect(addr).await.unwrap();
    client.create(path, data, &ephemeral()).await.unwrap();
    client
}

impl Running<Status> {
    /// Waits for the newest providers event of `interface` to list exactly `expected`.
    async fn wait_providers(&self, interface: &str, expected: &[&str]) {
        let mut expected: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        wait_for(&format!("{interface} providers {expected:?}"), WAIT, || {
            let lists = child_lists(&self.events(), PROVIDERS, interface);
            (lists.last() == Some(&expected)).then_some(())
        })
        .await;
    }
}

async fn start(connect: &str, base: &str, tweak: impl FnOnce(&mut ZkConfig)) -> Running<Status> {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let (sink, path) = file_sink(dir.path(), &metrics).await;
    let mut config = ZkConfig::new(connect);
    config.root = format!("{base}/dubbo");
    config.services_root = Some(format!("{base}/services"));
    config.session_timeout = Duration::from_secs(4);
    tweak(&mut config);
    let bridge = ZkBridge::new(config, sink, metrics);
    let status = bridge.status();
    let (stop, signal) = shutdown();
    let task = tokio::spawn(bridge.run(signal));
    let mut running = Running {
        stop,
        status,
        events: path,
        task,
        dir,
    };
    running.status.wait_for(|s| s.resyncs >= 1).await.unwrap();
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_registering_and_dying_publish_whole_provider_lists() {
    let addr = zk_addr();
    let base = unique_base("providers");
    let admin = zk::Client::connect(&addr).await.unwrap();
    let demo = "org.apache.dubbo.samples.basic.api.DemoService";
    let demo_providers = format!("{base}/dubbo/{demo}/providers");
    admin.mkdir(&demo_providers, &persistent()).await.unwrap();
    let [a, b, c] = znodes_of(demo)[..] else {
        panic!("the recordings hold three DemoService providers")
    };
    // Registered before the bridge starts: the full read at start publishes it.
    let provider_a = provider(&addr, &format!("{demo_providers}/{a}"), b"").await;
    let bridge = start(&addr, &base, |_| {}).await;
    bridge.wait_providers(demo, &[a]).await;

    let provider_b = provider(&addr, &format!("{demo_providers}/{b}"), b"").await;
    bridge.wait_providers(demo, &[a, b]).await;
    // Provider A's process ends: ZooKeeper removes its ephemeral znode.
    drop(provider_a);
    bridge.wait_providers(demo, &[b]).await;
    let _provider_c = provider(&addr, &format!("{demo_providers}/{c}"), b"").await;
    bridge.wait_providers(demo, &[b, c]).await;

    // An interface registered after the start is picked up without a new watch.
    let complex = "org.apache.dubbo.samples.basic.api.ComplexService";
    let complex_providers = format!("{base}/dubbo/{complex}/providers");
    admin
        .mkdir(&complex_providers, &persistent())
        .await
        .unwrap();
    let [d] = znodes_of(complex)[..] else {
        panic!("the recordings hold one ComplexService provider")
    };
    let _provider_d = provider(&addr, &format!("{complex_providers}/{d}"), b"").await;
    bridge.wait_providers(complex, &[d]).await;

    // Configurators (override rules, persistent) are published the same way.
    let rule = "override%3A%2F%2F172.20.0.29%3A20880%2Forg.apache.dubbo.samples.basic.api.DemoService%3Fcategory%3Dconfigurators%26disabled%3Dtrue%26dynamic%3Dfalse";
    let configurators = format!("{base}/dubbo/{demo}/configurators");
    admin
        .mkdir(&format!("{configurators}/{rule}"), &persistent())
        .await
        .unwrap();
    wait_for("the configurators event", WAIT, || {
        let lists = child_lists(
            &bridge.events(),
            "io.regsync.zookeeper.configurators.v1",
            demo,
        );
        (lists.last() == Some(&vec![rule.to_owned()])).then_some(())
    })
    .await;

    // Consumers register under the same interface and publish nothing.
    let published = bridge.events().len();
    let consumers = format!("{base}/dubbo/{demo}/consumers");
    admin
        .mkdir(
            &format!("{consumers}/consumer%3A%2F%2F10.0.0.9%2F{demo}"),
            &persistent(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bridge.events().len(),
        published,
        "a consumer changed nothing the bridge publishes"
    );

    drop(provider_b);
    bridge.wait_providers(demo, &[c]).await;
    let all = bridge.stop().await;
    // Versions grow, and no state is published twice in a row.
    let demo_events: Vec<&Value> = all
        .iter()
        .filter(|e| e["type"] == PROVIDERS && e["subject"] == demo)
        .collect();
    for pair in demo_events.windows(2) {
        let v = |e: &Value| e["sourceversion"].as_str().unwrap().parse::<u64>().unwrap();
        assert!(v(pair[1]) > v(pair[0]), "{} then {}", pair[0], pair[1]);
        assert_ne!(pair[0]["data"]["children"], pair[1]["data"]["children"]);
    }
    assert_eq!(
        demo_events.len(),
        5,
        "a, a+b, b, b+c, then c: {demo_events:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_level_instances_and_mapping_are_published() {
    let addr = zk_addr();
    let base = unique_base("dubbo3");
    let admin = zk::Client::connect(&addr).await.unwrap();
    let bridge = start(&addr, &base, |_| {}).await;

    // A Dubbo 3 provider registers its instance (Curator JSON, recorded from a real run).
    let app = "first-dubbo-provider";
    let instance_json = include_bytes!(
        "../../../events/recordings/dubbo-zk/raw/dubbo3-instance-services-first-dubbo-provider-30.221.146.35_20880.json"
    );
    admin
        .mkdir(&format!("{base}/services/{app}"), &persistent())
        .await
        .unwrap();
    let instance = provider(
        &addr,
        &format!("{base}/services/{app}/30.221.146.35:20880"),
        instance_json,
    )
    .await;
    let expected: Value = serde_json::from_slice(instance_json).unwrap();
    let event = wait_for("the instances event", WAIT, || {
        bridge.events().into_iter().rev().find(|e| {
            e["type"] == "io.regsync.zookeeper.instances.v1"
                && e["data"]["children"]
                    .as_array()
                    .is_some_and(|c| c.len() == 1)
        })
    })
    .await;
    assert_eq!(event["subject"], app);
    assert_eq!(event["data"]["children"][0]["name"], "30.221.146.35:20880");
    assert_eq!(event["data"]["children"][0]["data"], expected);

    // ... and its interface-to-application mapping (recorded content).
    let interface = "org.apache.dubbo.demo.DemoService";
    let mapping =
        include_str!("../../../events/recordings/dubbo-zk/raw/dubbo3-mapping-DemoService.txt")
            .trim();
    let path = format!("{base}/dubbo/mapping/{interface}");
    admin
        .mkdir(&format!("{base}/dubbo/mapping"), &persistent())
        .await
        .unwrap();
    admin
        .create(&path, mapping.as_bytes(), &persistent())
        .await
        .unwrap();
    let first = wait_for("the mapping event", WAIT, || {
        bridge
            .events()
            .into_iter()
            .find(|e| e["type"] == "io.regsync.zookeeper.mapping.v1")
    })
    .await;
    assert_eq!(first["data"]["data"], mapping);
    admin
        .set_data(&path, b"first-dubbo-provider", None)
        .await
        .unwrap();
    let second = wait_for("the changed mapping", WAIT, || {
        bridge.events().into_iter().rev().find(|e| {
            e["type"] == "io.regsync.zookeeper.mapping.v1"
                && e["data"]["data"] == "first-dubbo-provider"
        })
    })
    .await;
    assert!(second["data"]["mzxid"].as_u64() > first["data"]["mzxid"].as_u64());

    // The provider stops: its instance goes, and the empty list is published.
    drop(instance);
    wait_for("the empty instance list", WAIT, || {
        let lists = child_lists(&bridge.events(), "io.regsync.zookeeper.instances.v1", app);
        (lists.last() == Some(&Vec::new())).then_some(())
    })
    .await;
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_registrations_is_published_once_it_settles() {
    let addr = zk_addr();
    let base = unique_base("burst");
    let admin = zk::Client::connect(&addr).await.unwrap();
    let demo = "org.apache.dubbo.samples.basic.api.DemoService";
    let providers = format!("{base}/dubbo/{demo}/providers");
    admin.mkdir(&providers, &persistent()).await.unwrap();
    let bridge = start(&addr, &base, |c| c.debounce = Duration::from_millis(500)).await;
    let before = bridge.events().len();
    let names: Vec<String> = (0..20)
        .map(|i| format!("dubbo%3A%2F%2F10.0.0.{i}%3A20880%2F{demo}%3Fapplication%3Ddemo-provider"))
        .collect();
    let paths: Vec<String> = names.iter().map(|n| format!("{providers}/{n}")).collect();
    let options = ephemeral();
    let creates = paths.iter().map(|p| admin.create(p, b"", &options));
    for created in futures::future::join_all(creates).await {
        created.unwrap();
    }
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.sort();
    bridge.wait_providers(demo, &all).await;
    let published = bridge.events().len() - before;
    assert!(
        published <= 2,
        "20 registrations within one debounce window gave {published} events"
    );
    bridge.stop().await;
}

/// Cuts the bridge off through a proxy; while it is cut off, changes happen and (optionally)
/// its session is expired by taking it over and closing it, as Curator's KillSession does.
async fn outage(expire: bool) {
    let addr = zk_addr();
    let upstream: SocketAddr = addr.split(',').next().unwrap().parse().unwrap();
    let proxy = Proxy::start(upstream).await;
    let base = unique_base(if expire { "expiry" } else { "reconnect" });
    let admin = zk::Client::connect(&addr).await.unwrap();
    let demo = "org.apache.dubbo.samples.basic.api.DemoService";
    let providers = format!("{base}/dubbo/{demo}/providers");
    admin.mkdir(&providers, &persistent()).await.unwrap();
    let [a, b, c] = znodes_of(demo)[..] else {
        panic!("three DemoService providers")
    };
    let _provider_a = provider(&addr, &format!("{providers}/{a}"), b"").await;
    let provider_b = provider(&addr, &format!("{providers}/{b}"), b"").await;
    let mut bridge = start(&proxy.addr.to_string(), &base, |_| {}).await;
    bridge.wait_providers(demo, &[a, b]).await;
    let session = bridge.status.borrow().session.clone().unwrap();
    let resyncs = bridge.status.borrow().resyncs;

    proxy.cut();
    bridge.status.wait_for(|s| !s.connected).await.unwrap();
    // During the outage: B dies, C registers.
    drop(provider_b);
    let _provider_c = provider(&addr, &format!("{providers}/{c}"), b"").await;
    let b_path = format!("{providers}/{b}");
    for _ in 0..200 {
        if admin.check_stat(&b_path).await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if expire {
        let thief = zk::Client::connector()
            .with_session(session.clone())
            .with_session_timeout(Duration::from_secs(4))
            .connect(&addr)
            .await
            .unwrap();
        drop(thief);
        // Closing is asynchronous: wait until ZooKeeper refuses the session.
        let mut refused = false;
        for _ in 0..100 {
            match zk::Client::connector()
                .with_session(session.clone())
                .connect(&addr)
                .await
            {
                Err(zk::Error::SessionExpired) => {
                    refused = true;
                    break;
                }
                Ok(again) => {
                    drop(again);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        assert!(refused, "the bridge's session did not expire");
    }
    let published_during_outage = bridge.events().len();
    proxy.restore();
    bridge.wait_providers(demo, &[a, c]).await;
    bridge
        .status
        .wait_for(|s| s.resyncs > resyncs)
        .await
        .unwrap();
    if expire {
        let new_session = bridge.status.borrow().session.clone().unwrap();
        assert_ne!(
            new_session.id(),
            session.id(),
            "a new session replaced the expired one"
        );
    }
    let all = bridge.stop().await;
    let lists = child_lists(&all, PROVIDERS, demo);
    // A is alive throughout: no event ever announced it gone, and nothing was published blind.
    for list in &lists {
        assert!(
            list.iter().any(|z| z == a),
            "A was announced gone: {lists:?}"
        );
    }
    assert_eq!(
        lists.len(),
        2,
        "[a, b] at start, then [a, c] after recovery and nothing else: {lists:?} ({published_during_outage} events before recovery)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_never_announces_live_providers_as_gone() {
    outage(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_with_the_same_session_catches_up_on_missed_changes() {
    outage(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chroot_and_digest_credentials_work_and_missing_ones_are_named() {
    let addr = zk_addr();
    let base = unique_base("chroot");
    // Everything below `base` is readable only by the digest user that created it.
    let secured = |client: zk::Connector| client.with_auth("digest", b"regsync:s3cret");
    let admin = secured(zk::Client::connector())
        .connect(&addr)
        .await
        .unwrap();
    let demo = "org.apache.dubbo.samples.basic.api.DemoService";
    let providers = format!("{base}/dubbo/{demo}/providers");
    // The base itself stays open: other tests share its parent.
    admin.mkdir(&base, &persistent()).await.unwrap();
    let creator_only = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
    admin.mkdir(&providers, &creator_only).await.unwrap();
    let a = znodes_of(demo)[0];
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::creator_all());
    admin
        .create(&format!("{providers}/{a}"), b"", &ephemeral)
        .await
        .unwrap();

    let chrooted = |auth: Option<&str>| {
        let base = base.clone();
        let auth = auth.map(str::to_owned);
        move |c: &mut ZkConfig| {
            c.chroot = Some(base);
            c.root = "/dubbo".to_owned();
            c.services_root = None;
            c.auth = auth;
        }
    };
    let bridge = start(&addr, "", chrooted(Some("digest:regsync:s3cret"))).await;
    bridge.wait_providers(demo, &[a]).await;
    let all = bridge.stop().await;
    assert_eq!(all[0]["data"]["path"], format!("/dubbo/{demo}/providers"));
    assert_eq!(all[0]["source"], format!("zookeeper://{addr}{base}/dubbo"));

    // Without the credentials the bridge stops and says which flag is missing.
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let (sink, _) = file_sink(dir.path(), &metrics).await;
    let mut config = ZkConfig::new(&addr);
    chrooted(None)(&mut config);
    let (_stop, signal) = shutdown();
    let run = ZkBridge::new(config, sink, metrics).run(signal);
    let error = tokio::time::timeout(WAIT, run).await.unwrap().unwrap_err();
    assert!(
        format!("{error:#}").contains("--auth digest:USER:PASSWORD"),
        "{error:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_state_file_an_application_gone_while_the_bridge_was_stopped_is_announced() {
    let addr = zk_addr();
    let base = unique_base("state");
    let admin = zk::Client::connect(&addr).await.unwrap();
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("bridge-state.json");
    let with_state = |c: &mut ZkConfig| c.state = Some(state.clone());
    let app = "first-dubbo-provider";
    let app_dir = format!("{base}/services/{app}");
    admin.mkdir(&app_dir, &persistent()).await.unwrap();
    let instance_json = include_bytes!(
        "../../../events/recordings/dubbo-zk/raw/dubbo3-instance-services-first-dubbo-provider-30.221.146.35_20880.json"
    );
    let instance = provider(
        &addr,
        &format!("{app_dir}/30.221.146.35:20880"),
        instance_json,
    )
    .await;
    let bridge = start(&addr, &base, with_state).await;
    let lists = child_lists(&bridge.events(), "io.regsync.zookeeper.instances.v1", app);
    assert_eq!(lists, vec![vec!["30.221.146.35:20880".to_owned()]]);
    bridge.stop().await;

    // While the bridge is stopped the provider leaves and its application node goes too (as
    // ZooKeeper removes Curator's container nodes once empty).
    drop(instance);
    for _ in 0..200 {
        if admin.delete(&app_dir, None).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(admin.check_stat(&app_dir).await.unwrap().is_none());

    let bridge = start(&addr, &base, with_state).await;
    let events = bridge.stop().await;
    let lists = child_lists(&events, "io.regsync.zookeeper.instances.v1", app);
    assert_eq!(
        lists,
        vec![Vec::<String>::new()],
        "the vanished application is announced empty"
    );
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        !text.contains(app),
        "nothing is kept for what is gone: {text}"
    );
}
