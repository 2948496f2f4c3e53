//! The end-to-end harness: every component of a deployment as its own process on 127.0.0.1.
//!
//! ZooKeeper is the one of `scripts/services.sh` (REGSYNC_IT_ZK). The Kafka broker (Apache
//! Kafka) and the S3-compatible server (SeaweedFS) are the shared ones of `scripts/services.sh`
//! too (REGSYNC_IT_KAFKA_BROKERS, REGSYNC_IT_S3_ENDPOINT), or, for the fault tests that kill
//! and restart them, private instances of the same binaries on free ports. The regsync
//! processes (bridge, consume, webhook, mcp serve) run the `regsync` binary built beside this
//! test (`cargo test --workspace` builds it), or the one REGSYNC_BIN names. The mesh side is
//! `regsync_mcp::testkit::Istiod`, the istiod-like client that follows the wire contract.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use regsync_mcp::testkit::Istiod;
use regsync_mcp::types::{ISTIOD_1_30_TYPES, SERVICE_ENTRY_V1};
use zookeeper_client as zk;

/// The ZooKeeper provider URL recorded from the Dubbo samples (DemoService on 172.18.0.9),
/// the template of every provider the tests register.
const ZNODES: &str = include_str!("../events/recordings/dubbo-zk/raw/provider-znodes.txt");
const DEMO: &str = "org.apache.dubbo.samples.basic.api.DemoService";
const RECORDED_IP: &str = "172.18.0.9";

/// The repository (the scripts that run the servers).
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The webhook secret the bridges sign with and the receivers check.
pub const SECRET: &str = "e2e-webhook-secret";

/// The `regsync` binary under test.
pub fn regsync_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("REGSYNC_BIN") {
        return bin.into();
    }
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/regsync
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("regsync");
    assert!(
        bin.exists(),
        "no regsync binary at {}: run `cargo test --workspace` (it builds the binary) or set REGSYNC_BIN",
        bin.display()
    );
    bin
}

/// A process killed (SIGKILL) and reaped when the test lets go of it, passed or failed.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Sends a signal with kill(1): `-STOP` freezes a server, `-CONT` thaws it.
    pub fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {which} {}", self.0.id());
    }
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port P for a private SeaweedFS: `weed mini` listens on P to P+4 and on each plus 10000
/// (`scripts/services.sh`, exec_seaweedfs). A port from [`free_port`] lies in Linux's ephemeral
/// range (32768-60999), where P+10004 passes 65535 about one time in five and weed never
/// serves (the fault tests' "private SeaweedFS to serve S3" timeout). So P is taken in
/// 20000-22759, where P+10004 still lies below that range and the kernel hands out none of the
/// ten ports on its own, with all ten free now.
pub fn seaweedfs_port() -> u16 {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        ^ std::process::id();
    for attempt in 0..200u32 {
        let p = 20_000 + ((seed.wrapping_add(attempt.wrapping_mul(7_919))) % 2_760) as u16;
        let all_free = (0..5).all(|i| {
            [p + i, p + 10_000 + i]
                .iter()
                .all(|port| std::net::TcpListener::bind(("127.0.0.1", *port)).is_ok())
        });
        if all_free {
            return p;
        }
    }
    panic!("no block of free ports for a private SeaweedFS in 20000-32763");
}

fn env_or_help(name: &str, service: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `eval \"$(scripts/services.sh start {service})\"` first")
    })
}

pub fn zk_addr() -> String {
    env_or_help("REGSYNC_IT_ZK", "zookeeper")
}

/// A name no other test run uses (lower case: also a bucket name).
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("e2e-{name}-{}-{nanos}", std::process::id())
}

/// Polls `check` every 100 ms until it holds; `Err` with `what` after `timeout`.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `scripts/services.sh node KIND DIR ARGS...`: a private server in the foreground, its data
/// in `DIR`, its output appended to `DIR/node.log`.
fn node(kind: &str, dir: &Path, args: &[&str]) -> Proc {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("node.log"))
        .unwrap();
    let child = Command::new(Path::new(ROOT).join("scripts/services.sh"))
        .args(["node", kind])
        .arg(dir)
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Proc(child)
}

/// An Apache Kafka broker: the shared one, or a private single-node KRaft broker that can be
/// killed and restarted on the same ports and log directory (its data survives, as a real
/// broker's does). `scripts/services.sh node kafka` runs it, from the jars `start kafka` uses.
pub struct Broker {
    pub addr: String,
    controller: u16,
    dir: Option<tempfile::TempDir>,
    child: Option<Proc>,
}

impl Broker {
    pub fn shared() -> Self {
        Self {
            addr: env_or_help("REGSYNC_IT_KAFKA_BROKERS", "kafka"),
            controller: 0,
            dir: None,
            child: None,
        }
    }

    pub async fn private() -> Self {
        let mut broker = Self {
            addr: format!("127.0.0.1:{}", free_port()),
            controller: free_port(),
            dir: Some(tempfile::tempdir().unwrap()),
            child: None,
        };
        broker.start().await;
        broker
    }

    /// Starts the private broker on its ports and data.
    pub async fn start(&mut self) {
        let dir = self.dir.as_ref().expect("a private broker").path();
        let port = self.addr.rsplit(':').next().unwrap();
        self.child = Some(node("kafka", dir, &[port, &self.controller.to_string()]));
        let addr = self.addr.clone();
        eventually(
            "the private Kafka broker to answer",
            Duration::from_secs(60),
            || {
                let addr = addr.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        use rdkafka::producer::Producer as _;
                        let probe: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
                            .set("bootstrap.servers", &addr)
                            .create()
                            .unwrap();
                        probe
                            .client()
                            .fetch_metadata(None, Duration::from_millis(500))
                            .is_ok_and(|md| !md.brokers().is_empty())
                    })
                    .await
                    .unwrap()
                }
            },
        )
        .await;
    }

    /// SIGKILL: the broker dies mid-request, as on a crash.
    pub fn kill(&mut self) {
        self.child = None;
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let admin: AdminClient<rdkafka::client::DefaultClientContext> =
            rdkafka::ClientConfig::new()
                .set("bootstrap.servers", &self.addr)
                .create()
                .unwrap();
        let r = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .unwrap();
        assert!(r.iter().all(Result::is_ok), "{r:?}");
    }
}

/// An S3-compatible server with a fresh bucket: the shared SeaweedFS, or a private one that
/// can be killed (SIGKILL, an outage: connections refused) and restarted on the same port and
/// data directory, whose objects survive as a real S3's do.
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    child: Option<Proc>,
    dir: Option<tempfile::TempDir>,
}

impl S3 {
    pub async fn shared() -> Self {
        let endpoint = env_or_help("REGSYNC_IT_S3_ENDPOINT", "seaweedfs");
        let bucket = unique("b");
        // Creates the bucket.
        regsync_store::testsuite::s3_store(&endpoint, &bucket, "x", Default::default()).await;
        Self {
            endpoint,
            bucket,
            child: None,
            dir: None,
        }
    }

    pub async fn private() -> Self {
        let mut s3 = Self {
            endpoint: format!("http://127.0.0.1:{}", seaweedfs_port()),
            bucket: unique("b"),
            child: None,
            dir: Some(tempfile::tempdir().unwrap()),
        };
        s3.start().await;
        s3
    }

    /// Starts the private server (`scripts/services.sh node seaweedfs`) on its port and data.
    pub async fn start(&mut self) {
        let dir = self.dir.as_ref().expect("a private server").path();
        let port = self.endpoint.rsplit(':').next().unwrap();
        self.child = Some(node("seaweedfs", dir, &[port]));
        // Serving once it creates the bucket (or finds it, after a restart).
        let (endpoint, bucket) = (self.endpoint.clone(), self.bucket.clone());
        eventually(
            "the private SeaweedFS to serve S3",
            Duration::from_secs(60),
            || {
                let (endpoint, bucket) = (endpoint.clone(), bucket.clone());
                async move {
                    regsync_store::testsuite::ensure_bucket(&endpoint, &bucket)
                        .await
                        .is_ok()
                }
            },
        )
        .await;
    }

    /// SIGKILL: the server is gone until [`S3::start`].
    pub fn kill(&mut self) {
        self.child = None;
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// The AWS SDK's environment for this server (static test credentials).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

/// Starts `regsync ARGS` and reads its first stdout line (every long-running command prints
/// where it listens first). Call it from a multi-thread runtime.
pub fn start(args: &[&str], env: &[(&'static str, String)]) -> (Proc, String) {
    let mut child = Command::new(regsync_bin())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("REGSYNC_WEBHOOK_SECRET", SECRET)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // Off the runtime's worker: a ZooKeeper session's pings must go on meanwhile.
    tokio::task::block_in_place(|| out.read_line(&mut first).unwrap());
    // The rest goes to the test's output, so a full pipe never stalls the process.
    let name = args.iter().take(2).copied().collect::<Vec<_>>().join(" ");
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            eprintln!("[regsync {name}] {line}");
        }
    });
    (Proc(child), first)
}

/// The first `http://` address on a line.
pub fn http_address(line: &str) -> String {
    line.split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

/// The latency settings of the processes: short ones for the tests, the bench's own.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// `regsync bridge zookeeper --debounce`.
    pub bridge_debounce: &'static str,
    /// `regsync consume --batch-wait`.
    pub batch_wait: &'static str,
    /// `regsync mcp serve --poll-interval`.
    pub poll_interval: &'static str,
    /// `regsync mcp serve --debounce`.
    pub mcp_debounce: &'static str,
}

pub const TEST_TIMING: Timing = Timing {
    bridge_debounce: "20ms",
    batch_wait: "20ms",
    poll_interval: "100ms",
    mcp_debounce: "20ms",
};

/// `regsync bridge zookeeper` on the providers under `root`, delivering to `sink`.
pub fn bridge(root: &str, sink: &str, state: &Path) -> Proc {
    bridge_timed(root, sink, state, &TEST_TIMING)
}

pub fn bridge_timed(root: &str, sink: &str, state: &Path, timing: &Timing) -> Proc {
    let (proc, first) = start(
        &[
            "bridge",
            "zookeeper",
            "--connect",
            &zk_addr(),
            "--root",
            root,
            "--no-services",
            "--sink",
            sink,
            "--debounce",
            timing.bridge_debounce,
            "--max-backoff",
            "1s",
            "--metrics-listen",
            "127.0.0.1:0",
            "--state",
            &state.join("bridge-state.json").display().to_string(),
            "--dead-letter",
            &state
                .join("bridge-dead-letters.jsonl")
                .display()
                .to_string(),
        ],
        &[],
    );
    assert!(first.starts_with("metrics on "), "{first}");
    proc
}

/// `regsync consume` from `topic` into `store`.
/// `regsync consume`, archiving what it receives under the snapshot store's `archive/`.
pub fn consume(brokers: &str, topic: &str, group: &str, store: &str, s3: &S3) -> Proc {
    consume_timed(
        brokers,
        topic,
        group,
        store,
        s3,
        &TEST_TIMING,
        &["--archive", "store"],
    )
}

pub fn consume_timed(
    brokers: &str,
    topic: &str,
    group: &str,
    store: &str,
    s3: &S3,
    timing: &Timing,
    extra: &[&str],
) -> Proc {
    let (proc, _) = start(
        &[
            &[
                "consume",
                "--brokers",
                brokers,
                "--topic",
                topic,
                "--group",
                group,
                "--store",
                store,
                "--batch-wait",
                timing.batch_wait,
                "--metrics-listen",
                "127.0.0.1:0",
            ],
            extra,
        ]
        .concat(),
        &s3.env(),
    );
    proc
}

/// `regsync webhook` into `store`; its URL.
pub fn webhook(store: &str, s3: &S3) -> (Proc, String) {
    let (proc, first) = start(
        &["webhook", "--listen", "127.0.0.1:0", "--store", store],
        &s3.env(),
    );
    (proc, http_address(&first))
}

/// `regsync mcp serve` of `store` on `addr`. The loss guard is off: the tests deregister most
/// providers on purpose, and a held drop is `mcp.rs`'s subject.
pub fn mcp_serve(store: &str, addr: SocketAddr, s3: &S3) -> Proc {
    mcp_serve_timed(store, addr, s3, &TEST_TIMING)
}

pub fn mcp_serve_timed(store: &str, addr: SocketAddr, s3: &S3, timing: &Timing) -> Proc {
    let (proc, first) = start(
        &[
            "mcp",
            "serve",
            "--store",
            store,
            "--listen",
            &addr.to_string(),
            "--admin-listen",
            "127.0.0.1:0",
            "--poll-interval",
            timing.poll_interval,
            "--debounce",
            timing.mcp_debounce,
            "--guard-max-loss",
            "100",
        ],
        &s3.env(),
    );
    assert!(first.contains(&addr.to_string()), "{first}");
    proc
}

/// A free address for an MCP server that keeps it across restarts.
pub fn mcp_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Dubbo providers registered in ZooKeeper under a root of their own, as the Dubbo registry
/// does: an ephemeral znode per provider, named by its URL-encoded provider URL.
pub struct Registry {
    pub root: String,
    client: zk::Client,
    /// The true state: registered znode paths by (service, ip).
    live: BTreeMap<(usize, String), String>,
}

impl Registry {
    pub async fn new(services: usize) -> Self {
        let root = format!("/regsync-e2e/{}", unique("reg"));
        // A long session: on a loaded 2-core machine a 6 s default session has timed out
        // mid-test, deregistering every provider at once.
        let client = zk::Client::connector()
            .with_session_timeout(Duration::from_secs(30))
            .connect(&zk_addr())
            .await
            .unwrap();
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        for s in 0..services {
            client
                .mkdir(
                    &format!("{root}/dubbo/{}/providers", interface(s)),
                    &options,
                )
                .await
                .unwrap();
        }
        Self {
            root,
            client,
            live: BTreeMap::new(),
        }
    }

    /// The bridge's `--root`.
    pub fn dubbo_root(&self) -> String {
        format!("{}/dubbo", self.root)
    }

    /// Registers provider `ip` of service `s` (an ephemeral znode of this registry's session);
    /// its znode's path.
    pub async fn register(&mut self, s: usize, ip: &str) -> String {
        let znode = template()
            .replace(DEMO, &interface(s))
            .replace(RECORDED_IP, ip);
        let path = format!("{}/dubbo/{}/providers/{znode}", self.root, interface(s));
        let options = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        self.client.create(&path, b"", &options).await.unwrap();
        self.live.insert((s, ip.to_owned()), path.clone());
        path
    }

    /// Deregisters provider `ip` of service `s`; its znode's path.
    pub async fn deregister(&mut self, s: usize, ip: &str) -> String {
        let path = self.live.remove(&(s, ip.to_owned())).unwrap();
        self.client.delete(&path, None).await.unwrap();
        path
    }

    pub fn is_registered(&self, s: usize, ip: &str) -> bool {
        self.live.contains_key(&(s, ip.to_owned()))
    }

    /// What the mesh should route to: every registered provider's address.
    pub fn truth(&self) -> BTreeSet<String> {
        self.live.keys().map(|(_, ip)| ip.clone()).collect()
    }
}

/// The interface of test service `s`.
pub fn interface(s: usize) -> String {
    format!("{DEMO}{s}")
}

fn template() -> &'static str {
    ZNODES
        .lines()
        .find(|z| z.contains(&format!("%2F{DEMO}%3F")) && z.contains(RECORDED_IP))
        .expect("the recorded DemoService provider on 172.18.0.9")
}

/// The mesh side: an istiod-like client of one MCP server that reconnects when the server goes
/// away, as istiod does with a config source.
pub struct Mesh {
    addr: SocketAddr,
    client: Option<Istiod>,
    pub reconnects: usize,
}

impl Mesh {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            client: None,
            reconnects: 0,
        }
    }

    /// Every endpoint address the client holds (all entries, all hosts).
    pub fn addresses(&self) -> BTreeSet<String> {
        self.client
            .as_ref()
            .map(|c| {
                c.endpoints(SERVICE_ENTRY_V1)
                    .into_values()
                    .flatten()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Handles pushes (connecting or reconnecting first) until the client holds exactly
    /// `want`, or panics after `timeout` naming what differs.
    pub async fn converge(&mut self, want: &BTreeSet<String>, timeout: Duration) {
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            if self.client.as_ref().is_some_and(Istiod::synced) && self.addresses() == *want {
                eprintln!(
                    "mesh converged to {} endpoints in {:?}",
                    want.len(),
                    start.elapsed()
                );
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the mesh did not converge in {timeout:?}: missing {:?}, stale {:?}",
                want.difference(&self.addresses()).collect::<Vec<_>>(),
                self.addresses().difference(want).collect::<Vec<_>>(),
            );
            self.step(left.min(Duration::from_millis(500))).await;
        }
    }

    /// Handles pushes for `period`, failing if the client ever holds anything but `want`.
    pub async fn hold(&mut self, want: &BTreeSet<String>, period: Duration) {
        let end = Instant::now() + period;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            self.step(left.min(Duration::from_millis(200))).await;
            if self.client.as_ref().is_some_and(Istiod::synced) {
                assert_eq!(self.addresses(), *want, "the mesh changed after converging");
            }
        }
    }

    /// One push, or a reconnect attempt when the stream is gone.
    async fn step(&mut self, wait: Duration) {
        match &mut self.client {
            Some(client) => {
                if client.try_step(wait).await.is_err() {
                    self.client = None;
                }
            }
            None => match Istiod::try_connect(self.addr, &ISTIOD_1_30_TYPES, "default").await {
                Ok(client) => {
                    self.client = Some(client);
                    self.reconnects += 1;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            },
        }
    }
}

/// `regsync ARGS` to completion: (exit code, stdout, stderr).
pub fn run(args: &[&str], env: &[(&'static str, String)]) -> (i32, String, String) {
    let out = tokio::task::block_in_place(|| {
        Command::new(regsync_bin())
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    });
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `sha256:...` digest on a `regsync replay` or `regsync snapshot digest` output.
pub fn digest_of(stdout: &str) -> String {
    stdout
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap_or_else(|| panic!("no digest in {stdout:?}"))
        .to_owned()
}
