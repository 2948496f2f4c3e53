//! `regsync consume` and `regsync record` over the secured listeners of a real Apache Kafka
//! (`scripts/services.sh start kafka`): SASL_SSL with SCRAM-SHA-512 and a CA bundle, as MSK's
//! SCRAM listener asks, and plain TLS. Configured the way the README tells users, through the
//! `REGSYNC_KAFKA_*` variables. A wrong password is refused at once, with an error that names
//! the setting, and nothing is written. (The bridge's sink: bridge_it.rs; the Lambda function's
//! dead-letter writer: functions/ingest-kafka/tests/dlq_topic_it.rs.)

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{
    Listener, Proc, ROOT, Record, brokers, create_topic, produce, scenario_files, secured,
    structured, unique, wait_for,
};

const SCENARIO: &str = "dubbo-zk/disabled-and-weighted";

/// `regsync record --from FROM --to TO` with `env`.
fn record(from: &str, to: &str, env: &[(String, String)]) -> Output {
    regsync(&["record", "--from", from, "--to", to], env)
}

fn regsync(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regsync"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// A topic holding the scenario's events.
async fn scenario_topic(name: &str) -> (String, usize) {
    let topic = unique(name);
    create_topic(&topic, 2).await;
    let records: Vec<Record> = scenario_files(SCENARIO)
        .iter()
        .map(|f| structured(&std::fs::read(f).unwrap()))
        .collect();
    produce(&topic, &records).await;
    (topic, records.len())
}

fn golden() -> String {
    std::fs::read_to_string(
        Path::new(ROOT)
            .join("tests/golden")
            .join(format!("{}.yaml", SCENARIO.replace('/', "-"))),
    )
    .unwrap()
}

fn snapshot_yaml(store: &str) -> String {
    let out = regsync(&["snapshot", "get", "--store", store, "-o", "yaml"], &[]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_over_sasl_ssl_and_over_tls_gives_the_golden_snapshot() {
    let (topic, _) = scenario_topic("secure-consume").await;
    for listener in [Listener::SaslSsl, Listener::Ssl] {
        let (brokers, env) = secured(listener, None);
        let dir = tempfile::tempdir().unwrap();
        let store = format!("file://{}", dir.path().display());
        let _consume = Proc(
            Command::new(env!("CARGO_BIN_EXE_regsync"))
                .args(["consume", "--brokers", &brokers, "--topic", &topic])
                .args(["--group", &unique("g"), "--store", &store])
                .args(["--metrics-listen", "127.0.0.1:0", "--batch-wait", "20ms"])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let expected = golden();
        wait_for(
            &format!("{listener:?}: the golden snapshot"),
            Duration::from_secs(60),
            || {
                let got = snapshot_yaml(&store);
                let same = got == expected;
                async move { same }
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_over_sasl_ssl_and_over_tls_equals_the_plaintext_recording() {
    let (topic, events) = scenario_topic("secure-record").await;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.jsonl");
    let out = record(
        &format!("kafka://{}/{topic}", brokers()),
        plain.to_str().unwrap(),
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let expected = std::fs::read(&plain).unwrap();
    assert_eq!(
        expected.iter().filter(|&&b| b == b'\n').count(),
        events,
        "the PLAINTEXT recording"
    );
    for listener in [Listener::SaslSsl, Listener::Ssl] {
        let (brokers, env) = secured(listener, None);
        let to = dir.path().join(format!("{listener:?}.jsonl"));
        let out = record(
            &format!("kafka://{brokers}/{topic}"),
            to.to_str().unwrap(),
            &env,
        );
        assert!(out.status.success(), "{listener:?}: {out:?}");
        assert_eq!(std::fs::read(&to).unwrap(), expected, "{listener:?}");
    }
}

/// The error a user sees for a wrong password: the setting, where it came from, the user.
fn assert_names_the_password(stderr: &str) {
    assert!(stderr.contains("refused the SASL login"), "{stderr}");
    assert!(
        stderr.contains("sasl.password") && stderr.contains("from REGSYNC_KAFKA_SASL_PASSWORD"),
        "{stderr}"
    );
    assert!(stderr.contains("SCRAM-SHA-512"), "{stderr}");
    assert!(
        !stderr.contains("not-the-password"),
        "the password is never printed: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_at_once_naming_the_setting_and_nothing_is_written() {
    let (topic, _) = scenario_topic("wrong-password").await;
    let (brokers, env) = secured(Listener::SaslSsl, Some("not-the-password"));
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().join("store").display());

    // consume: exits with the error before it creates the dead-letter topic or stores anything.
    let started = Instant::now();
    let out = regsync(
        &[
            "consume",
            "--brokers",
            &brokers,
            "--topic",
            &topic,
            "--store",
            &store,
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_names_the_password(&stderr);
    eprintln!("consume refused the login after {:?}", started.elapsed());
    let get = regsync(&["snapshot", "get", "--store", &store], &[]);
    assert!(
        !get.status.success() && !String::from_utf8_lossy(&get.stdout).contains("ServiceEntry"),
        "nothing is stored: {get:?}"
    );
    let topics = record(
        &format!("kafka://{}/{topic}.dlq", common::brokers()),
        "-",
        &[],
    );
    assert!(
        String::from_utf8_lossy(&topics.stderr).contains("does not exist"),
        "no dead-letter topic was created: {topics:?}"
    );

    // record: the same error, and no recording file.
    let to = dir.path().join("recording.jsonl");
    let out = record(
        &format!("kafka://{brokers}/{topic}"),
        to.to_str().unwrap(),
        &env,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_names_the_password(&stderr);
    assert!(!to.exists() && !to.with_extension("partial").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_that_did_not_sign_the_broker_is_a_tls_error_naming_ssl_ca_location() {
    let (brokers, mut env) = secured(Listener::Ssl, None);
    // A CA of its own: valid PEM, but not the one that signed the broker's certificate.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=another CA", "-keyout"])
        .arg(dir.path().join("other-ca.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    env.retain(|(k, _)| k != "REGSYNC_KAFKA_SSL_CA_LOCATION");
    env.push((
        "REGSYNC_KAFKA_SSL_CA_LOCATION".into(),
        other.display().to_string(),
    ));
    let out = record(&format!("kafka://{brokers}/any-topic"), "-", &env);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("TLS with the Kafka brokers") && stderr.contains("ssl.ca.location"),
        "{stderr}"
    );
    assert!(stderr.contains(other.to_str().unwrap()), "{stderr}");
}
