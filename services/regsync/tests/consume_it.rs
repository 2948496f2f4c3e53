//! `regsync consume` against Apache Kafka (on 127.0.0.1, started by
//! `scripts/services.sh start kafka`), run as a user runs it: a separate process, killed and
//! restarted, its dead letters read back from the broker.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::time::Duration;

use common::{
    Proc, ROOT, Record, brokers, create_topic, entries_yaml, produce, scenario_files, sigterm,
    structured, unique, wait_for,
};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use regsync_model::RegistryEvent;
use regsync_store::Store;

struct Consume {
    child: Proc,
    metrics: String,
    stdout: BufReader<ChildStdout>,
}

fn consume(topic: &str, group: &str, store: &str, batch: usize, env: &[(&str, &str)]) -> Consume {
    let mut child = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args([
            "consume",
            "--brokers",
            &brokers(),
            "--topic",
            topic,
            "--group",
            group,
        ])
        .args(["--store", store, "--metrics-listen", "127.0.0.1:0"])
        .args(["--batch-size", &batch.to_string(), "--batch-wait", "20ms"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut metrics = None;
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        if let Some(url) = line.strip_prefix("metrics on ") {
            metrics = Some(url.trim().to_owned());
            break;
        }
    }
    Consume {
        child: Proc(child),
        metrics: metrics.expect("regsync consume prints its metrics address"),
        stdout,
    }
}

async fn scrape(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

/// Sum of every sample of metric `name` (labels ignored).
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn records_done(c: &Consume) -> f64 {
    metric_sum(&scrape(&c.metrics).await, "regsync_consumer_records_total")
}

const SCENARIOS: &[&str] = &[
    "dubbo-zk/dubbo3-tri-and-app-level",
    "dubbo-zk/disabled-and-weighted",
    "eureka-events/two-apps-mixed-shapes",
];

/// Produces `scenario` to its own 3-partition topic, consumes it into `store_url`, and compares
/// `regsync snapshot get -o yaml` with the scenario's golden file.
async fn golden_through_the_broker(scenario: &str, store_url: &str, env: &[(&str, &str)]) {
    let topic = unique(&scenario.replace('/', "-"));
    create_topic(&topic, 3).await;
    let records: Vec<Record> = scenario_files(scenario)
        .iter()
        .map(|f| structured(&std::fs::read(f).unwrap()))
        .collect();
    produce(&topic, &records).await;
    let c = consume(&topic, &unique("g"), store_url, 500, env);
    let n = records.len() as f64;
    wait_for(scenario, Duration::from_secs(60), || async {
        records_done(&c).await >= n
    })
    .await;
    drop(c);
    let out = Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(["snapshot", "get", "--store", store_url, "-o", "yaml"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let golden = Path::new(ROOT)
        .join("tests/golden")
        .join(format!("{}.yaml", scenario.replace('/', "-")));
    let expected = std::fs::read_to_string(&golden).unwrap();
    assert!(
        expected.contains("kind: ServiceEntry"),
        "{}",
        golden.display()
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected,
        "{scenario}: the snapshot after consuming differs from {}",
        golden.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_through_the_broker_give_the_golden_snapshot_in_a_file_store() {
    for scenario in SCENARIOS {
        let dir = tempfile::tempdir().unwrap();
        golden_through_the_broker(scenario, &format!("file://{}", dir.path().display()), &[]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_through_the_broker_give_the_golden_snapshot_in_an_s3_store() {
    let endpoint = std::env::var("REGSYNC_IT_S3_ENDPOINT").expect(
        "REGSYNC_IT_S3_ENDPOINT is not set: run `eval \"$(scripts/services.sh start seaweedfs)\"` first",
    );
    let bucket = unique("consume").to_lowercase();
    // Creates the bucket.
    regsync_store::testsuite::s3_store(&endpoint, &bucket, "x", Default::default()).await;
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    for (i, scenario) in SCENARIOS.iter().enumerate() {
        golden_through_the_broker(scenario, &format!("s3://{bucket}/run-{i}"), &env).await;
    }
}

fn instance_record(app: usize, i: usize, version: u64) -> Record {
    let e = regsync_snapshots::testkit::instance_event(
        app,
        &regsync_snapshots::testkit::ip(app, i),
        version,
    );
    let text = serde_json::to_vec(&e.to_json()).unwrap();
    structured(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_killed_mid_stream_and_restarted_applies_everything_and_no_stale_state_wins() {
    let topic = unique("kill");
    create_topic(&topic, 4).await;
    let (apps, per_app, versions) = (20, 10, 5u64);
    let mut records = Vec::new();
    for v in 1..=versions {
        for app in 0..apps {
            for i in 0..per_app {
                records.push(instance_record(app, i, v));
            }
        }
    }
    // Late, older updates for some instances: they must stay stale.
    for app in 0..apps {
        records.push(instance_record(app, 0, 2));
    }
    let events: Vec<RegistryEvent> = records
        .iter()
        .map(|(_, v, _)| RegistryEvent::from_slice(v.as_ref().unwrap(), usize::MAX).unwrap())
        .collect();
    let expected = regsync_convert::apply(&Default::default(), &events, &Default::default());
    let expected = regsync_kube::to_yaml(&expected.snapshot.entries);
    assert!(expected.contains(&format!("v{versions}")) && !expected.contains("version: v2"));
    produce(&topic, &records).await;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let store = Store::open(&url).await.unwrap();
    let group = unique("g");
    let mut first = consume(&topic, &group, &url, 20, &[]);
    wait_for(
        "the first consumer to be mid-stream",
        Duration::from_secs(60),
        || async { records_done(&first).await >= 200.0 },
    )
    .await;
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    let done_before_kill = entries_yaml(&store).await;
    assert_ne!(
        done_before_kill, expected,
        "the kill should land before the end"
    );
    drop(first);
    // Restarted at once, as a crash-looping pod is: the group hands the partitions over
    // when the dead member's session ends.
    let second = consume(&topic, &group, &url, 20, &[]);
    wait_for(
        "the restarted consumer to converge",
        Duration::from_secs(120),
        || async { entries_yaml(&store).await == expected },
    )
    .await;
    // It resumed from the last commit, not from the start.
    let redone = records_done(&second).await;
    assert!(
        redone < records.len() as f64,
        "restarted from offset 0: {redone} records"
    );
}

fn header(m: &rdkafka::message::BorrowedMessage<'_>, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dlq_with_reasons_and_sigterm_commits_and_exits() {
    let topic = unique("poison");
    create_topic(&topic, 1).await;
    let scale = scenario_files("dubbo-zk/scale-down");
    let good: Vec<Vec<u8>> = scale
        .iter()
        .take(2)
        .map(|f| std::fs::read(f).unwrap())
        .collect();
    let unknown = String::from_utf8(good[0].clone()).unwrap().replace(
        "io.regsync.zookeeper.providers.v1",
        "io.regsync.zookeeper.teleport.v1",
    );
    let records = vec![
        structured(&good[0]),
        (
            "dubbo/broken".into(),
            Some(b"{\"specversion\": \"1.0\", \"id\": ".to_vec()),
            vec![],
        ),
        ("dubbo/tombstone".into(), None, vec![]),
        ("dubbo/unknown".into(), Some(unknown.into_bytes()), vec![]),
        structured(&good[1]),
    ];
    produce(&topic, &records).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let group = unique("g");
    let mut c = consume(&topic, &group, &url, 500, &[]);
    wait_for("all five records", Duration::from_secs(60), || async {
        records_done(&c).await >= 5.0
    })
    .await;

    // The good records around the poison applied.
    let events: Vec<RegistryEvent> = good
        .iter()
        .map(|g| RegistryEvent::from_slice(g, usize::MAX).unwrap())
        .collect();
    let expected = regsync_convert::apply(&Default::default(), &events, &Default::default());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(
        entries_yaml(&store).await,
        regsync_kube::to_yaml(&expected.snapshot.entries)
    );

    // The DLQ holds the three poison records, with their reasons and origins.
    let dlq: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("dlq-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    dlq.subscribe(&[&format!("{topic}.dlq")]).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let m = tokio::time::timeout(Duration::from_secs(30), dlq.recv())
            .await
            .expect("three dead letters within 30 s")
            .unwrap();
        seen.push((
            header(&m, "regsync_origin_offset").unwrap(),
            header(&m, "regsync_reason_kind").unwrap(),
            header(&m, "regsync_reason_field"),
            header(&m, "regsync_reason").unwrap(),
            m.key().map(<[u8]>::to_vec),
        ));
    }
    seen.sort();
    let summary: Vec<_> = seen
        .iter()
        .map(|(o, k, f, _, _)| (o.as_str(), k.as_str(), f.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("1", "syntax", None),
            ("2", "empty_value", Some("value")),
            ("3", "unknown_type", Some("type")),
        ]
    );
    assert!(seen[0].3.contains(&format!("{topic}/0@1")), "{}", seen[0].3);
    assert_eq!(seen[0].4.as_deref(), Some(&b"dubbo/broken"[..]));

    // Consumer lag is exported per partition once librdkafka has reported statistics.
    wait_for("the lag metric", Duration::from_secs(10), || async {
        scrape(&c.metrics)
            .await
            .lines()
            .any(|l| l.starts_with("regsync_consumer_lag_records{") && l.contains(&topic))
    })
    .await;

    // SIGTERM: exits cleanly with its offsets committed.
    sigterm(&c.child);
    let status = c.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut c.stdout, &mut rest).unwrap();
    assert!(rest.contains("offsets committed"), "{rest}");
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, 0);
    let committed = probe
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    assert_eq!(
        committed.find_partition(&topic, 0).unwrap().offset(),
        Offset::Offset(5)
    );
}
