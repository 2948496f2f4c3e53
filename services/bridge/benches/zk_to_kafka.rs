//! ZooKeeper change → event on Kafka, through `regsync bridge zookeeper`, against the real
//! servers of `scripts/services.sh` (ZooKeeper 3.8 and Apache Kafka). `scripts/bench-bridge.sh` starts
//! them and runs this.
//!
//! Each round registers one provider (an ephemeral znode with a Dubbo URL) and then removes it,
//! and times each change from the ZooKeeper call to the moment a consumer receives the event
//! with the new provider list. Target: p99 ≤ 50 ms.
//!
//! Baselines measured in the same run, on the same servers, so the bridge's own share shows:
//! - ZooKeeper alone: the same create/delete to the notification of a persistent recursive
//!   watch;
//! - Kafka alone: an idempotent `acks=all` produce of an event-sized record to the consumer.
//!
//! Settings: `BENCH_ROUNDS` (default 200 rounds = 400 changes), `BENCH_DEBOUNCE_MS` (default 20,
//! the bridge's default).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use regsync_bridge::metrics::Metrics;
use regsync_bridge::sink::{Sink, SinkOptions};
use regsync_bridge::zookeeper::{ZkBridge, ZkConfig};
use zookeeper_client as zk;

const INTERFACE: &str = "org.apache.dubbo.samples.basic.api.DemoService";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!(
            "{name} is not set: run scripts/bench-bridge.sh, which starts ZooKeeper and Kafka"
        );
        std::process::exit(2)
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Figures {
    p50: f64,
    p99: f64,
    max: f64,
    n: usize,
}

fn figures(mut samples: Vec<Duration>) -> Figures {
    samples.sort_unstable();
    let n = samples.len();
    let at = |q: usize| ms(samples[(n * q / 100).min(n - 1)]);
    Figures {
        p50: at(50),
        p99: at(99),
        max: ms(samples[n - 1]),
        n,
    }
}

fn print(name: &str, f: &Figures) {
    println!(
        "{name:<58} n={:<4} p50 {:>6.1} ms  p99 {:>6.1} ms  max {:>6.1} ms",
        f.n, f.p50, f.p99, f.max
    );
}

/// A consumer at the end of `topic`, fetching without waiting (the librdkafka default waits up
/// to 500 ms for a fetch to fill).
async fn consumer(brokers: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("bench-{topic}"))
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "5")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

async fn create_topic(brokers: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let created = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
}

fn provider_name(i: usize) -> String {
    format!(
        "dubbo%3A%2F%2F10.1.{}.{}%3A20880%2F{INTERFACE}%3Fapplication%3Dbench%26side%3Dprovider",
        i / 250,
        i % 250
    )
}

async fn kafka_baseline(brokers: &str, topic: &str, rounds: usize) -> Figures {
    let consumer = consumer(brokers, topic).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .create()
        .unwrap();
    let payload = vec![b'x'; 700];
    // The first records pay for metadata and the group join.
    let mut samples = Vec::new();
    for i in 0..rounds * 2 + 20 {
        let key = format!("{i}");
        let start = Instant::now();
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        loop {
            let m = consumer.recv().await.unwrap();
            if m.key() == Some(key.as_bytes()) {
                break;
            }
        }
        if i >= 20 {
            samples.push(start.elapsed());
        }
    }
    figures(samples)
}

async fn zookeeper_baseline(client: &zk::Client, base: &str, rounds: usize) -> Figures {
    let dir = format!("{base}/baseline/providers");
    client
        .mkdir(
            &dir,
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let mut watch = client
        .watch(
            &format!("{base}/baseline"),
            zk::AddWatchMode::PersistentRecursive,
        )
        .await
        .unwrap();
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let mut samples = Vec::new();
    for i in 0..rounds {
        let path = format!("{dir}/{}", provider_name(i));
        let start = Instant::now();
        client.create(&path, b"", &ephemeral).await.unwrap();
        while watch.changed().await.path != path {}
        samples.push(start.elapsed());
        let start = Instant::now();
        client.delete(&path, None).await.unwrap();
        while watch.changed().await.path != path {}
        samples.push(start.elapsed());
    }
    figures(samples)
}

async fn bridge_run(
    zk_addr: &str,
    brokers: &str,
    base: &str,
    rounds: usize,
    debounce: Duration,
) -> Figures {
    let topic = format!("bench-bridge-{}", std::process::id());
    create_topic(brokers, &topic).await;
    let client = zk::Client::connect(zk_addr).await.unwrap();
    let dir = format!("{base}/dubbo/{INTERFACE}/providers");
    client
        .mkdir(
            &dir,
            &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
        )
        .await
        .unwrap();
    let metrics = Arc::new(Metrics::default());
    let tmp = tempfile::tempdir().unwrap();
    let mut options = SinkOptions::new(metrics.clone());
    options.dead_letter = tmp.path().join("dead.jsonl");
    let sink = Sink::open(
        &format!("kafka://{brokers}/{topic}").parse().unwrap(),
        options,
    )
    .await
    .unwrap();
    let mut config = ZkConfig::new(zk_addr);
    config.root = format!("{base}/dubbo");
    config.services_root = None;
    config.debounce = debounce;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bridge = tokio::spawn(ZkBridge::new(config, sink, metrics).run(async {
        let _ = stopped.await;
    }));
    let consumer = consumer(brokers, &topic).await;
    // The start publishes the empty list; wait for it so the consumer is in place.
    let _ = consumer.recv().await.unwrap();
    let ephemeral = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let mut samples = Vec::new();
    for i in 0..rounds {
        let name = provider_name(i);
        let path = format!("{dir}/{name}");
        for create in [true, false] {
            let start = Instant::now();
            if create {
                client.create(&path, b"", &ephemeral).await.unwrap();
            } else {
                client.delete(&path, None).await.unwrap();
            }
            loop {
                let m = consumer.recv().await.unwrap();
                let event: serde_json::Value =
                    serde_json::from_slice(m.payload().unwrap()).unwrap();
                let listed = event["data"]["children"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c.as_str() == Some(name.as_str()));
                if listed == create {
                    break;
                }
            }
            samples.push(start.elapsed());
        }
    }
    let _ = stop.send(());
    bridge.await.unwrap().unwrap();
    figures(samples)
}

fn main() {
    let zk_addr = env("REGSYNC_IT_ZK");
    let brokers = env("REGSYNC_IT_KAFKA_BROKERS");
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let debounce = Duration::from_millis(
        std::env::var("BENCH_DEBOUNCE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let base = format!("/regsync-bench/{}", std::process::id());
        let client = zk::Client::connect(&zk_addr).await.unwrap();
        println!("ZooKeeper change -> event on Kafka, {rounds} registrations + {rounds} removals, debounce {debounce:?}");
        let bridge = bridge_run(&zk_addr, &brokers, &base, rounds, debounce).await;
        let zk_only = zookeeper_baseline(&client, &base, rounds).await;
        let topic = format!("bench-baseline-{}", std::process::id());
        create_topic(&brokers, &topic).await;
        let kafka_only = kafka_baseline(&brokers, &topic, rounds).await;
        print("regsync bridge zookeeper -> kafka (change to consumed)", &bridge);
        print("baseline: ZooKeeper write -> watch notification", &zk_only);
        print("baseline: Kafka produce (acks=all) -> consumed", &kafka_only);
        println!(
            "floor without debounce (sum of baseline p50s) {:.1} ms; bridge p50 above the floor {:.1} ms (debounce {:.0} ms)",
            zk_only.p50 + kafka_only.p50,
            bridge.p50 - zk_only.p50 - kafka_only.p50,
            ms(debounce)
        );
        println!(
            "target p99 <= 50 ms: {}",
            if bridge.p99 <= 50.0 { "met" } else { "NOT met" }
        );
    });
}
