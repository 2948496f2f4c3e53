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
use regsync_pipeline::config::{DEAD_LETTER_URL, STORE_URL};
use regsync_pipeline::dead_letter::{
    ORIGIN_OFFSET_HEADER, ORIGIN_PARTITION_HEADER, ORIGIN_TOPIC_HEADER, REASON_FIELD_HEADER,
    REASON_HEADER, REASON_KIND_HEADER,
};
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::{Client, ClientBuilder};

const LAMBDA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/lambda");

fn brokers() -> String {
    std::env::var("REGSYNC_IT_KAFKA_BROKERS").expect(
        "REGSYNC_IT_KAFKA_BROKERS must name the test broker (scripts/services.sh start tansu)",
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
    let store = format!("file://{}", dir.display());
    let dlq = format!("kafka://{}/{topic}", brokers());
    Context::from_lookup(move |k| match k {
        STORE_URL => Some(store.clone()),
        DEAD_LETTER_URL => Some(dlq.clone()),
        _ => None,
    })
    .await
    .unwrap()
}

fn poison() -> KafkaEvent {
    serde_json::from_slice(&std::fs::read(format!("{LAMBDA}/kafka-msk-poison.json")).unwrap())
        .unwrap()
}

#[tokio::test]
async fn poison_records_are_produced_to_the_dead_letter_topic_with_their_reasons() {
    let topic = unique("it-lambda-dlq");
    let kafka = client().await;
    kafka
        .controller_client()
        .unwrap()
        .create_topic(&topic, 3, 1, 5_000)
        .await
        .unwrap();
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
