//! The bridge paths under test, as processes: `regsync bridge ...` → a new Kafka topic →
//! `regsync consume` → a file store → `regsync mcp serve`, or `regsync up` with its own bridge;
//! and an istiod-like client of either.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regsync_mcp::testkit::Istiod;
use regsync_mcp::types::ISTIOD_1_30_TYPES;

use super::{Proc, brokers, create_topic, unique};

/// How long the first generation may take to appear.
const FIRST: Duration = Duration::from_secs(60);

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Lines a child writes to stderr, kept for the test to look at (and echoed for its log).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// Follows `child`'s stderr, each line prefixed with `name` in the test's own output.
    pub fn follow(&self, name: &'static str, child: &mut std::process::Child) {
        let stderr = child.stderr.take().unwrap();
        let lines = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{name}: {line}");
                lines.lock().unwrap().push(line);
            }
        });
    }

    /// Whether any line so far contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.0.lock().unwrap().iter().any(|l| l.contains(text))
    }
}

/// The path under test, from a registry to an MCP address.
pub struct Pipeline {
    pub store: tempfile::TempDir,
    pub mcp: std::net::SocketAddr,
    /// `regsync mcp serve`'s operations address (Kafka path only).
    pub admin: String,
    pub bridge: Option<Proc>,
    pub bridge_log: Log,
    pub mcp_log: Log,
    _rest: Vec<Proc>,
}

impl Pipeline {
    /// `regsync bridge BRIDGE...` → a new Kafka topic → `regsync consume` → a file store →
    /// `regsync mcp serve`; `bridge` is the bridge's subcommand and arguments
    /// (`["eureka", "--url", ...]`).
    pub async fn kafka(bridge: &[&str], mcp_args: &[&str]) -> Pipeline {
        let topic = unique(bridge[0]);
        create_topic(&topic, 3).await;
        let store = tempfile::tempdir().unwrap();
        let store_url = format!("file://{}", store.path().join("store").display());
        let bridge_log = Log::default();
        let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .arg("bridge")
            .args(bridge)
            .args(["--sink", &format!("kafka://{}/{topic}", brokers())])
            .args(["--metrics-listen", "127.0.0.1:0", "--dead-letter"])
            .arg(store.path().join("dead.jsonl"))
            .env_remove("REGSYNC_EUREKA_BASIC_AUTH")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        bridge_log.follow("bridge", &mut child);
        let consume = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(["consume", "--brokers", &brokers(), "--topic", &topic])
            .args(["--group", &unique("g"), "--store", &store_url])
            .args(["--metrics-listen", "127.0.0.1:0", "--batch-wait", "20ms"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut mcp = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(["mcp", "serve", "--store", &store_url])
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--poll-interval", "20ms", "--debounce", "10ms"])
            .args(mcp_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mcp_log = Log::default();
        mcp_log.follow("mcp", &mut mcp);
        let mut first = String::new();
        BufReader::new(mcp.stdout.as_mut().unwrap())
            .read_line(&mut first)
            .unwrap();
        let (mcp_addr, admin) = super::mcp_banner_addresses(&first);
        Pipeline {
            store,
            mcp: mcp_addr,
            admin,
            bridge: Some(Proc(child)),
            bridge_log,
            mcp_log,
            _rest: vec![Proc(consume), Proc(mcp)],
        }
    }

    /// `regsync up` with `sources` (`["--eureka", URL, ...]`, `["--zookeeper", HOSTS]`), its
    /// bridge delivering to its webhook.
    pub fn up(sources: &[&str]) -> Pipeline {
        let store = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
            .arg("up")
            .arg("--data-dir")
            .arg(store.path())
            .args([
                "--webhook-listen",
                "127.0.0.1:0",
                "--mcp-listen",
                "127.0.0.1:0",
            ])
            .args(["--admin-listen", "127.0.0.1:0"])
            .args(sources)
            .env_remove("REGSYNC_WEBHOOK_SECRET")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut mcp = None;
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "regsync up ended early"
            );
            if line.trim_start().starts_with("MCP") {
                mcp = line
                    .split_whitespace()
                    .find(|w| w.starts_with("127.0.0.1:"))
                    .map(|w| w.parse().unwrap());
            }
            if line.starts_with("try") {
                break;
            }
        }
        Pipeline {
            store,
            mcp: mcp.expect("regsync up printed no MCP address"),
            admin: String::new(),
            bridge: None,
            bridge_log: Log::default(),
            mcp_log: Log::default(),
            _rest: vec![Proc(child)],
        }
    }

    /// An istiod-like client, connected once a generation is published (an MCP server answers
    /// ServiceEntries from the first generation on) and synced.
    pub async fn istiod(&self) -> Istiod {
        let started = Instant::now();
        while !self.store.path().join("store/latest").exists() {
            assert!(started.elapsed() < FIRST, "nothing was published");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut istiod = Istiod::connect(self.mcp, &ISTIOD_1_30_TYPES, "default").await;
        istiod.sync().await;
        istiod
    }

    /// The bridge process (Kafka path only).
    pub fn bridge(&self) -> &std::process::Child {
        &self.bridge.as_ref().unwrap().0
    }
}
