//! The sinks on their own: the Kafka sink against librdkafka's mock cluster (a broker that can
//! be taken down and brought back), and the file sink. The real broker and the real webhook
//! receiver are driven end to end in services/regsync/tests/bridge_it.rs.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use regsync_bridge::event::{Draft, Outgoing};
use regsync_bridge::metrics::Metrics;
use regsync_bridge::sink::{Sink, SinkOptions, SinkSpec};
use regsync_model::EventType;
use serde_json::json;
use support::{events, file_sink, wait_for};

/// `n` provider-list events spread over three interfaces, versions growing.
fn provider_events(n: u64, padding: usize) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            let subject = format!("org.example.Service{}", i % 3);
            let data = json!({
                "path": format!("/dubbo/{subject}/providers"),
                "pzxid": 100 + i,
                "children": [format!("dubbo%3A%2F%2F10.0.0.{i}%3A20880%2F{subject}%3Fpad%3D{}", "x".repeat(padding))],
            });
            Outgoing::new(
                Draft {
                    source: "zookeeper://127.0.0.1:2181/dubbo",
                    registry: "dubbo",
                    event_type: EventType::ZookeeperProviders,
                    subject: &subject,
                    version: 100 + i,
                    id_suffix: None,
                    data: &data,
                }
                .build(),
            )
        })
        .collect()
}

/// Every record of `topic` as (key, pzxid, content-type), in offset order per partition.
fn read_topic(brokers: &str, topic: &str, expected: usize) -> Vec<(String, u64, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "sink-test")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while records.len() < expected && std::time::Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message.unwrap();
        let value: serde_json::Value = serde_json::from_slice(message.payload().unwrap()).unwrap();
        let content_type = message
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == "content-type"))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .unwrap_or_default();
        records.push((
            String::from_utf8(message.key().unwrap().to_vec()).unwrap(),
            value["data"]["pzxid"].as_u64().unwrap(),
            content_type,
        ));
    }
    records
}

fn kafka_options(
    metrics: &Arc<Metrics>,
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> SinkOptions {
    let mut options = SinkOptions::new(metrics.clone());
    options.dead_letter = dir.join("dead-letters.jsonl");
    options.max_backoff = Duration::from_millis(200);
    let flags = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    options.kafka = regsync_kafka::Config::with_env(None, flags, |_| None);
    options
}

/// A Kafka sink on a fresh mock cluster with one `registry-events` topic of `partitions`.
async fn mock_kafka_sink(
    partitions: i32,
    extra: &[(&str, &str)],
) -> (
    MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    String,
    tempfile::TempDir,
    Arc<Metrics>,
    Sink,
) {
    let cluster = MockCluster::new(1).unwrap();
    cluster
        .create_topic("registry-events", partitions, 1)
        .unwrap();
    let brokers = cluster.bootstrap_servers();
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let spec: SinkSpec = format!("kafka://{brokers}/registry-events")
        .parse()
        .unwrap();
    let options = kafka_options(&metrics, dir.path(), extra);
    let sink = Sink::open(&spec, options).await.unwrap();
    (cluster, brokers, dir, metrics, sink)
}

fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .encode()
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_keeps_each_service_in_order_and_waits_out_a_broker_outage() {
    let (cluster, brokers, _dir, metrics, mut sink) =
        mock_kafka_sink(3, &[("message.timeout.ms", "1000")]).await;

    let batch = provider_events(30, 0);
    sink.deliver(&batch[..15]).await.unwrap();
    // The broker goes down: delivery fails, is reported and retried, and nothing is dropped.
    cluster.broker_down(1).unwrap();
    let rest = batch[15..].to_vec();
    let delivering = tokio::spawn(async move {
        sink.deliver(&rest).await.unwrap();
        sink
    });
    wait_for(
        "a reported delivery failure",
        Duration::from_secs(20),
        || (metric(&metrics, "regsync_bridge_delivery_failures_total") >= 1.0).then_some(()),
    )
    .await;
    assert!(
        !delivering.is_finished(),
        "delivery cannot finish while the broker is down"
    );
    cluster.broker_up(1).unwrap();
    tokio::time::timeout(Duration::from_secs(30), delivering)
        .await
        .unwrap()
        .unwrap();

    let records = tokio::task::spawn_blocking(move || read_topic(&brokers, "registry-events", 30))
        .await
        .unwrap();
    for event in &batch {
        let pzxid = event.event.source_version;
        assert!(
            records
                .iter()
                .any(|(k, v, _)| *k == event.key && *v == pzxid),
            "{} {pzxid} never arrived",
            event.key
        );
    }
    for key in [
        "dubbo/org.example.Service0",
        "dubbo/org.example.Service1",
        "dubbo/org.example.Service2",
    ] {
        let versions: Vec<u64> = records
            .iter()
            .filter(|(k, ..)| k == key)
            .map(|(_, v, _)| *v)
            .collect();
        let mut sorted = versions.clone();
        sorted.sort_unstable();
        assert_eq!(versions, sorted, "{key} out of order");
    }
    assert!(
        records
            .iter()
            .all(|(.., ct)| ct == "application/cloudevents+json")
    );
    assert_eq!(metric(&metrics, "regsync_bridge_events_total"), 30.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_kafka_can_never_take_goes_to_the_dead_letter_file_with_the_reason() {
    let (_cluster, brokers, dir, metrics, mut sink) =
        mock_kafka_sink(1, &[("message.max.bytes", "4000")]).await;
    let mut batch = provider_events(3, 0);
    batch.insert(1, provider_events(1, 5000).remove(0));
    sink.deliver(&batch).await.unwrap();

    let dead = events(&dir.path().join("dead-letters.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:#?}");
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("too large"),
        "{}",
        dead[0]
    );
    assert_eq!(
        dead[0]["sink"],
        format!("kafka://{brokers}/registry-events")
    );
    assert_eq!(dead[0]["event"]["id"], batch[1].event.id.as_str());
    assert_eq!(metric(&metrics, "regsync_bridge_dead_letters_total"), 1.0);
    let records = tokio::task::spawn_blocking(move || read_topic(&brokers, "registry-events", 3))
        .await
        .unwrap();
    assert_eq!(records.len(), 3, "the other three are delivered");
}

#[tokio::test]
async fn the_file_sink_appends_whole_lines_that_replay_as_events() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let (mut sink, path) = file_sink(dir.path(), &metrics).await;
    let batch = provider_events(5, 0);
    sink.deliver(&batch[..2]).await.unwrap();
    sink.deliver(&batch[2..]).await.unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'));
    let report = regsync_events::validate_paths(std::slice::from_ref(&path));
    assert!(report.is_ok(), "{report}");
    let back = events(&path);
    let ids: Vec<&str> = back.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = batch.iter().map(|o| o.event.id.as_str()).collect();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn a_webhook_sink_without_a_secret_says_what_to_set() {
    let metrics = Arc::new(Metrics::default());
    let spec: SinkSpec = "https://hooks.example.com/regsync".parse().unwrap();
    let Err(e) = Sink::open(&spec, SinkOptions::new(metrics)).await else {
        panic!("a webhook sink needs a secret")
    };
    assert!(e.to_string().contains("REGSYNC_WEBHOOK_SECRET"), "{e}");
}

/// A receiver that leaves its first `stalls` requests unanswered for 5 s, answers 503 to the
/// next `failures`, then checks the signature as the webhook contract says and answers 202; it
/// keeps every request it got.
#[derive(Default)]
struct Receiver {
    stalls: usize,
    failures: usize,
    requests: Vec<(Option<String>, bool, Vec<u8>)>,
}

async fn receive(
    axum::extract::State(receiver): axum::extract::State<Arc<std::sync::Mutex<Receiver>>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // The receiver's own check, as `regsync webhook` and the Lambda function make it (v2).
    let request = regsync_pipeline::webhook::Request {
        method: "POST".into(),
        path: uri.path_and_query().map_or("/", |p| p.as_str()).to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let signed = regsync_pipeline::webhook::Webhook::new(b"s3cret".to_vec(), usize::MAX)
        .authenticate(&request, now)
        .is_ok();
    let stall = {
        let mut receiver = receiver.lock().unwrap();
        receiver
            .requests
            .push((header("content-type"), signed, body.to_vec()));
        let stall = receiver.stalls > 0;
        receiver.stalls = receiver.stalls.saturating_sub(1);
        stall
    };
    if stall {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let mut receiver = receiver.lock().unwrap();
    if receiver.failures > 0 {
        receiver.failures -= 1;
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    if signed {
        axum::http::StatusCode::ACCEPTED
    } else {
        axum::http::StatusCode::UNAUTHORIZED
    }
}

/// Serves `receiver` on a free port; the sink's URL.
async fn serve(receiver: &Arc<std::sync::Mutex<Receiver>>) -> SinkSpec {
    let app = axum::Router::new()
        .route("/hooks/regsync", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // A path and query, which the v2 signature covers.
    format!("http://{addr}/hooks/regsync?env=test")
        .parse()
        .unwrap()
}

/// A webhook sink to `spec` with the receiver's secret (and `timeout`, if given).
async fn webhook_sink(
    spec: &SinkSpec,
    metrics: &Arc<Metrics>,
    dir: &std::path::Path,
    timeout: Option<Duration>,
) -> Sink {
    let mut options = kafka_options(metrics, dir, &[]);
    options.webhook_secret = Some(b"s3cret".to_vec());
    if let Some(timeout) = timeout {
        options.webhook_timeout = timeout;
    }
    Sink::open(spec, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sink_signs_batches_and_retries_a_failing_receiver() {
    let receiver = Arc::new(std::sync::Mutex::new(Receiver {
        failures: 2,
        ..Receiver::default()
    }));
    let spec = serve(&receiver).await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let mut sink = webhook_sink(&spec, &metrics, dir.path(), None).await;
    let batch = provider_events(5, 0);
    sink.deliver(&batch).await.unwrap();

    let receiver = receiver.lock().unwrap();
    assert_eq!(receiver.requests.len(), 3, "two 503s, then the delivery");
    for (content_type, signed, body) in &receiver.requests {
        assert_eq!(
            content_type.as_deref(),
            Some("application/cloudevents-batch+json")
        );
        assert!(signed, "every attempt is signed");
        let events: Vec<serde_json::Value> = serde_json::from_slice(body).unwrap();
        let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
        let expected: Vec<&str> = batch.iter().map(|o| o.event.id.as_str()).collect();
        assert_eq!(ids, expected, "the whole batch, in order, every time");
    }
    assert_eq!(
        metric(&metrics, "regsync_bridge_delivery_failures_total"),
        2.0
    );
    assert!(
        metrics.encode().contains("kind=\"busy\""),
        "{}",
        metrics.encode()
    );
    assert_eq!(metric(&metrics, "regsync_bridge_events_total"), 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_does_not_answer_in_time_is_a_timeout_and_the_batch_is_retried() {
    let receiver = Arc::new(std::sync::Mutex::new(Receiver {
        stalls: 1,
        ..Receiver::default()
    }));
    let spec = serve(&receiver).await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = Arc::new(Metrics::default());
    let timeout = Some(Duration::from_millis(300));
    let mut sink = webhook_sink(&spec, &metrics, dir.path(), timeout).await;
    let batch = provider_events(3, 0);
    sink.deliver(&batch).await.unwrap();

    assert_eq!(
        receiver.lock().unwrap().requests.len(),
        2,
        "a stalled POST, then the delivery"
    );
    let text = metrics.encode();
    // Told apart from a receiver that is down ("connect"): it was reached, and did not answer.
    assert!(text.contains("kind=\"timeout\""), "{text}");
    assert!(!text.contains("kind=\"connect\""), "{text}");
    assert_eq!(metric(&metrics, "regsync_bridge_events_total"), 3.0);
}
