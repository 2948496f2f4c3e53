//! The handler with a Kafka dead-letter topic (REGSYNC_DEAD_LETTER_URL=kafka://brokers/topic),
//! against the real broker that scripts/test.sh starts (REGSYNC_IT_KAFKA_BROKERS): poison
//! records of `events/lambda/kafka-msk-poison.json` are produced to the topic with their raw
//! key and value, the reason and origin headers, and the good records apply.

#![cfg(feature = "it")]
#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

use std::collections::BTreeMap;

use aws_lambda_events::event::kafka::KafkaEvent;
use ingest_kafka::{Context, handle, records};
use lambda_runtime::{Diagnostic, LambdaEvent};
use regsync_kafka::rs::rskafka::client::partition::UnknownTopicHandling;
use regsync_kafka::rs::rskafka::client::{Client, ClientBuilder};
use regsync_pipeline::config::{DEAD_LETTER_URL, STORE_URL};
use regsync_pipeline::dead_letter::{
    ORIGIN_OFFSET_HEADER, ORIGIN_PARTITION_HEADER, ORIGIN_TOPIC_HEADER, REASON_FIELD_HEADER,
    REASON_HEADER, REASON_KIND_HEADER,
};

const LAMBDA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/lambda");

fn brokers() -> String {
    std::env::var("REGSYNC_IT_KAFKA_BROKERS").expect(
        "REGSYNC_IT_KAFKA_BROKERS must name the test broker (scripts/services.sh start kafka)",
    )
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn client() -> Client {
    ClientBuilder::new(brokers().split(',').map(str::to_owned).collect())
        .build()
        .await
        .unwrap()
}

async fn context(dir: &std::path::Path, topic: &str) -> Context {
    context_with(dir, &format!("kafka://{}/{topic}", brokers()), Vec::new()).await
}

/// The function's context with `dlq` as REGSYNC_DEAD_LETTER_URL and `env` as the rest of the
/// function's environment.
async fn context_with(dir: &std::path::Path, dlq: &str, env: Vec<(String, String)>) -> Context {
    let store = format!("file://{}", dir.display());
    let dlq = dlq.to_owned();
    Context::from_lookup(move |k| match k {
        STORE_URL => Some(store.clone()),
        DEAD_LETTER_URL => Some(dlq.clone()),
        _ => env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
    })
    .await
    .unwrap()
}

fn it_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `eval \"$(scripts/services.sh start kafka)\"` first")
    })
}

/// The SASL_SSL (SCRAM-SHA-512) or TLS listener and the function environment for it, with
/// `password` instead of the right one when given.
fn secured(sasl: bool, password: Option<&str>) -> (String, Vec<(String, String)>) {
    let mut env = vec![(
        "REGSYNC_KAFKA_SSL_CA_LOCATION".to_owned(),
        it_var("REGSYNC_IT_KAFKA_CA"),
    )];
    if !sasl {
        env.push(("REGSYNC_KAFKA_SECURITY_PROTOCOL".into(), "SSL".into()));
        return (it_var("REGSYNC_IT_KAFKA_SSL_BROKERS"), env);
    }
    env.extend([
        ("REGSYNC_KAFKA_SECURITY_PROTOCOL".into(), "SASL_SSL".into()),
        (
            "REGSYNC_KAFKA_SASL_MECHANISM".into(),
            "SCRAM-SHA-512".into(),
        ),
        (
            "REGSYNC_KAFKA_SASL_USERNAME".into(),
            it_var("REGSYNC_IT_KAFKA_SCRAM_USER"),
        ),
        (
            "REGSYNC_KAFKA_SASL_PASSWORD".into(),
            password.map_or_else(|| it_var("REGSYNC_IT_KAFKA_SCRAM_PASSWORD"), str::to_owned),
        ),
    ]);
    (it_var("REGSYNC_IT_KAFKA_SASL_SSL_BROKERS"), env)
}

/// Creates `topic` with 3 partitions and waits until each has a leader: Apache Kafka answers
/// the creation before the partitions can take records.
async fn create_topic(kafka: &Client, topic: &str) {
    kafka
        .controller_client()
        .unwrap()
        .create_topic(topic, 3, 1, 5_000)
        .await
        .unwrap();
    for partition in 0..3 {
        let p = kafka
            .partition_client(topic.to_owned(), partition, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        p.get_offset(regsync_kafka::rs::rskafka::client::partition::OffsetAt::Latest)
            .await
            .unwrap();
    }
}

/// How many records `topic` (3 partitions) holds, read over PLAINTEXT.
async fn letters_on(kafka: &Client, topic: &str) -> usize {
    let mut n = 0;
    for partition in 0..3 {
        let p = kafka
            .partition_client(topic.to_owned(), partition, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        // Right after the topic was created the broker may still answer a fetch with
        // OffsetOutOfRange and a high watermark of -1 (seen once in CI): ask again.
        let mut attempts = 0;
        let records = loop {
            match p.fetch_records(0, 1..1_000_000, 1_000).await {
                Ok((records, _)) => break records,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    eprintln!("fetch from {topic}/{partition} again: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{topic}/{partition}: {e}"),
            }
        };
        n += records.len();
    }
    n
}

fn poison() -> KafkaEvent {
    serde_json::from_slice(&std::fs::read(format!("{LAMBDA}/kafka-msk-poison.json")).unwrap())
        .unwrap()
}

#[tokio::test]
async fn poison_records_are_produced_to_the_dead_letter_topic_with_their_reasons() {
    let topic = unique("it-lambda-dlq");
    let kafka = client().await;
    create_topic(&kafka, &topic).await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), &topic).await;
    let event = poison();
    let summary = handle(&ctx, LambdaEvent::new(event.clone(), Default::default()))
        .await
        .unwrap();
    assert_eq!(
        (summary.applied, summary.dead_lettered),
        (2, 3),
        "{summary:?}"
    );
    // Nothing went to the store's dead-letter prefix.
    let in_store = regsync_pipeline::StoreDeadLetters::new(ctx.pipeline.store.clone())
        .list()
        .await
        .unwrap();
    assert!(in_store.is_empty(), "{in_store:?}");

    let originals: BTreeMap<i64, _> = records(&event)
        .into_iter()
        .map(|(r, _)| (r.offset, r))
        .collect();
    let mut seen = Vec::new();
    for partition in 0..3 {
        let p = kafka
            .partition_client(topic.clone(), partition, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        let (got, _) = p.fetch_records(0, 1..1_000_000, 1_000).await.unwrap();
        for r in got {
            let h = |k: &str| {
                r.record
                    .headers
                    .get(k)
                    .map(|v| String::from_utf8(v.clone()).unwrap())
            };
            let offset: i64 = h(ORIGIN_OFFSET_HEADER).unwrap().parse().unwrap();
            let original = &originals[&offset];
            // The raw record, byte for byte, on partition (origin partition mod 3).
            assert_eq!(r.record.value, original.value, "offset {offset}");
            assert_eq!(r.record.key, original.key, "offset {offset}");
            assert_eq!(i64::from(original.partition) % 3, i64::from(partition));
            assert_eq!(h(ORIGIN_TOPIC_HEADER).unwrap(), original.topic);
            assert_eq!(
                h(ORIGIN_PARTITION_HEADER).unwrap(),
                original.partition.to_string()
            );
            assert!(!h(REASON_HEADER).unwrap().is_empty());
            seen.push((
                original.partition,
                offset,
                h(REASON_KIND_HEADER).unwrap(),
                h(REASON_FIELD_HEADER),
            ));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            (1, 8, "syntax".to_owned(), None),
            (1, 9, "empty_value".to_owned(), Some("value".to_owned())),
            (2, 30, "unknown_type".to_owned(), Some("type".to_owned())),
        ]
    );
}

#[tokio::test]
async fn a_missing_dead_letter_topic_fails_the_invocation_so_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), &unique("it-lambda-dlq-absent")).await;
    let err = handle(&ctx, LambdaEvent::new(poison(), Default::default()))
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "DeadLetterUnavailable");
    assert!(
        diagnostic.error_message.contains("does not exist"),
        "{diagnostic:?}"
    );
}

#[tokio::test]
async fn over_sasl_ssl_and_tls_the_letters_arrive_and_a_wrong_password_fails_the_invocation() {
    let kafka = client().await;
    for sasl in [true, false] {
        let topic = unique("it-lambda-dlq-secure");
        create_topic(&kafka, &topic).await;
        let (at, env) = secured(sasl, None);
        let dir = tempfile::tempdir().unwrap();
        let ctx = context_with(dir.path(), &format!("kafka://{at}/{topic}"), env).await;
        let summary = handle(&ctx, LambdaEvent::new(poison(), Default::default()))
            .await
            .unwrap();
        assert_eq!(summary.dead_lettered, 3, "sasl={sasl}: {summary:?}");
        assert_eq!(letters_on(&kafka, &topic).await, 3, "sasl={sasl}");

        if sasl {
            // The same batch with a wrong password: the invocation fails (the mapping
            // redelivers it), the error names the setting, and no letter is added.
            let (at, env) = secured(true, Some("not-the-password"));
            let dir = tempfile::tempdir().unwrap();
            let ctx = context_with(dir.path(), &format!("kafka://{at}/{topic}"), env).await;
            let started = std::time::Instant::now();
            let err = handle(&ctx, LambdaEvent::new(poison(), Default::default()))
                .await
                .unwrap_err();
            eprintln!(
                "the refused login failed the invocation after {:?}",
                started.elapsed()
            );
            let diagnostic = Diagnostic::from(err);
            assert_eq!(diagnostic.error_type, "DeadLetterUnavailable");
            let message = &diagnostic.error_message;
            assert!(message.contains("refused the SASL login"), "{message}");
            assert!(
                message.contains("from REGSYNC_KAFKA_SASL_PASSWORD"),
                "{message}"
            );
            assert!(!message.contains("not-the-password"), "{message}");
            assert_eq!(letters_on(&kafka, &topic).await, 3);
        }
    }
}

#[tokio::test]
async fn a_bad_security_setting_stops_the_cold_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().display());
    let err = Context::from_lookup(move |k| match k {
        STORE_URL => Some(store.clone()),
        DEAD_LETTER_URL => Some("kafka://127.0.0.1:9/dlq".to_owned()),
        "REGSYNC_KAFKA_SECURITY_PROTOCOL" => Some("SASL_SSL".to_owned()),
        "REGSYNC_KAFKA_SASL_MECHANISM" => Some("SCRAM-SHA-512".to_owned()),
        _ => None,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("sasl.username") && err.contains("REGSYNC_KAFKA_SASL_USERNAME"),
        "{err}"
    );
}

/// A local Secrets Manager (moto, `scripts/services.sh start moto`) with static test keys.
fn secrets_manager() -> aws_config::SdkConfig {
    use aws_sdk_secretsmanager::config::{Credentials, Region, SharedCredentialsProvider};
    aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .endpoint_url(it_var("REGSYNC_IT_SECRETS_ENDPOINT"))
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .build()
}

/// A secret holding `text`; its ARN.
async fn secret(aws: &aws_config::SdkConfig, text: &str) -> String {
    aws_sdk_secretsmanager::Client::new(aws)
        .create_secret()
        .name(format!("AmazonMSK_{}", unique("regsync")))
        .secret_string(text)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned()
}

/// The login from the secret MSK's SCRAM authentication uses (REGSYNC_KAFKA_SASL_SECRET_ARN):
/// the letters arrive over SASL_SSL; a wrong password in it is refused naming the secret; a
/// secret that is not MSK's JSON stops the cold start.
#[tokio::test]
async fn the_login_can_come_from_the_msk_scram_secret() {
    let kafka = client().await;
    let topic = unique("it-lambda-dlq-secret");
    create_topic(&kafka, &topic).await;
    let aws = secrets_manager();
    let (at, mut env) = secured(true, None);
    env.retain(|(k, _)| k != "REGSYNC_KAFKA_SASL_USERNAME" && k != "REGSYNC_KAFKA_SASL_PASSWORD");
    let open = |secret_arn: String| {
        let mut env = env.clone();
        env.push((ingest_kafka::SASL_SECRET_ARN.to_owned(), secret_arn));
        let dir = tempfile::tempdir().unwrap();
        let (store, dlq) = (
            format!("file://{}", dir.path().display()),
            format!("kafka://{at}/{topic}"),
        );
        let aws = aws.clone();
        async move {
            let ctx = Context::with_aws(
                move |k| match k {
                    STORE_URL => Some(store.clone()),
                    DEAD_LETTER_URL => Some(dlq.clone()),
                    _ => env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
                },
                aws,
            )
            .await;
            (ctx, dir)
        }
    };
    let right = format!(
        r#"{{"username": "{}", "password": "{}"}}"#,
        it_var("REGSYNC_IT_KAFKA_SCRAM_USER"),
        it_var("REGSYNC_IT_KAFKA_SCRAM_PASSWORD")
    );
    let (ctx, _dir) = open(secret(&aws, &right).await).await;
    let summary = handle(
        &ctx.unwrap(),
        LambdaEvent::new(poison(), Default::default()),
    )
    .await
    .unwrap();
    assert_eq!(summary.dead_lettered, 3, "{summary:?}");
    assert_eq!(letters_on(&kafka, &topic).await, 3);

    let wrong = right.replace(
        &it_var("REGSYNC_IT_KAFKA_SCRAM_PASSWORD"),
        "not-the-password",
    );
    let (ctx, _dir) = open(secret(&aws, &wrong).await).await;
    let err = handle(
        &ctx.unwrap(),
        LambdaEvent::new(poison(), Default::default()),
    )
    .await
    .unwrap_err();
    let message = Diagnostic::from(err).error_message;
    assert!(
        message.contains("refused the SASL login")
            && message.contains("from the secret REGSYNC_KAFKA_SASL_SECRET_ARN names"),
        "{message}"
    );
    assert!(!message.contains("not-the-password"), "{message}");
    assert_eq!(letters_on(&kafka, &topic).await, 3);

    let (ctx, _dir) = open(secret(&aws, "just-a-password").await).await;
    let e = ctx.unwrap_err().to_string();
    assert!(e.contains("MSK's SCRAM secrets hold"), "{e}");
}
