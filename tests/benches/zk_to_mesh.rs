//! ZooKeeper change → istiod-like client, end to end through every real component as a
//! process: `regsync bridge zookeeper` → Apache Kafka → `regsync consume` → SeaweedFS (S3) →
//! `regsync mcp serve` → `regsync_mcp::testkit::Istiod`, with 100k endpoints loaded in the store first.
//! `scripts/bench-e2e.sh` starts the servers, builds `regsync --release` and runs this.
//!
//! Changes come at a steady rate (BENCH_RATE, 100/s) for BENCH_SECONDS (20): each registers a
//! new Dubbo provider (an ephemeral znode) or deregisters the oldest one, across 10 services.
//! A change is seen when a push leaves the client holding the provider (or no longer holding
//! it); its latency runs from the ZooKeeper call to that push. Lost: changes not seen 10 s
//! after the last one (a provider registered and gone again between two pushes is never seen).
//! Targets: p50 ≤ 20 ms, p99 ≤ 100 ms, 0 lost. The end state is checked too: the providers the
//! client holds against those registered after the last change (missing, stale).
//!
//! Baseline of the same run, on the same changes: ZooKeeper alone, from the call to the
//! notification of a persistent recursive watch (what any ZooKeeper client waits for).
//!
//! Settings (env): BENCH_STORE (`file` for a file:// store instead of SeaweedFS, to show what the
//! S3 server costs), BENCH_CONSUME_ARGS (extra `regsync consume` arguments, e.g. `-X
//! fetch.wait.max.ms=10`), BENCH_ENDPOINTS (100000, as 100 instances per Eureka app), BENCH_RATE,
//! BENCH_SECONDS, BENCH_BRIDGE_DEBOUNCE (5ms), BENCH_BATCH_WAIT (5ms), BENCH_POLL_INTERVAL
//! (10ms), BENCH_MCP_DEBOUNCE (1ms). The defaults of the commands (20ms, 100ms, 500ms, 100ms)
//! favour fewer writes over latency; the bench prints the settings it ran with.
//!
//! The Dubbo side's shape (`scripts/bench-bridge.sh` sets 200, 2000, 2000, 10): BENCH_SERVICES
//! (10 Dubbo interfaces), BENCH_PRELOAD (0 providers registered before the clock starts),
//! BENCH_LIVE (50 providers registered at most during the churn), BENCH_REAL_PROVIDERS (0):
//! after the churn, a real Dubbo provider (`scripts/services.sh node dubbo-provider`) started
//! and stopped that many times, each registration and deregistration timed from ZooKeeper's
//! watch notification of its znode to the push that shows it.

#![allow(clippy::unwrap_used, clippy::print_stdout, dead_code)]

#[path = "../cluster.rs"]
mod cluster;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::{Broker, Registry, S3, Timing, run, unique};
use regsync_mcp::testkit::Istiod;
use regsync_mcp::types::{ISTIOD_1_30_TYPES, SERVICE_ENTRY_V1};
use zookeeper_client as zk;

const PER_APP: usize = 100;

/// The shape of the registry side: how many Dubbo services, how many providers at most are
/// registered at once, and how many are registered before the clock starts.
#[derive(Clone, Copy)]
struct Shape {
    services: usize,
    live: usize,
    preload: usize,
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

fn leak(name: &str, default: &str) -> &'static str {
    Box::leak(
        std::env::var(name)
            .unwrap_or_else(|_| default.to_owned())
            .into_boxed_str(),
    )
}

/// One change: registered (or deregistered) `ip` at `at`; when ZooKeeper notified; when the
/// client saw it.
struct Change {
    ip: String,
    /// The providers registered once this change is made: the registry's true state.
    live_after: Option<BTreeSet<String>>,
    register: bool,
    at: Instant,
    zk: Option<Instant>,
    mesh: Option<Instant>,
}

type Changes = Arc<Mutex<Vec<Change>>>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (p50, p99, max) in ms.
fn figures(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: usize| ms(samples[(n * q / 100).min(n - 1)]);
    (at(50), at(99), ms(samples[n - 1]))
}

/// The providers of the Dubbo services the client holds (the loaded Eureka apps left out).
fn dubbo_addresses(client: &Istiod) -> BTreeSet<String> {
    client
        .stores
        .get(SERVICE_ENTRY_V1)
        .into_iter()
        .flat_map(|s| s.values())
        .filter(|(_, se)| se.hosts.iter().any(|h| h.ends_with(".dubbo")))
        .flat_map(|(_, se)| se.endpoints.iter().map(|e| e.address.clone()))
        .collect()
}

/// Registers a new provider or deregisters the oldest, `rate` a second for `seconds`; `live`
/// holds the providers registered before (oldest first).
async fn drive(
    mut registry: Registry,
    changes: Changes,
    paths: Arc<Mutex<HashMap<String, usize>>>,
    (rate, seconds, shape): (u64, u64, Shape),
    mut live: VecDeque<(usize, String)>,
) {
    let start = tokio::time::Instant::now();
    let total = rate * seconds;
    for k in 0..total {
        tokio::time::sleep_until(start + Duration::from_micros(k * 1_000_000 / rate)).await;
        // Up to `shape.live` providers: register while fewer than half, else alternate.
        let register = live.len() < shape.live && (live.len() < shape.live / 2 || k % 2 == 0);
        let (s, ip) = if register {
            let s = (k as usize) % shape.services;
            (s, format!("10.50.{}.{}", k / 250, k % 250))
        } else {
            live.pop_front().unwrap()
        };
        let index = {
            let mut c = changes.lock().unwrap();
            c.push(Change {
                ip: ip.clone(),
                live_after: None,
                register,
                at: Instant::now(),
                zk: None,
                mesh: None,
            });
            c.len() - 1
        };
        if register {
            let path = registry.register(s, &ip).await;
            paths.lock().unwrap().insert(path, index);
            live.push_back((s, ip));
        } else {
            let path = registry.deregister(s, &ip).await;
            paths.lock().unwrap().insert(path, index);
        }
        changes.lock().unwrap()[index].live_after =
            Some(live.iter().map(|(_, ip)| ip.clone()).collect());
    }
    // Keep the session (and its ephemeral providers) until the measurement ends.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    drop(registry);
}

/// The registry's side, on its own runtime: creates the Dubbo services (their root goes back on
/// `root`), waits for `go`, then watches the providers (the baseline) and drives the changes.
async fn registry_side(
    changes: Changes,
    root: tokio::sync::oneshot::Sender<String>,
    go: tokio::sync::oneshot::Receiver<()>,
    (rate, seconds, shape): (u64, u64, Shape),
) {
    let mut registry = Registry::new(shape.services).await;
    // The preloaded providers, spread over the services, before the bridge starts.
    let mut live = VecDeque::with_capacity(shape.preload);
    for i in 0..shape.preload {
        let (s, ip) = (i % shape.services, format!("10.60.{}.{}", i / 250, i % 250));
        registry.register(s, &ip).await;
        live.push_back((s, ip));
    }
    root.send(registry.dubbo_root()).unwrap();
    go.await.unwrap();
    // ZooKeeper alone: a second session's persistent recursive watch on the providers.
    let paths: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let watcher_client = zk::Client::connect(&cluster::zk_addr()).await.unwrap();
    let mut watcher = watcher_client
        .watch(
            &registry.dubbo_root(),
            zk::AddWatchMode::PersistentRecursive,
        )
        .await
        .unwrap();
    let (c, p) = (changes.clone(), paths.clone());
    tokio::spawn(async move {
        loop {
            let event = watcher.changed().await;
            let now = Instant::now();
            // The driver names the path right after its call returns; the watch may be first.
            for _ in 0..100 {
                if let Some(i) = p.lock().unwrap().get(&event.path).copied() {
                    c.lock().unwrap()[i].zk.get_or_insert(now);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    drive(registry, changes, paths, (rate, seconds, shape), live).await;
}

/// Every endpoint address the client holds.
fn all_addresses(client: &Istiod) -> BTreeSet<String> {
    client
        .stores
        .get(SERVICE_ENTRY_V1)
        .into_iter()
        .flat_map(|s| s.values())
        .flat_map(|(_, se)| se.endpoints.iter().map(|e| e.address.clone()))
        .collect()
}

/// Baseline: one record through the same broker alone, `n` times, one at a time: an idempotent
/// `acks=all` produce (as the bridge's sink) until a consumer of the partition has it.
async fn kafka_alone(broker: &Broker, n: usize) -> Vec<Duration> {
    use rdkafka::consumer::{Consumer as _, StreamConsumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let topic = unique("baseline");
    broker.create_topic(&topic, 1).await;
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .create()
        .unwrap();
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("group.id", unique("baseline"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut samples = Vec::with_capacity(n);
    for i in 0..=n {
        let started = Instant::now();
        let payload = i.to_string();
        producer
            .send(
                FutureRecord::<str, str>::to(&topic).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), consumer.recv())
            .await
            .expect("the record within 10 s")
            .unwrap();
        // The first one pays for connecting and the fetch session.
        if i > 0 {
            samples.push(started.elapsed());
        }
    }
    samples
}

/// Baselines: one store commit (one event applied to the loaded store, in process), then from
/// that commit to the push that brings it to the client (`regsync mcp serve` polling the
/// store), `n` times.
async fn commit_then_push(
    store: regsync_store::Store,
    client: &mut Istiod,
    n: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let pipeline = regsync_pipeline::Pipeline::with_store(store);
    let (mut commits, mut pushes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let ip = regsync_snapshots::testkit::ip(9_999, i);
        let event = regsync_snapshots::testkit::instance_event(9_999, &ip, 1 + i as u64);
        let started = Instant::now();
        let report = regsync_pipeline::apply_batch(&pipeline, vec![Ok(event)])
            .await
            .unwrap();
        assert!(report.published, "{report:?}");
        let committed = Instant::now();
        let deadline = committed + Duration::from_secs(10);
        while !all_addresses(client).contains(&ip) {
            assert!(Instant::now() < deadline, "no push with {ip} within 10 s");
            client.try_step(Duration::from_millis(100)).await.unwrap();
        }
        commits.push(committed - started);
        pushes.push(committed.elapsed());
    }
    (commits, pushes)
}

/// Starts a real Dubbo provider (`scripts/services.sh node dubbo-provider`, interface level,
/// registry root `dubbo_root`) `n` times, one at a time, then stops it with SIGTERM. For each
/// registration and each deregistration: (from the provider's start or SIGTERM to ZooKeeper's
/// watch notification of its znode, from that notification to the push that shows it). The
/// watch is the change's own clock: the provider's own start-up and shutdown are not the path
/// under test.
async fn real_provider_rounds(
    client: &mut Istiod,
    dubbo_root: &str,
    n: usize,
) -> Vec<(Duration, Duration)> {
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let watcher_client = zk::Client::connect(&cluster::zk_addr()).await.unwrap();
    let mut watcher = watcher_client
        .watch(dubbo_root, zk::AddWatchMode::PersistentRecursive)
        .await
        .unwrap();
    let repo = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
    for round in 0..n {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let zk_url = format!("{}?group={dubbo_root}", cluster::zk_addr());
        let mut child = std::process::Command::new(format!("{repo}/scripts/services.sh"))
            .current_dir(&repo)
            .args([
                "node",
                "dubbo-provider",
                "--app",
                &format!("bench-real-{round}"),
            ])
            .args(["--register-mode", "interface", "--zookeeper", &zk_url])
            .args(["--protocol", &format!("dubbo:{port}"), "--service", "echo"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let at = format!(":{port}");
        for register in [true, false] {
            if !register {
                common_sigterm(&child);
            }
            let asked = Instant::now();
            let seen_zk = loop {
                let event = tokio::time::timeout(Duration::from_secs(180), watcher.changed())
                    .await
                    .expect("the provider's znode within 180 s");
                let ours = event.path.contains(&format!("%3A{port}%2F"));
                let created = event.event_type == zk::EventType::NodeCreated;
                if ours && created == register {
                    break Instant::now();
                }
            };
            let deadline = seen_zk + Duration::from_secs(30);
            loop {
                let held = endpoints_with_ports(client)
                    .iter()
                    .any(|e| e.ends_with(&at));
                if held == register {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no push for the real provider on {port}"
                );
                client.try_step(Duration::from_millis(50)).await.unwrap();
            }
            out.push((seen_zk - asked, seen_zk.elapsed()));
        }
        child.wait().unwrap();
        println!(
            "real provider {round}: JVM start -> registered {:.1} s, SIGTERM -> unregistered {:.0} ms",
            out[out.len() - 2].0.as_secs_f64(),
            ms(out[out.len() - 1].0)
        );
    }
    out
}

/// SIGTERM, as Kubernetes sends to stop a pod (Dubbo's shutdown hook unregisters).
fn common_sigterm(child: &std::process::Child) {
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}

/// Every `address:port` of every endpoint the client holds, for each of its ports.
fn endpoints_with_ports(client: &Istiod) -> Vec<String> {
    client
        .stores
        .get(SERVICE_ENTRY_V1)
        .into_iter()
        .flat_map(|s| s.values())
        .flat_map(|(_, se)| se.endpoints.iter())
        .flat_map(|e| e.ports.values().map(move |p| format!("{}:{p}", e.address)))
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let endpoints: usize = setting("BENCH_ENDPOINTS", 100_000);
    let rate: u64 = setting("BENCH_RATE", 100);
    let seconds: u64 = setting("BENCH_SECONDS", 20);
    let shape = Shape {
        services: setting("BENCH_SERVICES", 10),
        live: setting("BENCH_LIVE", 50),
        preload: setting("BENCH_PRELOAD", 0),
    };
    let real_providers: usize = setting("BENCH_REAL_PROVIDERS", 0);
    let timing = Timing {
        bridge_debounce: leak("BENCH_BRIDGE_DEBOUNCE", "5ms"),
        batch_wait: leak("BENCH_BATCH_WAIT", "5ms"),
        poll_interval: leak("BENCH_POLL_INTERVAL", "10ms"),
        mcp_debounce: leak("BENCH_MCP_DEBOUNCE", "1ms"),
    };
    let broker = Broker::shared();
    let s3 = S3::shared().await;
    let dir = tempfile::tempdir().unwrap();
    // BENCH_STORE=file puts the snapshot in a file:// store instead of SeaweedFS: what the same path
    // does without the S3 server, to show what that costs.
    let on_file = std::env::var("BENCH_STORE").as_deref() == Ok("file");
    let store = if on_file {
        format!("file://{}", dir.path().join("store").display())
    } else {
        s3.url("mesh")
    };

    // 100k endpoints: one Eureka application document per app (a whole-registry document of
    // 100k instances is over the 16 MiB event limit), applied as a user would, in one batch.
    let apps = endpoints.div_ceil(PER_APP);
    let mut args = vec![
        "snapshot".to_owned(),
        "apply".into(),
        "--store".into(),
        store.clone(),
    ];
    for app in 0..apps {
        let load = dir.path().join(format!("app-{app}.json"));
        let event = regsync_snapshots::testkit::application(app, PER_APP);
        std::fs::write(&load, serde_json::to_vec(&event.to_json()).unwrap()).unwrap();
        args.push(load.display().to_string());
    }
    let loading = Instant::now();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = run(&args, &s3.env());
    assert_eq!(code, 0, "{err}");
    println!(
        "loaded {} endpoints in {apps} ServiceEntries into {store} in {:.1} s",
        apps * PER_APP,
        loading.elapsed().as_secs_f64()
    );

    let topic = unique("bench");
    broker.create_topic(&topic, 3).await;
    // The registry's writer and the ZooKeeper watcher run on a runtime of their own, on their own
    // thread: the client's decoding of 100k endpoints per push must not delay the changes'
    // schedule nor the baseline's clock (in a debug build it did: 765 of 2000 changes were made).
    let changes: Changes = Arc::default();
    let (root_tx, root_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let driver_changes = changes.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(registry_side(
                driver_changes,
                root_tx,
                go_rx,
                (rate, seconds, shape),
            ));
    });
    let dubbo_root: String = root_rx.await.unwrap();
    let _bridge = cluster::bridge_timed(
        &dubbo_root,
        &format!("kafka://{}/{topic}", broker.addr),
        dir.path(),
        &timing,
    );
    // No archive: the figure is the path a change takes (an archive adds one PUT per batch).
    // BENCH_CONSUME_ARGS: extra `regsync consume` arguments, e.g. `-X fetch.wait.max.ms=10`.
    let consume_args = leak("BENCH_CONSUME_ARGS", "");
    let consume_args: Vec<&str> = consume_args.split_whitespace().collect();
    let _consume = cluster::consume_timed(
        &broker.addr,
        &topic,
        &unique("g"),
        &store,
        &s3,
        &timing,
        &consume_args,
    );
    let addr = cluster::mcp_addr();
    let _mcp = cluster::mcp_serve_timed(&store, addr, &s3, &timing);
    let connected = Instant::now();
    let mut client = Istiod::try_connect(addr, &ISTIOD_1_30_TYPES, "default")
        .await
        .unwrap();
    client.sync_within(Duration::from_secs(300)).await;
    assert!(
        client.entries(SERVICE_ENTRY_V1).len() >= apps,
        "the client should hold the {apps} loaded ServiceEntries"
    );
    println!(
        "istiod-like client synced: {} ServiceEntries in {:.0} ms",
        client.entries(SERVICE_ENTRY_V1).len(),
        ms(connected.elapsed())
    );
    // The bridge's first (empty) lists have passed through before the clock starts.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while client
        .try_step(Duration::from_millis(200))
        .await
        .unwrap()
        .is_some()
    {}

    // The preloaded providers reach the client (the bridge's first full read) before the clock
    // starts; their deregistrations are seen when they go.
    let preload_seen = Instant::now();
    while dubbo_addresses(&client).len() < shape.preload {
        assert!(
            preload_seen.elapsed() < Duration::from_secs(300),
            "the client holds {} of the {} preloaded providers after 300 s",
            dubbo_addresses(&client).len(),
            shape.preload
        );
        client.try_step(Duration::from_millis(200)).await.unwrap();
    }
    if shape.preload > 0 {
        println!(
            "{} preloaded providers in {} interfaces held by the client (the bridge's full read through the path) {:.0} ms later",
            shape.preload,
            shape.services,
            ms(preload_seen.elapsed())
        );
    }
    let held_at_start = dubbo_addresses(&client);
    go_tx.send(()).unwrap();

    let end = Instant::now() + Duration::from_secs(seconds + 10);
    let mut pushes = 0usize;
    while Instant::now() < end {
        if client
            .try_step(Duration::from_millis(100))
            .await
            .unwrap()
            .is_none()
        {
            continue;
        }
        pushes += 1;
        let now = Instant::now();
        let held = dubbo_addresses(&client);
        let mut c = changes.lock().unwrap();
        let mut seen_register: HashMap<String, bool> = HashMap::new();
        for change in c.iter_mut() {
            if change.mesh.is_some() {
                if change.register {
                    seen_register.insert(change.ip.clone(), true);
                }
                continue;
            }
            let seen = if change.register {
                held.contains(&change.ip)
            } else {
                // Gone, after its registration was seen.
                !held.contains(&change.ip)
                    && (seen_register.get(&change.ip).copied() == Some(true)
                        || held_at_start.contains(&change.ip))
            };
            if seen {
                change.mesh = Some(now);
                if change.register {
                    seen_register.insert(change.ip.clone(), true);
                }
            }
        }
        let total = (rate * seconds) as usize;
        if c.len() == total && c.iter().all(|x| x.mesh.is_some()) {
            break;
        }
    }

    let real = real_provider_rounds(&mut client, &dubbo_root, real_providers).await;

    // Every change seen, or the time is up: the client should now hold the registry's state.
    let truth = changes
        .lock()
        .unwrap()
        .last()
        .and_then(|c| c.live_after.clone())
        .unwrap_or_default();
    let held = dubbo_addresses(&client);
    let (missing, stale) = (
        truth.difference(&held).count(),
        held.difference(&truth).count(),
    );
    let (made, lost, (p50, p99, max), (z50, z99, zmax)) = {
        let c = changes.lock().unwrap();
        (
            c.len(),
            c.iter().filter(|x| x.mesh.is_none()).count(),
            figures(c.iter().filter_map(|x| x.mesh.map(|m| m - x.at)).collect()),
            figures(c.iter().filter_map(|x| x.zk.map(|z| z - x.at)).collect()),
        )
    };
    // The same run's baselines, on the same broker, store (100k endpoints) and client, now that
    // the changes have stopped.
    let rounds: usize = setting("BENCH_BASELINE_ROUNDS", 100);
    let (k50, k99, kmax) = figures(kafka_alone(&broker, rounds).await);
    let store_handle = if on_file {
        regsync_store::Store::open(&store).await.unwrap()
    } else {
        regsync_store::testsuite::s3_store(&s3.endpoint, &s3.bucket, "mesh", Default::default())
            .await
    };
    let (commit_times, push_times) =
        commit_then_push(store_handle, &mut client, rounds.min(50)).await;
    let (s50, s99, smax) = figures(commit_times);
    let (m50, m99, mmax) = figures(push_times);
    let met = p50 <= 20.0 && p99 <= 100.0 && lost == 0;
    println!(
        "settings: {rate} changes/s for {seconds} s across {} Dubbo services, {} providers preloaded, at most {} live; store {}; bridge --debounce {}, consume --batch-wait {} {}, mcp serve --poll-interval {} --debounce {}",
        shape.services,
        shape.preload,
        shape.live,
        if on_file {
            "file:// (BENCH_STORE=file)"
        } else {
            "SeaweedFS S3"
        },
        timing.bridge_debounce,
        timing.batch_wait,
        consume_args.join(" "),
        timing.poll_interval,
        timing.mcp_debounce
    );
    println!(
        "ZooKeeper change -> istiod-like client (bridge, Kafka, consume, store, mcp serve): {} changes, p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms, lost {lost}; targets p50 <= 20 ms, p99 <= 100 ms, 0 lost: {}",
        made,
        if met { "met" } else { "NOT met" }
    );
    println!(
        "baseline, same changes: ZooKeeper write -> watch notification p50 {z50:.1} ms, p99 {z99:.1} ms, max {zmax:.1} ms"
    );
    println!(
        "baseline, Kafka alone: one record produced (acks=all) -> consumed, {rounds} rounds: p50 {k50:.1} ms, p99 {k99:.1} ms, max {kmax:.1} ms"
    );
    println!(
        "baseline, one store commit (one event applied to the {} store of {} endpoints, in process): p50 {s50:.1} ms, p99 {s99:.1} ms, max {smax:.1} ms",
        if on_file { "file://" } else { "SeaweedFS S3" },
        apps * PER_APP
    );
    println!(
        "baseline, one MCP push: that commit -> the istiod-like client holds it (mcp serve polls every {}): p50 {m50:.1} ms, p99 {m99:.1} ms, max {mmax:.1} ms",
        timing.poll_interval
    );
    if !real.is_empty() {
        let (r50, r99, rmax) = figures(real.iter().map(|(_, push)| *push).collect());
        println!(
            "real Dubbo providers (tests/peers/dubbo, one JVM each, started and stopped {} times): ZooKeeper's watch notification of the registration or deregistration -> istiod-like client holds it: p50 {r50:.1} ms, p99 {r99:.1} ms, max {rmax:.1} ms (beside the ZooKeeper write -> watch baseline above)",
            real.len() / 2
        );
    }
    println!(
        "pushes received: {pushes}; a change not seen was coalesced into a later push or never arrived. \
         End state: the client holds {} providers, the registry {}: {missing} missing, {stale} stale ({})",
        held.len(),
        truth.len(),
        if missing == 0 && stale == 0 {
            "converged"
        } else {
            "NOT converged"
        }
    );
}
