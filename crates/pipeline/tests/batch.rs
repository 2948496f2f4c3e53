//! The function core against real stores: idempotent, order-safe by source version, one
//! outcome per record, and safe under concurrent invocations.

#![allow(clippy::unwrap_used)] // a failed read in a helper is a failed test

use regsync_model::RegistryEvent;
use regsync_pipeline::{Outcome, Pipeline, Rejection, apply_batch};
use regsync_store::Store;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/recordings");

fn scenario(dir: &str) -> Vec<RegistryEvent> {
    let mut files: Vec<_> = std::fs::read_dir(format!("{ROOT}/{dir}"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| RegistryEvent::from_slice(&std::fs::read(p).unwrap(), usize::MAX).unwrap())
        .collect()
}

fn ok(events: &[RegistryEvent]) -> Vec<regsync_pipeline::Input> {
    events.iter().cloned().map(Ok).collect()
}

async fn entries(store: &Store) -> String {
    let gen_ = regsync_snapshots::generation(store, None).await.unwrap();
    let view = regsync_snapshots::read(store, &gen_).await.unwrap();
    serde_json::to_string(&view.entries).unwrap()
}

async fn memory() -> Pipeline {
    Pipeline::with_store(Store::open("memory://").await.unwrap())
}

#[tokio::test]
async fn applying_a_batch_twice_changes_nothing_the_second_time() {
    let p = memory().await;
    let events = scenario("eureka-events/instance-lifecycle");
    let first = apply_batch(&p, ok(&events[..1])).await.unwrap();
    assert!(first.published);
    assert_eq!(first.count("applied"), 1);
    let again = apply_batch(&p, ok(&events[..1])).await.unwrap();
    assert!(!again.published, "{again:?}");
    assert_eq!(again.count("stale"), 1);
    assert_eq!(again.generation, first.generation);
}

#[tokio::test]
async fn a_stale_event_never_overwrites_a_newer_state() {
    // Dubbo: the last provider leaves (newest pzxid) before the older "two providers" arrives.
    let dubbo = scenario("dubbo-zk/scale-down");
    let in_order = memory().await;
    apply_batch(&in_order, ok(&dubbo)).await.unwrap();
    let reordered = memory().await;
    apply_batch(&reordered, ok(&dubbo[2..])).await.unwrap();
    let late = apply_batch(&reordered, ok(&dubbo[..2])).await.unwrap();
    assert_eq!(late.count("stale"), 2, "{late:?}");
    // A late event may still lower a first-seen time (a minimum, so order-free), but redelivering
    // it changes nothing.
    let again = apply_batch(&reordered, ok(&dubbo[..2])).await.unwrap();
    assert!(!again.published, "{again:?}");
    assert_eq!(
        entries(&reordered.store).await,
        entries(&in_order.store).await
    );

    // Eureka: the deletion arrives first; the older add and modify must not resurrect it.
    let eureka = scenario("eureka-events/instance-lifecycle");
    let p = memory().await;
    apply_batch(&p, ok(&eureka[2..])).await.unwrap();
    let late = apply_batch(&p, ok(&eureka[..2])).await.unwrap();
    assert_eq!(late.count("stale"), 2, "{late:?}");
    let all = memory().await;
    apply_batch(&all, ok(&eureka)).await.unwrap();
    assert_eq!(entries(&p.store).await, entries(&all.store).await);
}

#[tokio::test]
async fn every_record_gets_an_outcome_and_bad_ones_do_not_stop_the_rest() {
    let p = memory().await;
    let events = scenario("dubbo-zk/scale-down");
    let mut broken = events[1].clone();
    broken.data = regsync_model::event::EventData::from_value(&serde_json::json!({"path": 7}));
    let inputs = vec![
        Ok(events[0].clone()),
        Err(Rejection::new(
            "syntax",
            None,
            "malformed JSON at line 1 column 2",
        )),
        Ok(broken),
        Ok(events[0].clone()),
    ];
    let report = apply_batch(&p, inputs).await.unwrap();
    let labels: Vec<_> = report.records.iter().map(|r| r.outcome.label()).collect();
    assert_eq!(labels, ["applied", "rejected", "rejected", "stale"]);
    let Outcome::Rejected(why) = &report.records[2].outcome else {
        unreachable!()
    };
    assert!(why.reason.contains(&events[1].id), "{why:?}");
    assert!(why.field.is_some(), "{why:?}");
    assert!(report.published);
    assert_eq!(report.rejections().count(), 2);
}

#[tokio::test]
async fn a_batch_of_only_bad_records_does_not_touch_the_store() {
    let p = memory().await;
    let report = apply_batch(&p, vec![Err(Rejection::new("syntax", None, "x"))])
        .await
        .unwrap();
    assert_eq!(report.generation, None);
    assert!(p.store.list("").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_invocations_on_one_store_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().display());
    let mut all = Vec::new();
    for s in [
        "dubbo-zk/dubbo27-providers",
        "dubbo-zk/dubbo3-tri-and-app-level",
        "eureka-events/two-apps-mixed-shapes",
        "eureka-events/steeltoe-add-then-modify",
    ] {
        all.push(scenario(s));
    }
    let mut tasks = Vec::new();
    for events in all.clone() {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let p = Pipeline::with_store(Store::open(&url).await.unwrap());
            // One event per invocation, like a mapping delivering tiny batches in parallel.
            for e in events {
                apply_batch(&p, vec![Ok(e)]).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let together = memory().await;
    apply_batch(&together, ok(&all.concat())).await.unwrap();
    let concurrent = Store::open(&url).await.unwrap();
    assert_eq!(entries(&concurrent).await, entries(&together.store).await);
}
