//! The handler driven as Lambda drives it: `LambdaEvent::new` on the payload files in
//! `events/lambda/`, against a file:// store.

#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

use aws_lambda_events::event::kafka::KafkaEvent;
use ingest_kafka::{Context, DeadLetters, handle, records};
use lambda_runtime::{Diagnostic, LambdaEvent};
use regsync_pipeline::config::{ARCHIVE_URL, DEAD_LETTER_URL, STORE_URL};
use regsync_pipeline::{Pipeline, StoreDeadLetters};
use regsync_store::Store;

const LAMBDA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/lambda");

fn payload(name: &str) -> KafkaEvent {
    serde_json::from_slice(&std::fs::read(format!("{LAMBDA}/{name}")).unwrap()).unwrap()
}

fn invoke(event: KafkaEvent) -> LambdaEvent<KafkaEvent> {
    LambdaEvent::new(event, lambda_runtime::Context::default())
}

async fn context(dir: &std::path::Path) -> Context {
    let url = format!("file://{}", dir.display());
    Context::from_lookup(move |k| (k == STORE_URL).then(|| url.clone()))
        .await
        .unwrap()
}

/// The entries in the store, and those of converting the decoded events in one go.
async fn stored_and_expected(ctx: &Context, event: &KafkaEvent) -> (String, String) {
    let events: Vec<_> = records(event)
        .iter()
        .filter_map(|(r, _)| r.decode(usize::MAX).ok())
        .collect();
    let whole = regsync_convert::apply(&Default::default(), &events, &Default::default());
    let store = &ctx.pipeline.store;
    let generation = regsync_snapshots::generation(store, None).await.unwrap();
    let view = regsync_snapshots::read(store, &generation).await.unwrap();
    assert!(
        !whole.snapshot.entries.is_empty(),
        "the payload should leave entries"
    );
    (
        serde_json::to_string_pretty(&view.entries).unwrap(),
        serde_json::to_string_pretty(&whole.snapshot.entries).unwrap(),
    )
}

#[tokio::test]
async fn an_msk_batch_of_structured_events_becomes_one_generation() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path()).await;
    let event = payload("kafka-msk-structured.json");
    let summary = handle(&ctx, invoke(event.clone())).await.unwrap();
    assert_eq!(
        (summary.records, summary.applied, summary.dead_lettered),
        (4, 4, 0)
    );
    assert_eq!(summary.generation, Some(1), "one publish per batch");
    let (stored, expected) = stored_and_expected(&ctx, &event).await;
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_self_managed_batch_in_binary_mode_applies_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path()).await;
    let event = payload("kafka-self-managed-binary.json");
    assert_eq!(event.event_source.as_deref(), Some("SelfManagedKafka"));
    let summary = handle(&ctx, invoke(event.clone())).await.unwrap();
    assert_eq!((summary.records, summary.applied), (4, 4), "{summary:?}");
    let (stored, expected) = stored_and_expected(&ctx, &event).await;
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_redelivered_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path()).await;
    let event = payload("kafka-msk-structured.json");
    let first = handle(&ctx, invoke(event.clone())).await.unwrap();
    let again = handle(&ctx, invoke(event)).await.unwrap();
    assert_eq!((again.applied, again.stale), (0, 4));
    assert!(!again.published);
    assert_eq!(again.generation, first.generation);
}

#[tokio::test]
async fn poison_records_are_dead_lettered_and_the_rest_apply() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path()).await;
    let event = payload("kafka-msk-poison.json");
    let summary = handle(&ctx, invoke(event.clone())).await.unwrap();
    assert_eq!(summary.records, 5);
    assert_eq!(summary.dead_lettered, 3, "{summary:?}");
    // The record after the poison on partition 1 (offset 10) applied.
    assert_eq!(summary.applied, 2, "{summary:?}");
    let letters = StoreDeadLetters::new(ctx.pipeline.store.clone())
        .list()
        .await
        .unwrap();
    let seen: Vec<_> = letters
        .iter()
        .map(|l| {
            (
                l.record.partition,
                l.record.offset,
                l.rejection.kind.as_str(),
                l.rejection.field.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, 8, "syntax", None),
            (1, 9, "empty_value", Some("value")),
            (2, 30, "unknown_type", Some("type")),
        ]
    );
    // The raw record is kept whole: it decodes back to the bytes that were sent.
    let original = records(&event)
        .into_iter()
        .find(|(r, _)| r.offset == 8)
        .unwrap()
        .0;
    assert_eq!(letters[0].to_record().unwrap(), original);
    assert!(letters[0].rejection.reason.contains("registry-events/1@8"));
    // Redelivery writes no second copy and applies nothing new.
    let again = handle(&ctx, invoke(event)).await.unwrap();
    assert_eq!((again.applied, again.dead_lettered), (0, 3));
    assert_eq!(
        StoreDeadLetters::new(ctx.pipeline.store.clone())
            .list()
            .await
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn a_store_outage_fails_the_invocation_so_the_mapping_redelivers() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let store = Store::open(&format!("file://{}/store", blocker.display()))
        .await
        .unwrap();
    let ctx = Context {
        dead_letters: DeadLetters::Store(StoreDeadLetters::new(store.clone())),
        pipeline: Pipeline::with_store(store),
    };
    let err = handle(&ctx, invoke(payload("kafka-msk-structured.json")))
        .await
        .unwrap_err();
    let diagnostic = Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "StoreUnavailable");
    assert!(
        diagnostic.error_message.contains("check the URL"),
        "{diagnostic:?}"
    );
}

#[tokio::test]
async fn configuration_problems_are_all_named_at_cold_start() {
    let err = Context::from_lookup(|k| match k {
        DEAD_LETTER_URL => Some("kafka://b:9092/not a topic".into()),
        _ => None,
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains(STORE_URL), "{err}");
    assert!(err.contains(DEAD_LETTER_URL), "{err}");
}

#[tokio::test]
async fn with_an_archive_every_record_is_kept_and_replays_into_the_same_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("file://{}", dir.path().join("store").display());
    let archive_url = format!("file://{}", dir.path().join("archive").display());
    let ctx = Context::from_lookup(|k| match k {
        STORE_URL => Some(store_url.clone()),
        ARCHIVE_URL => Some(archive_url.clone()),
        _ => None,
    })
    .await
    .unwrap();
    let batches = [
        payload("kafka-msk-structured.json"),
        payload("kafka-self-managed-binary.json"),
        payload("kafka-msk-poison.json"),
    ];
    let mut received = Vec::new();
    for event in &batches {
        handle(&ctx, invoke(event.clone())).await.unwrap();
        received.extend(records(event).into_iter().map(|(r, _)| r));
    }
    // A redelivery keeps the first copy.
    handle(&ctx, invoke(batches[0].clone())).await.unwrap();

    // Every record, whole: poison ones too (they replay as rejections, as they were).
    let archive = Store::open(&archive_url).await.unwrap();
    let items = regsync_pipeline::replay::items_from_store(&archive, usize::MAX)
        .await
        .unwrap();
    let mut kept: Vec<&str> = items
        .iter()
        .map(|i| i.origin.rsplit_once('(').unwrap().1.trim_end_matches(')'))
        .collect();
    let mut sent: Vec<String> = received.iter().map(|r| r.position()).collect();
    kept.sort_unstable();
    sent.sort_unstable();
    assert_eq!(kept, sent);

    // Replayed into an empty store, the archive gives the live snapshot, byte for byte.
    let rebuilt = Store::open("memory://").await.unwrap();
    let report = regsync_pipeline::replay::replay(
        &Pipeline::with_store(rebuilt.clone()),
        items,
        &regsync_pipeline::replay::Options::default(),
        &mut |_| {},
        &|| false,
    )
    .await
    .unwrap();
    assert_eq!(report.rejected.len(), 3, "the three poison records");
    let live = &ctx.pipeline.store;
    assert_eq!(
        regsync_pipeline::replay::digest(&rebuilt, &rebuilt.latest().await.unwrap())
            .await
            .unwrap(),
        regsync_pipeline::replay::digest(live, &live.latest().await.unwrap())
            .await
            .unwrap()
    );
}
