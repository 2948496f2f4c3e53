//! Helpers shared by the CLI tests that run the `regsync` binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use regsync_model::RegistryEvent;
use regsync_store::Store;

pub mod pipeline;

/// A child process killed and reaped when the test lets go of it, passed or failed.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Sends SIGTERM, as Kubernetes, ECS and systemd do to stop a service.
pub fn sigterm(child: &Child) {
    signal(child, "-TERM");
}

/// Sends a signal (`-TERM`, `-INT`, ...) with kill(1).
pub fn signal(child: &Child, which: &str) {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([which, &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// The Kafka broker of the integration tests.
pub fn brokers() -> String {
    std::env::var("REGSYNC_IT_KAFKA_BROKERS").expect(
        "REGSYNC_IT_KAFKA_BROKERS is not set: run `eval \"$(scripts/services.sh start kafka)\"` first",
    )
}

/// A secured listener of the test broker (`scripts/services.sh start kafka`).
#[derive(Debug, Clone, Copy)]
pub enum Listener {
    /// SASL_SSL with SCRAM-SHA-512, what MSK's SCRAM listener speaks.
    SaslSsl,
    /// TLS only.
    Ssl,
}

fn it_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `eval \"$(scripts/services.sh start kafka)\"` first")
    })
}

/// The brokers of `listener` and the environment a user sets for it (`REGSYNC_KAFKA_*`),
/// with `password` as the SCRAM password (`None`: the right one).
pub fn secured(listener: Listener, password: Option<&str>) -> (String, Vec<(String, String)>) {
    let ca = it_var("REGSYNC_IT_KAFKA_CA");
    let mut env = vec![("REGSYNC_KAFKA_SSL_CA_LOCATION".to_owned(), ca)];
    let brokers = match listener {
        Listener::SaslSsl => {
            env.push(("REGSYNC_KAFKA_SECURITY_PROTOCOL".into(), "SASL_SSL".into()));
            env.push((
                "REGSYNC_KAFKA_SASL_MECHANISM".into(),
                "SCRAM-SHA-512".into(),
            ));
            env.push((
                "REGSYNC_KAFKA_SASL_USERNAME".into(),
                it_var("REGSYNC_IT_KAFKA_SCRAM_USER"),
            ));
            env.push((
                "REGSYNC_KAFKA_SASL_PASSWORD".into(),
                password.map_or_else(|| it_var("REGSYNC_IT_KAFKA_SCRAM_PASSWORD"), str::to_owned),
            ));
            it_var("REGSYNC_IT_KAFKA_SASL_SSL_BROKERS")
        }
        Listener::Ssl => {
            env.push(("REGSYNC_KAFKA_SECURITY_PROTOCOL".into(), "SSL".into()));
            it_var("REGSYNC_IT_KAFKA_SSL_BROKERS")
        }
    };
    (brokers, env)
}

/// A name no other test run uses.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("it-{name}-{}-{nanos}", std::process::id())
}

/// Creates `topic` with `partitions` partitions.
pub async fn create_topic(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
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

/// Polls `check` every 200 ms until it holds, failing after `timeout`.
pub async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The latest generation's entries as `kubectl` YAML (empty when there is none).
pub async fn entries_yaml(store: &Store) -> String {
    let Ok(generation) = regsync_snapshots::generation(store, None).await else {
        return String::new();
    };
    let view = regsync_snapshots::read(store, &generation).await.unwrap();
    regsync_kube::to_yaml(&view.entries)
}

/// The repository root.
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// A record to produce: key, value (None for a tombstone), headers.
pub type Record = (String, Option<Vec<u8>>, Vec<(String, String)>);

/// A structured-mode record of an event file, keyed by its service.
pub fn structured(event_text: &[u8]) -> Record {
    let e = RegistryEvent::from_slice(event_text, usize::MAX).unwrap();
    (
        e.service_key().to_string(),
        Some(event_text.to_vec()),
        vec![("content-type".into(), "application/cloudevents+json".into())],
    )
}

/// Produces `records` to `topic`, in order.
pub async fn produce(topic: &str, records: &[Record]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, value, headers) in records {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            });
        }
        let mut r = FutureRecord::<str, [u8]>::to(topic).key(key).headers(h);
        if let Some(v) = value {
            r = r.payload(v.as_slice());
        }
        producer.send(r, Duration::from_secs(10)).await.unwrap();
    }
}

/// The files of a recorded scenario, in order.
pub fn scenario_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(Path::new(ROOT).join("events/recordings").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Starts `regsync webhook` on a free port over `store` with the test secret, under
/// `prlimit --nofile=N:N` when `nofile` is given: the child and the address it printed.
pub fn start_webhook(store: &str, args: &[&str], nofile: Option<u32>) -> (Proc, String) {
    use std::io::{BufRead, BufReader};
    let bin = env!("CARGO_BIN_EXE_regsync");
    let mut command = match nofile {
        Some(n) => {
            let mut c = Command::new("prlimit");
            c.arg(format!("--nofile={n}:{n}")).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let mut child = command
        .args(["webhook", "--listen", "127.0.0.1:0", "--store", store])
        .args(args)
        .env(
            "REGSYNC_WEBHOOK_SECRET",
            std::str::from_utf8(regsync_pipeline::testkit::SECRET).unwrap(),
        )
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .trim_end_matches('/')
        .to_owned();
    (Proc(child), addr)
}

/// The xDS address and the admin URL in `regsync mcp serve`'s first line, "regsync MCP server:
/// xDS on ADDR (TLS|plaintext); /healthz ... on http://ADDR/".
pub fn mcp_banner_addresses(first: &str) -> (std::net::SocketAddr, String) {
    let words: Vec<&str> = first.split_whitespace().collect();
    let grpc = words
        .iter()
        .position(|w| *w == "on")
        .and_then(|i| words.get(i + 1))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .parse()
        .unwrap();
    let admin = words
        .iter()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    (grpc, admin)
}
