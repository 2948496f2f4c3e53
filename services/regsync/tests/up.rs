//! `regsync up`, the one-command local mode, as a newcomer runs it: the demo is there at once
//! (store, /status, an istiod-like client on the MCP port), a signed webhook event reaches the
//! client, and a restart keeps the data without loading the demo again. With the `it` feature
//! also the ZooKeeper bridge inside it, against the real ZooKeeper.

#![allow(clippy::unwrap_used)] // a failed step in a helper is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Proc, ROOT, sigterm};
use regsync_mcp::testkit::{Istiod, WAIT};
use regsync_mcp::types::ISTIOD_1_30_TYPES;

const SE: &str = "networking.istio.io/v1/ServiceEntry";

struct Up {
    child: Proc,
    /// The lines it printed, by their first word ("store", "webhook", ...).
    said: BTreeMap<String, String>,
}

impl Up {
    fn start(data_dir: &Path, extra: &[&str]) -> Up {
        Up::start_with_env(data_dir, extra, &[])
    }

    fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .arg("up")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--webhook-listen", "127.0.0.1:0"])
            .args([
                "--mcp-listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env_remove("REGSYNC_WEBHOOK_SECRET")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = BTreeMap::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "regsync up ended early"
            );
            let mut words = line.trim().splitn(2, char::is_whitespace);
            let key = words.next().unwrap_or("").trim_end_matches(':').to_owned();
            said.insert(key.clone(), words.next().unwrap_or("").trim().to_owned());
            if key == "try" {
                break;
            }
        }
        Up {
            child: Proc(child),
            said,
        }
    }

    /// An istiod-like client on the printed MCP address, synced.
    async fn istiod(&self) -> Istiod {
        let mut istiod = Istiod::connect(
            self.addr("MCP").parse().unwrap(),
            &ISTIOD_1_30_TYPES,
            "default",
        )
        .await;
        istiod.sync().await;
        istiod
    }

    /// The first address-like word of a printed line.
    fn addr(&self, key: &str) -> String {
        let line = &self.said[key];
        let word = line
            .split_whitespace()
            .find(|w| w.contains("127.0.0.1:"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        word.trim_start_matches("http://")
            .trim_end_matches('/')
            .trim_end_matches("/status")
            .to_owned()
    }
}

fn snapshot_get(data_dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["snapshot", "get", "--store"])
        .arg(format!("file://{}", data_dir.join("store").display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

async fn status(admin: &str) -> serde_json::Value {
    let body = reqwest::get(format!("http://{admin}/status"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

async fn post_signed(webhook: &str, secret: &[u8], body: Vec<u8>) -> u16 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut signed = regsync_pipeline::webhook::Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![("content-type".into(), "application/cloudevents+json".into())],
        body,
    };
    regsync_pipeline::webhook::sign_request(secret, now, &mut signed);
    let mut req = reqwest::Client::new().post(format!("http://{webhook}/"));
    for (k, v) in signed.headers {
        req = req.header(k, v);
    }
    req.body(signed.body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Every endpoint address istiod holds.
fn endpoints(istiod: &Istiod) -> Vec<String> {
    istiod
        .stores
        .get(SE)
        .map(|s| {
            s.values()
                .flat_map(|(_, se)| se.endpoints.iter().map(|e| e.address.clone()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_demo_at_once_takes_webhook_events_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data, &[]);
    for key in ["store", "webhook", "MCP", "status", "demo", "try"] {
        assert!(
            up.said.contains_key(key),
            "{key} not printed: {:?}",
            up.said
        );
    }
    assert!(up.said["demo"].contains("events/recordings/demo.jsonl"));

    // The store holds the demo: the committed replay golden.
    let golden =
        std::fs::read_to_string(Path::new(ROOT).join("tests/golden/replay-demo.yaml")).unwrap();
    assert_eq!(snapshot_get(&data), golden);
    let entries = golden.matches("kind: ServiceEntry").count();

    // istiod, pointed at the printed MCP address, gets them.
    let mut istiod = up.istiod().await;
    assert_eq!(istiod.entries(SE).len(), entries);
    let s = status(&up.addr("status")).await;
    assert_eq!(s["snapshot"]["entries"], entries, "{s:#}");

    // A webhook event signed with the generated secret reaches istiod.
    let secret = std::fs::read(data.join("webhook-secret")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("webhook-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the secret is readable by others: {mode:o}"
        );
    }
    // A recorded Dubbo provider list, from a registry the demo does not have, its providers moved
    // to addresses the demo does not have either (an address and port two registries list is
    // one endpoint to istiod, so it would not add one).
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{ROOT}/events/recordings/dubbo-zk/scale-down/001-providers-DemoService-two-providers.json"
        ))
        .unwrap()
        .replace("172.20.0.", "172.21.0."),
    )
    .unwrap();
    event["registry"] = "dubbo-webhook".into();
    let event = event.to_string().into_bytes();
    assert_eq!(
        post_signed(&up.addr("webhook"), &secret, event.clone()).await,
        202
    );
    assert_eq!(post_signed(&up.addr("webhook"), b"wrong", event).await, 401);
    // Its two providers join the demo's DemoService entry (one host, endpoints merged).
    let before = endpoints(&istiod).len();
    let deadline = tokio::time::Instant::now() + WAIT;
    while endpoints(&istiod).len() != before + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the webhook's endpoints never came"
        );
        istiod.step(WAIT).await;
    }
    let with_webhook = snapshot_get(&data);

    // SIGTERM stops it; the next start keeps the data and does not load the demo again.
    let mut child = up.child;
    sigterm(&child);
    assert!(child.wait().unwrap().success());
    let again = Up::start(&data, &[]);
    assert!(!again.said.contains_key("demo"), "{:?}", again.said);
    assert_eq!(snapshot_get(&data), with_webhook);
}

/// `regsync up` reads the webhook's variables as `regsync webhook` does: its 413 tells you to
/// raise REGSYNC_WEBHOOK_MAX_BODY_BYTES, so raising it must work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_takes_the_webhook_body_limit_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let event = std::fs::read(format!(
        "{ROOT}/events/recordings/eureka-events/instance-lifecycle/001-added.json"
    ))
    .unwrap();
    let limit = (event.len() - 1).to_string();
    let up = Up::start_with_env(
        &data,
        &["--no-demo"],
        &[("REGSYNC_WEBHOOK_MAX_BODY_BYTES", limit.as_str())],
    );
    let secret = std::fs::read(data.join("webhook-secret")).unwrap();
    assert_eq!(
        post_signed(&up.addr("webhook"), &secret, event.clone()).await,
        413,
        "a body one byte over REGSYNC_WEBHOOK_MAX_BODY_BYTES"
    );
    drop(up);
    let limit = event.len().to_string();
    let up = Up::start_with_env(
        &data,
        &["--no-demo"],
        &[("REGSYNC_WEBHOOK_MAX_BODY_BYTES", limit.as_str())],
    );
    assert_eq!(
        post_signed(&up.addr("webhook"), &secret, event).await,
        202,
        "the same body at the limit"
    );
}

#[test]
fn help_says_what_runs_and_a_taken_port_is_named() {
    let help = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["up", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for needle in [
        "--zookeeper",
        "--eureka",
        "demo",
        "webhook",
        "MCP",
        "--data-dir",
    ] {
        assert!(help.contains(needle), "{needle} missing from {help}");
    }
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .arg("up")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--webhook-listen", &port, "--no-demo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {port} for the webhook")),
        "{stderr}"
    );
}

/// A Dubbo provider registered in the real ZooKeeper arrives as a ServiceEntry endpoint at an
/// istiod-like client of `regsync up --zookeeper`; deregistered, it leaves.
#[cfg(feature = "it")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_zookeeper_brings_a_dubbo_provider_in_and_out() {
    use zookeeper_client as zk;
    const DEMO: &str = "org.apache.dubbo.samples.basic.api.DemoService";
    let zk_addr = std::env::var("REGSYNC_IT_ZK").expect(
        "REGSYNC_IT_ZK is not set: run `eval \"$(scripts/services.sh start zookeeper)\"` first",
    );
    let chroot = format!("/regsync-it/{}", common::unique("up"));
    let admin = zk::Client::connect(&zk_addr).await.unwrap();
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let providers = format!("{chroot}/dubbo/{DEMO}/providers");
    admin.mkdir(&providers, &persistent).await.unwrap();
    let znode = include_str!("../../../events/recordings/dubbo-zk/raw/provider-znodes.txt")
        .lines()
        .find(|z| z.contains(&format!("%2F{DEMO}%3F")))
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(dir.path(), &["--zookeeper", &format!("{zk_addr}{chroot}")]);
    assert!(up.said.contains_key("bridge"), "{:?}", up.said);
    assert!(
        !up.said.contains_key("demo"),
        "no demo beside a real registry"
    );
    let mut istiod = up.istiod().await;

    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let provider = zk::Client::connect(&zk_addr).await.unwrap();
    provider
        .create(&format!("{providers}/{znode}"), b"", &ephemeral)
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !endpoints(&istiod).contains(&"172.18.0.9".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the provider never arrived"
        );
        istiod.step(Duration::from_secs(1)).await;
    }
    // Deregistered (the provider's session ends, as when the JVM stops): it leaves.
    drop(provider);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while endpoints(&istiod).contains(&"172.18.0.9".to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the provider never left"
        );
        istiod.step(Duration::from_secs(1)).await;
    }
}

/// A real Spring Cloud application (`tests/peers/eureka/client`, its own Eureka client) that
/// registers with the real Eureka server arrives at an istiod-like client of `regsync up --eureka`
/// as an endpoint with its port, metadata and zone; `kill -9`'d, its lease expires, the server
/// evicts it and the endpoint leaves. The end state matches the server's UP instances.
#[cfg(feature = "it")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_eureka_brings_a_spring_cloud_instance_in_and_out() {
    let url = std::env::var("REGSYNC_IT_EUREKA_URL").expect(
        "REGSYNC_IT_EUREKA_URL is not set: run `eval \"$(scripts/services.sh start eureka)\"` first",
    );
    let app = common::unique("orders");
    let host = format!("{app}.eureka");
    let ip = "127.0.0.61";
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(dir.path(), &["--eureka", &url, "--eureka-interval", "1s"]);
    // Nothing of this application is registered yet: istiod is served (and synced, ready) at
    // once, the registry's state being an empty first generation.
    let mut istiod = up.istiod().await;

    let mut client = Proc(
        Command::new(format!("{ROOT}/scripts/services.sh"))
            .args(["node", "eureka-client", &app, &port.to_string()])
            .args([&format!("{app}-1"), ip])
            .args([
                "--eureka.instance.metadata-map.version=v1",
                "--eureka.instance.metadata-map.zone=zone-a",
            ])
            .env("REGSYNC_IT_EUREKA_URL", &url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !endpoints(&istiod).contains(&ip.to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the Spring Cloud instance never arrived"
        );
        assert!(
            client.0.try_wait().unwrap().is_none(),
            "the Spring Cloud application exited: scripts/services.sh node eureka-client {app} {port} ..."
        );
        istiod.step(Duration::from_secs(1)).await;
    }
    let (_, se) = &istiod.stores[SE][&format!("eureka/{host}")];
    let ep = &se.endpoints[0];
    assert_eq!(se.ports.len(), 1, "{se:?}");
    assert_eq!(se.ports[0].number, u32::from(port));
    assert_eq!(ep.ports[&se.ports[0].name], u32::from(port));
    assert_eq!(ep.labels.get("version").map(String::as_str), Some("v1"));
    assert_eq!(ep.locality, "zone-a");

    // kill -9: no cancel reaches the server; the 2 s lease runs out and eviction removes it.
    client.0.kill().unwrap();
    client.0.wait().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while endpoints(&istiod).contains(&ip.to_owned()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the killed instance never left"
        );
        istiod.step(Duration::from_secs(1)).await;
    }
    // The server agrees: no UP instance of the application is left.
    let apps = reqwest::Client::new()
        .get(format!("{url}/apps/{}", app.to_uppercase()))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let body = apps.text().await.unwrap();
    assert!(!body.contains("\"UP\""), "{body}");
}

/// With `--gc-interval`, `regsync up` collects garbage itself: after a run of changes, what the
/// kept generations do not need is gone once it is older than the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_collects_garbage_on_its_own_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let interval = std::env::var("MUTANT_GC_INTERVAL").unwrap_or_else(|_| "1s".into());
    let up = Up::start(
        &data,
        &[
            "--no-demo",
            "--gc-interval",
            &interval,
            "--gc-retain",
            "2",
            "--gc-grace",
            "1s",
        ],
    );
    let secret = std::fs::read(data.join("webhook-secret")).unwrap();
    let template: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{ROOT}/events/recordings/dubbo-zk/scale-down/001-providers-DemoService-two-providers.json"
        ))
        .unwrap(),
    )
    .unwrap();
    // 30 generations, each one a new version of one service with a different provider list.
    for i in 0..30u64 {
        let mut event = template.clone();
        let version = 4_294_967_296 + i;
        event["id"] = format!("gc-{i}").into();
        event["sourceversion"] = version.to_string().into();
        event["data"]["pzxid"] = version.into();
        let children = event["data"]["children"].as_array().unwrap().clone();
        event["data"]["children"] = serde_json::json!([children[(i % 2) as usize].clone()]);
        let body = event.to_string().into_bytes();
        assert_eq!(post_signed(&up.addr("webhook"), &secret, body).await, 202);
    }
    let store = format!("file://{}", data.join("store").display());
    let left_over = || {
        let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(["snapshot", "gc", "--store", &store])
            .args(["--retain", "2", "--grace", "1s", "--dry-run"])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    // Everything written is older than the grace period from here on, so whatever the kept
    // generations do not need counts as garbage until regsync up collects it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let report = left_over();
        if report.contains("would delete 0 unreferenced") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "regsync up left garbage 30 s after the last change: {report}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        data.join("store/leases/gc").exists(),
        "the runner holds the store's GC lease"
    );
    // What is left still reads back whole.
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["snapshot", "digest", "--store", &store])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// SIGTERM stops `regsync up` within its grace while one client holds half-sent headers on the
/// webhook port and another a silent socket on the MCP port.
#[test]
fn sigterm_stops_up_while_clients_stall_on_both_ports() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(
        &data,
        &[
            "--no-demo",
            "--idle-timeout",
            "600s",
            "--header-timeout",
            "600s",
            "--shutdown-grace",
            "1s",
        ],
    );
    let mut webhook = std::net::TcpStream::connect(up.addr("webhook")).unwrap();
    webhook
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let _mcp = std::net::TcpStream::connect(up.addr("MCP")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut child = up.child;
    sigterm(&child);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "regsync up still runs 15 s after SIGTERM with stalled clients"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
