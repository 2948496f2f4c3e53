//! `regsync bridge zookeeper` end to end, as processes, against the real servers of
//! `scripts/services.sh`: a provider registering in ZooKeeper becomes an event on Kafka
//! (Apache Kafka) that `regsync consume` turns into a ServiceEntry in the store; and the same through
//! the signed webhook (`regsync webhook`), with an event the receiver refuses for good going to
//! the dead-letter file.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Proc, brokers, create_topic, entries_yaml, unique, wait_for};
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use regsync_store::Store;
use zookeeper_client as zk;

const ZNODES: &str = include_str!("../../../events/recordings/dubbo-zk/raw/provider-znodes.txt");
const DEMO: &str = "org.apache.dubbo.samples.basic.api.DemoService";
const SECRET: &str = "bridge-it-secret";

fn zk_addr() -> String {
    std::env::var("REGSYNC_IT_ZK").expect(
        "REGSYNC_IT_ZK is not set: run `eval \"$(scripts/services.sh start zookeeper)\"` first",
    )
}

/// The recorded DemoService provider znodes (three, on 172.18.0.9, 172.20.0.29, 172.20.0.28).
fn demo_znodes() -> Vec<&'static str> {
    ZNODES
        .lines()
        .filter(|z| z.contains(&format!("%2F{DEMO}%3F")))
        .collect()
}

fn bridge(root: &str, sink: &str, dead_letter: &std::path::Path) -> Proc {
    bridge_with(root, sink, dead_letter, &[])
}

fn bridge_command(root: &str, sink: &str, dead_letter: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_regsync"));
    command
        .args(["bridge", "zookeeper", "--connect", &zk_addr()])
        .args(["--root", &format!("{root}/dubbo")])
        .args(["--services-root", &format!("{root}/services")])
        .args(["--sink", sink, "--metrics-listen", "127.0.0.1:0"])
        .arg("--dead-letter")
        .arg(dead_letter)
        .env("REGSYNC_WEBHOOK_SECRET", SECRET);
    command
}

fn bridge_with(
    root: &str,
    sink: &str,
    dead_letter: &std::path::Path,
    env: &[(String, String)],
) -> Proc {
    let mut child = bridge_command(root, sink, dead_letter)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("metrics on "), "{line}");
    Proc(child)
}

async fn provider(path: &str) -> zk::Client {
    let client = zk::Client::connect(&zk_addr()).await.unwrap();
    let options = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    client.create(path, b"", &options).await.unwrap();
    client
}

async fn providers_dir(root: &str) -> String {
    let admin = zk::Client::connect(&zk_addr()).await.unwrap();
    let dir = format!("{root}/dubbo/{DEMO}/providers");
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    admin.mkdir(&dir, &options).await.unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zookeeper_change_becomes_a_kafka_event_and_a_service_entry() {
    let topic = unique("bridge");
    create_topic(&topic, 3).await;
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("file://{}", dir.path().join("store").display());
    let root = format!("/regsync-it/{}", unique("e2e"));
    let providers = providers_dir(&root).await;
    let _bridge = bridge(
        &root,
        &format!("kafka://{}/{topic}", brokers()),
        &dir.path().join("dead.jsonl"),
    );
    let _consume = Proc(
        Command::new(env!("CARGO_BIN_EXE_regsync"))
            .args(["consume", "--brokers", &brokers(), "--topic", &topic])
            .args(["--group", &unique("g"), "--store", &store_url])
            .args(["--metrics-listen", "127.0.0.1:0", "--batch-wait", "20ms"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let store = Store::open(&store_url).await.unwrap();

    let znode = demo_znodes()[0];
    let provider = provider(&format!("{providers}/{znode}")).await;
    wait_for(
        "the provider's ServiceEntry",
        Duration::from_secs(60),
        || async { entries_yaml(&store).await.contains("address: 172.18.0.9") },
    )
    .await;

    // The record on the topic: keyed by service, structured CloudEvent, newest list last.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let record = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let m = consumer.recv().await.unwrap();
            let value: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            if value["data"]["children"]
                .as_array()
                .is_some_and(|c| !c.is_empty())
            {
                let content_type = m
                    .headers()
                    .and_then(|h| h.iter().find(|h| h.key == "content-type"))
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()));
                break (m.key().map(<[u8]>::to_vec), content_type, value);
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(
        record.0.as_deref(),
        Some(format!("dubbo/{DEMO}").as_bytes())
    );
    assert_eq!(record.1.as_deref(), Some("application/cloudevents+json"));
    assert_eq!(record.2["data"]["children"][0], znode);

    // The provider stops: its endpoint leaves the mesh.
    drop(provider);
    wait_for("the endpoint to go", Duration::from_secs(60), || async {
        !entries_yaml(&store).await.contains("address: 172.18.0.9")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sink_signs_its_posts_and_dead_letters_what_the_receiver_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("file://{}", dir.path().join("store").display());
    // A receiver whose body limit fits one provider URL but not two.
    let mut webhook = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["webhook", "--listen", "127.0.0.1:0", "--store", &store_url])
        .args(["--max-body-bytes", "1400"])
        .env("REGSYNC_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(webhook.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _webhook = Proc(webhook);
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();
    let root = format!("/regsync-it/{}", unique("webhook"));
    let providers = providers_dir(&root).await;
    let dead_letter = dir.path().join("dead.jsonl");
    let _bridge = bridge(&root, &url, &dead_letter);
    let store = Store::open(&store_url).await.unwrap();

    let [a, b, _] = demo_znodes()[..] else {
        panic!("three DemoService providers")
    };
    let provider_a = provider(&format!("{providers}/{a}")).await;
    wait_for("A's ServiceEntry", Duration::from_secs(30), || async {
        entries_yaml(&store).await.contains("address: 172.18.0.9")
    })
    .await;
    // A second provider makes the state event larger than the receiver takes: 413, for good.
    let provider_b = provider(&format!("{providers}/{b}")).await;
    wait_for("the dead letter", Duration::from_secs(30), || async {
        std::fs::read_to_string(&dead_letter).is_ok_and(|t| !t.is_empty())
    })
    .await;
    let line = std::fs::read_to_string(&dead_letter).unwrap();
    let dead: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert!(dead["reason"].as_str().unwrap().contains("body"), "{dead}");
    assert_eq!(
        dead["event"]["data"]["children"].as_array().unwrap().len(),
        2
    );
    // The bridge goes on: when A stops, the one-provider list fits again and is delivered.
    drop(provider_a);
    wait_for("B alone", Duration::from_secs(30), || async {
        let yaml = entries_yaml(&store).await;
        yaml.contains("address: 172.20.0.29") && !yaml.contains("address: 172.18.0.9")
    })
    .await;
    drop(provider_b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_a_bridge_whose_sink_is_down_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let root = format!("/regsync-it/{}", unique("grace"));
    let providers = providers_dir(&root).await;
    let _provider = provider(&format!("{providers}/{}", demo_znodes()[0])).await;
    // Nothing listens there: every delivery fails and is retried.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["bridge", "zookeeper", "--connect", &zk_addr()])
        .args(["--root", &format!("{root}/dubbo"), "--no-services"])
        .args(["--sink", &url, "--metrics-listen", "127.0.0.1:0"])
        .args(["--shutdown-grace", "1s"])
        .arg("--dead-letter")
        .arg(dir.path().join("dead.jsonl"))
        .env("REGSYNC_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(child.try_wait().unwrap().is_none(), "it keeps retrying");
    common::sigterm(&child);
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("exiting anyway"), "{stderr}");
}

/// The records on `topic` so far, read over PLAINTEXT (keys only).
async fn keys_on(topic: &str, at_least: usize) -> Vec<Vec<u8>> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut keys = Vec::new();
    while let Ok(Ok(m)) = tokio::time::timeout(
        Duration::from_secs(if keys.len() < at_least { 30 } else { 3 }),
        consumer.recv(),
    )
    .await
    {
        keys.push(m.key().unwrap_or_default().to_vec());
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kafka_sink_publishes_over_sasl_ssl_and_tls_and_a_wrong_password_stops_it_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let znode = demo_znodes()[0];
    for listener in [common::Listener::SaslSsl, common::Listener::Ssl] {
        let topic = unique("bridge-secure");
        create_topic(&topic, 1).await;
        let root = format!("/regsync-it/{}", unique("secure"));
        let providers = providers_dir(&root).await;
        let (secured, env) = common::secured(listener, None);
        let _bridge = bridge_with(
            &root,
            &format!("kafka://{secured}/{topic}"),
            &dir.path().join("dead.jsonl"),
            &env,
        );
        let _provider = provider(&format!("{providers}/{znode}")).await;
        let keys = keys_on(&topic, 1).await;
        assert!(
            keys.iter().any(|k| k == format!("dubbo/{DEMO}").as_bytes()),
            "{listener:?}: the provider's event on {topic}: {keys:?}"
        );
    }

    // A wrong password: the bridge exits at start, naming the setting; nothing is published.
    let topic = unique("bridge-refused");
    create_topic(&topic, 1).await;
    let root = format!("/regsync-it/{}", unique("refused"));
    let providers = providers_dir(&root).await;
    let _provider = provider(&format!("{providers}/{znode}")).await;
    let (secured, env) = common::secured(common::Listener::SaslSsl, Some("not-the-password"));
    let mut child = bridge_command(
        &root,
        &format!("kafka://{secured}/{topic}"),
        &dir.path().join("dead.jsonl"),
    )
    .envs(env.iter().map(|(k, v)| (k, v)))
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut status = None;
    for _ in 0..300 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(status) = status else {
        child.kill().unwrap();
        panic!("the bridge kept running with a wrong password");
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("refused the SASL login") && stderr.contains("sasl.password"),
        "{stderr}"
    );
    assert_eq!(keys_on(&topic, 0).await, Vec::<Vec<u8>>::new());
}
